#pragma once

// What a log line or an outgoing call needs to know about the RPC being served: its method and
// the request id that travels across the services in the `x-request-id` metadata entry.
//
// A server interceptor (RequestContextInterceptorFactory) sets it for the thread that runs the
// handler — with gRPC's synchronous server, interceptors and the handler run on one thread;
// a method on the callback API sets it itself (common/callback_calls.h), since its handler may
// finish on another thread — and a client interceptor (on every channel made by common/client.h)
// copies the request id to the calls the handler makes, so one id names a request in the logs of
// every service.

#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/server_interceptor.h>

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace covtrack {

inline constexpr char kRequestIdHeader[] = "x-request-id";

struct CallInfo {
  std::string method;      // "/covtrack.v1.IngestionService/SubmitReport"
  std::string request_id;  // the caller's x-request-id, or one made up here
  // The served call's context, for its deadline and whether it was cancelled; nullptr for
  // work that acts on behalf of a request outside a handler (ScopedCall in tests).
  grpc::ServerContextBase* server_context = nullptr;
};

// The call served by this thread, or nullptr outside a handler.
const CallInfo* CurrentCall();

// True when the call served by this thread has ended for its caller: cancelled, past its
// deadline, or cut off by a server shutdown. Long work checks it between steps and stops
// (returning CANCELLED), so that a caller who gave up costs nothing more. False outside a call.
bool CurrentCallCancelled();
// The served call's deadline (absl::InfiniteFuture() when it has none or outside a call).
absl::Time CurrentCallDeadline();

// Sets CurrentCall() for the lifetime of the object (tests and background work that acts on
// behalf of a request).
class ScopedCall {
 public:
  explicit ScopedCall(CallInfo call);
  ~ScopedCall();
  ScopedCall(const ScopedCall&) = delete;
  ScopedCall& operator=(const ScopedCall&) = delete;

 private:
  CallInfo call_;
  const CallInfo* previous_;
  std::thread::id thread_;  // restored only on the thread that set it
};

// A request id as the caller sent it is kept when it is 1 to 128 printable ASCII characters
// without spaces; anything else is replaced by a fresh random one (and the reply says which).
bool IsUsableRequestId(const std::string& id);
std::string NewRequestId();  // 16 random hex digits
// The id a call is served under: the caller's x-request-id when usable, else a new one.
std::string RequestIdOf(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRequestContextInterceptorFactory();
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
NewRequestIdPropagationFactory();

}  // namespace covtrack
