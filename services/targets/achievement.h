#pragma once

// The arithmetic of targets, free of I/O so that it is tested on its own (DOMAIN.md "Targets and
// how achievement is read"; the status rule is documented on AchievementStatus in
// proto/covtrack/v1/target_service.proto).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

// One month's figures of one scheme, as the aggregation service returns them.
struct MonthFigure {
  Month month;
  v1::SchemeCoverage coverage;
};

struct SchemeInputs {
  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED;
  // The target year's current target revision, if any.
  std::optional<v1::Target> target;
  // The figures at as_of (the period's latest reported month).
  v1::SchemeCoverage current;
  // Absent when nothing was reported in the period.
  std::optional<Month> as_of;
  // Month by month from December of the year before through as_of, gaps allowed. Only needed
  // during the year (as_of before December) for the pace and the trend.
  std::vector<MonthFigure> history;
};

// Whether the aggregation service gave the scheme a figure (its as_of_month is set): nothing
// reported, or SCHEME_SOCIAL with one of its two parts missing, is no figure.
bool HasFigure(const v1::SchemeCoverage& coverage);

// Participants on a basis: everyone, or only those enrolled in the province (absent when the
// split was not reported).
std::optional<int64_t> BasisParticipants(const v1::SchemeCoverage& coverage, v1::TargetBasis basis);

// participants / denominator × 100, absent without a positive denominator.
std::optional<double> CoveragePercent(int64_t participants, const v1::SchemeCoverage& coverage);

// Everything SchemeAchievement says about one scheme, from its target and figures.
v1::SchemeAchievement EvaluateScheme(const SchemeInputs& inputs);

// For ordering lagging units, worst first: BEHIND < AT_RISK < NO_DATA < anything else.
int LaggingRank(v1::AchievementStatus status);

// Splits `total` among units in proportion to `bases` by the largest remainder method: unit i
// gets floor(total × b_i / Σb) and the rest go one each to the largest remainders, ties to the
// lower index (callers pass units sorted by code). The result sums exactly to total.
// FAILED_PRECONDITION when there are no units, a base is negative or all bases are zero.
absl::StatusOr<std::vector<int64_t>> AllocateLargestRemainder(int64_t total,
                                                              const std::vector<int64_t>& bases);

}  // namespace covtrack::targets
