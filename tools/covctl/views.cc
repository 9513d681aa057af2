#include "tools/covctl/views.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/domain.h"
#include "common/measures.h"

namespace covtrack::covctl {
namespace {

using Align = Table::Align;
constexpr Align kL = Align::kLeft;
constexpr Align kR = Align::kRight;

std::string Count(int64_t value, bool people) {
  return people ? GroupThousands(value) : absl::StrCat(value);
}
std::string Change(int64_t value, bool people) {
  return people ? FormatSignedCount(value) : absl::StrCat(value);
}
std::string Percent(double value) { return FormatFixed(value, 2); }
std::string Points(double value) { return FormatSigned(value, 2); }

std::string Time(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) {
    return "";
  }
  // Whole seconds are enough for people: "2026-11-23T01:02:03Z".
  google::protobuf::Timestamp seconds;
  seconds.set_seconds(time.seconds());
  return google::protobuf::util::TimeUtil::ToString(seconds);
}

// A target on another measure than participants (Target.measure).
bool OnMeasure(const v1::Target& target) {
  return target.measure() != v1::MEASURE_UNSPECIFIED &&
         target.measure() != v1::MEASURE_PARTICIPANTS;
}

// A measure's figure in its unit: a percent with two decimals, else a whole number (people,
// employers, VND).
std::string MeasureFigure(v1::Measure measure, double value, bool people) {
  const MeasureInfo* info = FindMeasure(measure);
  if (info != nullptr && info->unit == MeasureUnit::kPercent) {
    return Percent(value);
  }
  return Count(static_cast<int64_t>(value), people);
}

// "arrears_ratio", "new_participants:health", "health_by_payer:health:household".
std::string MeasureKey(v1::Measure measure, v1::Scheme scheme, v1::PayerGroup group) {
  std::string key = MeasureName(measure);
  if (scheme != v1::SCHEME_UNSPECIFIED) {
    absl::StrAppend(&key, ":", SchemeName(scheme));
  }
  if (group != v1::PAYER_GROUP_UNSPECIFIED) {
    absl::StrAppend(&key, ":", PayerGroupName(group));
  }
  return key;
}

std::string TargetValue(const v1::Target& target, bool people) {
  if (OnMeasure(target)) {
    return MeasureFigure(target.measure(), target.value(), people);
  }
  if (target.kind() == v1::TARGET_KIND_COVERAGE_PERCENT) {
    return people ? absl::StrCat(FormatFixed(target.value(), 2), "%")
                  : FormatFixed(target.value(), 2);
  }
  return Count(static_cast<int64_t>(target.value()), people);
}

bool Reexpressed(const v1::Reexpression& r) {
  return r.kind() == v1::REEXPRESSION_KIND_EXACT || r.kind() == v1::REEXPRESSION_KIND_ESTIMATED ||
         r.kind() == v1::REEXPRESSION_KIND_ABSENT;
}

// Why a comparison is not plain growth, or has no figure: "" when it is plain. A comparison
// that was re-expressed says how in its basis (ComparisonBasis) instead.
std::string ComparisonNote(const v1::Comparison& c) {
  if (c.period().empty() || c.reexpression().kind() == v1::REEXPRESSION_KIND_ABSENT) {
    return "";
  }
  if (Reexpressed(c.reexpression())) {
    return c.as_of_month().empty() ? absl::StrCat("no data for ", c.period()) : "";
  }
  if (c.unit_missing()) {
    return absl::StrCat("no such unit in ", c.period());
  }
  if (c.as_of_month().empty()) {
    return absl::StrCat("no data for ", c.period());
  }
  if (c.territory_changed()) {
    return absl::StrCat("territory changed since ", c.period(),
                        c.unit_name().empty() ? "" : absl::StrCat(" (then ", c.unit_name(), ")"));
  }
  return "";
}

// A comparison has figures only when that period had data.
bool HasFigures(const v1::Comparison& c) { return !c.period().empty() && !c.as_of_month().empty(); }

// "then Tỉnh Tiền Giang: 1,645,588": the code as it was then, with its own figure.
std::string CodeThen(absl::string_view name, bool unit_missing, bool has_figure,
                     int64_t participants, bool people) {
  if (unit_missing) {
    return "then no such unit";
  }
  return absl::StrCat("then ", name.empty() ? "the same code" : name, ": ",
                      has_figure ? Count(participants, people) : "no data");
}

// How a comparison was obtained, with the code's own figure then where it was re-expressed.
std::string ComparisonBasis(const v1::Comparison& c, bool people) {
  if (c.period().empty()) {
    return "";
  }
  std::string basis = ReexpressionText(c.reexpression());
  if (Reexpressed(c.reexpression()) && !c.code_then().period().empty()) {
    const v1::Comparison& then = c.code_then();
    absl::StrAppend(&basis, "; ",
                    CodeThen(then.unit_name(), then.unit_missing(), HasFigures(then),
                             then.participants(), people));
  }
  return basis;
}

// How a scheme's figure was obtained, "" for the unit itself; where re-expressed and the answer
// carries it (GetCoverage does, ListCoverage does not), with the code's own figure at the
// period's end (Coverage.code_then).
std::string FigureBasis(const v1::Coverage& coverage, const v1::SchemeCoverage& s, bool people) {
  if (!Reexpressed(s.reexpression())) {
    return "";
  }
  std::string basis = ReexpressionText(s.reexpression());
  if (coverage.has_code_then()) {
    const v1::Coverage& then = coverage.code_then();
    for (const v1::SchemeCoverage& t : then.schemes()) {
      if (t.scheme() == s.scheme()) {
        absl::StrAppend(&basis, "; ",
                        CodeThen(then.unit().name(), false, !t.as_of_month().empty(),
                                 t.participants(), people));
      }
    }
  }
  return basis;
}

// "82 (decision), 87 (decision)": the predecessors' targets a re-expressed target came from.
std::string TargetSources(const v1::SchemeAchievement& a) {
  if (!a.target_reexpressed()) {
    return "";
  }
  std::vector<std::string> sources;
  for (const v1::Target& t : a.source_targets()) {
    std::string by = t.decision_ref().empty() ? t.assigned_by() : t.decision_ref();
    sources.push_back(by.empty() ? t.unit_code() : absl::StrCat(t.unit_code(), " (", by, ")"));
  }
  return absl::StrCat("re-expressed from ", sources.empty() ? "predecessors" : "",
                      absl::StrJoin(sources, ", "));
}

}  // namespace

std::string ReexpressionText(const v1::Reexpression& r) {
  switch (r.kind()) {
    case v1::REEXPRESSION_KIND_SAME_UNIT:
      return "same unit";
    case v1::REEXPRESSION_KIND_EXACT:
      return "exact";
    case v1::REEXPRESSION_KIND_ESTIMATED:
      return absl::StrCat("estimated (", FormatFixed(r.estimated_part() * 100, 1), "% on shares)");
    case v1::REEXPRESSION_KIND_ABSENT:
      return absl::StrCat("absent: ", r.reason().empty() ? "not re-expressible" : r.reason());
    default:
      return "";
  }
}

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "table") {
    return OutputFormat::kTable;
  }
  if (name == "json") {
    return OutputFormat::kJson;
  }
  if (name == "csv") {
    return OutputFormat::kCsv;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--format \"", name, "\" is not one of table, json, csv"));
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::StrCat("{\"error\": \"", status.ToString(), "\"}\n");
  }
  if (json.empty() || json.back() != '\n') {
    json.push_back('\n');
  }
  return json;
}

Table UnitsTable(const std::vector<v1::AdminUnit>& units, bool people) {
  Table table({{"code", kL},
               {"name", kL},
               {"level", kL},
               {"type", kL},
               {"parent_code", kL},
               {"valid_from", kL},
               {"valid_to", kL}});
  for (const v1::AdminUnit& unit : units) {
    table.AddRow({unit.code(), unit.name(), LevelName(unit.level()), unit.type(),
                  unit.parent_code(), unit.valid_from(), unit.valid_to()});
  }
  return table;
}

Table RevisionsTable(const std::vector<v1::Revision>& revisions, bool people) {
  Table table({{"seq", kR},
               {"commit_time", kL},
               {"period", kL},
               {"field", kL},
               {"value", kR},
               {"in_province", kR},
               {"request_id", kL},
               {"source", kL},
               {"peer", kL}});
  for (const v1::Revision& revision : revisions) {
    std::string period;
    std::string field;
    std::string value;
    std::string in_province;
    if (revision.has_participation()) {
      const v1::ParticipationRecord& record = revision.participation();
      period = record.month();
      field = SchemeName(record.scheme());
      value = Count(record.participants(), people);
      if (record.has_in_province_participants()) {
        in_province = Count(record.in_province_participants(), people);
      }
    } else if (revision.has_denominator()) {
      const v1::DenominatorRecord& record = revision.denominator();
      period = absl::StrCat(record.year());
      field = DenominatorKindName(record.kind());
      value = Count(record.value(), people);
    } else if (revision.has_crosswalk_link()) {
      const v1::CrosswalkLink& link = revision.crosswalk_link();
      period = link.effective_date();
      field = absl::StrCat("crosswalk ", link.from_code(), "->", link.to_code());
      value = link.has_population_share() ? absl::StrCat(link.population_share()) : "unknown";
    }
    table.AddRow({absl::StrCat(revision.change_seq()), Time(revision.commit_time()), period, field,
                  value, in_province, revision.request_id(), revision.source(), revision.peer()});
  }
  return table;
}

std::string CoverageTitle(const v1::Coverage& coverage) {
  std::string title =
      absl::StrCat(coverage.unit().name().empty() ? coverage.unit().code() : coverage.unit().name(),
                   " (", coverage.unit().code(), "), ", coverage.period(), ", as of ",
                   coverage.as_of_month().empty() ? "no data" : coverage.as_of_month());
  if (!coverage.predecessors().empty()) {
    std::vector<std::string> from;
    for (const v1::Predecessor& p : coverage.predecessors()) {
      std::string share = p.has_population_share()
                              ? (p.population_share() == 1.0
                                     ? "whole"
                                     : absl::StrCat("share ", FormatFixed(p.population_share(), 4)))
                              : "share unknown";
      from.push_back(absl::StrCat(p.unit().code(), " ", p.unit().name(), " (", share, ")"));
    }
    absl::StrAppend(&title, "\nin the territory of ", coverage.territory_date(),
                    ", re-expressed from ", absl::StrJoin(from, ", "));
  }
  return title;
}

Table CoverageTable(const v1::Coverage& coverage, bool people) {
  Table table({{"scheme", kL},
               {"participants", kR},
               {"in_province", kR},
               {"denominator", kR},
               {"of", kL},
               {"coverage_%", kR},
               {"vs", kL},
               {"change", kR},
               {"points", kR},
               {"reporting", kR},
               {"basis", kL},
               {"vs_basis", kL},
               {"notes", kL}});
  for (const v1::SchemeCoverage& s : coverage.schemes()) {
    const v1::Comparison& last_year = s.same_period_last_year();
    std::vector<std::string> notes;
    if (s.units_missing_part() > 0) {
      notes.push_back(absl::StrCat(s.units_missing_part(),
                                   " units reported only one of compulsory and voluntary"));
    } else if (s.as_of_month().empty() && s.reexpression().kind() != v1::REEXPRESSION_KIND_ABSENT) {
      notes.push_back("nothing reported in the period");
    }
    if (std::string note = ComparisonNote(last_year); !note.empty()) {
      notes.push_back(note);
    }
    if (s.units_missing_in_province() > 0) {
      notes.push_back(
          absl::StrCat(s.units_missing_in_province(), " units lack the in-province split"));
    }
    if (s.units_missing_denominator() > 0) {
      notes.push_back(absl::StrCat(s.units_missing_denominator(), " units lack a denominator"));
    }
    bool reported = !s.as_of_month().empty();
    table.AddRow(
        {SchemeName(s.scheme()), reported ? Count(s.participants(), people) : "",
         s.has_in_province_participants() ? Count(s.in_province_participants(), people) : "",
         s.has_denominator() ? Count(s.denominator(), people) : "",
         DenominatorKindName(s.denominator_kind()),
         s.has_coverage_percent() ? Percent(s.coverage_percent()) : "", last_year.period(),
         reported && HasFigures(last_year) ? Change(last_year.participants_change(), people) : "",
         last_year.has_coverage_points_change() ? Points(last_year.coverage_points_change()) : "",
         absl::StrCat(s.reporting_units(), "/", s.expected_units()),
         FigureBasis(coverage, s, people), ComparisonBasis(last_year, people),
         absl::StrJoin(notes, "; ")});
  }
  return table;
}

Table YearEndsTable(const v1::Coverage& coverage, bool people) {
  Table table({{"scheme", kL},
               {"year_end", kL},
               {"participants", kR},
               {"change", kR},
               {"coverage_%", kR},
               {"points", kR},
               {"basis", kL},
               {"notes", kL}});
  for (const v1::SchemeCoverage& s : coverage.schemes()) {
    for (const v1::Comparison& c : s.previous_year_ends()) {
      bool figures = HasFigures(c);
      table.AddRow(
          {SchemeName(s.scheme()), c.period(), figures ? Count(c.participants(), people) : "",
           figures && !s.as_of_month().empty() ? Change(c.participants_change(), people) : "",
           c.has_coverage_percent() ? Percent(c.coverage_percent()) : "",
           c.has_coverage_points_change() ? Points(c.coverage_points_change()) : "",
           ComparisonBasis(c, people), ComparisonNote(c)});
    }
  }
  return table;
}

Table CoverageListTable(const std::vector<v1::Coverage>& coverages, bool people) {
  Table table({{"code", kL},
               {"name", kL},
               {"as_of", kL},
               {"scheme", kL},
               {"participants", kR},
               {"denominator", kR},
               {"coverage_%", kR},
               {"points_vs_last_year", kR},
               {"reporting", kR},
               {"basis", kL}});
  for (const v1::Coverage& coverage : coverages) {
    for (const v1::SchemeCoverage& s : coverage.schemes()) {
      const v1::Comparison& last_year = s.same_period_last_year();
      table.AddRow(
          {coverage.unit().code(), coverage.unit().name(), s.as_of_month(), SchemeName(s.scheme()),
           s.as_of_month().empty() ? "" : Count(s.participants(), people),
           s.has_denominator() ? Count(s.denominator(), people) : "",
           s.has_coverage_percent() ? Percent(s.coverage_percent()) : "",
           last_year.has_coverage_points_change() ? Points(last_year.coverage_points_change()) : "",
           absl::StrCat(s.reporting_units(), "/", s.expected_units()),
           FigureBasis(coverage, s, people)});
    }
  }
  return table;
}

Table SeriesTable(const v1::CoverageSeries& series, bool people) {
  Table table({{"month", kL},
               {"participants", kR},
               {"in_province", kR},
               {"denominator", kR},
               {"coverage_%", kR},
               {"reporting", kR},
               {"basis", kL}});
  for (const v1::SchemeCoverageAtMonth& month : series.months()) {
    const v1::SchemeCoverage& s = month.coverage();
    bool reported = !s.as_of_month().empty();
    table.AddRow(
        {month.month(), reported ? Count(s.participants(), people) : "",
         s.has_in_province_participants() ? Count(s.in_province_participants(), people) : "",
         s.has_denominator() ? Count(s.denominator(), people) : "",
         s.has_coverage_percent() ? Percent(s.coverage_percent()) : "",
         absl::StrCat(s.reporting_units(), "/", s.expected_units()),
         Reexpressed(s.reexpression()) ? ReexpressionText(s.reexpression()) : ""});
  }
  return table;
}

std::string TargetKindName(v1::TargetKind kind) {
  switch (kind) {
    case v1::TARGET_KIND_PARTICIPANTS:
      return "participants";
    case v1::TARGET_KIND_COVERAGE_PERCENT:
      return "coverage_percent";
    default:
      return "";
  }
}

std::string TargetBasisName(v1::TargetBasis basis) {
  return basis == v1::TARGET_BASIS_IN_PROVINCE ? "in_province" : "all";
}

std::string StatusName(v1::AchievementStatus status) {
  switch (status) {
    case v1::ACHIEVEMENT_STATUS_MET:
      return "met";
    case v1::ACHIEVEMENT_STATUS_ON_TRACK:
      return "on_track";
    case v1::ACHIEVEMENT_STATUS_AT_RISK:
      return "at_risk";
    case v1::ACHIEVEMENT_STATUS_BEHIND:
      return "behind";
    case v1::ACHIEVEMENT_STATUS_NO_TARGET:
      return "no_target";
    case v1::ACHIEVEMENT_STATUS_NO_DATA:
      return "no_data";
    default:
      return "";
  }
}

Table TargetsTable(const std::vector<v1::Target>& targets, bool people) {
  Table table({{"unit_code", kL},
               {"year", kR},
               {"scheme", kL},
               {"kind", kL},
               {"value", kR},
               {"basis", kL},
               {"assigned_by", kL},
               {"decision_ref", kL},
               {"revision", kR},
               {"update_time", kL},
               {"unit_as_of", kL},
               {"measure", kL},
               {"payer_group", kL}});
  for (const v1::Target& t : targets) {
    // kind and basis are participants' (Target.measure): blank for another measure.
    const bool measure = OnMeasure(t);
    table.AddRow({t.unit_code(), absl::StrCat(t.year()),
                  measure && t.scheme() == v1::SCHEME_UNSPECIFIED ? "" : SchemeName(t.scheme()),
                  measure ? "" : TargetKindName(t.kind()), TargetValue(t, people),
                  measure ? "" : TargetBasisName(t.basis()), t.assigned_by(), t.decision_ref(),
                  absl::StrCat(t.revision()), Time(t.update_time()), t.unit_as_of(),
                  measure ? MeasureName(t.measure()) : "", PayerGroupName(t.payer_group())});
  }
  return table;
}

namespace {

// Whether the achievement carries an actual figure. NO_DATA has none; NO_TARGET has one only when
// the aggregation service gave the scheme a figure (not when nothing was reported, nor for BHXH
// as a whole with a part missing); the other statuses are read from a figure.
bool HasActual(const v1::SchemeAchievement& a) {
  switch (a.status()) {
    case v1::ACHIEVEMENT_STATUS_NO_DATA:
      return false;
    case v1::ACHIEVEMENT_STATUS_NO_TARGET:
      return !a.coverage().as_of_month().empty();
    default:
      return true;
  }
}

}  // namespace

Table AchievementTable(const v1::Achievement& achievement, bool people) {
  Table table({{"scheme", kL},
               {"target", kR},
               {"basis", kL},
               {"actual", kR},
               {"coverage_%", kR},
               {"achieved_%", kR},
               {"points_vs_target", kR},
               {"to_target", kR},
               {"status", kL},
               {"projected_dec", kR},
               {"figure_basis", kL},
               {"target_from", kL}});
  for (const v1::SchemeAchievement& s : achievement.schemes()) {
    const bool has_target = s.has_target();
    const bool actual = HasActual(s);
    table.AddRow(
        {SchemeName(s.scheme()), has_target ? TargetValue(s.target(), people) : "",
         has_target ? TargetBasisName(s.target().basis()) : "",
         actual ? Count(s.actual_participants(), people) : "",
         s.has_actual_coverage_percent() ? Percent(s.actual_coverage_percent()) : "",
         has_target && actual ? Percent(s.achievement_percent()) : "",
         s.has_points_vs_target() ? Points(s.points_vs_target()) : "",
         has_target && actual ? Count(s.participants_to_target(), people) : "",
         StatusName(s.status()), actual ? Count(s.projected_year_end_participants(), people) : "",
         Reexpressed(s.coverage().reexpression()) ? ReexpressionText(s.coverage().reexpression())
                                                  : "",
         TargetSources(s)});
  }
  // Targets on other measures (Achievement.measures), one row each, named by their key in the
  // scheme column, "ceiling" in the basis column where lower is better (achieved_% is then the
  // share of the ceiling used).
  for (const v1::MeasureAchievement& m : achievement.measures()) {
    const bool actual = m.has_actual();
    table.AddRow({MeasureKey(m.measure(), m.scheme(), m.payer_group()),
                  MeasureFigure(m.measure(), m.target().value(), people),
                  m.lower_is_better() ? "ceiling" : "",
                  actual ? MeasureFigure(m.measure(), m.actual(), people) : "", "",
                  m.has_percent_of_target() ? Percent(m.percent_of_target()) : "",
                  m.has_points_vs_target() ? Points(m.points_vs_target()) : "",
                  actual ? MeasureFigure(m.measure(), m.gap(), people) : "", StatusName(m.status()),
                  m.has_projected_year_end()
                      ? MeasureFigure(m.measure(), m.projected_year_end(), people)
                      : "",
                  "", ""});
  }
  return table;
}

Table LaggingTable(const v1::ListLaggingUnitsResponse& lagging, bool people) {
  Table table({{"code", kL},
               {"name", kL},
               {"as_of", kL},
               {"status", kL},
               {"achieved_%", kR},
               {"actual", kR},
               {"target", kR},
               {"to_target", kR},
               {"projected_dec", kR},
               {"note", kL},
               {"target_from", kL}});
  for (const v1::LaggingUnit& unit : lagging.units()) {
    if (unit.has_measure_achievement()) {  // a target on another measure than participants
      const v1::MeasureAchievement& m = unit.measure_achievement();
      const bool actual = m.has_actual();
      table.AddRow(
          {unit.unit().code(), unit.unit().name(), unit.as_of_month(), StatusName(m.status()),
           m.has_percent_of_target() ? Percent(m.percent_of_target()) : "",
           actual ? MeasureFigure(m.measure(), m.actual(), people) : "",
           MeasureFigure(m.measure(), m.target().value(), people),
           actual ? MeasureFigure(m.measure(), m.gap(), people) : "",
           m.has_projected_year_end() ? MeasureFigure(m.measure(), m.projected_year_end(), people)
                                      : "",
           m.note(), ""});
      continue;
    }
    const v1::SchemeAchievement& a = unit.achievement();
    const bool actual = HasActual(a);
    table.AddRow({unit.unit().code(), unit.unit().name(), unit.as_of_month(),
                  StatusName(a.status()), actual ? Percent(a.achievement_percent()) : "",
                  actual ? Count(a.actual_participants(), people) : "",
                  a.has_target() ? TargetValue(a.target(), people) : "",
                  actual ? Count(a.participants_to_target(), people) : "",
                  actual ? Count(a.projected_year_end_participants(), people) : "", a.note(),
                  TargetSources(a)});
  }
  return table;
}

Table AllocationTable(const v1::AllocateTargetResponse& allocation, bool people) {
  Table table({{"code", kL},
               {"name", kL},
               {"base", kR},
               {"share_%", kR},
               {"target", kR},
               {"revision", kR}});
  for (const v1::AllocationPart& part : allocation.parts()) {
    table.AddRow({part.unit().code(), part.unit().name(), Count(part.base(), people),
                  FormatFixed(part.share_percent(), 3), TargetValue(part.target(), people),
                  part.target().revision() > 0 ? absl::StrCat(part.target().revision()) : ""});
  }
  return table;
}

Table UploadSummaryTable(const v1::StreamReportsResponse& summary, bool people) {
  // Measures' columns only for an upload that carried measures: the other uploads read as before.
  if (summary.measures_accepted() > 0) {
    Table table({{"messages", kR},
                 {"replayed", kR},
                 {"measures_accepted", kR},
                 {"measures_changed", kR},
                 {"last_change_seq", kR}});
    table.AddRow(
        {absl::StrCat(summary.messages_committed()), absl::StrCat(summary.messages_replayed()),
         Count(summary.measures_accepted(), people), Count(summary.measures_changed(), people),
         absl::StrCat(summary.last_change_seq())});
    return table;
  }
  Table table({{"messages", kR},
               {"replayed", kR},
               {"records_accepted", kR},
               {"records_changed", kR},
               {"denominators_accepted", kR},
               {"denominators_changed", kR},
               {"last_change_seq", kR}});
  table.AddRow(
      {absl::StrCat(summary.messages_committed()), absl::StrCat(summary.messages_replayed()),
       Count(summary.records_accepted(), people), Count(summary.records_changed(), people),
       Count(summary.denominators_accepted(), people),
       Count(summary.denominators_changed(), people), absl::StrCat(summary.last_change_seq())});
  return table;
}

Table UnitsImportTable(const v1::ImportAdminUnitsResponse& summary, bool people) {
  Table table(
      {{"units_accepted", kR}, {"units_changed", kR}, {"change_seq", kR}, {"replayed", kL}});
  table.AddRow({Count(summary.units_accepted(), people), Count(summary.units_changed(), people),
                absl::StrCat(summary.change_seq()), summary.replayed() ? "yes" : "no"});
  return table;
}

Table CrosswalkImportTable(const v1::ImportCrosswalkResponse& summary, bool people) {
  Table table(
      {{"links_accepted", kR}, {"links_changed", kR}, {"change_seq", kR}, {"replayed", kL}});
  table.AddRow({Count(summary.links_accepted(), people), Count(summary.links_changed(), people),
                absl::StrCat(summary.change_seq()), summary.replayed() ? "yes" : "no"});
  return table;
}

Table CrosswalkTable(const std::vector<v1::CrosswalkLink>& links, bool people) {
  Table table({{"effective_date", kL},
               {"from_code", kL},
               {"from_valid_from", kL},
               {"to_code", kL},
               {"to_valid_from", kL},
               {"population_share", kR},
               {"labor_force_share", kR}});
  for (const v1::CrosswalkLink& link : links) {
    // Shares as given (CSV: full precision); people read "unknown" where there is none.
    auto share = [&](bool has, double value) -> std::string {
      if (!has) {
        return people ? "unknown" : "";
      }
      return people ? FormatFixed(value, 4) : absl::StrCat(value);
    };
    table.AddRow({link.effective_date(), link.from_code(), link.from_valid_from(), link.to_code(),
                  link.to_valid_from(), share(link.has_population_share(), link.population_share()),
                  link.has_labor_force_share()
                      ? share(true, link.labor_force_share())
                      : (people && link.has_population_share() ? "same" : "")});
  }
  return table;
}

}  // namespace covtrack::covctl
