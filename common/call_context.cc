#include "common/call_context.h"

#include <grpcpp/server_context.h>

#include <random>

#include "absl/strings/str_format.h"

namespace covtrack {
namespace {

thread_local const CallInfo* current_call = nullptr;

std::string ToString(grpc::string_ref s) { return std::string(s.data(), s.size()); }

class RequestContextInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RequestContextInterceptor(grpc::experimental::ServerRpcInfo* info) {
    call_.method = info->method();
    call_.server_context = info->server_context();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      call_.request_id = RequestIdOf(*methods->GetRecvInitialMetadata());
      scope_ = std::make_unique<ScopedCall>(call_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      // Echoed, so that a caller that sent none learns the id its request is logged under.
      methods->GetSendInitialMetadata()->emplace(kRequestIdHeader, call_.request_id);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      scope_.reset();  // the handler has returned
    }
    methods->Proceed();
  }

 private:
  CallInfo call_;
  std::unique_ptr<ScopedCall> scope_;
};

class RequestContextFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // A callback method's handler may return before its call ends and finish it on another
    // thread, so a thread's current call cannot follow hook points there: CallbackCalls sets it
    // around the handler, and echoes the request id, itself.
    if (dynamic_cast<grpc::CallbackServerContext*>(info->server_context()) != nullptr) {
      return nullptr;
    }
    return new RequestContextInterceptor(info);
  }
};

class RequestIdPropagation : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      const CallInfo* call = CurrentCall();
      auto* metadata = methods->GetSendInitialMetadata();
      if (call != nullptr && metadata->count(kRequestIdHeader) == 0) {
        metadata->emplace(kRequestIdHeader, call->request_id);
      }
    }
    methods->Proceed();
  }
};

class RequestIdPropagationFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new RequestIdPropagation();
  }
};

}  // namespace

const CallInfo* CurrentCall() { return current_call; }

bool CurrentCallCancelled() {
  return current_call != nullptr && current_call->server_context != nullptr &&
         current_call->server_context->IsCancelled();
}

absl::Time CurrentCallDeadline() {
  if (current_call == nullptr || current_call->server_context == nullptr) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(current_call->server_context->deadline());
}

ScopedCall::ScopedCall(CallInfo call)
    : call_(std::move(call)), previous_(current_call), thread_(std::this_thread::get_id()) {
  current_call = &call_;
}

ScopedCall::~ScopedCall() {
  if (std::this_thread::get_id() == thread_) {
    current_call = previous_;
  }
}

bool IsUsableRequestId(const std::string& id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  for (char c : id) {
    if (c <= ' ' || c > '~') {
      return false;
    }
  }
  return true;
}

std::string RequestIdOf(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto it = metadata.find(kRequestIdHeader);
  if (it != metadata.end()) {
    std::string id = ToString(it->second);
    if (IsUsableRequestId(id)) {
      return id;
    }
  }
  return NewRequestId();
}

std::string NewRequestId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return absl::StrFormat("%016x", random());
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRequestContextInterceptorFactory() {
  return std::make_unique<RequestContextFactory>();
}

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
NewRequestIdPropagationFactory() {
  return std::make_unique<RequestIdPropagationFactory>();
}

}  // namespace covtrack
