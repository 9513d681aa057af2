#pragma once

// Figures in the reader's territory, combined from cached rollups: a unit's figure for a period
// it did not exist in (or only as part of something else) is Σ weight × the rollups of the unit
// versions that covered its territory then (common/hierarchy/crosswalk.h, Reexpress). The
// rollups themselves stay keyed by (code as it was, period) and cached as they always were;
// only this combination happens at read time. Pure functions; tested alone
// (tests/aggregation/reexpression_test.cc). docs/aggregation.md, "Territory".

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/hierarchy/crosswalk.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::aggregation {

// Σ weight × value: exact integer arithmetic, checked, while every weight is 1; otherwise a
// double sum rounded to a whole number at the end. Shared by participants and measures.
class WeightedSum {
 public:
  void Add(int64_t value, double weight);
  // INTERNAL, naming `what`, when the sum left int64 (or, estimated, 9 × 10^15).
  absl::StatusOr<int64_t> Value(absl::string_view what) const;

 private:
  bool whole_ = true;
  bool overflow_ = false;
  int64_t exact_ = 0;
  double estimate_ = 0;
};

// A term's weight for figures whose denominator is of `kind`: its population share for
// DENOMINATOR_KIND_POPULATION, its labour-force share otherwise.
double WeightOf(const ReexpressionTerm& term, v1::DenominatorKind kind);

// How a figure combined from weighted terms was obtained: SAME_UNIT when the unit is its own
// (`unit_kind`); EXACT when every weight was 1; else ESTIMATED, with the part of `total` (the
// combined figure, when known and above 0) that rests on weights below 1 (`estimated`).
v1::Reexpression Describe(v1::ReexpressionKind unit_kind, bool all_whole, double estimated,
                          std::optional<double> total);

// Reexpress for a read: where `unit` cannot be followed forward (FAILED_PRECONDITION), ABSENT
// with the reason when `failure_is_absent` (a comparison, a list entry), else the error.
absl::StatusOr<Reexpressed> ReexpressForRead(const Hierarchy& hierarchy, const Crosswalk& crosswalk,
                                             const v1::AdminUnit& unit, absl::string_view end_date,
                                             absl::string_view territory_date,
                                             bool failure_is_absent);

// The coverage of `unit` for `period` (all five schemes in kAllSchemes order, no comparisons),
// from `reexpressed` (Reexpress of `unit` at the period's end) and the rollups of its terms:
// `term_rollups[i]` is the rollup of reexpressed.terms[i].unit for `period`. Each scheme's
// participants, in-province split and denominator are Σ weight × the term's, with the weight of
// the scheme's denominator kind (population for health insurance, labour force otherwise);
// rates from the sums; as_of_month the latest; completeness counts summed. Every SchemeCoverage
// carries its Reexpression (an EXACT unit may have ESTIMATED schemes when only one kind of
// share is below 1). ABSENT: no figures, the reason on every scheme. SAME_UNIT: the one rollup.
// INTERNAL when a rollup is missing or a sum leaves int64.
absl::StatusOr<v1::Coverage> CombineRollups(const v1::AdminUnit& unit, const Period& period,
                                            const Reexpressed& reexpressed,
                                            const std::vector<const v1::Coverage*>& term_rollups);

// The predecessors of a re-expressed figure (Coverage.predecessors): the terms with their
// composed shares, ordered by code.
std::vector<v1::Predecessor> Predecessors(const Reexpressed& reexpressed);

}  // namespace covtrack::aggregation
