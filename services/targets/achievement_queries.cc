// GetAchievement's and GetReport's operations: a unit's figures for a period from the
// aggregation service, against its targets, evaluated by achievement.h and written up by
// report.h.

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/status/status.h"
#include "services/targets/achievement.h"
#include "services/targets/measure_achievement.h"
#include "services/targets/report.h"
#include "services/targets/target_service.h"
#include "services/targets/upstream.h"

namespace covtrack::targets {
namespace {

// Vietnam keeps UTC+7 all year (no daylight saving), so a fixed zone needs no tz database.
absl::TimeZone VietnamTime() { return absl::FixedTimeZone(7 * 60 * 60); }

std::vector<v1::Scheme> SchemesOrAll(const google::protobuf::RepeatedField<int>& schemes) {
  std::vector<v1::Scheme> out;
  for (int s : schemes) {
    out.push_back(static_cast<v1::Scheme>(s));
  }
  if (out.empty()) {
    out.assign(kAllSchemes.begin(), kAllSchemes.end());
  }
  return out;
}

}  // namespace

absl::StatusOr<Period> TargetServiceImpl::ResolvePeriod(const std::string& period) const {
  if (period.empty()) {
    return Period::ForYear(absl::ToCivilYear(clock_(), VietnamTime()).year());
  }
  absl::StatusOr<Period> parsed = Period::Parse(period);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("period: ", parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<v1::SchemeAchievement> TargetServiceImpl::Evaluate(
    CoverageReads& figures, const std::string& unit_code, v1::Scheme scheme,
    const v1::SchemeCoverage& current, const std::string& as_of_month, const UnitTarget& target,
    const std::string& territory_date) {
  SchemeInputs inputs;
  inputs.scheme = scheme;
  inputs.target = target.target;
  inputs.current = current;
  if (absl::StatusOr<Month> as_of = Month::Parse(as_of_month); as_of.ok()) {
    inputs.as_of = *as_of;
  }
  // Whose target it is, and why a unit made by a reform has none, go with every answer.
  auto finish = [&](v1::SchemeAchievement result) {
    result.set_target_reexpressed(target.reexpressed);
    for (const v1::Target& source : target.sources) {
      *result.add_source_targets() = source;
    }
    if (!target.note.empty()) {
      result.set_note(result.note().empty() ? target.note
                                            : absl::StrCat(target.note, "; ", result.note()));
    }
    return result;
  };
  v1::SchemeAchievement result = EvaluateScheme(inputs);
  // The pace and the trend need the months since last December; ask for them only when the
  // status during the year depends on them.
  const bool during_year = inputs.as_of.has_value() && inputs.as_of->month < 12;
  if (!during_year || result.status() == v1::ACHIEVEMENT_STATUS_MET ||
      result.status() == v1::ACHIEVEMENT_STATUS_NO_TARGET ||
      result.status() == v1::ACHIEVEMENT_STATUS_NO_DATA) {
    return finish(std::move(result));
  }
  // Last December and the months since, in the reader's territory: a unit made by a reform
  // during the year has its baseline re-expressed from its predecessors.
  const Month from{inputs.as_of->year - 1, 12};
  ASSIGN_OR_RETURN(
      const v1::CoverageSeries series,
      figures.GetCoverageSeries(unit_code, scheme, from, *inputs.as_of, territory_date));
  for (const v1::SchemeCoverageAtMonth& month : series.months()) {
    absl::StatusOr<Month> parsed = Month::Parse(month.month());
    if (parsed.ok()) {
      inputs.history.push_back(MonthFigure{*parsed, month.coverage()});
    }
  }
  return finish(EvaluateScheme(inputs));
}

absl::StatusOr<std::vector<v1::Target>> TargetServiceImpl::MeasureTargets(
    const std::string& unit_code, int year) {
  ASSIGN_OR_RETURN(const std::vector<v1::Target> stored,
                   store_->CurrentTargets(unit_code, year, std::nullopt));
  std::vector<v1::Target> targets;
  for (const v1::Target& t : stored) {
    if (t.measure() != v1::MEASURE_UNSPECIFIED && t.unit_as_of().empty() &&
        FindMeasure(t.measure()) != nullptr) {
      targets.push_back(t);
    }
  }
  return targets;
}

absl::StatusOr<std::optional<v1::Target>> TargetServiceImpl::CurrentMeasureTarget(
    const std::string& unit_code, v1::Measure measure, v1::Scheme scheme, v1::PayerGroup group,
    int year) {
  ASSIGN_OR_RETURN(const std::vector<v1::Target> targets,
                   store_->CurrentTargets(unit_code, year, measure));
  for (const v1::Target& t : targets) {
    if (t.scheme() == scheme && t.payer_group() == group && t.unit_as_of().empty()) {
      return t;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<v1::MeasureAchievement>> TargetServiceImpl::EvaluateMeasures(
    CoverageReads& figures, const std::string& unit_code, const Period& period,
    const std::vector<v1::Target>& targets, const std::string& territory_date) {
  const int year = period.year();
  std::set<v1::Measure> measures;
  for (const v1::Target& t : targets) {
    measures.insert(t.measure());
    // A ratio over several periods is made from its parts' sums, so the parts are asked for
    // by name (whether an answer brings them with the ratio or not).
    if (const MeasureInfo* info = FindMeasure(t.measure()); info->rule == MeasureRule::kRatio) {
      measures.insert(info->numerator);
      measures.insert(info->denominator);
    }
  }
  std::vector<v1::MeasureAchievement> out;
  if (targets.empty()) {
    return out;
  }
  // The year to date through the period's end, in as few periods as make it up; one read of
  // each for every measure with a target.
  const std::vector<v1::Measure> asked(measures.begin(), measures.end());
  std::vector<v1::MeasureSummary> pieces;
  for (const std::string& piece : YearToDatePeriods(year, period.last_month().month)) {
    RETURN_IF_ERROR(Upstream::StopIfCallEnded("while reading the measures"));
    absl::StatusOr<v1::MeasureSummary> read =
        figures.GetMeasures(unit_code, piece, asked, territory_date);
    // An aggregation service older than the measures (a rolling upgrade) has no figure for
    // them: each target is NO_DATA saying so, and the rest of the answer stands.
    if (read.status().code() == absl::StatusCode::kUnimplemented) {
      for (const v1::Target& t : targets) {
        MeasureInputs inputs;
        inputs.target = t;
        v1::MeasureAchievement result = EvaluateMeasure(inputs);
        result.set_note("the aggregation service does not serve measures (GetMeasures)");
        out.push_back(std::move(result));
      }
      return out;
    }
    RETURN_IF_ERROR(read.status());
    pieces.push_back(std::move(*read));
  }
  // The year before, read once when a stock or ratio during the year needs its baseline.
  std::optional<std::vector<v1::MeasureSummary>> year_before;
  for (const v1::Target& t : targets) {
    const MeasureInfo& info = *FindMeasure(t.measure());
    MeasureInputs inputs;
    inputs.target = t;
    ASSIGN_OR_RETURN(inputs.actual, MeasureOverPeriods(info, t.scheme(), t.payer_group(), pieces));
    // m is the latest month with a figure: a year still running is read at its last report.
    absl::StatusOr<Month> as_of = Month::Parse(inputs.actual.as_of_month);
    inputs.month = as_of.ok() && as_of->year == year ? as_of->month : period.last_month().month;
    v1::MeasureAchievement result = EvaluateMeasure(inputs);
    const bool needs_baseline = inputs.month < 12 && info.rule != MeasureRule::kSum &&
                                result.status() != v1::ACHIEVEMENT_STATUS_MET &&
                                result.status() != v1::ACHIEVEMENT_STATUS_NO_DATA;
    if (needs_baseline) {
      if (!year_before.has_value()) {
        ASSIGN_OR_RETURN(
            v1::MeasureSummary before,
            figures.GetMeasures(unit_code, absl::StrCat(year - 1), asked, territory_date));
        year_before.emplace().push_back(std::move(before));
      }
      ASSIGN_OR_RETURN(const MeasureFigure baseline,
                       MeasureOverPeriods(info, t.scheme(), t.payer_group(), *year_before));
      inputs.baseline = baseline.value;
      result = EvaluateMeasure(inputs);
    }
    out.push_back(std::move(result));
  }
  return out;
}

absl::StatusOr<v1::Achievement> TargetServiceImpl::AchievementOf(
    const v1::GetAchievementRequest& request) {
  ASSIGN_OR_RETURN(const Period period, ResolvePeriod(request.period()));
  const std::vector<v1::Scheme> schemes = SchemesOrAll(request.schemes());
  // Every read names the territory: the request's date, else the period's end.
  const std::string territory_date =
      request.territory_date().empty() ? period.last_month().LastDay() : request.territory_date();
  CoverageReads figures(source_.get(), request.freshness());
  ASSIGN_OR_RETURN(
      const v1::Coverage coverage,
      figures.GetCoverage(request.unit_code(), period.ToString(), schemes, territory_date));
  ReformReads reads(units_.get(), store_.get());
  v1::Achievement achievement;
  *achievement.mutable_unit() = coverage.unit();
  achievement.set_period(period.ToString());
  achievement.set_as_of_month(coverage.as_of_month());
  for (v1::Scheme scheme : schemes) {
    RETURN_IF_ERROR(Upstream::StopIfCallEnded("while evaluating the schemes"));
    const v1::SchemeCoverage* current = FindScheme(coverage, scheme);
    v1::SchemeCoverage empty;
    empty.set_scheme(scheme);
    ASSIGN_OR_RETURN(const UnitTarget target, TargetFor(reads, figures, coverage.unit(),
                                                        territory_date, scheme, period.year()));
    ASSIGN_OR_RETURN(
        *achievement.add_schemes(),
        Evaluate(figures, request.unit_code(), scheme, current != nullptr ? *current : empty,
                 coverage.as_of_month(), target, territory_date));
  }
  // Its own targets on measures, and those re-expressed from its predecessors'.
  ASSIGN_OR_RETURN(const std::vector<UnitTarget> measure_targets,
                   MeasureTargetsFor(reads, figures, coverage.unit(), period.year()));
  std::vector<v1::Target> targets;
  for (const UnitTarget& t : measure_targets) {
    targets.push_back(*t.target);
  }
  ASSIGN_OR_RETURN(std::vector<v1::MeasureAchievement> measures,
                   EvaluateMeasures(figures, request.unit_code(), period, targets, territory_date));
  for (size_t i = 0; i < measures.size() && i < measure_targets.size(); ++i) {
    SetTargetSource(measure_targets[i], measures[i]);
    *achievement.add_measures() = std::move(measures[i]);
  }
  achievement.set_reflects_seq(figures.reflects_seq());
  return achievement;
}

absl::StatusOr<v1::Report> TargetServiceImpl::ReportOf(const v1::GetReportRequest& request) {
  v1::GetAchievementRequest achievement_request;
  achievement_request.set_unit_code(request.unit_code());
  achievement_request.set_period(request.period());
  achievement_request.set_territory_date(request.territory_date());
  *achievement_request.mutable_freshness() = request.freshness();
  ASSIGN_OR_RETURN(v1::Achievement achievement, AchievementOf(achievement_request));
  // The measures the paragraph carries, for the period the achievement was read for.
  CoverageReads figures(source_.get(), request.freshness());
  absl::StatusOr<v1::MeasureSummary> measures = figures.GetMeasures(
      request.unit_code(), achievement.period(),
      {v1::MEASURE_DISTINCT_PARTICIPANTS, v1::MEASURE_NEW_PARTICIPANTS, v1::MEASURE_ARREARS_RATIO},
      request.territory_date());
  // An aggregation service older than the measures (a rolling upgrade) does not know the call:
  // the paragraph is written from the participants alone, as before. Any other failure fails
  // the report, as a failed participants read does.
  if (!measures.ok() && measures.status().code() != absl::StatusCode::kUnimplemented) {
    return measures.status();
  }
  if (measures.ok()) {
    achievement.set_reflects_seq(std::min(achievement.reflects_seq(), figures.reflects_seq()));
  }
  // The report's figures say the seq they reflect: Report.achievement.reflects_seq.
  v1::Report report;
  report.set_text(WriteReportVi(
      achievement,
      request.has_percent_decimals() ? request.percent_decimals() : kDefaultPercentDecimals,
      measures.ok() ? &*measures : nullptr));
  *report.mutable_achievement() = std::move(achievement);
  return report;
}

}  // namespace covtrack::targets
