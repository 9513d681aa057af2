#include "services/targets/reexpression.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "common/measures.h"
#include "common/text.h"
#include "services/targets/request_validation.h"

namespace covtrack::targets {
namespace {

// The distinct non-empty values, in the order first seen, joined by "; "; values that would
// take the text past kMaxNameBytes (the bound of Target.assigned_by and decision_ref) are left
// out and "…" says so.
std::string JoinDistinct(const std::vector<std::string>& values) {
  std::vector<std::string> distinct;
  for (const std::string& v : values) {
    if (!v.empty() && std::find(distinct.begin(), distinct.end(), v) == distinct.end()) {
      distinct.push_back(v);
    }
  }
  constexpr absl::string_view kMore = "; …";
  std::string out;
  for (const std::string& v : distinct) {
    const size_t added = (out.empty() ? 0 : 2) + v.size();
    if (out.size() + added + kMore.size() > kMaxNameBytes) {
      absl::StrAppend(&out, out.empty() ? "…" : kMore);
      break;
    }
    absl::StrAppend(&out, out.empty() ? "" : "; ", v);
  }
  return out;
}

std::string YearStart(int year) { return absl::StrCat(year, "-01-01"); }

// Why `p`'s target cannot go into `unit_code`'s (its share outside (0, 1], or its value outside
// [0, bound]); empty when it can.
std::string PredecessorProblem(const PredecessorTarget& p, const std::string& unit_code,
                               double bound) {
  if (!(p.share > 0 && p.share <= 1)) {
    return absl::StrCat("the share of ", p.unit.code(), " in ", unit_code,
                        " is not in (0, 1]: no target re-expressed from it");
  }
  // Stored targets were bounded when written; one read otherwise makes no sum.
  const double v = p.target.value();
  if (!(std::isfinite(v) && v >= 0 && v <= bound)) {
    return absl::StrCat("the target of ", p.unit.code(),
                        " is out of range: no target re-expressed from it");
  }
  return "";
}

// Who assigned the predecessors' targets and by which decisions, named on the target made from
// them.
class Decisions {
 public:
  void Add(const v1::Target& source) {
    assigned_by_.push_back(source.assigned_by());
    decision_ref_.push_back(source.decision_ref());
  }
  void SetOn(v1::Target& target) const {
    target.set_assigned_by(JoinDistinct(assigned_by_));
    target.set_decision_ref(JoinDistinct(decision_ref_));
  }

 private:
  std::vector<std::string> assigned_by_;
  std::vector<std::string> decision_ref_;
};

}  // namespace

std::string DayBefore(const std::string& date) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(date, &day)) {
    return "";
  }
  return absl::FormatCivilTime(day - 1);
}

std::string LastDayInYear(const v1::AdminUnit& unit, int year) {
  if (ValidOn(unit, YearEnd(year))) {
    return YearEnd(year);
  }
  if (unit.valid_to().empty() || unit.valid_to() <= YearStart(year)) {
    return "";
  }
  const std::string day = DayBefore(unit.valid_to());
  return day.empty() || !ValidOn(unit, day) ? "" : day;
}

std::optional<double> ShareFor(const v1::CrosswalkLink& link, v1::Scheme scheme) {
  return ShareFor(link, DenominatorFor(scheme));
}

std::optional<double> ShareFor(const v1::CrosswalkLink& link, v1::DenominatorKind kind) {
  if (kind != v1::DENOMINATOR_KIND_POPULATION && link.has_labor_force_share()) {
    return link.labor_force_share();
  }
  if (link.has_population_share()) {
    return link.population_share();
  }
  return std::nullopt;
}

ReexpressedTarget ReexpressTarget(const std::string& unit_code, const std::string& unit_as_of,
                                  v1::Scheme scheme, int year,
                                  const std::vector<PredecessorTarget>& predecessors) {
  ReexpressedTarget out;
  if (predecessors.empty()) {
    out.note = "no predecessor has a target";
    return out;
  }
  const v1::Target& first = predecessors.front().target;
  Decisions decisions;
  for (const PredecessorTarget& p : predecessors) {
    if (p.target.kind() != first.kind() || p.target.basis() != first.basis()) {
      out.note =
          absl::StrCat("the predecessors' targets differ in kind or basis (", first.unit_code(),
                       " and ", p.target.unit_code(), "): no target re-expressed from them");
      return out;
    }
    out.note = PredecessorProblem(
        p, unit_code,
        first.kind() == v1::TARGET_KIND_COVERAGE_PERCENT ? 100.0 : kMaxParticipantsTarget);
    if (!out.note.empty()) {
      return out;
    }
    decisions.Add(p.target);
  }
  double value = 0;
  if (first.kind() == v1::TARGET_KIND_PARTICIPANTS) {
    for (const PredecessorTarget& p : predecessors) {
      value += p.share * p.target.value();
    }
    value = static_cast<double>(std::llround(value));
  } else {
    // The year's denominators, or the year before's for all when one lacks the year's: a
    // weighted rate mixes no two years.
    bool all_of_year = true;
    bool all_of_year_before = true;
    for (const PredecessorTarget& p : predecessors) {
      // A denominator beyond any unit's (common/domain.h) is as good as unknown.
      auto known = [](const std::optional<int64_t>& d) {
        return d.has_value() && *d > 0 && *d <= kMaxPeople;
      };
      all_of_year = all_of_year && known(p.denominator);
      all_of_year_before = all_of_year_before && known(p.denominator_year_before);
    }
    if (!all_of_year && !all_of_year_before) {
      out.note = absl::StrCat(
          "a predecessor's ",
          DenominatorFor(scheme) == v1::DENOMINATOR_KIND_POPULATION ? "population" : "labour force",
          " is unknown for ", year, " and ", year - 1,
          ": the coverage target cannot be re-expressed");
      return out;
    }
    double weighted = 0;
    double weights = 0;
    for (const PredecessorTarget& p : predecessors) {
      const double d =
          static_cast<double>(all_of_year ? *p.denominator : *p.denominator_year_before);
      weighted += p.share * p.target.value() * d;
      weights += p.share * d;
    }
    value = weighted / weights;
  }
  if (!std::isfinite(value)) {
    out.note = "the re-expressed target is not a finite number";
    return out;
  }
  v1::Target t;
  t.set_unit_code(unit_code);
  t.set_unit_as_of(unit_as_of);
  t.set_scheme(scheme);
  t.set_year(year);
  t.set_kind(first.kind());
  t.set_basis(first.basis());
  t.set_value(value);
  decisions.SetOn(t);
  out.target = std::move(t);
  return out;
}

ReexpressedTarget ReexpressMeasureTarget(const std::string& unit_code, int year,
                                         const std::vector<PredecessorTarget>& predecessors) {
  ReexpressedTarget out;
  if (predecessors.empty()) {
    out.note = "no predecessor has a target";
    return out;
  }
  const v1::Target& first = predecessors.front().target;
  const MeasureInfo* info = FindMeasure(first.measure());
  if (info == nullptr || info->source == MeasureSource::kParticipationRecord) {
    out.note = "not a target on a measure";
    return out;
  }
  const double bound = info->unit == MeasureUnit::kPercent ? 100.0
                       : info->unit == MeasureUnit::kVnd   ? kMaxVndTarget
                                                           : kMaxParticipantsTarget;
  const bool ratio = info->rule == MeasureRule::kRatio;
  Decisions decisions;
  double weighted = 0;
  double weights = 0;
  for (const PredecessorTarget& p : predecessors) {
    if (p.target.measure() != first.measure() || p.target.scheme() != first.scheme() ||
        p.target.payer_group() != first.payer_group()) {
      out.note = absl::StrCat("the predecessors' targets are on different measures (",
                              first.unit_code(), " and ", p.target.unit_code(), ")");
      return out;
    }
    out.note = PredecessorProblem(p, unit_code, bound);
    if (!out.note.empty()) {
      return out;
    }
    const double v = p.target.value();
    if (ratio) {
      // An amount due beyond a record's bound over a year (kMaxVnd × 12 months) is a fault.
      if (!p.denominator.has_value() || *p.denominator < 0 || *p.denominator > kMaxVnd * 12) {
        out.note = absl::StrCat("the contributions due of ", p.unit.code(), " in ", year - 1,
                                " are unknown: the ratio's ceiling cannot be re-expressed");
        return out;
      }
      const double due = p.share * static_cast<double>(*p.denominator);
      weighted += v * due;
      weights += due;
    } else {
      weighted += p.share * v;
    }
    decisions.Add(p.target);
  }
  double value = weighted;
  if (ratio) {
    if (!(weights > 0)) {
      out.note = absl::StrCat("nothing was due in ", year - 1,
                              " in the predecessors: the ratio's ceiling cannot be re-expressed");
      return out;
    }
    value = weighted / weights;
  } else if (value < 9.0e18) {  // each term is bounded, a sum of them fits llround's range
    value = static_cast<double>(std::llround(value));
  }
  if (!std::isfinite(value) || value >= 9.0e18) {
    out.note = "the re-expressed target is out of range";
    return out;
  }
  v1::Target t;
  t.set_unit_code(unit_code);
  t.set_year(year);
  t.set_measure(first.measure());
  t.set_scheme(first.scheme());
  t.set_payer_group(first.payer_group());
  t.set_value(value);
  decisions.SetOn(t);
  out.target = std::move(t);
  return out;
}

}  // namespace covtrack::targets
