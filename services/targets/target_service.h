#pragma once

// The target-tracking service (proto/covtrack/v1/target_service.proto): targets in its own
// store, actual figures from the aggregation service, and the arithmetic of achievement.
//
// Every RPC reads the same way (target_service.cc): authorize the caller → validate the request
// (request_validation.h) → the operation, returning absl::StatusOr → one conversion to
// grpc::Status. The operations live in files named for what they do:
//   target_writes.cc        SetTarget: a target's next revision, once per request_id
//   target_listing.cc       ListTargets and ListLaggingUnits, paged (common/paging)
//   achievement_queries.cc  GetAchievement and GetReport: figures against targets
//   allocation.cc           AllocateTarget and ValidateAllocation: a parent's target split

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/access/authorizer.h"
#include "common/client.h"
#include "common/period.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "services/targets/coverage_source.h"
#include "services/targets/target_store.h"

namespace covtrack::targets {

struct TargetOptions {
  // "sqlite:PATH" or "postgresql://...".
  std::string store_url = "sqlite:var/targets.db";
  // HOST:PORT of the aggregation service.
  std::string aggregation_addr = "127.0.0.1:50052";
  // The deadline of every call to the aggregation service (and to ingestion).
  absl::Duration aggregation_deadline = absl::Seconds(5);
  // TLS to the services called (common/client.h); default plaintext.
  ChannelOptions upstream_channel;
  // Empty: every caller may do everything (common/access/authorizer.h). With a policy, units
  // are placed in the hierarchy for jurisdiction checks by asking ingestion at this address.
  std::optional<access::AccessPolicy> access_policy;
  std::string ingestion_addr = "127.0.0.1:50051";
  // "Now", for update_time and the default period (the current year). Default: absl::Now.
  std::function<absl::Time()> clock;
  // For unit tests: read figures from this instead of the aggregation service.
  std::shared_ptr<CoverageSource> coverage_source;
};

class TargetServiceImpl final : public v1::TargetService::Service {
 public:
  static absl::StatusOr<std::unique_ptr<TargetServiceImpl>> Create(const TargetOptions& options);

  grpc::Status SetTarget(grpc::ServerContext* context, const v1::SetTargetRequest* request,
                         v1::Target* response) override;
  grpc::Status ListTargets(grpc::ServerContext* context, const v1::ListTargetsRequest* request,
                           v1::ListTargetsResponse* response) override;
  grpc::Status GetAchievement(grpc::ServerContext* context,
                              const v1::GetAchievementRequest* request,
                              v1::Achievement* response) override;
  grpc::Status ListLaggingUnits(grpc::ServerContext* context,
                                const v1::ListLaggingUnitsRequest* request,
                                v1::ListLaggingUnitsResponse* response) override;
  grpc::Status AllocateTarget(grpc::ServerContext* context,
                              const v1::AllocateTargetRequest* request,
                              v1::AllocateTargetResponse* response) override;
  grpc::Status ValidateAllocation(grpc::ServerContext* context,
                                  const v1::ValidateAllocationRequest* request,
                                  v1::ValidateAllocationResponse* response) override;
  grpc::Status GetReport(grpc::ServerContext* context, const v1::GetReportRequest* request,
                         v1::Report* response) override;

 private:
  TargetServiceImpl(std::unique_ptr<TargetStore> store, std::shared_ptr<CoverageSource> source,
                    std::function<absl::Time()> clock, access::Authorizer access)
      : store_(std::move(store)),
        source_(std::move(source)),
        clock_(std::move(clock)),
        access_(std::move(access)) {}

  // The operations, each called with a request ValidateRequest accepted.
  // target_writes.cc
  absl::StatusOr<v1::Target> StoreTarget(const v1::SetTargetRequest& request);
  // target_listing.cc
  absl::StatusOr<v1::ListTargetsResponse> TargetsPage(const v1::ListTargetsRequest& request);
  absl::StatusOr<v1::ListLaggingUnitsResponse> LaggingUnitsPage(
      const v1::ListLaggingUnitsRequest& request);
  // achievement_queries.cc
  absl::StatusOr<v1::Achievement> AchievementOf(const v1::GetAchievementRequest& request);
  absl::StatusOr<v1::Report> ReportOf(const v1::GetReportRequest& request);
  // allocation.cc
  absl::StatusOr<v1::AllocateTargetResponse> SplitParentTarget(
      const v1::AllocateTargetRequest& request);
  absl::StatusOr<v1::ValidateAllocationResponse> CheckAllocation(
      const v1::ValidateAllocationRequest& request);

  // The period asked for, or the current year (Vietnam time) by the clock when empty.
  absl::StatusOr<Period> ResolvePeriod(const std::string& period) const;

  // Evaluates one scheme of one unit, fetching the month-by-month history from the
  // aggregation service only when the status during the year needs it.
  absl::StatusOr<v1::SchemeAchievement> Evaluate(const std::string& unit_code, v1::Scheme scheme,
                                                 const v1::SchemeCoverage& current,
                                                 const std::string& as_of_month,
                                                 std::optional<v1::Target> target);

  // The current target of one unit, scheme and year, if any.
  absl::StatusOr<std::optional<v1::Target>> CurrentTarget(const std::string& unit_code,
                                                          v1::Scheme scheme, int year);
  // The current targets of every unit for one scheme and year, by unit code.
  absl::StatusOr<std::map<std::string, v1::Target>> TargetsByUnit(v1::Scheme scheme, int year);

  std::unique_ptr<TargetStore> store_;
  std::shared_ptr<CoverageSource> source_;
  std::function<absl::Time()> clock_;
  access::Authorizer access_;
};

}  // namespace covtrack::targets
