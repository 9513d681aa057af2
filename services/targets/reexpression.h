#pragma once

// A target re-expressed from predecessors' targets (target_service.proto, SchemeAchievement.
// target_reexpressed): a unit created by a reform during or before the target's year, with no
// target of its own, is measured against the targets of the units it was made from, weighted by
// the crosswalk's shares. Pure arithmetic, free of I/O; the service gathers the inputs
// (predecessor_targets.cc).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/common.pb.h"
#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

// One predecessor version whose target goes into the re-expressed one.
struct PredecessorTarget {
  v1::AdminUnit unit;  // the predecessor version
  // The composed share of its population (health insurance) or labour force (the other
  // schemes) that went into the unit, in (0, 1].
  double share = 0;
  v1::Target target;  // its current target for the year
  // Coverage targets only: its denominator (population for health insurance, labour force
  // otherwise) of the target's year, and of the year before; absent when unknown.
  // A ceiling on the arrears ratio: `denominator` is its contributions due over the year before
  // the target's (ReexpressMeasureTarget).
  std::optional<int64_t> denominator;
  std::optional<int64_t> denominator_year_before;
};

struct ReexpressedTarget {
  std::optional<v1::Target> target;  // absent: not re-expressible, `note` says why
  std::string note;
};

// The day before `date` ("YYYY-MM-DD"); empty when `date` does not parse.
std::string DayBefore(const std::string& date);

// The last day of `year` on which `unit` is valid ("YYYY-MM-DD"); empty when it is valid on no
// day of it.
std::string LastDayInYear(const v1::AdminUnit& unit, int year);

// The share of `link` that re-expresses figures of `scheme`: the population share for health
// insurance, the labour-force share (the population share when none is given) otherwise.
// Absent when unknown.
std::optional<double> ShareFor(const v1::CrosswalkLink& link, v1::Scheme scheme);

// The share of `link` that re-expresses figures weighted by `kind` (ShareFor's rule; a measure's
// kind is common/measures.h ReexpressionShare). Absent when unknown.
std::optional<double> ShareFor(const v1::CrosswalkLink& link, v1::DenominatorKind kind);

// The target of `unit_code` (`unit_as_of` as the reader named it: "" for the year's holder) for
// `scheme` and `year`, from its predecessors' targets:
// - every predecessor's target must have the same kind and basis;
// - participants: Σ share × target, rounded to whole people;
// - coverage: Σ share × target% × d / Σ share × d, d the predecessor's denominator of the year,
//   or of the year before for all of them when one lacks the year's (a reused code gives its
//   year's figure to the new unit); absent when a denominator is still missing.
// assigned_by and decision_ref are the sources' distinct values joined by "; " (at most 200
// bytes, cut at a whole value); revision 0, no update_time.
ReexpressedTarget ReexpressTarget(const std::string& unit_code, const std::string& unit_as_of,
                                  v1::Scheme scheme, int year,
                                  const std::vector<PredecessorTarget>& predecessors);

// A target on a measure (Target.measure other than participants) of `unit_code` for `year`,
// from its predecessors' targets on the same (measure, scheme, payer group), each share of the
// measure's kind (ReexpressionShare):
// - an amount (people, employers, VND; a floor or a ceiling): Σ share × target, rounded to a
//   whole number, as the figure it is measured against is Σ share × the predecessors' figures;
// - the arrears ratio's ceiling: Σ share × t × due / Σ share × due, due the predecessor's
//   contributions due over the year before the target's (`denominator`: a full year for each,
//   which the target's year is not for a unit that ended during it), as a ratio of sums is
//   weighted by what is due; absent when one is unknown or all are 0.
// assigned_by and decision_ref as ReexpressTarget; no kind or basis (participants' only).
ReexpressedTarget ReexpressMeasureTarget(const std::string& unit_code, int year,
                                         const std::vector<PredecessorTarget>& predecessors);

}  // namespace covtrack::targets
