#include "services/aggregation/reexpression.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/status/status.h"

namespace covtrack::aggregation {
namespace {

// Whole people, and a country's VND amounts for a year (about 10^15), fit below this; a double
// sum beyond it is a fault in the data.
constexpr double kMaxSum = 9.0e15;

const v1::SchemeCoverage* FindScheme(const v1::Coverage& coverage, v1::Scheme scheme) {
  for (const v1::SchemeCoverage& sc : coverage.schemes()) {
    if (sc.scheme() == scheme) {
      return &sc;
    }
  }
  return nullptr;
}

struct Term {
  const v1::SchemeCoverage* sc = nullptr;
  double weight = 1;
};

absl::StatusOr<v1::SchemeCoverage> CombineScheme(v1::Scheme scheme, const std::vector<Term>& terms,
                                                 v1::ReexpressionKind unit_kind) {
  v1::SchemeCoverage out;
  out.set_scheme(scheme);
  out.set_denominator_kind(DenominatorFor(scheme));
  WeightedSum participants, in_province, denominator;
  double total = 0;
  double estimated = 0;
  bool split_complete = true;
  bool denominators_complete = true;
  bool any_figure = false;
  bool all_whole = true;
  int missing_part = 0;
  std::string as_of;
  for (const Term& t : terms) {
    all_whole = all_whole && t.weight == 1;
    out.set_reporting_units(out.reporting_units() + t.sc->reporting_units());
    out.set_expected_units(out.expected_units() + t.sc->expected_units());
    out.set_units_missing_denominator(out.units_missing_denominator() +
                                      t.sc->units_missing_denominator());
    missing_part += t.sc->units_missing_part();
    if (t.sc->has_denominator()) {
      denominator.Add(t.sc->denominator(), t.weight);
    } else {
      denominators_complete = false;
    }
    if (t.sc->as_of_month().empty()) {
      continue;  // nothing reported in that territory: adds nothing, lacks no split
    }
    any_figure = true;
    as_of = std::max(as_of, t.sc->as_of_month());
    participants.Add(t.sc->participants(), t.weight);
    const double part = t.weight * static_cast<double>(t.sc->participants());
    total += part;
    if (t.weight != 1) {
      estimated += part;
    }
    out.set_units_missing_in_province(out.units_missing_in_province() +
                                      t.sc->units_missing_in_province());
    if (t.sc->has_in_province_participants()) {
      in_province.Add(t.sc->in_province_participants(), t.weight);
    } else {
      split_complete = false;
    }
  }
  out.set_units_missing_part(missing_part);
  if (denominators_complete) {
    ASSIGN_OR_RETURN(const int64_t value, denominator.Value("denominator"));
    out.set_denominator(value);
  }
  // SCHEME_SOCIAL with a part missing for any term has no figure (SchemeCoverage).
  if (any_figure && missing_part == 0) {
    ASSIGN_OR_RETURN(const int64_t value, participants.Value("participants"));
    out.set_participants(value);
    out.set_as_of_month(as_of);
    if (split_complete) {
      ASSIGN_OR_RETURN(const int64_t ip, in_province.Value("in-province participants"));
      out.set_in_province_participants(ip);
    }
    if (out.has_denominator() && out.denominator() > 0) {
      out.set_coverage_percent(100.0 * static_cast<double>(out.participants()) /
                               static_cast<double>(out.denominator()));
    }
  }
  *out.mutable_reexpression() =
      Describe(unit_kind, all_whole, estimated,
               out.has_participants() ? std::optional<double>(total) : std::nullopt);
  return out;
}

}  // namespace

void WeightedSum::Add(int64_t value, double weight) {
  if (weight == 1 && whole_) {
    if (__builtin_add_overflow(exact_, value, &exact_)) {
      overflow_ = true;
    }
    return;
  }
  if (whole_) {
    whole_ = false;
    estimate_ = static_cast<double>(exact_);
  }
  estimate_ += weight * static_cast<double>(value);
}

absl::StatusOr<int64_t> WeightedSum::Value(absl::string_view what) const {
  if (whole_ && !overflow_) {
    return exact_;
  }
  if (!overflow_ && std::isfinite(estimate_) && std::abs(estimate_) < kMaxSum) {
    return static_cast<int64_t>(std::llround(estimate_));
  }
  return absl::InternalError(absl::StrCat("the re-expressed ", what, " overflows"));
}

double WeightOf(const ReexpressionTerm& term, v1::DenominatorKind kind) {
  return kind == v1::DENOMINATOR_KIND_POPULATION ? term.population_weight : term.labor_force_weight;
}

v1::Reexpression Describe(v1::ReexpressionKind unit_kind, bool all_whole, double estimated,
                          std::optional<double> total) {
  v1::Reexpression reexpression;
  if (unit_kind == v1::REEXPRESSION_KIND_SAME_UNIT) {
    reexpression.set_kind(unit_kind);
  } else if (all_whole) {
    reexpression.set_kind(v1::REEXPRESSION_KIND_EXACT);
  } else {
    reexpression.set_kind(v1::REEXPRESSION_KIND_ESTIMATED);
    if (total.has_value() && *total > 0) {
      reexpression.set_estimated_part(estimated / *total);
    }
  }
  return reexpression;
}

absl::StatusOr<Reexpressed> ReexpressForRead(const Hierarchy& hierarchy, const Crosswalk& crosswalk,
                                             const v1::AdminUnit& unit, absl::string_view end_date,
                                             absl::string_view territory_date,
                                             bool failure_is_absent) {
  absl::StatusOr<Reexpressed> how = Reexpress(hierarchy, crosswalk, unit, end_date, territory_date);
  if (how.ok() || !failure_is_absent || !absl::IsFailedPrecondition(how.status())) {
    return how;
  }
  Reexpressed absent;
  absent.kind = v1::REEXPRESSION_KIND_ABSENT;
  absent.reason = std::string(how.status().message());
  return absent;
}

absl::StatusOr<v1::Coverage> CombineRollups(const v1::AdminUnit& unit, const Period& period,
                                            const Reexpressed& reexpressed,
                                            const std::vector<const v1::Coverage*>& term_rollups) {
  v1::Coverage coverage;
  *coverage.mutable_unit() = unit;
  coverage.set_period(period.ToString());
  if (reexpressed.kind == v1::REEXPRESSION_KIND_ABSENT) {
    for (v1::Scheme scheme : kAllSchemes) {
      v1::SchemeCoverage* sc = coverage.add_schemes();
      sc->set_scheme(scheme);
      sc->set_denominator_kind(DenominatorFor(scheme));
      sc->mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_ABSENT);
      sc->mutable_reexpression()->set_reason(reexpressed.reason);
    }
    return coverage;
  }
  if (term_rollups.size() != reexpressed.terms.size()) {
    return absl::InternalError("re-expression: one rollup per term expected");
  }
  for (size_t i = 0; i < term_rollups.size(); ++i) {
    if (term_rollups[i] == nullptr) {
      return absl::InternalError(absl::StrCat("re-expression: no rollup of ",
                                              reexpressed.terms[i].unit->code(), " for ",
                                              period.ToString()));
    }
  }
  if (reexpressed.kind == v1::REEXPRESSION_KIND_SAME_UNIT && term_rollups.size() == 1) {
    coverage = *term_rollups[0];  // the unit itself: its rollup as it is
    for (v1::SchemeCoverage& sc : *coverage.mutable_schemes()) {
      sc.mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_SAME_UNIT);
    }
    return coverage;
  }
  std::string as_of;
  for (v1::Scheme scheme : kAllSchemes) {
    std::vector<Term> terms;
    for (size_t i = 0; i < term_rollups.size(); ++i) {
      const v1::SchemeCoverage* sc = FindScheme(*term_rollups[i], scheme);
      if (sc == nullptr) {
        return absl::InternalError(absl::StrCat("re-expression: a rollup of ",
                                                reexpressed.terms[i].unit->code(), " lacks scheme ",
                                                v1::Scheme_Name(scheme)));
      }
      const ReexpressionTerm& term = reexpressed.terms[i];
      terms.push_back({sc, WeightOf(term, DenominatorFor(scheme))});
    }
    ASSIGN_OR_RETURN(v1::SchemeCoverage sc, CombineScheme(scheme, terms, reexpressed.kind));
    as_of = std::max(as_of, sc.as_of_month());
    *coverage.add_schemes() = std::move(sc);
  }
  coverage.set_as_of_month(as_of);
  return coverage;
}

std::vector<v1::Predecessor> Predecessors(const Reexpressed& reexpressed) {
  std::vector<v1::Predecessor> out;
  for (const ReexpressionTerm& term : reexpressed.terms) {
    v1::Predecessor p;
    *p.mutable_unit() = *term.unit;
    p.set_population_share(term.population_weight);
    p.set_labor_force_share(term.labor_force_weight);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace covtrack::aggregation
