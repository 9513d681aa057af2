#pragma once

// The aggregation service's requests, checked: each Validate* names the offending field and
// returns the request's meaning in domain types, or INVALID_ARGUMENT. No I/O; tested alone
// (tests/aggregation/coverage_requests_test.cc).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/paging/paging.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::aggregation {

// How fresh an answer must be (common.proto, Freshness): at least `at_least_seq` (0: no token),
// and with CONSISTENCY_FULL every change acknowledged before the call. UNSPECIFIED is resolved
// by the service (AggregationOptions::default_consistency).
struct FreshnessQuery {
  int64_t at_least_seq = 0;
  v1::Consistency consistency = v1::CONSISTENCY_UNSPECIFIED;
};
absl::StatusOr<FreshnessQuery> ValidateFreshness(const v1::Freshness& freshness);

// GetCoverage: a unit's coverage for a period with its comparisons.
struct CoverageQuery {
  std::string unit_code;
  Period period;
  std::vector<v1::Scheme> schemes;  // empty: all five
  int previous_year_ends = 0;       // 1..10 (0 in the request means 3)
  std::string territory_date;       // "YYYY-MM-DD"; empty: the period's last day
  FreshnessQuery freshness;
};
absl::StatusOr<CoverageQuery> ValidateCoverageRequest(const v1::GetCoverageRequest& request);

// ListCoverage: the units at a level under a parent, ordered, one page.
struct CoverageListQuery {
  std::string parent_code;  // "VN" for an empty parent_code
  v1::AdminLevel level = v1::ADMIN_LEVEL_UNSPECIFIED;
  Period period;
  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED;
  v1::CoverageOrder order = v1::COVERAGE_ORDER_UNSPECIFIED;
  PageRequest page;
  std::string territory_date;  // "YYYY-MM-DD"; empty: the period's last day
  FreshnessQuery freshness;
};
absl::StatusOr<CoverageListQuery> ValidateListCoverageRequest(
    const v1::ListCoverageRequest& request);

// GetCoverageSeries: one scheme of one unit, month by month (at most 120 months).
struct SeriesQuery {
  std::string unit_code;
  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED;
  Month from;
  Month to;
  std::string territory_date;  // "YYYY-MM-DD"; empty: the last day of `to`
  FreshnessQuery freshness;
};
absl::StatusOr<SeriesQuery> ValidateSeriesRequest(const v1::GetCoverageSeriesRequest& request);

// GetMeasures: the measures of one unit and period (the registry's keys, rollup by rule).
struct MeasuresQuery {
  std::string unit_code;
  Period period;
  std::vector<v1::Measure> measures;  // empty: every measure but participants
  std::string territory_date;         // "YYYY-MM-DD"; empty: the period's last day
  FreshnessQuery freshness;
};
absl::StatusOr<MeasuresQuery> ValidateMeasuresRequest(const v1::GetMeasuresRequest& request);

// ListMeasures: the units at a level under a parent, ordered by one measure's figure, one page.
struct MeasureListQuery {
  std::string parent_code;  // "VN" for an empty parent_code
  v1::AdminLevel level = v1::ADMIN_LEVEL_UNSPECIFIED;
  Period period;
  std::vector<v1::Measure> measures;  // empty: every measure but participants
  v1::MeasureOrder order;             // measure UNSPECIFIED: by code
  PageRequest page;
  std::string territory_date;  // "YYYY-MM-DD"; empty: the period's last day
  FreshnessQuery freshness;
};
absl::StatusOr<MeasureListQuery> ValidateListMeasuresRequest(
    const v1::ListMeasuresRequest& request);

// The date a read names its units on: `territory_date`, or the last day of `period` when empty.
std::string TerritoryOf(const std::string& territory_date, const Period& period);
// NOT_FOUND for a `field` ("unit_code", "parent_code") whose `code` names no unit on that date,
// saying which date it is (the end of the period, or the territory_date asked).
absl::Status NoUnitOnTerritory(absl::string_view field, absl::string_view code,
                               const std::string& territory_date, const Period& period);

}  // namespace covtrack::aggregation
