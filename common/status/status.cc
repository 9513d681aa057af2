#include "common/status/status.h"

#include <string>

namespace covtrack {
namespace {

// google.rpc.Code runs from OK (0) to UNAUTHENTICATED (16).
constexpr int kLastCanonicalCode = 16;

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  const int code = static_cast<int>(status.code());
  return grpc::Status(code < 0 || code > kLastCanonicalCode ? grpc::StatusCode::UNKNOWN
                                                            : static_cast<grpc::StatusCode>(code),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) {
    return absl::OkStatus();
  }
  const int code = static_cast<int>(status.error_code());
  return absl::Status(code < 0 || code > kLastCanonicalCode ? absl::StatusCode::kUnknown
                                                            : static_cast<absl::StatusCode>(code),
                      status.error_message());
}

}  // namespace covtrack
