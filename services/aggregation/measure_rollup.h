#pragma once

// The measures beyond participants (common/measures.h, docs/measures.md), rolled up by each
// measure's rule over the same subtree walk as participants (rollup.h SubtreeAt):
//
// - the hierarchy valid on the period's last day; a value counts for a unit version only in the
//   months whose stock belongs to it (StockMonths);
// - a unit's own value for a month overrides its children's for that month (never both);
// - LAST (a stock): for each contributing unit, its latest month inside the period, exactly as
//   participants (a unit's own value at that month, else the sum of its children's);
// - SUM (a flow): month by month, the unit's own value or the sum of its children's, then the
//   sum of the period's months;
// - the ratio: Σ numerator / Σ denominator × 100 from the two rolled-up sums, never an average.
// Every sum is checked for overflow and every stored value against its measure's bound: a
// rollup reading one outside it, or a sum that overflows, is an error, never a plausible figure.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/measures.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/common.pb.h"
#include "services/aggregation/reexpression.h"
#include "services/aggregation/rollup.h"

namespace covtrack::aggregation {

// One series a unit may hold: a measure with its scheme and payer group.
struct MeasureKey {
  v1::Measure measure = v1::MEASURE_UNSPECIFIED;
  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED;
  v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED;
};

// Every key of every measure in the registry but MEASURE_PARTICIPANTS (a ParticipationRecord),
// derived ones included, ordered by measure, scheme, payer group: 29 keys today. Derived from the
// registry's dimensions, so a new measure is a new row there, not a change here.
absl::Span<const MeasureKey> MeasureKeys();
// The key's index in MeasureKeys(); -1 for a key no measure has.
int MeasureKeyIndex(v1::Measure measure, v1::Scheme scheme, v1::PayerGroup group);

// One key's figure for a unit and a period.
struct MeasureFigure {
  int as_of = -1;  // Month::Index of as_of_month; -1: nothing reported (absent, never 0)
  int64_t value = 0;
  int months_reported = 0;  // flows (and the ratio: its denominator's)
  int reporting_units = 0;  // leaves whose value was reported for as_of
  int expected_units = 0;
  std::optional<double> percent;  // the ratio only (absent with its parts, or nothing due)
};

// The figures of `unit_code` for `period`, one per MeasureKeys() entry; only those with
// `wanted[key]` are computed (all when `wanted` is empty), the others are absent. NOT_FOUND when
// the code names no unit on the period's last day.
absl::StatusOr<std::vector<MeasureFigure>> RollupMeasures(const TreeIndex& tree,
                                                          const CoverageData& data,
                                                          absl::string_view unit_code,
                                                          const Period& period,
                                                          const std::vector<bool>& wanted);

// `wanted` (as RollupMeasures takes it) with the two parts of every ratio it asks for: what a
// re-expression combines before it computes the ratio from the combined sums.
std::vector<bool> WithRatioParts(const std::vector<bool>& wanted);

// A unit's figures in the reader's territory, one per MeasureKeys() entry, each with how it
// was obtained.
struct ReexpressedMeasures {
  std::vector<MeasureFigure> figures;
  std::vector<v1::Reexpression> reexpression;
};
// The figures of the unit `how` re-expresses (Reexpress at the period's end), from its terms':
// `term_figures[i]` is RollupMeasures of how.terms[i].unit for the period with
// WithRatioParts(wanted). Each amount is Σ weight × the term's (ReexpressionShare), as_of the
// latest, months_reported the most any term had, reporting and expected units summed; the ratio
// from the combined owed and due (never a mix of the terms' ratios), described as its amount
// owed. Keys not `wanted` are absent. SAME_UNIT: the one term's figures. ABSENT: none, the
// reason on every key. INTERNAL when a sum leaves int64 or the terms do not match `how`.
absl::StatusOr<ReexpressedMeasures> CombineMeasureRollups(
    const Reexpressed& how, const std::vector<const std::vector<MeasureFigure>*>& term_figures,
    const std::vector<bool>& wanted);

// The answer's form of a figure present (as_of >= 0).
v1::MeasureValue ToMeasureValue(const MeasureKey& key, const MeasureFigure& figure);
// `now` against `then` (the same key in `then_period`); `then` absent: value and changes absent.
v1::MeasureComparison CompareMeasure(const MeasureKey& key, const MeasureFigure& now,
                                     const MeasureFigure& then, const std::string& then_period);

// The stocks and flows a reconciliation reads, for one unit.
struct ReconciliationInputs {
  const v1::Coverage* participants_now = nullptr;      // the period's rollup (nullptr: none)
  const v1::Coverage* participants_before = nullptr;   // the month before the period's first
  const std::vector<MeasureFigure>* now = nullptr;     // the period's figures (flows, groups)
  const std::vector<MeasureFigure>* before = nullptr;  // the month before's (groups' stocks)
};
// Per reported scheme, and per payer group of health insurance: a finding where the stock's
// change from the end of the month before the period to the period's stock differs from Σ new −
// Σ lost over the period, made only where both stocks and both flows have figures.
std::vector<v1::ReconciliationFinding> Reconcile(const std::string& unit_code,
                                                 const ReconciliationInputs& inputs);

}  // namespace covtrack::aggregation
