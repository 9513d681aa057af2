// covctl targets set/list/import/allocate/lagging/validate: the target service's targets.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/domain.h"
#include "common/measures.h"
#include "common/status/status.h"
#include "tools/covctl/command_handlers.h"
#include "tools/covctl/target_csv.h"
#include "tools/covctl/upload.h"

namespace covtrack::covctl {

using sampledata::CsvTable;
using sampledata::ParsedRows;

namespace {

// The target keys of --measure, --payer_group and a SCHEME argument: participants of a scheme
// (no --measure), or a measure's keys, SCHEME "none" (or empty) for a measure without one.
struct TargetKeys {
  v1::Measure measure = v1::MEASURE_UNSPECIFIED;
  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED;
  v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED;
};

absl::StatusOr<TargetKeys> ParseTargetKeys(const Options& options, const std::string& scheme,
                                           absl::string_view what) {
  TargetKeys keys;
  if (!options.measure.empty() && options.measure != "participants") {
    absl::StatusOr<v1::Measure> measure = ParseMeasure(options.measure);
    if (!measure.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--measure: ", measure.status().message()));
    }
    keys.measure = *measure;
  }
  absl::StatusOr<v1::PayerGroup> group = ParsePayerGroup(options.payer_group);
  if (!group.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--payer_group: ", group.status().message()));
  }
  keys.group = *group;
  const bool on_measure = keys.measure != v1::MEASURE_UNSPECIFIED;
  if (on_measure && (scheme.empty() || scheme == "none")) {
    return keys;
  }
  ASSIGN_OR_RETURN(keys.scheme, ParseOptionalScheme(scheme, what, /*required=*/!on_measure));
  return keys;
}

}  // namespace

int Commands::TargetsSet(const std::vector<std::string>& args) {
  absl::StatusOr<v1::Target> target = TargetFromFields(
      {args[0], args[2], args[1], options_.kind, args[3], options_.basis, options_.assigned_by,
       options_.decision_ref, options_.unit_as_of, options_.measure, options_.payer_group});
  if (!target.ok()) {
    return UsageFailed(target.status());
  }
  v1::SetTargetRequest request;
  *request.mutable_target() = *target;
  // The same command again is a retry (same id: nothing new stored); a different target is a
  // new revision.
  request.set_request_id(options_.request_id.empty()
                             ? BatchRequestId(UploadId(target->SerializeAsString(), "target"), 0)
                             : options_.request_id);
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Target stored;
  grpc::Status status = stub->SetTarget(&context, request, &stored);
  if (!status.ok()) {
    return RpcFailed(status, "targets set", options_.targets_server);
  }
  Emit(stored, [&](bool people) { return TargetsTable({stored}, people); });
  return kExitOk;
}

int Commands::TargetsList(const std::vector<std::string>& args) {
  v1::ListTargetsRequest request;
  if (!args.empty()) {
    request.set_unit_code(args[0]);
  }
  request.set_parent_code(options_.parent);
  request.set_year(options_.year);
  COVCTL_ASSIGN_OR_USAGE(scheme, ParseOptionalScheme(options_.scheme, "--scheme"));
  request.set_scheme(scheme);
  request.set_include_revisions(options_.include_revisions);
  request.set_page_size(1000);
  v1::ListTargetsResponse all;
  grpc::Status status = ReadAllPages(
      *Targets(), &v1::TargetService::Stub::ListTargets, request,
      [](const v1::ListTargetsResponse& page, v1::ListTargetsResponse& all) {
        all.mutable_targets()->MergeFrom(page.targets());
      },
      all);
  if (!status.ok()) {
    return RpcFailed(status, "targets list", options_.targets_server);
  }
  std::vector<v1::Target> targets(all.targets().begin(), all.targets().end());
  Emit(all, [&](bool people) { return TargetsTable(targets, people); });
  return kExitOk;
}

int Commands::TargetsImport(const std::vector<std::string>& args) {
  const std::string& path = args[0];
  int exit_code = kExitOk;
  auto file = ReadCsv(path, exit_code);
  if (!file) {
    return exit_code;
  }
  ParsedRows<v1::Target> parsed = ParseTargetRows(file->second);
  if (ReportBadRows(path, parsed, file->second.rows.size())) {
    return kExitRejected;
  }
  // One SetTarget per row (the API has no batch call); ids derived from the file, so a re-run
  // after an interruption stores nothing twice.
  std::string upload_id = UploadId(file->first, "targets");
  auto stub = Targets();
  Progress progress(err_, options_.progress, "importing targets", parsed.items.size());
  v1::ListTargetsResponse stored;
  int rejected = 0;
  for (size_t i = 0; i < parsed.items.size(); ++i) {
    v1::SetTargetRequest request;
    *request.mutable_target() = parsed.items[i];
    request.set_request_id(BatchRequestId(upload_id, i));
    grpc::ClientContext context;
    SetDeadline(context);
    v1::Target target;
    grpc::Status status = stub->SetTarget(&context, request, &target);
    if (!status.ok()) {
      if (ExitCodeFor(status.error_code()) != kExitRejected) {
        progress.Finish();
        int code = RpcFailed(status, "targets import", options_.targets_server);
        err_ << path << ": stopped at line " << parsed.lines[i] << " (" << i << " of "
             << parsed.items.size() << " rows stored); run the same command again to resume\n";
        return code;
      }
      err_ << path << ":" << parsed.lines[i]
           << ": rejected by the server: " << CodeName(status.error_code()) << ": "
           << status.error_message() << "\n";
      ++rejected;
      continue;
    }
    *stored.add_targets() = target;
    progress.Update(i + 1);
  }
  progress.Finish();
  std::vector<v1::Target> targets(stored.targets().begin(), stored.targets().end());
  Emit(stored, [&](bool people) { return TargetsTable(targets, people); });
  if (rejected > 0) {
    err_ << path << ": " << rejected << " of " << parsed.items.size() << " rows rejected\n";
    return kExitRejected;
  }
  return kExitOk;
}

int Commands::TargetsAllocate(const std::vector<std::string>& args) {
  static const std::map<std::string, v1::AllocationMethod> kMethods = {
      {"population", v1::ALLOCATION_METHOD_POPULATION},
      {"labor_force", v1::ALLOCATION_METHOD_LABOR_FORCE},
      {"last_year_participants", v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS}};
  auto method = kMethods.find(options_.method);
  // A ratio's ceiling is inherited by every unit, not split: no method.
  const bool inherited = options_.measure == "arrears_ratio";
  if (method == kMethods.end() && !(inherited && options_.method.empty())) {
    return UsageFailed(absl::InvalidArgumentError(
        "--method must be one of population, labor_force, last_year_participants"));
  }
  COVCTL_ASSIGN_OR_USAGE(keys, ParseTargetKeys(options_, args[1], "SCHEME"));
  COVCTL_ASSIGN_OR_USAGE(year, ParseYear(args[2]));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::AllocateTargetRequest request;
  request.set_parent_code(args[0]);
  request.set_scheme(keys.scheme);
  request.set_measure(keys.measure);
  request.set_payer_group(keys.group);
  request.set_year(year);
  request.set_level(level);
  request.set_method(method == kMethods.end() ? v1::ALLOCATION_METHOD_UNSPECIFIED : method->second);
  request.set_preview(options_.preview);
  request.set_assigned_by(options_.assigned_by);
  request.set_decision_ref(options_.decision_ref);
  if (!options_.preview) {
    request.set_request_id(
        options_.request_id.empty()
            ? BatchRequestId(UploadId(request.SerializeAsString(), "allocate"), 0)
            : options_.request_id);
  }
  // After the request id: the same allocation run again with another token is the same
  // request (the service leaves freshness out of what a request id must match).
  *request.mutable_freshness() = freshness;
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::AllocateTargetResponse response;
  grpc::Status status = stub->AllocateTarget(&context, request, &response);
  if (!status.ok()) {
    return RpcFailed(status, "targets allocate", options_.targets_server);
  }
  std::string title = absl::StrCat(
      response.stored() ? "Stored" : "Preview (nothing stored)", ": ", args[0], " ", args[1], " ",
      args[2], " target ", GroupThousands(static_cast<int64_t>(response.parent_target().value())),
      inherited ? std::string(" inherited by every unit")
                : absl::StrCat(" split by ", options_.method, "; parts add up to ",
                               GroupThousands(response.allocated_total())));
  Emit(
      response, [&](bool people) { return AllocationTable(response, people); }, title);
  return kExitOk;
}

int Commands::TargetsLagging(const std::vector<std::string>& args) {
  COVCTL_CHECK_USAGE(CheckPeriod(args[1]));
  COVCTL_CHECK_USAGE(CheckTerritoryDate(options_.territory_date));
  COVCTL_ASSIGN_OR_USAGE(keys, ParseTargetKeys(options_, options_.scheme, "--scheme"));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  COVCTL_ASSIGN_OR_USAGE(freshness, ParseFreshness(options_.at_least_seq, options_.consistency));
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code(args[0]);
  request.set_period(args[1]);
  request.set_territory_date(options_.territory_date);
  *request.mutable_freshness() = freshness;
  request.set_scheme(keys.scheme);
  request.set_measure(keys.measure);
  request.set_payer_group(keys.group);
  request.set_level(level);
  request.set_page_size(500);
  v1::ListLaggingUnitsResponse all;
  grpc::Status status = ReadAllPages(
      *Targets(), &v1::TargetService::Stub::ListLaggingUnits, request,
      [](const v1::ListLaggingUnitsResponse& page, v1::ListLaggingUnitsResponse& all) {
        all.mutable_units()->MergeFrom(page.units());
        all.set_total_size(page.total_size());
        all.set_units_with_target(page.units_with_target());
      },
      all);
  if (!status.ok()) {
    return RpcFailed(status, "targets lagging", options_.targets_server);
  }
  Emit(
      all, [&](bool people) { return LaggingTable(all, people); },
      absl::StrCat(all.total_size(), " of ", all.units_with_target(), " units with a ",
                   options_.measure.empty() ? "" : absl::StrCat(options_.measure, " "),
                   options_.scheme, " target under ", args[0], " are behind or at risk in ",
                   args[1], " (worst first)"));
  return kExitOk;
}

int Commands::TargetsValidate(const std::vector<std::string>& args) {
  COVCTL_ASSIGN_OR_USAGE(keys, ParseTargetKeys(options_, args[1], "SCHEME"));
  COVCTL_ASSIGN_OR_USAGE(year, ParseYear(args[2]));
  COVCTL_ASSIGN_OR_USAGE(level, ParseOptionalLevel(options_.level));
  v1::ValidateAllocationRequest request;
  request.set_parent_code(args[0]);
  request.set_scheme(keys.scheme);
  request.set_measure(keys.measure);
  request.set_payer_group(keys.group);
  request.set_year(year);
  request.set_level(level);
  auto stub = Targets();
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ValidateAllocationResponse response;
  grpc::Status status = stub->ValidateAllocation(&context, request, &response);
  if (!status.ok()) {
    return RpcFailed(status, "targets validate", options_.targets_server);
  }
  std::vector<v1::Target> children(response.child_targets().begin(),
                                   response.child_targets().end());
  std::string title =
      absl::StrCat(response.consistent() ? "Consistent" : "NOT consistent", ": children total ",
                   FormatFixed(response.children_total(), 0), ", difference ",
                   FormatSigned(response.difference(), 0),
                   response.problems().empty()
                       ? ""
                       : absl::StrCat("\n  ", absl::StrJoin(response.problems(), "\n  ")));
  Emit(
      response, [&](bool people) { return TargetsTable(children, people); }, title);
  return response.consistent() ? kExitOk : kExitRejected;
}

}  // namespace covtrack::covctl
