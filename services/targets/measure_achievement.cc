#include "services/targets/measure_achievement.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status/status.h"

namespace covtrack::targets {
namespace {

// Comparisons of computed figures with targets tolerate the rounding of floating-point division
// (a ratio of 2.1 computed as 2.1000000000000001 is at its ceiling of 2.1).
constexpr double kEpsilon = 1e-9;
// Far above any stored target (request_validation.h: 1e9 people, 9e15 VND, 100 %).
constexpr double kMaxComparableTarget = 1e16;

const v1::MeasureValue* FindValue(const v1::MeasureSummary& summary, v1::Measure measure,
                                  v1::Scheme scheme, v1::PayerGroup group) {
  for (const v1::MeasureValue& v : summary.values()) {
    if (v.measure() == measure && v.scheme() == scheme && v.payer_group() == group &&
        v.has_value()) {
      return &v;
    }
  }
  return nullptr;
}

struct IntFigure {
  std::optional<int64_t> value;
  std::string as_of_month;
};

// A reported measure (a stock or a flow) over the pieces, its sum checked.
absl::StatusOr<IntFigure> Reported(const MeasureInfo& info, v1::Scheme scheme, v1::PayerGroup group,
                                   const std::vector<v1::MeasureSummary>& pieces) {
  IntFigure out;
  for (const v1::MeasureSummary& piece : pieces) {
    const v1::MeasureValue* v = FindValue(piece, info.measure, scheme, group);
    if (v == nullptr) {
      continue;
    }
    out.as_of_month = v->as_of_month();
    if (info.rule != MeasureRule::kSum || !out.value.has_value()) {
      out.value = v->value();
      continue;
    }
    int64_t sum = 0;
    if (__builtin_add_overflow(*out.value, v->value(), &sum)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the ", info.name, " of the year to date overflows a 64-bit sum"));
    }
    out.value = sum;
  }
  return out;
}

std::string FormatFigure(double v) { return absl::StrFormat("%.6g", v); }

}  // namespace

std::vector<std::string> YearToDatePeriods(int year, int month) {
  const std::string y = absl::StrCat(year);
  if (month >= 12) {
    return {y};
  }
  std::vector<std::string> periods;
  int next = 1;
  if (month >= 6) {
    periods.push_back(absl::StrCat(y, "-H1"));
    next = 7;
    if (month >= 9) {
      periods.push_back(absl::StrCat(y, "-Q3"));
      next = 10;
    }
  } else if (month >= 3) {
    periods.push_back(absl::StrCat(y, "-Q1"));
    next = 4;
  }
  for (int m = next; m <= month; ++m) {
    periods.push_back(absl::StrFormat("%s-%02d", y, m));
  }
  return periods;
}

absl::StatusOr<MeasureFigure> MeasureOverPeriods(const MeasureInfo& info, v1::Scheme scheme,
                                                 v1::PayerGroup group,
                                                 const std::vector<v1::MeasureSummary>& pieces) {
  MeasureFigure out;
  if (info.rule != MeasureRule::kRatio) {
    ASSIGN_OR_RETURN(const IntFigure figure, Reported(info, scheme, group, pieces));
    if (figure.value.has_value()) {
      out.value = static_cast<double>(*figure.value);
    }
    out.as_of_month = figure.as_of_month;
    return out;
  }
  // The ratio from sums (docs/measures.md): never an average of the pieces' ratios.
  const MeasureInfo* numerator = FindMeasure(info.numerator);
  const MeasureInfo* denominator = FindMeasure(info.denominator);
  if (numerator == nullptr || denominator == nullptr) {
    return absl::InternalError(absl::StrCat(info.name, " has no numerator or denominator"));
  }
  ASSIGN_OR_RETURN(const IntFigure owed, Reported(*numerator, v1::SCHEME_UNSPECIFIED,
                                                  v1::PAYER_GROUP_UNSPECIFIED, pieces));
  ASSIGN_OR_RETURN(const IntFigure due, Reported(*denominator, v1::SCHEME_UNSPECIFIED,
                                                 v1::PAYER_GROUP_UNSPECIFIED, pieces));
  if (owed.value.has_value() && due.value.has_value() && *due.value > 0) {
    out.value = static_cast<double>(*owed.value) * 100.0 / static_cast<double>(*due.value);
    out.as_of_month = owed.as_of_month;
  }
  return out;
}

v1::MeasureAchievement EvaluateMeasure(const MeasureInputs& in) {
  v1::MeasureAchievement out;
  const v1::Target& target = in.target;
  out.set_measure(target.measure());
  out.set_scheme(target.scheme());
  out.set_payer_group(target.payer_group());
  *out.mutable_target() = target;
  const MeasureInfo* info = FindMeasure(target.measure());
  if (info == nullptr || info->source == MeasureSource::kParticipationRecord) {
    out.set_status(v1::ACHIEVEMENT_STATUS_NO_DATA);
    out.set_note("not a measure target");
    return out;
  }
  const bool lower = info->lower_is_better;
  const bool flow = info->rule == MeasureRule::kSum;
  out.set_lower_is_better(lower);
  out.set_as_of_month(in.actual.as_of_month);
  const double t = target.value();
  if (!in.actual.value.has_value()) {
    out.set_status(v1::ACHIEVEMENT_STATUS_NO_DATA);
    out.set_note(info->rule == MeasureRule::kRatio
                     ? "no arrears owed or no contributions due reported for the year to date"
                     : "no figures reported for the year to date");
    return out;
  }
  if (!(std::isfinite(t) && t >= 0 && t <= kMaxComparableTarget)) {
    out.set_status(v1::ACHIEVEMENT_STATUS_NO_DATA);
    out.set_note("the target is not a value of the measure's unit");
    return out;
  }
  const int m = std::clamp(in.month, 1, 12);
  const double a = *in.actual.value;
  out.set_actual(a);
  if (t > 0) {
    out.set_percent_of_target(a / t * 100.0);
  }
  out.set_gap(std::max(0.0, lower ? a - t : t - a));
  if (info->unit == MeasureUnit::kPercent) {
    out.set_points_vs_target(a - t);
  }
  // "Better than or equal to": at or above a floor, at or below a ceiling.
  auto better = [lower](double x, double y) {
    return lower ? x <= y + kEpsilon : x >= y - kEpsilon;
  };
  // A flow's year to date starts at 0 on 1 January.
  const std::optional<double> b = flow ? std::optional<double>(0.0) : in.baseline;
  if (b.has_value()) {
    out.set_baseline_value(*b);
  }
  double projected = a;
  if (m < 12) {
    if (flow) {
      projected = a / m * 12;
    } else if (info->rule != MeasureRule::kRatio && b.has_value()) {
      projected = *b + (a - *b) * 12 / m;
    }
  }
  out.set_projected_year_end(projected);
  auto finish = [&](v1::AchievementStatus status, std::string note = "") {
    out.set_status(status);
    out.set_note(std::move(note));
    return out;
  };
  // A cumulative sum does not fall: a flow over its ceiling stays over it.
  if (flow && lower && !better(a, t)) {
    return finish(
        v1::ACHIEVEMENT_STATUS_BEHIND,
        absl::StrCat("the year to date is already above the ceiling of ", FormatFigure(t)));
  }
  // A flow under its ceiling can still grow past it until December.
  if (better(a, t) && !(flow && lower && m < 12)) {
    return finish(v1::ACHIEVEMENT_STATUS_MET);
  }
  if (m == 12) {
    return finish(v1::ACHIEVEMENT_STATUS_BEHIND);
  }
  if (!b.has_value()) {
    return finish(
        better(projected, t) ? v1::ACHIEVEMENT_STATUS_ON_TRACK : v1::ACHIEVEMENT_STATUS_AT_RISK,
        "no figure for the year before: the pace is unknown");
  }
  double pace = *b + (t - *b) * m / 12;
  // A stock or ratio already under its ceiling only has to stay there.
  if (lower && !flow) {
    pace = std::max(t, pace);
  }
  out.set_pace_value(pace);
  if (better(a, pace)) {
    return finish(v1::ACHIEVEMENT_STATUS_ON_TRACK);
  }
  return finish(better(projected, t) ? v1::ACHIEVEMENT_STATUS_AT_RISK
                                     : v1::ACHIEVEMENT_STATUS_BEHIND);
}

double MeasureLaggingKey(const v1::MeasureAchievement& a) {
  if (!a.has_percent_of_target()) {
    return a.lower_is_better() ? -std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::infinity();
  }
  return a.lower_is_better() ? -a.percent_of_target() : a.percent_of_target();
}

}  // namespace covtrack::targets
