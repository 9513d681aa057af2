// covctl coverage, coverage list and coverage series: figures from the aggregation service.

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/period.h"
#include "tools/covctl/command_handlers.h"

namespace covtrack::covctl {

int Commands::Coverage(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(schemes, ParseSchemeList(options_.schemes));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::GetCoverageRequest request;
  request.set_unit_code(args[0]);
  request.set_period(args[1]);
  request.set_territory_date(options_.territory_date);
  *request.mutable_freshness() = freshness;
  for (v1::Scheme scheme : schemes) {
    request.add_schemes(scheme);
  }
  request.set_previous_year_ends(options_.previous_year_ends);
  auto stub = Aggregation();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Coverage coverage;
  grpc::Status status = stub->GetCoverage(&context, request, &coverage);
  if (!status.ok()) {
    return RpcFailed(status, "coverage", options_.aggregation_server);
  }
  Emit(
      coverage, [&](bool people) { return CoverageTable(coverage, people); },
      CoverageTitle(coverage));
  if (options_.format == OutputFormat::kTable) {
    Table year_ends = YearEndsTable(coverage, true);
    if (year_ends.size() > 0) {
      out_ << "\nCompared with previous year ends:\n" << year_ends.RenderText();
    }
  }
  return kExitOk;
}

int Commands::CoverageList(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(options_.scheme, "--scheme"));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::ListCoverageRequest request;
  request.set_parent_code(args[0]);
  request.set_period(args[1]);
  request.set_territory_date(options_.territory_date);
  *request.mutable_freshness() = freshness;
  request.set_level(level);
  request.set_scheme(scheme);
  static const std::map<std::string, v1::CoverageOrder> kOrders = {
      {"", v1::COVERAGE_ORDER_CODE},
      {"code", v1::COVERAGE_ORDER_CODE},
      {"coverage_asc", v1::COVERAGE_ORDER_COVERAGE_ASCENDING},
      {"coverage_desc", v1::COVERAGE_ORDER_COVERAGE_DESCENDING},
      {"participants", v1::COVERAGE_ORDER_PARTICIPANTS_DESCENDING}};
  auto order = kOrders.find(options_.order);
  if (order == kOrders.end()) {
    return UsageFailed(absl::InvalidArgumentError(
        absl::StrCat("--order \"", options_.order,
                     "\" is not one of code, coverage_asc, coverage_desc, participants")));
  }
  request.set_order_by(order->second);
  request.set_page_size(500);
  v1::ListCoverageResponse all;
  grpc::Status status = ReadAllPages(
      *Aggregation(), &v1::AggregationService::Stub::ListCoverage, request,
      [](const v1::ListCoverageResponse& page, v1::ListCoverageResponse& all) {
        all.mutable_coverages()->MergeFrom(page.coverages());
      },
      all);
  if (!status.ok()) {
    return RpcFailed(status, "coverage list", options_.aggregation_server);
  }
  std::vector<v1::Coverage> coverages(all.coverages().begin(), all.coverages().end());
  Emit(
      all, [&](bool people) { return CoverageListTable(coverages, people); },
      absl::StrCat("Coverage under ", args[0], ", ", args[1]));
  return kExitOk;
}

int Commands::CoverageSeries(const std::vector<std::string>& args) {
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(args[1], "SCHEME", /*required=*/true));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  for (const std::string& month : {args[2], args[3]}) {
    if (!Month::Parse(month).ok()) {
      return UsageFailed(
          absl::InvalidArgumentError(absl::StrCat("\"", month, "\" is not a month (YYYY-MM)")));
    }
  }
  v1::GetCoverageSeriesRequest request;
  request.set_unit_code(args[0]);
  request.set_scheme(scheme);
  request.set_from_month(args[2]);
  request.set_to_month(args[3]);
  request.set_territory_date(options_.territory_date);
  *request.mutable_freshness() = freshness;
  auto stub = Aggregation();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::CoverageSeries series;
  grpc::Status status = stub->GetCoverageSeries(&context, request, &series);
  if (!status.ok()) {
    return RpcFailed(status, "coverage series", options_.aggregation_server);
  }
  Emit(
      series, [&](bool people) { return SeriesTable(series, people); },
      absl::StrCat(series.unit().name().empty() ? args[0] : series.unit().name(), " (", args[0],
                   "), ", SchemeName(scheme), ", month by month"));
  return kExitOk;
}

}  // namespace covtrack::covctl
