// The target service's construction and its RPC handlers. Each handler reads: authorize the
// caller → validate the request (request_validation.h) → the operation (absl::StatusOr), run
// only on a valid request → Answer (common/server.h), the one conversion to grpc::Status, which
// logs a broken environment. The operations are in the files target_service.h lists.

#include "services/targets/target_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/server.h"
#include "common/status/status.h"
#include "services/targets/request_validation.h"

namespace covtrack::targets {

using access::Role;

absl::StatusOr<std::unique_ptr<TargetServiceImpl>> TargetServiceImpl::Create(
    const TargetOptions& options) {
  std::function<absl::Time()> clock = options.clock ? options.clock : absl::Now;
  absl::StatusOr<std::unique_ptr<TargetStore>> store = TargetStore::Open(options.store_url, clock);
  if (!store.ok()) {
    return absl::Status(store.status().code(), absl::StrCat("targets store \"", options.store_url,
                                                            "\": ", store.status().message()));
  }
  std::shared_ptr<CoverageSource> source = options.coverage_source;
  if (source == nullptr) {
    if (options.aggregation_addr.empty()) {
      return absl::InvalidArgumentError("--aggregation_addr is required (HOST:PORT)");
    }
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                     NewChannel(options.aggregation_addr, options.upstream_channel));
    source = NewAggregationCoverageSource(std::move(channel), options.aggregation_addr,
                                          options.aggregation_deadline);
  }
  // Ingestion answers which unit a code names when (Target.unit_as_of, the yearly figure rule)
  // and the crosswalk; the access policy places units through it too.
  std::shared_ptr<UnitSource> unit_source = options.unit_source;
  access::UnitVersions units;
  if (unit_source == nullptr || options.access_policy.has_value()) {
    if (options.ingestion_addr.empty()) {
      return absl::InvalidArgumentError("--ingestion_addr is required (HOST:PORT)");
    }
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                     NewChannel(options.ingestion_addr, options.upstream_channel));
    if (unit_source == nullptr) {
      unit_source =
          NewIngestionUnitSource(channel, options.ingestion_addr, options.aggregation_deadline);
    }
    if (options.access_policy.has_value()) {
      units = access::IngestionUnitVersions(std::move(channel), options.aggregation_deadline);
    }
  }
  return std::unique_ptr<TargetServiceImpl>(new TargetServiceImpl(
      std::move(*store), std::move(source), std::move(unit_source), std::move(clock),
      access::Authorizer(options.access_policy, std::move(units))));
}

absl::StatusOr<std::optional<v1::Target>> TargetServiceImpl::CurrentTarget(
    const std::string& unit_code, v1::Scheme scheme, int year) {
  ASSIGN_OR_RETURN(const std::vector<v1::Target> targets, store_->CurrentTargets(unit_code, year));
  for (const v1::Target& t : targets) {
    if (t.scheme() == scheme && t.unit_as_of().empty()) {
      return t;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::map<std::string, std::vector<v1::Target>>> TargetServiceImpl::TargetsByUnit(
    v1::Scheme scheme, int year) {
  // One query for every unit rather than one per unit.
  TargetQuery query;
  query.year = year;
  query.scheme = scheme;
  ASSIGN_OR_RETURN(std::vector<v1::Target> targets, store_->List(query));
  std::map<std::string, std::vector<v1::Target>> by_unit;
  for (v1::Target& t : targets) {
    by_unit[t.unit_code()].push_back(std::move(t));
  }
  return by_unit;
}

grpc::Status TargetServiceImpl::SetTarget(grpc::ServerContext* context,
                                          const v1::SetTargetRequest* request,
                                          v1::Target* response) {
  // The unit the target is for: the one unit_as_of names, else the year's holder of the code.
  const v1::Target& target = request->target();
  COVTRACK_REQUIRE(access_.RequireUnits(
      *context, Role::kPlanner,
      {target.unit_as_of().empty()
           ? access::UnitRef::InYear(target.unit_code(), target.year())
           : access::UnitRef::OnDay(target.unit_code(), target.unit_as_of())}));
  const absl::Status valid = ValidateRequest(*request);
  return Answer(valid.ok() ? StoreTarget(*request) : valid, response);
}

grpc::Status TargetServiceImpl::ListTargets(grpc::ServerContext* context,
                                            const v1::ListTargetsRequest* request,
                                            v1::ListTargetsResponse* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  const absl::Status valid = ValidateRequest(*request);
  return Answer(valid.ok() ? TargetsPage(*request) : valid, response);
}

grpc::Status TargetServiceImpl::GetAchievement(grpc::ServerContext* context,
                                               const v1::GetAchievementRequest* request,
                                               v1::Achievement* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  const absl::Status valid = ValidateRequest(*request);
  return Answer(valid.ok() ? AchievementOf(*request) : valid, response);
}

grpc::Status TargetServiceImpl::ListLaggingUnits(grpc::ServerContext* context,
                                                 const v1::ListLaggingUnitsRequest* request,
                                                 v1::ListLaggingUnitsResponse* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  const absl::Status valid = ValidateRequest(*request);
  return Answer(valid.ok() ? LaggingUnitsPage(*request) : valid, response);
}

grpc::Status TargetServiceImpl::AllocateTarget(grpc::ServerContext* context,
                                               const v1::AllocateTargetRequest* request,
                                               v1::AllocateTargetResponse* response) {
  // A preview stores nothing: reading is enough. Storing needs the parent inside the
  // jurisdiction, and then every part (SplitParentTarget asks before storing): the units under
  // the parent at the end of the base year need not be the units their codes name in the
  // target's year (a reform reuses codes), so the parent's check does not cover them.
  COVTRACK_REQUIRE(request->preview()
                       ? access_.Require(*context, Role::kReader)
                       : access_.RequireUnits(
                             *context, Role::kPlanner,
                             {access::UnitRef::InYear(request->parent_code(), request->year())}));
  const absl::Status valid = ValidateRequest(*request);
  auto authorize_parts = [&](const std::vector<access::UnitRef>& units) {
    return FromGrpcStatus(access_.RequireUnits(*context, Role::kPlanner, units));
  };
  return Answer(valid.ok() ? SplitParentTarget(*request, authorize_parts) : valid, response);
}

grpc::Status TargetServiceImpl::ValidateAllocation(grpc::ServerContext* context,
                                                   const v1::ValidateAllocationRequest* request,
                                                   v1::ValidateAllocationResponse* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  const absl::Status valid = ValidateRequest(*request);
  return Answer(valid.ok() ? CheckAllocation(*request) : valid, response);
}

grpc::Status TargetServiceImpl::GetReport(grpc::ServerContext* context,
                                          const v1::GetReportRequest* request,
                                          v1::Report* response) {
  COVTRACK_REQUIRE(access_.Require(*context, Role::kReader));
  const absl::Status valid = ValidateRequest(*request);
  return Answer(valid.ok() ? ReportOf(*request) : valid, response);
}

}  // namespace covtrack::targets
