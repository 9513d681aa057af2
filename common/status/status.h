#pragma once

// absl::Status inside covtrack, grpc::Status at the edge of a service: the two propagation
// macros Debian's Abseil (20220623) lacks, and the one conversion between the two status types.
// A handler reads: authorize → validate → the operation (absl::StatusOr) → ToGrpcStatus once.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"

namespace covtrack {

// The codes of absl::StatusCode and grpc::StatusCode are the same numbers (both are the
// canonical google.rpc.Code); a code outside that range becomes UNKNOWN.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace covtrack

#define COVTRACK_STATUS_CONCAT_INNER_(a, b) a##b
#define COVTRACK_STATUS_CONCAT_(a, b) COVTRACK_STATUS_CONCAT_INNER_(a, b)

// Returns `expr`'s status from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                                               \
  do {                                                                      \
    if (::absl::Status covtrack_status_ = (expr); !covtrack_status_.ok()) { \
      return covtrack_status_;                                              \
    }                                                                       \
  } while (false)

// `ASSIGN_OR_RETURN(T x, StatusOrExpr());` declares (or assigns) `x` from the value, or returns
// the error from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr) \
  COVTRACK_ASSIGN_OR_RETURN_IMPL_(COVTRACK_STATUS_CONCAT_(covtrack_statusor_, __LINE__), lhs, expr)

#define COVTRACK_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) {                                      \
    return std::move(statusor).status();                     \
  }                                                          \
  lhs = std::move(statusor).value()
