#pragma once

// Where the target service reads actual figures: the aggregation service. An interface so that
// the service's logic is unit-tested with a fake; the gRPC implementation is the real one.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"

namespace covtrack::targets {

class CoverageSource {
 public:
  virtual ~CoverageSource() = default;

  // Every read names the date whose territory it wants (aggregation_service.proto,
  // territory_date; "YYYY-MM-DD"): the target service passes the request's, or the end of the
  // period asked, so that the actual, last December's baseline and the months of the trend are
  // all figures of the same unit. Empty: the aggregation service's default.
  virtual absl::StatusOr<v1::Coverage> GetCoverage(absl::string_view unit_code,
                                                   absl::string_view period,
                                                   const std::vector<v1::Scheme>& schemes,
                                                   absl::string_view territory_date) = 0;

  // Every unit at `level` under `parent_code` (unspecified: the children) with its coverage of
  // one scheme, all pages, ordered by code.
  virtual absl::StatusOr<std::vector<v1::Coverage>> ListCoverage(
      absl::string_view parent_code, v1::AdminLevel level, absl::string_view period,
      v1::Scheme scheme, absl::string_view territory_date) = 0;

  virtual absl::StatusOr<v1::CoverageSeries> GetCoverageSeries(
      absl::string_view unit_code, v1::Scheme scheme, Month from, Month to,
      absl::string_view territory_date) = 0;
};

// The figures of `scheme` in `coverage`, or nullptr when the unit has none for it.
const v1::SchemeCoverage* FindScheme(const v1::Coverage& coverage, v1::Scheme scheme);

// FAILED_PRECONDITION naming the unit, scheme and field when a count or denominator of
// `coverage` is not one a country can hold (0..kMaxPeople, common/domain.h; a change within
// ±kMaxPeople). The figures read from aggregation are not trusted: counts up to INT64_MAX once
// made sums wrap to plausible numbers (issue 13), and with every figure bounded no sum the
// service makes of them can overflow.
absl::Status CheckFigures(const v1::Coverage& coverage);

// The aggregation service over gRPC, every answer passed through CheckFigures. Each call gets
// at most `deadline`, and never more than the served call has left (upstream.h); paging stops
// when the served call ends. Errors name the service and the call, never `address` (which
// `channel`, common/client.h, leads to) or the service's own message about a failure: those go
// to the log (upstream.h, Upstream::Check).
std::unique_ptr<CoverageSource> NewAggregationCoverageSource(std::shared_ptr<grpc::Channel> channel,
                                                             std::string address,
                                                             absl::Duration deadline);

}  // namespace covtrack::targets
