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
//   predecessor_targets.cc  which unit a target is for (unit_as_of), and targets re-expressed
//                           from predecessors' through the crosswalk

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/access/authorizer.h"
#include "common/client.h"
#include "common/paging/paging.h"
#include "common/period.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "services/targets/coverage_source.h"
#include "services/targets/reexpression.h"
#include "services/targets/target_store.h"
#include "services/targets/unit_source.h"

namespace covtrack::targets {

// What one request reads of the hierarchy, the crosswalk and the store, each at most once:
// a list of units asks about the same codes again and again.
class ReformReads {
 public:
  ReformReads(UnitSource* units, TargetStore* store) : units_(units), store_(store) {}

  absl::StatusOr<const std::vector<v1::AdminUnit>*> Versions(const std::string& code);
  absl::StatusOr<const std::vector<v1::CrosswalkLink>*> LinksInto(const std::string& code);
  // The current targets stored under `code` for `year` (every unit_as_of): participants'.
  absl::StatusOr<const std::vector<v1::Target>*> Stored(const std::string& code, int year);
  // As Stored, the targets on every other measure.
  absl::StatusOr<const std::vector<v1::Target>*> StoredOnMeasures(const std::string& code,
                                                                  int year);
  // Fills Stored's answer from a read of many codes at once.
  void SetStored(const std::string& code, int year, std::vector<v1::Target> targets);

 private:
  UnitSource* units_;
  TargetStore* store_;
  std::map<std::string, std::vector<v1::AdminUnit>> versions_;
  std::map<std::string, std::vector<v1::CrosswalkLink>> links_;
  absl::Status links_unavailable_;
  std::map<std::pair<std::string, int>, std::vector<v1::Target>> stored_;
  std::map<std::pair<std::string, int>, std::vector<v1::Target>> stored_on_measures_;
};

// What a target is on: participants of a scheme (measure MEASURE_UNSPECIFIED, as stored), or a
// measure's (scheme, payer group).
struct TargetOn {
  v1::Measure measure = v1::MEASURE_UNSPECIFIED;
  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED;
  v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED;
};

// The target a unit is measured against for one scheme and year.
struct UnitTarget {
  // Its own, or re-expressed from its predecessors' (then `reexpressed`, with `sources`).
  std::optional<v1::Target> target;
  bool reexpressed = false;
  std::vector<v1::Target> sources;
  // Why no target was re-expressed for a unit that has predecessors.
  std::string note;
};

// Says on `achievement` whether its target was re-expressed, and from which targets.
void SetTargetSource(const UnitTarget& target, v1::MeasureAchievement& achievement);

struct TargetOptions {
  // "sqlite:PATH" or "postgresql://...".
  std::string store_url = "sqlite:var/targets.db";
  // HOST:PORT of the aggregation service.
  std::string aggregation_addr = "127.0.0.1:50052";
  // The deadline of every call to the aggregation service (and to ingestion).
  absl::Duration aggregation_deadline = absl::Seconds(5);
  // TLS to the services called (common/client.h); default plaintext.
  ChannelOptions upstream_channel;
  // Empty: every caller may do everything (common/access/authorizer.h).
  std::optional<access::AccessPolicy> access_policy;
  // HOST:PORT of the ingestion service, asked for unit versions (jurisdiction checks under a
  // policy, a target's unit_as_of) and the crosswalk (targets re-expressed from predecessors).
  std::string ingestion_addr = "127.0.0.1:50051";
  // "Now", for update_time and the default period (the current year). Default: absl::Now.
  std::function<absl::Time()> clock;
  // For unit tests: read figures from this instead of the aggregation service.
  std::shared_ptr<CoverageSource> coverage_source;
  // For unit tests: read unit versions and the crosswalk from this instead of the ingestion
  // service at ingestion_addr.
  std::shared_ptr<UnitSource> unit_source;
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
                    std::shared_ptr<UnitSource> units, std::function<absl::Time()> clock,
                    access::Authorizer access)
      : store_(std::move(store)),
        source_(std::move(source)),
        units_(std::move(units)),
        clock_(std::move(clock)),
        access_(std::move(access)) {}

  // The operations, each called with a request ValidateRequest accepted.
  // target_writes.cc
  absl::StatusOr<v1::Target> StoreTarget(const v1::SetTargetRequest& request);
  // target_listing.cc
  absl::StatusOr<v1::ListTargetsResponse> TargetsPage(const v1::ListTargetsRequest& request);
  absl::StatusOr<v1::ListLaggingUnitsResponse> LaggingUnitsPage(
      const v1::ListLaggingUnitsRequest& request);
  // LaggingUnitsPage for a measure other than participants.
  absl::StatusOr<v1::ListLaggingUnitsResponse> MeasureLaggingPage(
      const v1::ListLaggingUnitsRequest& request, const Period& period,
      const std::string& territory_date, const PageRequest& page, int64_t offset);
  // achievement_queries.cc
  absl::StatusOr<v1::Achievement> AchievementOf(const v1::GetAchievementRequest& request);
  absl::StatusOr<v1::Report> ReportOf(const v1::GetReportRequest& request);
  // allocation.cc
  // `authorize` is asked about every unit a part is stored for before anything is stored.
  absl::StatusOr<v1::AllocateTargetResponse> SplitParentTarget(
      const v1::AllocateTargetRequest& request,
      const std::function<absl::Status(const std::vector<access::UnitRef>&)>& authorize);
  absl::StatusOr<v1::ValidateAllocationResponse> CheckAllocation(
      const v1::ValidateAllocationRequest& request);

  // The period asked for, or the current year (Vietnam time) by the clock when empty.
  absl::StatusOr<Period> ResolvePeriod(const std::string& period) const;

  // Evaluates one scheme of one unit against `target` (its own or re-expressed), fetching the
  // month-by-month history through `figures`, in the territory of `territory_date`, only when
  // the status during the year needs it.
  absl::StatusOr<v1::SchemeAchievement> Evaluate(CoverageReads& figures,
                                                 const std::string& unit_code, v1::Scheme scheme,
                                                 const v1::SchemeCoverage& current,
                                                 const std::string& as_of_month,
                                                 const UnitTarget& target,
                                                 const std::string& territory_date);

  // The unit's own targets on measures other than participants for `year` (of the code's
  // holder of the year).
  absl::StatusOr<std::vector<v1::Target>> MeasureTargets(const std::string& unit_code, int year);
  // `targets` (of one unit, on measures of the registry) evaluated on the year to date through
  // the period's end (measure_achievement.h), read in the territory of `territory_date`. No
  // read when there are none.
  absl::StatusOr<std::vector<v1::MeasureAchievement>> EvaluateMeasures(
      CoverageReads& figures, const std::string& unit_code, const Period& period,
      const std::vector<v1::Target>& targets, const std::string& territory_date);
  // The current target on (measure, scheme, payer group) of one code's holder of the year.
  absl::StatusOr<std::optional<v1::Target>> CurrentMeasureTarget(const std::string& unit_code,
                                                                 v1::Measure measure,
                                                                 v1::Scheme scheme,
                                                                 v1::PayerGroup group, int year);

  // The current target of one code's holder of the year (unit_as_of ""), if any.
  absl::StatusOr<std::optional<v1::Target>> CurrentTarget(const std::string& unit_code,
                                                          v1::Scheme scheme, int year);
  // The current targets of every code for one scheme and year (every unit_as_of), by code.
  absl::StatusOr<std::map<std::string, std::vector<v1::Target>>> TargetsByUnit(v1::Scheme scheme,
                                                                               int year);

  // predecessor_targets.cc
  // True when `unit` holds its code's yearly figures (and targets) for `year`.
  absl::StatusOr<bool> IsYearHolder(ReformReads& reads, const v1::AdminUnit& unit, int year);
  // NOT_FOUND "FIELD: no unit CODE exists in YEAR" when no version of `code` (as ingestion
  // keeps them) is valid on any day of `year`: a target, or a part of an allocation, is only
  // stored for a unit that existed in its year ("VN" always does).
  absl::Status RequireUnitInYear(ReformReads& reads, const std::string& code, int year,
                                 absl::string_view field);
  // Target.unit_as_of as stored: "" when it names the year's holder of `code`;
  // INVALID_ARGUMENT naming target.unit_as_of when no unit holds the code on that date.
  absl::StatusOr<std::string> NormalizeUnitAsOf(ReformReads& reads, const std::string& code,
                                                const std::string& unit_as_of, int year);
  // The current target stored for the unit version `unit` (under "" when it is the year's
  // holder, or under a date naming it), if any.
  absl::StatusOr<std::optional<v1::Target>> OwnTarget(ReformReads& reads, const v1::AdminUnit& unit,
                                                      const TargetOn& key, int year);
  // The unit's own target, else one re-expressed from its predecessors' (the unit being the
  // one valid on `territory_date`; their denominators read through `figures`).
  absl::StatusOr<UnitTarget> TargetFor(ReformReads& reads, CoverageReads& figures,
                                       const v1::AdminUnit& unit, const std::string& territory_date,
                                       v1::Scheme scheme, int year);
  // Appends the targets of the predecessors of `unit` (chains composed, `share` so far) to
  // `out`; false when no crosswalk link leads into the unit. `note` says why when one of them
  // cannot give a target.
  absl::StatusOr<bool> CollectPredecessorTargets(ReformReads& reads, const v1::AdminUnit& unit,
                                                 double share, const TargetOn& key, int year,
                                                 int depth, std::vector<PredecessorTarget>& out,
                                                 std::string& note);
  // The unit's own targets on measures for `year`, and for every (measure, scheme, payer group)
  // its predecessors have targets on and it has none of its own, one re-expressed from theirs
  // (ReexpressMeasureTarget; a ratio's weights, their contributions due, read through
  // `figures`). A key that cannot be re-expressed (a predecessor without a target on it, a
  // share unknown) has no target; the crosswalk unreachable leaves the unit's own targets.
  absl::StatusOr<std::vector<UnitTarget>> MeasureTargetsFor(ReformReads& reads,
                                                            CoverageReads& figures,
                                                            const v1::AdminUnit& unit, int year);
  // A predecessor's contributions due (the denominator of the ratio `key` is on) over the year
  // before `year`, read in its territory; absent when unknown.
  absl::StatusOr<std::optional<int64_t>> PredecessorAmountDue(CoverageReads& figures,
                                                              const v1::AdminUnit& unit,
                                                              const TargetOn& key, int year);
  // A predecessor's denominator of `year` (or of the year before), read from aggregation in
  // its own territory; absent when unknown.
  absl::StatusOr<std::optional<int64_t>> PredecessorDenominator(CoverageReads& figures,
                                                                const v1::AdminUnit& unit,
                                                                v1::Scheme scheme, int year,
                                                                bool year_before);

  std::unique_ptr<TargetStore> store_;
  std::shared_ptr<CoverageSource> source_;
  std::shared_ptr<UnitSource> units_;
  std::function<absl::Time()> clock_;
  access::Authorizer access_;
};

}  // namespace covtrack::targets
