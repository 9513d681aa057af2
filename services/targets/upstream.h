#pragma once

// How the target service calls the services it reads (aggregation, ingestion) and what it tells
// its own callers when such a call fails. A call never gets more time than the call being
// served has left (common/client.h SetCallDeadline); an error names the service and what was
// asked, never the service's address or its raw error text, which go to the log.

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace covtrack::targets {

// Where a call goes: the service's name in messages ("aggregation") and its address (logs only).
struct Upstream {
  std::string service;
  std::string address;
  absl::Duration deadline;  // at most this per call, and never past the served call's deadline

  // Prepares `context` for one call.
  void Prepare(grpc::ClientContext& context) const;

  // OK, or the status the target service answers for a failed call of `method` about `subject`
  // (a unit code):
  // - the served call itself ended (its caller cancelled, or its deadline passed):
  //   CANCELLED or DEADLINE_EXCEEDED;
  // - the service could not answer (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED):
  //   UNAVAILABLE "<service> service is unavailable (<method> <subject>)";
  // - the question was refused (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE,
  //   ALREADY_EXISTS, ABORTED): the same code, with the service's message cut to a short prefix
  //   (it speaks of the caller's request);
  // - anything else (INTERNAL, UNKNOWN, PERMISSION_DENIED, ...): the same code, "<service>
  //   service failed <method> <subject>", the message left to the log.
  // Every failure but a refusal is logged with the address and the service's own message.
  absl::Status Check(const grpc::Status& status, absl::string_view method,
                     absl::string_view subject) const;

  // Before each step of a long loop (pages, units): CANCELLED or DEADLINE_EXCEEDED once the
  // served call has ended, so that no work is done for a caller who has gone.
  static absl::Status StopIfCallEnded(absl::string_view what);
};

}  // namespace covtrack::targets
