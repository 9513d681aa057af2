#pragma once

// Unary methods served on gRPC's callback API, with what the synchronous server gives the
// others (common/server.h): the bound on calls in progress, the call's request id, deadline and
// cancellation for the code it runs (common/call_context.h).
//
// Why: the synchronous server hands every call from the thread that polled it to a handler
// thread through its completion queue; under load that hand-off, not the service's code, is
// most of a short read's cost (docs/aggregation.md, "Issue 10, sixth round (2)"). A callback method
// runs on the gRPC thread that read the request. So a handler served inline here must not wait
// for long: it may take locks held briefly and ask Redis (bounded by --redis_timeout), never
// wait for another service or for a change to be applied. Work that may wait runs on threads
// of this object's own instead (at most max_concurrent_calls of them, made when first needed).

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"

namespace covtrack {

// The standard trailer a gRPC client's retry policy honours as the delay before a retry.
inline constexpr char kRetryPushbackHeader[] = "grpc-retry-pushback-ms";

// What a call refused past --max_concurrent_calls is told and where it is counted: one wording
// for the synchronous server's refusals (server.cc) and the callback methods' (below).
struct OverloadRefusal {
  OverloadRefusal(int max_concurrent_calls, absl::Duration retry_after);
  std::string retry_after_ms;
  std::string message;
  metrics::Counter* rejected;  // covtrack_rpc_rejected_total{method}
};

struct CallbackCallOptions {
  std::string service;  // the service's full name, "covtrack.v1.AggregationService"
  // As ServerOptions: calls of this service's callback methods in progress at once, and the
  // delay a caller refused past it is told.
  int max_concurrent_calls = 64;
  absl::Duration overload_retry_after = absl::Seconds(1);
};

class CallbackCalls {
 public:
  explicit CallbackCalls(CallbackCallOptions options);
  ~CallbackCalls();  // runs what was handed to its threads, then joins them
  CallbackCalls(const CallbackCalls&) = delete;
  CallbackCalls& operator=(const CallbackCalls&) = delete;

  // Serves one call of `method` ("GetCoverage"): refuses it at once past the bound, which
  // counts the calls whose handler has not returned yet (RESOURCE_EXHAUSTED, the retry delay in
  // message and trailer, counted), else runs `handler`
  // as the call's current call (CurrentCall(), CurrentCallCancelled(), CurrentCallDeadline())
  // and finishes the call with the status it returns. `handler` runs on gRPC's thread when
  // `may_wait` is false, else on a thread of this object's own (see the top of this file).
  // The request and response stay valid until the call is finished.
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, const char* method,
                                  bool may_wait, absl::AnyInvocable<grpc::Status() &&> handler);

  int in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  void Run(grpc::CallbackServerContext* context, const std::string& method,
           grpc::ServerUnaryReactor* reactor, absl::AnyInvocable<grpc::Status() &&> handler);
  void Schedule(absl::AnyInvocable<void() &&> work);
  void WorkLoop();

  const CallbackCallOptions options_;
  const std::string method_prefix_;  // "/covtrack.v1.AggregationService/"
  OverloadRefusal refusal_;
  std::atomic<int> in_flight_{0};

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);  // oldest first
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace covtrack
