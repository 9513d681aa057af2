#include "services/aggregation/aggregation_service.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/log.h"
#include "common/metrics/metrics.h"
#include "common/server.h"
#include "common/status/status.h"
#include "services/aggregation/reexpression.h"
#include "services/aggregation/rollup.h"

namespace covtrack::aggregation {
namespace {

const v1::SchemeCoverage* FindScheme(const v1::Coverage& coverage, v1::Scheme scheme) {
  for (const v1::SchemeCoverage& sc : coverage.schemes()) {
    if (sc.scheme() == scheme) {
      return &sc;
    }
  }
  return nullptr;
}

// Orders a ListCoverage answer by `order` on `scheme` (health when unspecified). Units without
// a figure (nothing reported; SCHEME_SOCIAL with a part missing), or without a rate when ordering
// by rate, come last either way; ties keep the order by code.
void OrderCoverages(v1::CoverageOrder order, v1::Scheme scheme, std::vector<v1::Coverage>& list) {
  const v1::Scheme key_scheme = scheme == v1::SCHEME_UNSPECIFIED ? v1::SCHEME_HEALTH : scheme;
  auto key = [&](const v1::Coverage& c) { return FindScheme(c, key_scheme); };
  switch (order) {
    case v1::COVERAGE_ORDER_COVERAGE_ASCENDING:
    case v1::COVERAGE_ORDER_COVERAGE_DESCENDING: {
      const bool ascending = order == v1::COVERAGE_ORDER_COVERAGE_ASCENDING;
      std::stable_sort(list.begin(), list.end(), [&](const v1::Coverage& a, const v1::Coverage& b) {
        const v1::SchemeCoverage* x = key(a);
        const v1::SchemeCoverage* y = key(b);
        const bool xr = x != nullptr && x->has_coverage_percent();
        const bool yr = y != nullptr && y->has_coverage_percent();
        if (xr != yr) {
          return xr;
        }
        if (!xr || x->coverage_percent() == y->coverage_percent()) {
          return false;
        }
        return ascending ? x->coverage_percent() < y->coverage_percent()
                         : x->coverage_percent() > y->coverage_percent();
      });
      break;
    }
    case v1::COVERAGE_ORDER_PARTICIPANTS_DESCENDING:
      std::stable_sort(list.begin(), list.end(), [&](const v1::Coverage& a, const v1::Coverage& b) {
        const v1::SchemeCoverage* x = key(a);
        const v1::SchemeCoverage* y = key(b);
        const bool xf = x != nullptr && x->has_participants();
        const bool yf = y != nullptr && y->has_participants();
        if (xf != yf) {
          return xf;
        }
        return xf && x->participants() > y->participants();
      });
      break;
    default:
      break;  // by code, as listed
  }
}

using CoveragePtr = std::shared_ptr<const v1::Coverage>;

// The rollups a request needs, each asked once however many figures rest on it.
class WantSet {
 public:
  size_t Add(const std::string& code, const Period& period) {
    auto [it, inserted] =
        index_.try_emplace(absl::StrCat(code, "|", period.ToString()), wants_.size());
    if (inserted) {
      wants_.push_back({code, period});
    }
    return it->second;
  }
  const std::vector<Want>& wants() const { return wants_; }

 private:
  std::vector<Want> wants_;
  absl::flat_hash_map<std::string, size_t> index_;
};

// A figure in the reader's territory: how it is re-expressed and the rollups it rests on.
struct Planned {
  Period period;
  Reexpressed how;
  std::vector<size_t> terms;  // into the WantSet, one per how.terms
};

// Plans `unit`'s figure for `period` in the territory of `territory_date`. A unit that cannot be
// followed forward is an error (FAILED_PRECONDITION), or ABSENT with the reason when
// `forward_failure_is_absent` (a comparison, a list entry, a month of a series).
absl::StatusOr<Planned> Plan(const Hierarchy& hierarchy, const Crosswalk& crosswalk,
                             const v1::AdminUnit& unit, const Period& period,
                             const std::string& territory_date, bool forward_failure_is_absent,
                             WantSet& wants) {
  absl::StatusOr<Reexpressed> how =
      Reexpress(hierarchy, crosswalk, unit, period.last_month().LastDay(), territory_date);
  if (!how.ok()) {
    if (!forward_failure_is_absent || !absl::IsFailedPrecondition(how.status())) {
      return how.status();
    }
    Reexpressed absent;
    absent.kind = v1::REEXPRESSION_KIND_ABSENT;
    absent.reason = std::string(how.status().message());
    how = std::move(absent);
  }
  Planned plan{period, *std::move(how), {}};
  for (const ReexpressionTerm& term : plan.how.terms) {
    plan.terms.push_back(wants.Add(term.unit->code(), period));
  }
  return plan;
}

absl::StatusOr<v1::Coverage> Combine(const v1::AdminUnit& unit, const Planned& plan,
                                     const std::vector<CoveragePtr>& rollups) {
  std::vector<const v1::Coverage*> terms;
  for (size_t i : plan.terms) {
    terms.push_back(rollups[i].get());
  }
  return CombineRollups(unit, plan.period, plan.how, terms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AggregationServiceImpl>> AggregationServiceImpl::Create(
    const AggregationOptions& options) {
  if (options.ingestion_addr.empty()) {
    return absl::InvalidArgumentError("--ingestion_addr: required (HOST:PORT of ingestion)");
  }
  std::unique_ptr<cache::Cache> cache;
  if (options.redis_addr.empty()) {
    cache = cache::NewInProcessCache(options.in_process_cache_entries);
  } else {
    cache::RedisCacheOptions redis;
    redis.address = options.redis_addr;
    redis.command_timeout = options.redis_timeout;
    redis.connect_timeout = options.redis_timeout;
    redis.password = options.redis_password;
    redis.entry_key = options.cache_key;
    absl::StatusOr<std::unique_ptr<cache::Cache>> made = cache::NewRedisCache(redis);
    if (!made.ok()) {
      return made.status();
    }
    cache = std::move(*made);
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewChannel(options.ingestion_addr, options.ingestion_channel);
  if (!channel.ok()) {
    return channel.status();
  }
  return std::unique_ptr<AggregationServiceImpl>(
      new AggregationServiceImpl(options, std::move(cache), *std::move(channel)));
}

AggregationServiceImpl::AggregationServiceImpl(const AggregationOptions& options,
                                               std::unique_ptr<cache::Cache> cache,
                                               std::shared_ptr<grpc::Channel> ingestion_channel)
    : options_(options),
      cache_(std::move(cache)),
      // Every RPC here is a read: no unit is ever placed for a jurisdiction check.
      access_(options.access_policy, nullptr),
      ingestion_(std::move(ingestion_channel),
                 IngestionClientOptions{options.ingestion_deadline, options.export_deadline}),
      heads_(ingestion_),
      log_(options.change_log_pairs),
      summaries_(options.summary_entries),
      calls_(CallbackCallOptions{std::string(v1::AggregationService::service_full_name()),
                                 options.max_concurrent_calls, options.overload_retry_after}) {
  RegisterMetrics();
  log::Info("aggregation service started; loading the snapshot",
            {{"ingestion", options_.ingestion_addr}, {"cache", cache_->description()}});
  follower_ = std::thread([this] { FollowLoop(); });
  sharer_ = std::thread([this] { ShareLoop(); });
  if (options_.stats_log_interval > absl::ZeroDuration()) {
    stats_thread_ = std::thread([this] { StatsLoop(); });
  }
}

AggregationServiceImpl::~AggregationServiceImpl() {
  for (const std::string& name : metric_callbacks_) {
    metrics::Registry::Global().RemoveGaugeCallback(name);
  }
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
    if (watch_ != nullptr) {
      watch_->TryCancel();
    }
  }
  if (follower_.joinable()) {
    follower_.join();
  }
  {
    // Entries still queued are given up: the shared cache is best effort.
    absl::MutexLock lock(&share_mu_);
    share_stopping_ = true;
  }
  if (sharer_.joinable()) {
    sharer_.join();
  }
  if (stats_thread_.joinable()) {
    stats_thread_.join();
  }
}

void AggregationServiceImpl::RegisterMetrics() {
  metrics::Registry& registry = metrics::Registry::Global();
  auto counter = [&](const std::string& name, const std::string& help,
                     std::function<double()> read) {
    registry.AddCounterCallback(name, help, std::move(read));
    metric_callbacks_.push_back(name);
  };
  auto gauge = [&](const std::string& name, const std::string& help, std::function<double()> read) {
    registry.AddGaugeCallback(name, help, std::move(read));
    metric_callbacks_.push_back(name);
  };
  counter("covtrack_cache_hits_total", "Shared-cache (Redis) reads that found an entry",
          [this] { return cache_->stats().hits; });
  counter("covtrack_cache_misses_total", "Shared-cache reads that found none",
          [this] { return cache_->stats().misses; });
  counter("covtrack_cache_errors_total",
          "Shared-cache commands that failed (connection refused or lost, timeout, error)",
          [this] { return cache_->stats().errors; });
  counter("covtrack_cache_skipped_total",
          "Shared-cache reads and writes skipped while the cache was known to be down",
          [this] { return cache_->stats().skipped_unavailable; });
  counter("covtrack_cache_rejected_total",
          "Shared-cache entries ignored because their integrity check failed (written without "
          "the cache key: a third party, or a replica with another key)",
          [this] { return cache_->stats().rejected; });
  gauge("covtrack_cache_available", "1 while the shared cache answers, 0 while it is down",
        [this] { return cache_->stats().available ? 1 : 0; });
  counter("covtrack_aggregation_rollups_served_total",
          "Rollups answered from a cache (this replica's or the shared one)",
          [this] { return entries_served_.load(); });
  counter("covtrack_aggregation_rollups_computed_total",
          "Rollups computed from the replica's memory",
          [this] { return entries_computed_.load(); });
  counter("covtrack_aggregation_subtree_summaries_read_total",
          "Subtrees that computed rollups read from a kept summary instead of walking them",
          [this] { return summaries_.stats().hits; });
  gauge("covtrack_aggregation_subtree_summaries", "Subtree summaries kept by this replica",
        [this] { return summaries_.stats().entries; });
  counter("covtrack_aggregation_rollups_stale_total",
          "Cached rollups refused because a later change touched them",
          [this] { return entries_stale_.load(); });
  counter("covtrack_aggregation_exports_total",
          "ExportData calls to ingestion (snapshot loads; reads back of changes without values)",
          [this] { return exports_.load(); });
  counter("covtrack_aggregation_snapshot_loads_total",
          "Snapshots loaded (at start, and after a gap in the feed or a rewritten history)",
          [this] { return snapshot_loads_.load(); });
  counter("covtrack_aggregation_changes_applied_total", "Changes of the feed applied",
          [this] { return changes_applied_.load(); });
  gauge("covtrack_aggregation_loaded", "1 once the replica has loaded its snapshot", [this] {
    absl::ReaderMutexLock lock(&state_mu_);
    return loaded_ ? 1 : 0;
  });
  gauge("covtrack_aggregation_applied_seq", "The newest change this replica has applied", [this] {
    absl::ReaderMutexLock lock(&state_mu_);
    return static_cast<double>(applied_seq_);
  });
  gauge("covtrack_aggregation_apply_delay_ms",
        "How long after its commit the newest applied change was applied, in milliseconds", [this] {
          absl::ReaderMutexLock lock(&state_mu_);
          return absl::ToDoubleMilliseconds(apply_delay_);
        });
  // Read at scrape time: ingestion's head now, less the change this replica has applied; NaN
  // while ingestion cannot be reached (scrapes only: reads never ask for the head but FULL).
  gauge("covtrack_change_feed_lag",
        "Changes in ingestion's feed this replica has not applied yet (read at scrape)", [this] {
          absl::StatusOr<int64_t> head = heads_.Get();
          if (!head.ok()) {
            return std::numeric_limits<double>::quiet_NaN();
          }
          absl::ReaderMutexLock lock(&state_mu_);
          return static_cast<double>(std::max<int64_t>(0, *head - applied_seq_));
        });
  // The time behind: 0 when nothing is pending, else how old the newest applied change is.
  gauge("covtrack_aggregation_lag_ms",
        "0 when the replica has applied ingestion's head (read at scrape), else the age of the "
        "newest change it has applied, in milliseconds",
        [this] {
          absl::StatusOr<int64_t> head = heads_.Get();
          if (!head.ok()) {
            return std::numeric_limits<double>::quiet_NaN();
          }
          absl::ReaderMutexLock lock(&state_mu_);
          if (*head <= applied_seq_ || applied_commit_time_ == absl::InfinitePast()) {
            return 0.0;
          }
          return absl::ToDoubleMilliseconds(absl::Now() - applied_commit_time_);
        });
}

AggregationStats AggregationServiceImpl::stats() const {
  AggregationStats s;
  s.cache = cache_->stats();
  s.entries_served = entries_served_.load();
  s.local_hits = local_hits_.load();
  s.entries_stale = entries_stale_.load();
  s.entries_computed = entries_computed_.load();
  const SummaryMemo::Stats summaries = summaries_.stats();
  s.summaries_read = summaries.hits;
  s.summaries_held = static_cast<int64_t>(summaries.entries);
  s.exports = exports_.load();
  s.head_lookups = heads_.rpc_count();
  s.snapshot_loads = snapshot_loads_.load();
  s.changes_applied = changes_applied_.load();
  s.hierarchy_loads = hierarchy_loads_.load();
  s.crosswalk_loads = crosswalk_loads_.load();
  absl::ReaderMutexLock lock(&state_mu_);
  s.applied_seq = applied_seq_;
  s.loaded = loaded_;
  return s;
}

void AggregationServiceImpl::StatsLoop() {
  std::string last;
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(stop_mu_) { return stopping_; };
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop), options_.stats_log_interval)) {
        return;
      }
    }
    const AggregationStats s = stats();
    log::Fields fields = {
        {"cache", cache_->description()},
        {"cache_available", s.cache.available ? "true" : "false"},
        {"cache_hits", absl::StrCat(s.cache.hits)},
        {"cache_misses", absl::StrCat(s.cache.misses)},
        {"cache_errors", absl::StrCat(s.cache.errors)},
        {"cache_skipped_unavailable", absl::StrCat(s.cache.skipped_unavailable)},
        {"cache_outages", absl::StrCat(s.cache.outages)},
        {"cache_rejected", absl::StrCat(s.cache.rejected)},
        {"entries_served", absl::StrCat(s.entries_served)},
        {"entries_stale", absl::StrCat(s.entries_stale)},
        {"entries_computed", absl::StrCat(s.entries_computed)},
        {"head_lookups", absl::StrCat(s.head_lookups)},
        {"applied_seq", absl::StrCat(s.applied_seq)},
        {"changes_applied", absl::StrCat(s.changes_applied)},
        {"snapshot_loads", absl::StrCat(s.snapshot_loads)},
    };
    std::string line;
    for (const auto& [k, v] : fields) {
      absl::StrAppend(&line, k, "=", v, " ");
    }
    if (line != last) {
      log::Info("aggregation stats", fields);
      last = line;
    }
  }
}

// ---- The RPCs: authorize, validate, answer (absl status converted once, in Answer) ----

bool AggregationServiceImpl::MayWait(const v1::Freshness& freshness) const {
  const v1::Consistency consistency = freshness.consistency() == v1::CONSISTENCY_UNSPECIFIED
                                          ? options_.default_consistency
                                          : freshness.consistency();
  return consistency == v1::CONSISTENCY_FULL ||
         freshness.at_least_seq() > applied_seq_hint_.load(std::memory_order_relaxed);
}

grpc::ServerUnaryReactor* AggregationServiceImpl::GetCoverage(grpc::CallbackServerContext* context,
                                                              const v1::GetCoverageRequest* request,
                                                              v1::Coverage* response) {
  return ServeRead(context, "GetCoverage", request, response, &ValidateCoverageRequest,
                   [this](const CoverageQuery& query, ToShare& to_share) ABSL_SHARED_LOCKS_REQUIRED(
                       state_mu_) { return CoverageWithComparisons(query, to_share); });
}

grpc::ServerUnaryReactor* AggregationServiceImpl::ListCoverage(
    grpc::CallbackServerContext* context, const v1::ListCoverageRequest* request,
    v1::ListCoverageResponse* response) {
  return ServeRead(
      context, "ListCoverage", request, response, &ValidateListCoverageRequest,
      [this](const CoverageListQuery& query, ToShare& to_share)
          ABSL_SHARED_LOCKS_REQUIRED(state_mu_) { return CoverageList(query, to_share); });
}

grpc::ServerUnaryReactor* AggregationServiceImpl::GetCoverageSeries(
    grpc::CallbackServerContext* context, const v1::GetCoverageSeriesRequest* request,
    v1::CoverageSeries* response) {
  return ServeRead(context, "GetCoverageSeries", request, response, &ValidateSeriesRequest,
                   [this](const SeriesQuery& query, ToShare& to_share)
                       ABSL_SHARED_LOCKS_REQUIRED(state_mu_) { return Series(query, to_share); });
}

absl::StatusOr<v1::Coverage> AggregationServiceImpl::CoverageWithComparisons(
    const CoverageQuery& query, ToShare& to_share) {
  std::string key = absl::StrCat(query.unit_code, "|", query.period.ToString(), "|",
                                 query.previous_year_ends, "|", query.territory_date, "|");
  for (v1::Scheme scheme : query.schemes) {
    absl::StrAppend(&key, static_cast<int>(scheme), ",");
  }
  if (std::optional<v1::Coverage> kept = KeptAnswer(key); kept.has_value()) {
    return *std::move(kept);
  }
  const Hierarchy& hierarchy = *hierarchy_;
  const std::string& code = query.unit_code;
  const std::string end = query.period.last_month().LastDay();
  const std::string territory = TerritoryOf(query.territory_date, query.period);
  const v1::AdminUnit* unit = hierarchy.UnitAt(code, territory);
  if (unit == nullptr) {
    return NoUnitOnTerritory("unit_code", code, query.territory_date, query.period);
  }
  // The period itself, then the comparison periods, each in the unit's territory; and, where
  // that needed the crosswalk, the code's own rollup as it was then (code_then).
  std::vector<Period> periods = {query.period};
  for (const Period& p : ComparisonPeriods(query.period, query.previous_year_ends)) {
    periods.push_back(p);
  }
  WantSet wants;
  std::vector<Planned> planned;
  std::vector<const v1::AdminUnit*> then_units;
  std::vector<std::optional<size_t>> own_rollups;
  for (size_t i = 0; i < periods.size(); ++i) {
    // The period asked must be answerable; a comparison that is not is ABSENT with the reason.
    ASSIGN_OR_RETURN(Planned plan, Plan(hierarchy, *crosswalk_, *unit, periods[i], territory,
                                        /*forward_failure_is_absent=*/i > 0, wants));
    const v1::AdminUnit* then = hierarchy.UnitAt(code, periods[i].last_month().LastDay());
    std::optional<size_t> own;
    if (plan.how.kind != v1::REEXPRESSION_KIND_SAME_UNIT && then != nullptr) {
      own = wants.Add(code, periods[i]);
    }
    planned.push_back(std::move(plan));
    then_units.push_back(then);
    own_rollups.push_back(own);
  }
  std::vector<std::shared_ptr<const LocalEntry>> used;
  ASSIGN_OR_RETURN(std::vector<CoveragePtr> rollups, Rollups(wants.wants(), to_share, &used));
  ASSIGN_OR_RETURN(v1::Coverage coverage, Combine(*unit, planned[0], rollups));
  coverage.set_territory_date(territory);
  coverage.set_reflects_seq(applied_seq_);
  if (planned[0].how.kind != v1::REEXPRESSION_KIND_SAME_UNIT) {
    for (v1::Predecessor& p : Predecessors(planned[0].how)) {
      *coverage.add_predecessors() = std::move(p);
    }
    if (own_rollups[0].has_value() && rollups[*own_rollups[0]] != nullptr) {
      v1::Coverage own = *rollups[*own_rollups[0]];
      for (v1::SchemeCoverage& sc : *own.mutable_schemes()) {
        sc.mutable_reexpression()->set_kind(v1::REEXPRESSION_KIND_SAME_UNIT);  // its own figures
      }
      SelectSchemes(query.schemes, &own);
      *coverage.mutable_code_then() = std::move(own);
    }
  }
  // Comparing the same unit version: the same territory only when the units beneath it are the
  // same too (as before the crosswalk), read at the date the figure asked was read on.
  const std::string now_date =
      planned[0].how.kind == v1::REEXPRESSION_KIND_SAME_UNIT ? end : territory;
  const uint64_t now_territory = hierarchy.TerritoryFingerprint(code, now_date);
  const v1::SchemeCoverage empty;
  for (size_t i = 1; i < periods.size(); ++i) {
    const std::string then_date = periods[i].last_month().LastDay();
    const v1::ReexpressionKind kind = planned[i].how.kind;
    ASSIGN_OR_RETURN(const v1::Coverage then, Combine(*unit, planned[i], rollups));
    const v1::AdminUnit* then_unit = then_units[i];
    const bool same_territory = then_unit != nullptr &&
                                then_unit->valid_from() == unit->valid_from() &&
                                hierarchy.TerritoryFingerprint(code, then_date) == now_territory;
    const v1::Coverage* own = own_rollups[i].has_value() ? rollups[*own_rollups[i]].get() : nullptr;
    for (v1::SchemeCoverage& sc : *coverage.mutable_schemes()) {
      const v1::SchemeCoverage* then_sc = FindScheme(then, sc.scheme());
      v1::Comparison comparison =
          Compare(sc, then_sc != nullptr ? *then_sc : empty, periods[i].ToString());
      if (then_sc != nullptr) {
        *comparison.mutable_reexpression() = then_sc->reexpression();
      }
      comparison.set_territory_changed(
          kind == v1::REEXPRESSION_KIND_ABSENT ||
          (kind == v1::REEXPRESSION_KIND_SAME_UNIT && !same_territory));
      comparison.set_unit_missing(kind == v1::REEXPRESSION_KIND_ABSENT && then_unit == nullptr);
      if (then_unit != nullptr) {
        comparison.set_unit_name(then_unit->name());
      }
      if (kind != v1::REEXPRESSION_KIND_SAME_UNIT) {
        // The comparison covtrack made before the crosswalk: the code as it was then.
        const v1::SchemeCoverage* own_sc = own != nullptr ? FindScheme(*own, sc.scheme()) : nullptr;
        v1::Comparison* code_then = comparison.mutable_code_then();
        *code_then = Compare(sc, own_sc != nullptr ? *own_sc : empty, periods[i].ToString());
        code_then->set_territory_changed(!same_territory);
        code_then->set_unit_missing(then_unit == nullptr);
        if (then_unit != nullptr) {
          code_then->set_unit_name(then_unit->name());
        }
      }
      if (i == 1) {
        *sc.mutable_same_period_last_year() = std::move(comparison);
      } else {
        *sc.add_previous_year_ends() = std::move(comparison);
      }
    }
  }
  SelectSchemes(query.schemes, &coverage);
  auto kept = std::make_shared<AnswerEntry>();
  kept->verified_seq = applied_seq_;
  kept->generation = generation_;
  kept->wants = wants.wants();
  kept->rollups = std::move(used);
  kept->coverage = coverage;
  KeepAnswer(key, std::move(kept));
  return coverage;
}

absl::StatusOr<v1::ListCoverageResponse> AggregationServiceImpl::CoverageList(
    const CoverageListQuery& query, ToShare& to_share) {
  ASSIGN_OR_RETURN(const int64_t offset, query.page.Offset());
  const Hierarchy& hierarchy = *hierarchy_;
  const std::string territory = TerritoryOf(query.territory_date, query.period);
  const v1::AdminUnit* parent_unit = hierarchy.UnitAt(query.parent_code, territory);
  if (parent_unit == nullptr) {
    return NoUnitOnTerritory("parent_code", query.parent_code, query.territory_date, query.period);
  }
  if (query.level != v1::ADMIN_LEVEL_UNSPECIFIED && query.level <= parent_unit->level()) {
    return absl::InvalidArgumentError(absl::StrCat("level: must be below the parent's level (",
                                                   LevelName(parent_unit->level()), ")"));
  }
  const std::vector<const v1::AdminUnit*> units =
      query.level == v1::ADMIN_LEVEL_UNSPECIFIED
          ? hierarchy.ChildrenAt(query.parent_code, territory)
          : hierarchy.DescendantsAt(query.parent_code, query.level, territory);
  WantSet wants;
  std::vector<Planned> planned;
  for (const v1::AdminUnit* u : units) {
    ASSIGN_OR_RETURN(Planned plan, Plan(hierarchy, *crosswalk_, *u, query.period, territory,
                                        /*forward_failure_is_absent=*/true, wants));
    planned.push_back(std::move(plan));
  }
  ASSIGN_OR_RETURN(std::vector<CoveragePtr> rollups, Rollups(wants.wants(), to_share));
  std::vector<v1::Coverage> list;
  for (size_t i = 0; i < units.size(); ++i) {
    ASSIGN_OR_RETURN(v1::Coverage coverage, Combine(*units[i], planned[i], rollups));
    coverage.set_territory_date(territory);
    if (planned[i].how.kind != v1::REEXPRESSION_KIND_SAME_UNIT) {
      for (v1::Predecessor& p : Predecessors(planned[i].how)) {
        *coverage.add_predecessors() = std::move(p);
      }
    }
    list.push_back(std::move(coverage));
  }
  OrderCoverages(query.order, query.scheme, list);
  const std::vector<v1::Scheme> schemes = query.scheme == v1::SCHEME_UNSPECIFIED
                                              ? std::vector<v1::Scheme>{}
                                              : std::vector<v1::Scheme>{query.scheme};
  v1::ListCoverageResponse response;
  response.set_reflects_seq(applied_seq_);
  // A token's offset is not secret: one past the list (or forged near INT64_MAX) is an empty
  // page, never an overflow.
  const int64_t total = static_cast<int64_t>(list.size());
  const int64_t begin = std::min(offset, total);
  const int64_t page_end = begin + std::min<int64_t>(query.page.size(), total - begin);
  for (int64_t i = begin; i < page_end; ++i) {
    SelectSchemes(schemes, &list[i]);
    *response.add_coverages() = std::move(list[i]);
  }
  if (page_end < total) {
    response.set_next_page_token(query.page.TokenAtOffset(page_end));
  }
  return response;
}

absl::StatusOr<v1::CoverageSeries> AggregationServiceImpl::Series(const SeriesQuery& query,
                                                                  ToShare& to_share) {
  const Hierarchy& hierarchy = *hierarchy_;
  const std::string& code = query.unit_code;
  const std::string territory =
      query.territory_date.empty() ? query.to.LastDay() : query.territory_date;
  const v1::AdminUnit* unit = hierarchy.UnitAt(code, territory);
  if (unit == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "unit_code \"", code, "\" names no administrative unit on ", territory,
        query.territory_date.empty() ? " (the end of to_month)" : " (territory_date)"));
  }
  // Every month, in the unit's territory: a month that cannot be re-expressed keeps its place,
  // ABSENT with the reason.
  WantSet wants;
  std::vector<Planned> planned;
  for (Month m = query.from; m <= query.to; m = m.Next()) {
    ASSIGN_OR_RETURN(Period month, Period::Parse(m.ToString()));
    ASSIGN_OR_RETURN(Planned plan, Plan(hierarchy, *crosswalk_, *unit, month, territory,
                                        /*forward_failure_is_absent=*/true, wants));
    planned.push_back(std::move(plan));
  }
  ASSIGN_OR_RETURN(std::vector<CoveragePtr> rollups, Rollups(wants.wants(), to_share));
  v1::CoverageSeries series;
  series.set_reflects_seq(applied_seq_);
  *series.mutable_unit() = *unit;
  series.set_scheme(query.scheme);
  for (const Planned& plan : planned) {
    ASSIGN_OR_RETURN(const v1::Coverage coverage, Combine(*unit, plan, rollups));
    v1::SchemeCoverageAtMonth* at = series.add_months();
    at->set_month(plan.period.ToString());
    const v1::SchemeCoverage* sc = FindScheme(coverage, query.scheme);
    if (sc != nullptr) {
      *at->mutable_coverage() = *sc;
    }
  }
  return series;
}

}  // namespace covtrack::aggregation
