#include "common/metrics/grpc_metrics.h"

#include <grpcpp/generic/async_generic_service.h>

#include <chrono>
#include <string>
#include <vector>

namespace covtrack::metrics {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr char kUnknownMethod[] = "unknown";

struct RpcFamilies {
  Counter* requests;
  Histogram* duration;
  Gauge* in_flight;
};

// One per RPC: gRPC creates it when the call reaches the server and deletes it with the call.
class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(const RpcFamilies& families, std::string method)
      : families_(families),
        method_label_{std::move(method)},
        start_(std::chrono::steady_clock::now()) {
    families_.in_flight->Add(method_label_, 1);
  }

  ~RpcMetricsInterceptor() override {
    if (!recorded_) {
      // No status went out: the call was cancelled (client gone, deadline, server shutdown)
      // before the handler finished.
      Record(StatusCodeName(grpc::StatusCode::CANCELLED));
    }
    families_.in_flight->Add(method_label_, -1);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // PRE_SEND_STATUS comes at most once per call and the destructor after every batch, so
    // recorded_ needs no lock.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(StatusCodeName(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  void Record(absl::string_view code) {
    recorded_ = true;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    families_.requests->Add({method_label_[0], std::string(code)});
    families_.duration->Observe(method_label_, elapsed.count());
  }

  const RpcFamilies families_;
  const std::vector<std::string> method_label_;  // {method}, built once per call
  const std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class RpcMetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(Registry* registry)
      : families_{
            &registry->AddCounter("covtrack_rpc_requests_total",
                                  "RPCs handled, by full method name and gRPC status code.",
                                  {"method", "code"}),
            &registry->AddHistogram("covtrack_rpc_duration_seconds",
                                    "Time from receiving an RPC to sending its status, seconds.",
                                    {"method"}, LatencyBuckets()),
            &registry->AddGauge("covtrack_rpc_in_flight", "RPCs being handled right now.",
                                {"method"}),
        } {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(families_, MethodLabel(info));
  }

 private:
  const RpcFamilies families_;
};

}  // namespace

std::string MethodLabel(grpc::experimental::ServerRpcInfo* info) {
  // gRPC answers methods nobody registered through a generic context whose method() is
  // whatever path the client sent; labelling by it would let any client grow the registry
  // without bound.
  grpc::ServerContextBase* context = info->server_context();
  if (info->method() == nullptr || dynamic_cast<grpc::GenericServerContext*>(context) != nullptr ||
      dynamic_cast<grpc::GenericCallbackServerContext*>(context) != nullptr) {
    return kUnknownMethod;
  }
  return info->method();
}

absl::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory(Registry* registry) {
  return std::make_unique<RpcMetricsInterceptorFactory>(registry);
}

}  // namespace covtrack::metrics
