#pragma once

// The rollup arithmetic: pure functions over plain data (a hierarchy and the figures exported
// by ingestion), unit-tested on their own.
//
// - The hierarchy is the one valid on the period's last day.
// - A unit's figure for a month is its own reported figure where it has one, otherwise the sum
//   of its children's; nothing is counted twice.
// - Participants are a stock: for each contributing unit, its latest month inside the period.
// - A record counts for a unit only in months when that unit version was valid (a code reused
//   after the 2025 reform does not inherit the old unit's figures).
// - Rates are sums of numerators over sums of denominators; a missing split or denominator is
//   reported as absent with a count, never as an under-count.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/hierarchy/hierarchy.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::aggregation {

// Figures for some territory and months, as exported by ingestion.
class CoverageData {
 public:
  struct Figure {
    int month_index = 0;  // Month::Index()
    int64_t participants = 0;
    std::optional<int64_t> in_province;
  };

  // Later additions for the same (unit, month, scheme) replace earlier ones.
  void AddRecord(const v1::ParticipationRecord& record);
  void AddDenominator(const v1::DenominatorRecord& record);

  // The unit's figures for a reported scheme, ordered by month.
  const std::vector<Figure>* Figures(absl::string_view code, v1::Scheme scheme) const;
  std::optional<int64_t> Denominator(absl::string_view code, int year,
                                     v1::DenominatorKind kind) const;

 private:
  // code -> figures per scheme (index = Scheme value, 1..4).
  absl::flat_hash_map<std::string, std::array<std::vector<Figure>, 5>> figures_;
  // "code|year" -> value per kind (index = DenominatorKind value, 1..2).
  absl::flat_hash_map<std::string, std::array<std::optional<int64_t>, 3>> denominators_;
};

// The coverage of `unit_code` for `period`, all five schemes in kAllSchemes order, without
// comparisons. NOT_FOUND when the code names no unit on the period's last day.
absl::StatusOr<v1::Coverage> RollupCoverage(const Hierarchy& hierarchy, const CoverageData& data,
                                            absl::string_view unit_code, const Period& period);

// The periods a GetCoverage answer compares with: the same period a year earlier, then the ends
// of the `previous_year_ends` years before the period's year, newest first (none before 1900).
std::vector<Period> ComparisonPeriods(const Period& period, int previous_year_ends);

// Compares `now` with `then` (same scheme). Percentages in points. territory_changed and the
// unit fields are left for the caller, who knows the hierarchy.
v1::Comparison Compare(const v1::SchemeCoverage& now, const v1::SchemeCoverage& then,
                       const std::string& then_period);

// Orders and keeps only the requested schemes (empty: all five).
void SelectSchemes(const std::vector<v1::Scheme>& schemes, v1::Coverage* coverage);

}  // namespace covtrack::aggregation
