// covctl targets achievement and covctl report: actual figures against the year's targets.

#include "absl/strings/str_cat.h"
#include "tools/covctl/command_handlers.h"

namespace covtrack::covctl {

int Commands::Achievement(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(schemes, ParseSchemeList(options_.schemes));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::GetAchievementRequest request;
  request.set_unit_code(args[0]);
  request.set_period(args[1]);
  request.set_territory_date(options_.territory_date);
  *request.mutable_freshness() = freshness;
  for (v1::Scheme scheme : schemes) {
    request.add_schemes(scheme);
  }
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Achievement achievement;
  grpc::Status status = stub->GetAchievement(&context, request, &achievement);
  if (!status.ok()) {
    return RpcFailed(status, "targets achievement", options_.targets_server);
  }
  Emit(
      achievement, [&](bool people) { return AchievementTable(achievement, people); },
      absl::StrCat(achievement.unit().name(), " (", achievement.unit().code(), "), ",
                   achievement.period(), ", as of ", achievement.as_of_month()));
  return kExitOk;
}

int Commands::Report(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::GetReportRequest request;
  request.set_unit_code(args[0]);
  request.set_period(args[1]);
  request.set_territory_date(options_.territory_date);
  *request.mutable_freshness() = freshness;
  request.set_percent_decimals(options_.percent_decimals);
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Report report;
  grpc::Status status = stub->GetReport(&context, request, &report);
  if (!status.ok()) {
    return RpcFailed(status, "report", options_.targets_server);
  }
  if (options_.format == OutputFormat::kTable) {
    out_ << report.text() << "\n\n";
  }
  Emit(report, [&](bool people) { return AchievementTable(report.achievement(), people); });
  return kExitOk;
}

}  // namespace covtrack::covctl
