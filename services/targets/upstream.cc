#include "services/targets/upstream.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/client.h"
#include "common/log.h"
#include "common/server.h"
#include "common/text.h"

namespace covtrack::targets {
namespace {

// Another service's message about the caller's request, as the answer quotes it.
constexpr size_t kMaxUpstreamMessageBytes = 200;

absl::Status CallEnded(absl::string_view what) {
  if (absl::Now() >= CurrentCallDeadline()) {
    return absl::DeadlineExceededError(absl::StrCat("the deadline passed ", what));
  }
  return absl::CancelledError(absl::StrCat("the call was cancelled ", what));
}

}  // namespace

void Upstream::Prepare(grpc::ClientContext& context) const { SetCallDeadline(context, deadline); }

absl::Status Upstream::Check(const grpc::Status& status, absl::string_view method,
                             absl::string_view subject) const {
  if (status.ok()) {
    return absl::OkStatus();
  }
  const std::string what = absl::StrCat(method, " ", subject);
  if (CurrentCallCancelled()) {
    return CallEnded(absl::StrCat("while waiting on the ", service, " service (", what, ")"));
  }
  const absl::Status converted = FromGrpcStatus(status);
  switch (status.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return absl::Status(converted.code(),
                          absl::StrCat(service, " service: ", what, ": ",
                                       CutText(status.error_message(), kMaxUpstreamMessageBytes)));
    default:
      break;
  }
  log::Warn("call to another service failed", {{"service", service},
                                               {"address", address},
                                               {"call", what},
                                               {"code", absl::StatusCodeToString(converted.code())},
                                               {"error", status.error_message()}});
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::UnavailableError(absl::StrCat(service, " service is unavailable (", what, ")"));
    default:
      return absl::Status(converted.code(), absl::StrCat(service, " service failed ", what));
  }
}

absl::Status Upstream::StopIfCallEnded(absl::string_view what) {
  if (!CurrentCallCancelled()) {
    return absl::OkStatus();
  }
  return CallEnded(what);
}

}  // namespace covtrack::targets
