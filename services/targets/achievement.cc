#include "services/targets/achievement.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/domain.h"

namespace covtrack::targets {
namespace {

// Comparisons of computed rates with targets tolerate the rounding of floating-point division
// (89.0 computed as 88.99999999999999 is 89.0).
constexpr double kEpsilon = 1e-9;
// The largest target value compared: far above any stored one (1e9 people), far below where
// converting it to int64 could overflow.
constexpr double kMaxComparableTarget = 1e15;

bool IsCoverageTarget(const v1::Target& target) {
  return target.kind() == v1::TARGET_KIND_COVERAGE_PERCENT;
}

v1::TargetBasis EffectiveBasis(const v1::Target& target) {
  return target.basis() == v1::TARGET_BASIS_IN_PROVINCE ? v1::TARGET_BASIS_IN_PROVINCE
                                                        : v1::TARGET_BASIS_ALL_PARTICIPANTS;
}

// The figure a target is compared on: people, or percent of the month's denominator.
std::optional<double> TargetValueOf(const v1::SchemeCoverage& coverage, const v1::Target& target) {
  if (!HasFigure(coverage)) {
    return std::nullopt;
  }
  std::optional<int64_t> people = BasisParticipants(coverage, EffectiveBasis(target));
  if (!people.has_value()) {
    return std::nullopt;
  }
  if (IsCoverageTarget(target)) {
    return CoveragePercent(*people, coverage);
  }
  return static_cast<double>(*people);
}

// Counts a unit can hold (common/domain.h). The source checks what aggregation answers
// (coverage_source.h, CheckFigures); the arithmetic checks again, so that no input can make
// the differences and conversions below overflow.
bool FiguresInRange(const v1::SchemeCoverage& c) {
  auto in_range = [](int64_t n) { return n >= 0 && n <= kMaxPeople; };
  return in_range(c.participants()) &&
         (!c.has_in_province_participants() || in_range(c.in_province_participants())) &&
         (!c.has_denominator() || in_range(c.denominator()));
}

const MonthFigure* FindMonth(const std::vector<MonthFigure>& history, Month month) {
  for (const MonthFigure& figure : history) {
    if (figure.month == month) {
      return FiguresInRange(figure.coverage) ? &figure : nullptr;
    }
  }
  return nullptr;
}

}  // namespace

bool HasFigure(const v1::SchemeCoverage& coverage) { return !coverage.as_of_month().empty(); }

std::optional<int64_t> BasisParticipants(const v1::SchemeCoverage& coverage,
                                         v1::TargetBasis basis) {
  if (basis == v1::TARGET_BASIS_IN_PROVINCE) {
    if (!coverage.has_in_province_participants()) {
      return std::nullopt;
    }
    return coverage.in_province_participants();
  }
  return coverage.participants();
}

std::optional<double> CoveragePercent(int64_t participants, const v1::SchemeCoverage& coverage) {
  if (!coverage.has_denominator() || coverage.denominator() <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(participants) * 100.0 / static_cast<double>(coverage.denominator());
}

v1::SchemeAchievement EvaluateScheme(const SchemeInputs& in) {
  v1::SchemeAchievement out;
  out.set_scheme(in.scheme);
  *out.mutable_coverage() = in.current;
  if (in.target.has_value()) {
    *out.mutable_target() = *in.target;
  }
  const v1::TargetBasis basis =
      in.target.has_value() ? EffectiveBasis(*in.target) : v1::TARGET_BASIS_ALL_PARTICIPANTS;

  std::vector<std::string> notes;
  if (in.current.expected_units() > 0 &&
      in.current.reporting_units() < in.current.expected_units()) {
    notes.push_back(absl::StrCat("incomplete: ", in.current.reporting_units(), " of ",
                                 in.current.expected_units(), " units reported"));
  }
  auto finish = [&](v1::AchievementStatus status) {
    out.set_status(status);
    std::string note;
    for (const std::string& n : notes) {
      absl::StrAppend(&note, note.empty() ? "" : "; ", n);
    }
    out.set_note(note);
    return out;
  };

  if (!in.as_of.has_value() || !HasFigure(in.current)) {
    notes.insert(
        notes.begin(),
        in.current.units_missing_part() > 0
            ? absl::StrCat("BHXH as a whole needs both compulsory and voluntary social "
                           "insurance; ",
                           in.current.units_missing_part(), " unit(s) reported only one of them")
            : std::string("no figures reported for the period"));
    return finish(in.target.has_value() ? v1::ACHIEVEMENT_STATUS_NO_DATA
                                        : v1::ACHIEVEMENT_STATUS_NO_TARGET);
  }
  if (!FiguresInRange(in.current)) {
    notes.insert(notes.begin(), absl::StrCat("the figures are beyond any unit's (at most ",
                                             kMaxPeople, " people): not compared"));
    return finish(v1::ACHIEVEMENT_STATUS_NO_DATA);
  }
  // A target is at most 1e9 people or 100 % when stored (request_validation.cc); one read
  // otherwise is not compared either.
  if (in.target.has_value() && !(std::isfinite(in.target->value()) && in.target->value() >= 0 &&
                                 in.target->value() <= kMaxComparableTarget)) {
    notes.insert(notes.begin(), "the target is not a number of people or a percentage");
    return finish(v1::ACHIEVEMENT_STATUS_NO_DATA);
  }
  const std::optional<int64_t> people = BasisParticipants(in.current, basis);
  if (!people.has_value()) {
    notes.insert(notes.begin(),
                 "the in-province split (in_province_participants) is not "
                 "reported for every contributing unit");
    return finish(v1::ACHIEVEMENT_STATUS_NO_DATA);
  }
  out.set_actual_participants(*people);
  const std::optional<double> actual_percent = CoveragePercent(*people, in.current);
  if (actual_percent.has_value()) {
    out.set_actual_coverage_percent(*actual_percent);
  }
  if (!in.target.has_value()) {
    out.set_projected_year_end_participants(*people);
    return finish(v1::ACHIEVEMENT_STATUS_NO_TARGET);
  }

  const v1::Target& target = *in.target;
  const bool coverage_target = IsCoverageTarget(target);
  const double t = target.value();
  double a = 0;
  if (coverage_target) {
    if (!actual_percent.has_value()) {
      notes.insert(notes.begin(), "the denominator is not known for every contributing unit");
      return finish(v1::ACHIEVEMENT_STATUS_NO_DATA);
    }
    a = *actual_percent;
    out.set_points_vs_target(a - t);
    const double needed =
        std::ceil(t * static_cast<double>(in.current.denominator()) / 100.0 - kEpsilon);
    out.set_participants_to_target(std::max<int64_t>(0, static_cast<int64_t>(needed) - *people));
  } else {
    a = static_cast<double>(*people);
    out.set_participants_to_target(
        std::max<int64_t>(0, static_cast<int64_t>(std::ceil(t - kEpsilon)) - *people));
  }
  out.set_achievement_percent(t > 0 ? a / t * 100.0 : 100.0);

  const Month as_of = *in.as_of;
  const int m = as_of.month;
  const Month last_december{as_of.year - 1, 12};

  // The recent trend: the average monthly change over the last k months, k = min(3, m), fewer
  // when those months were not reported.
  double projected_people = static_cast<double>(*people);
  if (m < 12) {
    for (int k = std::min(3, m); k >= 1; --k) {
      const MonthFigure* earlier = FindMonth(in.history, as_of.PlusMonths(-k));
      if (earlier == nullptr || !HasFigure(earlier->coverage)) {
        continue;
      }
      std::optional<int64_t> earlier_people = BasisParticipants(earlier->coverage, basis);
      if (!earlier_people.has_value()) {
        continue;
      }
      const double slope = static_cast<double>(*people - *earlier_people) / k;
      projected_people = std::max(0.0, static_cast<double>(*people) + slope * (12 - m));
      break;
    }
  }
  out.set_projected_year_end_participants(std::llround(projected_people));
  double projected = projected_people;
  if (coverage_target) {
    projected = projected_people * 100.0 / static_cast<double>(in.current.denominator());
    out.set_projected_year_end_coverage_percent(projected);
  }

  std::optional<double> baseline;
  if (const MonthFigure* december = FindMonth(in.history, last_december); december != nullptr) {
    baseline = TargetValueOf(december->coverage, target);
    if (baseline.has_value()) {
      out.set_baseline_value(*baseline);
    }
  }

  if (a >= t - kEpsilon) {
    return finish(v1::ACHIEVEMENT_STATUS_MET);
  }
  if (m == 12) {
    return finish(v1::ACHIEVEMENT_STATUS_BEHIND);
  }
  const bool projection_reaches = projected >= t - kEpsilon;
  if (!baseline.has_value()) {
    notes.push_back("no figure for December of the year before: status from the projection only");
    return finish(projection_reaches ? v1::ACHIEVEMENT_STATUS_ON_TRACK
                                     : v1::ACHIEVEMENT_STATUS_AT_RISK);
  }
  const double pace = *baseline + (t - *baseline) * m / 12.0;
  out.set_pace_value(pace);
  if (a >= pace - kEpsilon) {
    return finish(v1::ACHIEVEMENT_STATUS_ON_TRACK);
  }
  return finish(projection_reaches ? v1::ACHIEVEMENT_STATUS_AT_RISK
                                   : v1::ACHIEVEMENT_STATUS_BEHIND);
}

int LaggingRank(v1::AchievementStatus status) {
  switch (status) {
    case v1::ACHIEVEMENT_STATUS_BEHIND:
      return 0;
    case v1::ACHIEVEMENT_STATUS_AT_RISK:
      return 1;
    case v1::ACHIEVEMENT_STATUS_NO_DATA:
      return 2;
    default:
      return 3;
  }
}

absl::StatusOr<std::vector<int64_t>> AllocateLargestRemainder(int64_t total,
                                                              const std::vector<int64_t>& bases) {
  if (bases.empty()) {
    return absl::FailedPreconditionError("there are no units to allocate to");
  }
  if (total < 0) {
    return absl::InvalidArgumentError("the total to allocate must not be negative");
  }
  unsigned __int128 base_sum = 0;
  for (int64_t b : bases) {
    if (b < 0) {
      return absl::FailedPreconditionError("a base must not be negative");
    }
    base_sum += static_cast<unsigned __int128>(b);
  }
  if (base_sum == 0) {
    return absl::FailedPreconditionError(
        "every unit's base is zero: nothing to be proportional to");
  }
  // Exact integer arithmetic: quota_i = total × b_i / Σb as a quotient and remainder.
  std::vector<int64_t> parts(bases.size());
  std::vector<unsigned __int128> remainders(bases.size());
  int64_t allocated = 0;
  for (size_t i = 0; i < bases.size(); ++i) {
    const unsigned __int128 product =
        static_cast<unsigned __int128>(total) * static_cast<unsigned __int128>(bases[i]);
    parts[i] = static_cast<int64_t>(product / base_sum);
    remainders[i] = product % base_sum;
    allocated += parts[i];
  }
  std::vector<size_t> order(bases.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return remainders[x] > remainders[y]; });
  // Fewer than bases.size() people are left over, since each quota lost less than one.
  for (size_t i = 0; allocated < total; ++i) {
    ++parts[order[i]];
    ++allocated;
  }
  return parts;
}

}  // namespace covtrack::targets
