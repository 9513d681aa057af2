#pragma once

// The arithmetic of targets on measures other than participants (issue 11): which aggregation
// periods make up a year to date, a measure's year-to-date figure from their answers, and where
// the figure stands against its target, floors and ceilings (common/measures.h
// lower_is_better) each read the right way round. Free of I/O; the rule is documented on
// MeasureAchievement in proto/covtrack/v1/target_service.proto.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/measures.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

// The periods whose months are together months 1..month of `year`, each month once, in order
// and fewest first: the year; else the first half or quarter, the third quarter, then months.
// At most 4 ("2023-H1", "2023-Q3", "2023-10", "2023-11" for month 11).
std::vector<std::string> YearToDatePeriods(int year, int month);

// A measure's figure in its target's unit (people, VND, employers; percent for the ratio).
struct MeasureFigure {
  std::optional<double> value;  // absent: nothing reported
  std::string as_of_month;      // the latest month with a figure
};

// The figure of (measure, scheme, group) over the months of `pieces` (GetMeasures answers for
// consecutive periods, in order): a stock's value in the latest piece that has one; a flow's sum
// over the pieces; the ratio as the latest amount owed over the summed amount due × 100 (absent
// without an amount owed or with nothing due). FAILED_PRECONDITION when a sum would overflow.
absl::StatusOr<MeasureFigure> MeasureOverPeriods(const MeasureInfo& info, v1::Scheme scheme,
                                                 v1::PayerGroup group,
                                                 const std::vector<v1::MeasureSummary>& pieces);

struct MeasureInputs {
  v1::Target target;     // Target.measure is a measure of the registry other than participants
  int month = 12;        // m: the last month of the period asked, 1–12
  MeasureFigure actual;  // A: the year to date through month m (MeasureOverPeriods)
  // B: the figure of the year before (its latest month; the ratio over that year's amount due).
  // Not read for a flow, whose year to date starts at 0.
  std::optional<double> baseline;
};

// Everything MeasureAchievement says, from the target and the figures.
v1::MeasureAchievement EvaluateMeasure(const MeasureInputs& inputs);

// For ordering lagging units worst first within one status: for a floor the lowest share of the
// target reached, for a ceiling the highest share of the ceiling used; smaller is worse.
double MeasureLaggingKey(const v1::MeasureAchievement& achievement);

}  // namespace covtrack::targets
