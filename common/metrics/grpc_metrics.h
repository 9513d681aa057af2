#pragma once

// Per-RPC metrics for every covtrack server, recorded by a server interceptor.

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "common/metrics/metrics.h"

namespace covtrack::metrics {

// A server interceptor factory (register with ServerBuilder::experimental()
// .SetInterceptorCreators) that records for every RPC:
//   covtrack_rpc_requests_total{method="/covtrack.v1.IngestionService/SubmitReport",code="OK"}
//   covtrack_rpc_duration_seconds{method=...}  histogram, LatencyBuckets()
//   covtrack_rpc_in_flight{method=...}         gauge
// code is the status the handler returned, as gRPC names it (OK, INVALID_ARGUMENT, ...): a call
// whose client gave up first still counts with the handler's code. A call that ends without
// sending any status counts as CANCELLED. Calls to methods the server does not implement share
// method="unknown", so that a client cannot create series at will. The duration runs from when
// gRPC hands the call to the server (request received) until the status is sent.
// `registry` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory(Registry* registry);

// The method label of a call: its full method name, or "unknown" for a method the server does
// not implement (whatever path a client sends must not become a label).
std::string MethodLabel(grpc::experimental::ServerRpcInfo* info);

// "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for a number gRPC does not define.
absl::string_view StatusCodeName(grpc::StatusCode code);

}  // namespace covtrack::metrics
