// covctl measures show and measures list: the measures beyond participants (docs/measures.md)
// from the aggregation service, named and measured as the registry says (common/measures.h).

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/domain.h"
#include "common/measures.h"
#include "tools/covctl/command_handlers.h"
#include "tools/covctl/views.h"

namespace covtrack::covctl {
namespace {

constexpr Table::Align kL = Table::Align::kLeft;
constexpr Table::Align kR = Table::Align::kRight;

// The unit a measure's values are in, as a review prints it.
std::string UnitLabel(MeasureUnit unit) {
  switch (unit) {
    case MeasureUnit::kPeople:
      return "người";
    case MeasureUnit::kVnd:
      return "đồng";
    case MeasureUnit::kEmployers:
      return "đơn vị";
    case MeasureUnit::kPercent:
      return "%";
  }
  return "";
}

std::string Number(int64_t value, bool people) {
  return people ? GroupThousands(value) : absl::StrCat(value);
}

// The value itself (the ratio's percent), for people or plain for CSV; "" when absent.
std::string ValueText(const v1::MeasureValue& v, bool people) {
  if (v.has_percent()) {
    return people ? FormatFixed(v.percent(), 2) : absl::StrCat(v.percent());
  }
  return v.has_value() ? Number(v.value(), people) : "";
}

std::string ChangeText(const v1::MeasureComparison& c, bool people) {
  if (c.has_percent_points_change()) {
    return people ? FormatSigned(c.percent_points_change(), 2)
                  : absl::StrCat(c.percent_points_change());
  }
  if (c.has_value_change()) {
    return people ? FormatSignedCount(c.value_change()) : absl::StrCat(c.value_change());
  }
  return "";
}

// How the value was read in the reader's territory ("exact: old units summed", …, the reason
// where it could not be); "" for a unit read as itself. Its comparison's, when only that was
// re-expressed or its territory changed.
std::string Basis(const v1::MeasureValue& v) {
  auto reexpressed = [](const v1::Reexpression& r) {
    return r.kind() == v1::REEXPRESSION_KIND_EXACT || r.kind() == v1::REEXPRESSION_KIND_ESTIMATED ||
           r.kind() == v1::REEXPRESSION_KIND_ABSENT;
  };
  if (reexpressed(v.reexpression())) {
    return ReexpressionText(v.reexpression());
  }
  const v1::MeasureComparison& c = v.same_period_last_year();
  if (reexpressed(c.reexpression())) {
    return absl::StrCat(c.period(), ": ", ReexpressionText(c.reexpression()));
  }
  return c.territory_changed() ? absl::StrCat("territory changed since ", c.period()) : "";
}

std::vector<std::string> ValueCells(const v1::MeasureValue& v, bool people) {
  const MeasureInfo* info = FindMeasure(v.measure());
  const v1::MeasureComparison& last_year = v.same_period_last_year();
  std::string before;
  if (last_year.has_percent()) {
    before = people ? FormatFixed(last_year.percent(), 2) : absl::StrCat(last_year.percent());
  } else if (last_year.has_value()) {
    before = Number(last_year.value(), people);
  }
  return {info == nullptr ? MeasureName(v.measure()) : std::string(info->vietnamese),
          v.scheme() == v1::SCHEME_UNSPECIFIED ? "" : SchemeName(v.scheme()),
          PayerGroupName(v.payer_group()),
          ValueText(v, people),
          info == nullptr ? "" : UnitLabel(info->unit),
          v.as_of_month(),
          v.months_reported() > 0 ? absl::StrCat(v.months_reported()) : "",
          absl::StrCat(v.reporting_units(), "/", v.expected_units()),
          before,
          ChangeText(last_year, people),
          Basis(v)};
}

Table MeasuresTable(const std::vector<v1::MeasureSummary>& summaries, bool with_unit, bool people) {
  std::vector<Table::Column> columns;
  if (with_unit) {
    columns = {{"code", kL}, {"name", kL}};
  }
  for (Table::Column c : std::vector<Table::Column>{{"measure", kL},
                                                    {"scheme", kL},
                                                    {"payer_group", kL},
                                                    {"value", kR},
                                                    {"unit", kL},
                                                    {"as_of", kL},
                                                    {"months", kR},
                                                    {"reporting", kR},
                                                    {"last_year", kR},
                                                    {"change", kR},
                                                    {"basis", kL}}) {
    columns.push_back(c);
  }
  Table table(std::move(columns));
  for (const v1::MeasureSummary& s : summaries) {
    if (s.values_size() == 0 && with_unit) {
      table.AddRow({s.unit().code(), s.unit().name()});  // nothing reported: no figures, not 0
    }
    for (const v1::MeasureValue& v : s.values()) {
      std::vector<std::string> cells;
      if (with_unit) {
        cells = {s.unit().code(), s.unit().name()};
      }
      for (std::string& c : ValueCells(v, people)) {
        cells.push_back(std::move(c));
      }
      table.AddRow(std::move(cells));
    }
  }
  return table;
}

Table FindingsTable(const v1::MeasureSummary& s, bool people) {
  Table table(
      {{"code", kL}, {"scheme", kL}, {"payer_group", kL}, {"stock_change", kR}, {"net_flow", kR}});
  for (const v1::ReconciliationFinding& f : s.findings()) {
    table.AddRow({f.unit_code(), SchemeName(f.scheme()), PayerGroupName(f.payer_group()),
                  people ? FormatSignedCount(f.stock_change()) : absl::StrCat(f.stock_change()),
                  people ? FormatSignedCount(f.net_flow()) : absl::StrCat(f.net_flow())});
  }
  return table;
}

// "\nre-expressed from 82 Tiền Giang, 87 Đồng Tháp" where the unit did not exist in the period.
std::string PredecessorsTitle(const v1::MeasureSummary& s) {
  std::vector<std::string> names;
  for (const v1::Predecessor& p : s.predecessors()) {
    names.push_back(
        absl::StrCat(p.unit().code(), p.unit().name().empty() ? "" : " ", p.unit().name()));
  }
  return names.empty() ? "" : absl::StrCat("\nre-expressed from ", absl::StrJoin(names, ", "));
}

// --order_by MEASURE[:SCHEME[:GROUP]] ("arrears_ratio", "new_participants:health:household").
absl::StatusOr<v1::MeasureOrder> ParseMeasureOrder(const std::string& text, bool descending) {
  v1::MeasureOrder order;
  order.set_descending(descending);
  if (text.empty()) {
    return order;
  }
  const std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() > 3) {
    return absl::InvalidArgumentError("--order_by: MEASURE[:SCHEME[:PAYER_GROUP]]");
  }
  absl::StatusOr<v1::Measure> measure = ParseMeasure(parts[0]);
  if (!measure.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--order_by: ", measure.status().message()));
  }
  order.set_measure(*measure);
  if (parts.size() > 1) {
    absl::StatusOr<v1::Scheme> scheme = ParseOptionalScheme(parts[1], "--order_by's scheme");
    if (!scheme.ok()) {
      return scheme.status();
    }
    order.set_scheme(*scheme);
  }
  if (parts.size() > 2) {
    absl::StatusOr<v1::PayerGroup> group = ParsePayerGroup(parts[2]);
    if (!group.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--order_by: ", group.status().message()));
    }
    order.set_payer_group(*group);
  }
  return order;
}

// --measure for measures show/list: the measures asked, comma-separated (empty: every one).
absl::StatusOr<std::vector<v1::Measure>> ParseMeasureList(const std::string& flag) {
  std::vector<v1::Measure> measures;
  for (absl::string_view name : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    absl::StatusOr<v1::Measure> measure = ParseMeasure(absl::StripAsciiWhitespace(name));
    if (!measure.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--measure: ", measure.status().message()));
    }
    measures.push_back(*measure);
  }
  return measures;
}

}  // namespace

int Commands::MeasuresShow(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(measures, ParseMeasureList(options_.measure));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::GetMeasuresRequest request;
  request.set_unit_code(args[0]);
  request.set_period(args[1]);
  request.mutable_measures()->Add(measures.begin(), measures.end());
  request.set_territory_date(options_.territory_date);
  *request.mutable_freshness() = freshness;
  auto stub = Aggregation();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::MeasureSummary summary;
  grpc::Status status = stub->GetMeasures(&context, request, &summary);
  if (!status.ok()) {
    return RpcFailed(status, "measures show", options_.aggregation_server);
  }
  const std::vector<v1::MeasureSummary> one = {summary};
  Emit(
      summary, [&](bool people) { return MeasuresTable(one, false, people); },
      absl::StrCat(summary.unit().name().empty() ? args[0] : summary.unit().name(), " (", args[0],
                   "), ", summary.period(), PredecessorsTitle(summary)));
  if (options_.format == OutputFormat::kTable && summary.findings_size() > 0) {
    out_ << "\nStock changes that the flows do not explain (data quality):\n"
         << FindingsTable(summary, true).RenderText();
  }
  return kExitOk;
}

int Commands::MeasuresList(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  COVCTL_ASSIGN_OR_USAGE(order, ParseMeasureOrder(options_.order_by, options_.descending));
  COVCTL_ASSIGN_OR_USAGE(measures, ParseMeasureList(options_.measure));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::ListMeasuresRequest request;
  request.set_parent_code(args[0]);
  request.set_period(args[1]);
  request.mutable_measures()->Add(measures.begin(), measures.end());
  request.set_level(level);
  request.set_territory_date(options_.territory_date);
  *request.mutable_order_by() = order;
  *request.mutable_freshness() = freshness;
  request.set_page_size(500);
  v1::ListMeasuresResponse all;
  grpc::Status status = ReadAllPages(
      *Aggregation(), &v1::AggregationService::Stub::ListMeasures, request,
      [](const v1::ListMeasuresResponse& page, v1::ListMeasuresResponse& all) {
        all.mutable_summaries()->MergeFrom(page.summaries());
      },
      all);
  if (!status.ok()) {
    return RpcFailed(status, "measures list", options_.aggregation_server);
  }
  const std::vector<v1::MeasureSummary> summaries(all.summaries().begin(), all.summaries().end());
  Emit(
      all, [&](bool people) { return MeasuresTable(summaries, true, people); },
      absl::StrCat("Measures under ", args[0], ", ", args[1],
                   options_.territory_date.empty()
                       ? ""
                       : absl::StrCat(", in the territory of ", options_.territory_date)));
  return kExitOk;
}

}  // namespace covtrack::covctl
