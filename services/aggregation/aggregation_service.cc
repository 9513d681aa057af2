#include "services/aggregation/aggregation_service.h"

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/domain.h"
#include "common/log.h"
#include "common/metrics/metrics.h"
#include "common/server.h"
#include "services/aggregation/rollup.h"

namespace covtrack::aggregation {
namespace {

constexpr int kDefaultPreviousYearEnds = 3;
constexpr int kMaxPreviousYearEnds = 10;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kMaxSeriesMonths = 120;
constexpr int kChangesPageSize = 1000;
constexpr int kComputeAttempts = 3;

// Cache entries: "<namespace>:agg:v2:<code>:<period>" (v2: SCHEME_SOCIAL only where both parts
// are reported; entries written under v1 by an older binary are never read) ->
//   "<snapshot seq>|<serialized Coverage without comparisons>".
std::string CacheKey(absl::string_view ns, absl::string_view code, const Period& period) {
  return absl::StrCat(ns, ":agg:v2:", code, ":", period.ToString());
}

std::string EncodeEntry(int64_t seq, const v1::Coverage& coverage) {
  return absl::StrCat(seq, "|", coverage.SerializeAsString());
}

bool DecodeEntry(const std::string& value, int64_t* seq, v1::Coverage* coverage) {
  const size_t bar = value.find('|');
  if (bar == std::string::npos || !absl::SimpleAtoi(absl::string_view(value).substr(0, bar), seq)) {
    return false;
  }
  return coverage->ParseFromArray(value.data() + bar + 1, static_cast<int>(value.size() - bar - 1));
}

grpc::Status Invalid(absl::string_view field, absl::string_view message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat(field, ": ", message));
}

// A stable hash (FNV-1a), so a page token from one replica is accepted by another.
uint64_t StableHash(absl::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

std::string ListFingerprint(const v1::ListCoverageRequest& r, absl::string_view parent) {
  return absl::StrCat(StableHash(absl::StrCat(parent, "|", r.level(), "|", r.period(), "|",
                                              r.scheme(), "|", r.order_by())) %
                      1000000007);
}

const v1::SchemeCoverage* FindScheme(const v1::Coverage& coverage, v1::Scheme scheme) {
  for (const v1::SchemeCoverage& sc : coverage.schemes()) {
    if (sc.scheme() == scheme) {
      return &sc;
    }
  }
  return nullptr;
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
      log_(options.change_log_pairs) {
  RegisterMetrics();
  log::Info("aggregation service ready",
            {{"ingestion", options_.ingestion_addr}, {"cache", cache_->description()}});
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
  auto gauge = [&](const std::string& name, const std::string& help,
                   std::function<double()> read) {
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
  gauge("covtrack_cache_available", "1 while the shared cache answers, 0 while it is down",
        [this] { return cache_->stats().available ? 1 : 0; });
  counter("covtrack_aggregation_rollups_served_total",
          "Rollups answered from a cache (this replica's or the shared one)",
          [this] { return entries_served_.load(); });
  counter("covtrack_aggregation_rollups_computed_total",
          "Rollups computed from an ingestion export", [this] { return entries_computed_.load(); });
  counter("covtrack_aggregation_rollups_stale_total",
          "Cached rollups refused because a later change touched them",
          [this] { return entries_stale_.load(); });
  counter("covtrack_aggregation_exports_total", "ExportData calls to ingestion",
          [this] { return exports_.load(); });
  // Read at scrape time: ingestion's head now, less the change this replica has applied. A
  // request catches up before it answers, so a lag here is work the next request will do;
  // NaN while ingestion cannot be reached.
  gauge("covtrack_change_feed_lag",
        "Changes in ingestion's feed this replica has not applied yet (read at scrape)", [this] {
          absl::StatusOr<int64_t> head = heads_.Get();
          if (!head.ok()) {
            return std::numeric_limits<double>::quiet_NaN();
          }
          absl::MutexLock lock(&feed_mu_);
          return static_cast<double>(std::max<int64_t>(0, *head - log_.seen()));
        });
}

AggregationStats AggregationServiceImpl::stats() const {
  AggregationStats s;
  s.cache = cache_->stats();
  s.entries_served = entries_served_.load();
  s.local_hits = local_hits_.load();
  s.entries_stale = entries_stale_.load();
  s.entries_computed = entries_computed_.load();
  s.exports = exports_.load();
  s.head_lookups = heads_.rpc_count();
  s.feed_resets = feed_resets_.load();
  s.hierarchy_loads = hierarchy_loads_.load();
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
        {"entries_served", absl::StrCat(s.entries_served)},
        {"entries_stale", absl::StrCat(s.entries_stale)},
        {"entries_computed", absl::StrCat(s.entries_computed)},
        {"head_lookups", absl::StrCat(s.head_lookups)},
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

// ---- Keeping up with ingestion's change feed ----

AggregationServiceImpl::View AggregationServiceImpl::CurrentView() const {
  absl::ReaderMutexLock lock(&feed_mu_);
  return View{hierarchy_, hierarchy_seq_};
}

absl::StatusOr<AggregationServiceImpl::View> AggregationServiceImpl::Refresh() {
  int64_t seen_before = 0;
  {
    absl::ReaderMutexLock lock(&feed_mu_);
    seen_before = log_.initialized() ? log_.seen() : 0;
  }
  // The lookup starts after seen_before was read, so a head below it means ingestion's feed
  // went backwards (its store was replaced or restored from a backup).
  absl::StatusOr<int64_t> head = heads_.Get();
  if (!head.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach ingestion to check for new data: ", head.status().message()));
  }
  absl::Status caught_up = CatchUpTo(*head, /*feed_went_backwards=*/*head < seen_before);
  if (!caught_up.ok()) {
    return caught_up;
  }
  return CurrentView();
}

absl::Status AggregationServiceImpl::CatchUpTo(int64_t seq, bool feed_went_backwards) {
  if (!feed_went_backwards) {
    absl::ReaderMutexLock lock(&feed_mu_);
    if (log_.initialized() && !hierarchy_outdated_ && log_.seen() >= seq) {
      return absl::OkStatus();
    }
  }
  absl::MutexLock lock(&feed_mu_);
  return CatchUpLocked(seq, feed_went_backwards);
}

absl::Status AggregationServiceImpl::CatchUpLocked(int64_t seq, bool feed_went_backwards) {
  if (!feed_went_backwards && log_.initialized() && !hierarchy_outdated_ && log_.seen() >= seq) {
    return absl::OkStatus();  // another request caught up meanwhile
  }
  auto start_afresh = [&](absl::string_view why) -> absl::Status {
    // The hierarchy is read after `seq` was learned, so it reflects every change <= seq.
    absl::StatusOr<std::vector<v1::AdminUnit>> units = ingestion_.ListAllUnits();
    if (!units.ok()) {
      return absl::UnavailableError(units.status().message());
    }
    hierarchy_ = std::make_shared<const Hierarchy>(std::move(*units));
    hierarchy_outdated_ = false;
    hierarchy_seq_ = seq;
    log_.Reset(seq);
    ++feed_resets_;
    ++hierarchy_loads_;
    log::Info("following ingestion's change feed afresh",
              {{"seq", absl::StrCat(seq)},
               {"reason", std::string(why)},
               {"units", absl::StrCat(hierarchy_->version_count())}});
    return absl::OkStatus();
  };
  if (!log_.initialized()) {
    return start_afresh("start");
  }
  if (feed_went_backwards && seq < log_.seen()) {
    // Nothing in the log, nor any entry this replica decoded, can be trusted any more.
    absl::MutexLock local_lock(&local_mu_);
    local_.clear();
    return start_afresh("feed went backwards");
  }
  if (seq - log_.seen() > options_.max_catch_up_changes) {
    return start_afresh("too far behind");
  }
  bool admin = hierarchy_outdated_;
  while (log_.seen() < seq) {
    absl::StatusOr<v1::ListChangesResponse> page =
        ingestion_.ListChanges(log_.seen(), kChangesPageSize);
    if (!page.ok()) {
      return absl::UnavailableError(page.status().message());
    }
    for (const v1::Change& change : page->changes()) {
      if (log_.Append(change) && change.admin_unit_codes_size() > 0) {
        admin = true;
      }
    }
    if (page->changes().empty()) {
      if (page->head_seq() < seq) {
        // Ingestion's feed is behind what it told us before (restored from a backup?): the
        // log cannot be trusted any more.
        return start_afresh("feed went backwards");
      }
      log_.AdvanceTo(seq);
    }
  }
  if (admin) {
    absl::StatusOr<std::vector<v1::AdminUnit>> units = ingestion_.ListAllUnits();
    if (!units.ok()) {
      hierarchy_outdated_ = true;  // the next request tries again
      return absl::UnavailableError(units.status().message());
    }
    hierarchy_ = std::make_shared<const Hierarchy>(std::move(*units));
    hierarchy_outdated_ = false;
    ++hierarchy_loads_;
  }
  hierarchy_seq_ = log_.seen();
  return absl::OkStatus();
}

// ---- Rollups: cached or computed ----

absl::StatusOr<std::vector<std::optional<v1::Coverage>>> AggregationServiceImpl::Compute(
    View& view, const std::vector<std::string>& codes, const Period& period,
    const std::string& root, int64_t* snapshot_seq) {
  const std::string date = period.last_month().LastDay();
  for (int attempt = 0; attempt < kComputeAttempts; ++attempt) {
    ++exports_;
    absl::StatusOr<IngestionClient::Export> exported =
        ingestion_.ExportData(root, date, period.first_month().ToString(),
                              period.last_month().ToString(), period.year(), period.year());
    if (!exported.ok()) {
      return exported.status();
    }
    const int64_t seq = exported->snapshot_seq;
    if (absl::Status s = CatchUpTo(seq, /*feed_went_backwards=*/false); !s.ok()) {
      return s;
    }
    bool consistent;
    {
      absl::ReaderMutexLock lock(&feed_mu_);
      consistent = !log_.AdminChangedBetween(std::min(seq, view.hierarchy_seq),
                                             std::max(seq, view.hierarchy_seq));
    }
    if (!consistent) {
      view = CurrentView();  // the hierarchy changed between the two reads: read again
      continue;
    }
    std::vector<std::optional<v1::Coverage>> results;
    for (const std::string& code : codes) {
      absl::StatusOr<v1::Coverage> coverage =
          RollupCoverage(*view.hierarchy, exported->data, code, period);
      if (coverage.ok()) {
        results.push_back(std::move(*coverage));
      } else if (absl::IsNotFound(coverage.status())) {
        results.push_back(std::nullopt);
      } else {
        return coverage.status();
      }
    }
    entries_computed_ += static_cast<int64_t>(codes.size());
    *snapshot_seq = seq;
    return results;
  }
  return absl::AbortedError(
      "administrative units kept changing while the answer was computed; retry");
}

absl::StatusOr<std::vector<AggregationServiceImpl::CoveragePtr>> AggregationServiceImpl::Rollups(
    View& view, const std::vector<Want>& wants, const std::string& export_root) {
  std::vector<std::string> keys;
  keys.reserve(wants.size());
  for (const Want& w : wants) {
    keys.push_back(CacheKey(options_.cache_namespace, w.code, w.period));
  }
  std::vector<CoveragePtr> results(wants.size());
  // 1. This replica's decoded entries; 2. the shared cache for the rest. Both are verified
  // against the change log in the same way: where an entry came from does not matter.
  std::vector<std::shared_ptr<const LocalEntry>> local(wants.size());
  {
    absl::MutexLock lock(&local_mu_);
    for (size_t i = 0; i < wants.size(); ++i) {
      auto it = local_.find(keys[i]);
      if (it != local_.end()) {
        local[i] = it->second;
      }
    }
  }
  std::vector<size_t> shared_lookups;
  std::vector<size_t> offer_again;  // valid local entries the shared cache does not have yet
  {
    absl::ReaderMutexLock lock(&feed_mu_);
    for (size_t i = 0; i < wants.size(); ++i) {
      if (local[i] != nullptr &&
          !log_.Touched(local[i]->seq, *view.hierarchy, wants[i].code, wants[i].period)) {
        results[i] = local[i]->coverage;
        ++entries_served_;
        ++local_hits_;
        if (!local[i]->shared.load(std::memory_order_relaxed)) {
          offer_again.push_back(i);
        }
      } else {
        shared_lookups.push_back(i);
      }
    }
  }
  if (!offer_again.empty() && cache_->stats().available) {
    std::vector<std::pair<std::string, std::string>> entries;
    for (size_t i : offer_again) {
      entries.push_back({keys[i], EncodeEntry(local[i]->seq, *local[i]->coverage)});
    }
    if (cache_->MultiSet(entries, options_.cache_ttl)) {
      for (size_t i : offer_again) {
        local[i]->shared = true;
      }
    }
  }
  std::vector<std::string> shared_keys;
  for (size_t i : shared_lookups) {
    shared_keys.push_back(keys[i]);
  }
  std::vector<std::optional<std::string>> cached = cache_->MultiGet(shared_keys);
  // Missing or stale rollups, grouped by period: each period is one export.
  std::map<std::string, std::vector<size_t>> to_compute;
  std::vector<std::pair<std::string, std::shared_ptr<LocalEntry>>> to_remember;
  {
    absl::ReaderMutexLock lock(&feed_mu_);
    for (size_t k = 0; k < shared_lookups.size(); ++k) {
      const size_t i = shared_lookups[k];
      auto entry = std::make_shared<LocalEntry>();
      auto coverage = std::make_shared<v1::Coverage>();
      if (cached[k].has_value() && DecodeEntry(*cached[k], &entry->seq, coverage.get())) {
        if (!log_.Touched(entry->seq, *view.hierarchy, wants[i].code, wants[i].period)) {
          entry->shared = true;
          entry->coverage = std::move(coverage);
          results[i] = entry->coverage;
          to_remember.push_back({keys[i], std::move(entry)});
          ++entries_served_;
          continue;
        }
        ++entries_stale_;
      }
      to_compute[wants[i].period.ToString()].push_back(i);
    }
  }
  std::vector<std::pair<std::string, std::string>> to_store;
  for (const auto& [period_text, indexes] : to_compute) {
    const Period& period = wants[indexes.front()].period;
    std::vector<std::string> codes;
    for (size_t i : indexes) {
      codes.push_back(wants[i].code);
    }
    const std::string root = codes.size() == 1 ? codes.front() : export_root;
    int64_t seq = 0;
    absl::StatusOr<std::vector<std::optional<v1::Coverage>>> computed =
        Compute(view, codes, period, root, &seq);
    if (!computed.ok()) {
      return computed.status();
    }
    for (size_t k = 0; k < indexes.size(); ++k) {
      if ((*computed)[k].has_value()) {
        to_store.push_back({keys[indexes[k]], EncodeEntry(seq, *(*computed)[k])});
        auto entry = std::make_shared<LocalEntry>();
        entry->seq = seq;
        entry->coverage = std::make_shared<const v1::Coverage>(std::move(*(*computed)[k]));
        results[indexes[k]] = entry->coverage;
        to_remember.push_back({keys[indexes[k]], std::move(entry)});
      }
    }
  }
  if (!to_store.empty() && cache_->MultiSet(to_store, options_.cache_ttl)) {
    for (auto& [key, entry] : to_remember) {
      entry->shared = true;
    }
  }
  if (!to_remember.empty()) {
    absl::MutexLock lock(&local_mu_);
    if (local_.size() + to_remember.size() > options_.local_entries) {
      local_.clear();  // crude but bounded; the shared cache still has them
    }
    for (auto& [key, entry] : to_remember) {
      local_[key] = std::move(entry);
    }
  }
  return results;
}

// ---- The RPCs ----

grpc::Status AggregationServiceImpl::GetCoverage(grpc::ServerContext* context,
                                                 const v1::GetCoverageRequest* request,
                                                 v1::Coverage* response) {
  COVTRACK_REQUIRE(access_.Require(*context, access::Role::kReader));
  if (request->unit_code().empty()) {
    return Invalid("unit_code", "required (\"VN\" for the nation)");
  }
  absl::StatusOr<Period> period = Period::Parse(request->period());
  if (!period.ok()) {
    return Invalid("period", period.status().message());
  }
  std::vector<v1::Scheme> schemes;
  for (int i = 0; i < request->schemes_size(); ++i) {
    const int s = request->schemes(i);
    if (s < v1::SCHEME_COMPULSORY_SOCIAL || s > v1::SCHEME_SOCIAL) {
      return Invalid(absl::StrCat("schemes[", i, "]"), absl::StrCat("unknown scheme ", s));
    }
    schemes.push_back(static_cast<v1::Scheme>(s));
  }
  int year_ends = request->previous_year_ends();
  if (year_ends < 0 || year_ends > kMaxPreviousYearEnds) {
    return Invalid("previous_year_ends",
                   absl::StrCat(year_ends, " is outside 0..", kMaxPreviousYearEnds));
  }
  if (year_ends == 0) {
    year_ends = kDefaultPreviousYearEnds;
  }
  absl::StatusOr<View> view = Refresh();
  if (!view.ok()) {
    return ToGrpc(view.status());
  }
  const std::string& code = request->unit_code();
  const std::string date = period->last_month().LastDay();
  const v1::AdminUnit* unit = view->hierarchy->UnitAt(code, date);
  if (unit == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("unit_code \"", code, "\" names no administrative unit on ",
                                     date, " (the end of period ", period->ToString(), ")"));
  }
  // The period itself, then the comparison periods for which the code named a unit.
  const std::vector<Period> comparisons = ComparisonPeriods(*period, year_ends);
  std::vector<Want> wants = {{code, *period}};
  std::vector<const v1::AdminUnit*> then_units;
  for (const Period& p : comparisons) {
    const v1::AdminUnit* then = view->hierarchy->UnitAt(code, p.last_month().LastDay());
    then_units.push_back(then);
    if (then != nullptr) {
      wants.push_back({code, p});
    }
  }
  absl::StatusOr<std::vector<CoveragePtr>> rollups = Rollups(*view, wants, code);
  if (!rollups.ok()) {
    return ToGrpc(rollups.status());
  }
  if ((*rollups)[0] == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("unit_code \"", code, "\" names no unit on ", date));
  }
  *response = *(*rollups)[0];
  const uint64_t territory = view->hierarchy->TerritoryFingerprint(code, date);
  size_t next = 1;
  for (size_t c = 0; c < comparisons.size(); ++c) {
    const Period& p = comparisons[c];
    const v1::AdminUnit* then = then_units[c];
    const v1::Coverage* then_coverage = nullptr;
    if (then != nullptr) {
      then_coverage = (*rollups)[next++].get();
    }
    const bool changed =
        then == nullptr || then->valid_from() != unit->valid_from() ||
        view->hierarchy->TerritoryFingerprint(code, p.last_month().LastDay()) != territory;
    for (v1::SchemeCoverage& sc : *response->mutable_schemes()) {
      v1::SchemeCoverage empty;
      const v1::SchemeCoverage* then_sc =
          then_coverage != nullptr ? FindScheme(*then_coverage, sc.scheme()) : nullptr;
      v1::Comparison comparison = Compare(sc, then_sc != nullptr ? *then_sc : empty, p.ToString());
      comparison.set_territory_changed(changed);
      comparison.set_unit_missing(then == nullptr);
      if (then != nullptr) {
        comparison.set_unit_name(then->name());
      }
      if (c == 0) {
        *sc.mutable_same_period_last_year() = std::move(comparison);
      } else {
        *sc.add_previous_year_ends() = std::move(comparison);
      }
    }
  }
  SelectSchemes(schemes, response);
  return grpc::Status::OK;
}

grpc::Status AggregationServiceImpl::ListCoverage(grpc::ServerContext* context,
                                                  const v1::ListCoverageRequest* request,
                                                  v1::ListCoverageResponse* response) {
  COVTRACK_REQUIRE(access_.Require(*context, access::Role::kReader));
  const std::string parent =
      request->parent_code().empty() ? std::string(kNationCode) : request->parent_code();
  absl::StatusOr<Period> period = Period::Parse(request->period());
  if (!period.ok()) {
    return Invalid("period", period.status().message());
  }
  if (request->scheme() < v1::SCHEME_UNSPECIFIED || request->scheme() > v1::SCHEME_SOCIAL) {
    return Invalid("scheme", absl::StrCat("unknown scheme ", request->scheme()));
  }
  if (request->level() < v1::ADMIN_LEVEL_UNSPECIFIED ||
      request->level() > v1::ADMIN_LEVEL_COMMUNE) {
    return Invalid("level", absl::StrCat("unknown level ", request->level()));
  }
  if (request->order_by() < v1::COVERAGE_ORDER_UNSPECIFIED ||
      request->order_by() > v1::COVERAGE_ORDER_PARTICIPANTS_DESCENDING) {
    return Invalid("order_by", absl::StrCat("unknown order ", request->order_by()));
  }
  if (request->page_size() < 0) {
    return Invalid("page_size", "must not be negative");
  }
  const int page_size =
      request->page_size() == 0 ? kDefaultPageSize : std::min(request->page_size(), kMaxPageSize);
  const std::string fingerprint = ListFingerprint(*request, parent);
  size_t offset = 0;
  if (!request->page_token().empty()) {
    std::vector<std::string> parts = absl::StrSplit(request->page_token(), '.');
    if (parts.size() != 2 || parts[1] != fingerprint || !absl::SimpleAtoi(parts[0], &offset)) {
      return Invalid("page_token",
                     "not from a previous page of this list (parent, level, period, scheme and "
                     "order must stay the same)");
    }
  }
  absl::StatusOr<View> view = Refresh();
  if (!view.ok()) {
    return ToGrpc(view.status());
  }
  const std::string date = period->last_month().LastDay();
  const v1::AdminUnit* parent_unit = view->hierarchy->UnitAt(parent, date);
  if (parent_unit == nullptr) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("parent_code \"", parent, "\" names no administrative unit on ", date));
  }
  if (request->level() != v1::ADMIN_LEVEL_UNSPECIFIED && request->level() <= parent_unit->level()) {
    return Invalid("level", absl::StrCat("must be below the parent's level (",
                                         LevelName(parent_unit->level()), ")"));
  }
  const std::vector<const v1::AdminUnit*> units =
      request->level() == v1::ADMIN_LEVEL_UNSPECIFIED
          ? view->hierarchy->ChildrenAt(parent, date)
          : view->hierarchy->DescendantsAt(parent, request->level(), date);
  std::vector<Want> wants;
  for (const v1::AdminUnit* u : units) {
    wants.push_back({u->code(), *period});
  }
  absl::StatusOr<std::vector<CoveragePtr>> rollups = Rollups(*view, wants, parent);
  if (!rollups.ok()) {
    return ToGrpc(rollups.status());
  }
  std::vector<v1::Coverage> list;
  for (const CoveragePtr& r : *rollups) {
    if (r != nullptr) {
      list.push_back(*r);
    }
  }
  const v1::Scheme order_scheme =
      request->scheme() == v1::SCHEME_UNSPECIFIED ? v1::SCHEME_HEALTH : request->scheme();
  auto key = [&](const v1::Coverage& c) -> const v1::SchemeCoverage* {
    return FindScheme(c, order_scheme);
  };
  switch (request->order_by()) {
    case v1::COVERAGE_ORDER_COVERAGE_ASCENDING:
    case v1::COVERAGE_ORDER_COVERAGE_DESCENDING: {
      const bool ascending = request->order_by() == v1::COVERAGE_ORDER_COVERAGE_ASCENDING;
      // Units without a rate (no denominator) come last either way.
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
        // Units without a figure (nothing reported; SCHEME_SOCIAL with a part missing) come last.
        const v1::SchemeCoverage* x = key(a);
        const v1::SchemeCoverage* y = key(b);
        const bool xf = x != nullptr && !x->as_of_month().empty();
        const bool yf = y != nullptr && !y->as_of_month().empty();
        if (xf != yf) {
          return xf;
        }
        return xf && x->participants() > y->participants();
      });
      break;
    default:
      break;  // by code, as listed
  }
  const std::vector<v1::Scheme> schemes = request->scheme() == v1::SCHEME_UNSPECIFIED
                                              ? std::vector<v1::Scheme>{}
                                              : std::vector<v1::Scheme>{request->scheme()};
  for (size_t i = offset; i < list.size() && i < offset + page_size; ++i) {
    SelectSchemes(schemes, &list[i]);
    *response->add_coverages() = std::move(list[i]);
  }
  if (offset + page_size < list.size()) {
    response->set_next_page_token(absl::StrCat(offset + page_size, ".", fingerprint));
  }
  return grpc::Status::OK;
}

grpc::Status AggregationServiceImpl::GetCoverageSeries(grpc::ServerContext* context,
                                                       const v1::GetCoverageSeriesRequest* request,
                                                       v1::CoverageSeries* response) {
  COVTRACK_REQUIRE(access_.Require(*context, access::Role::kReader));
  if (request->unit_code().empty()) {
    return Invalid("unit_code", "required (\"VN\" for the nation)");
  }
  if (request->scheme() < v1::SCHEME_COMPULSORY_SOCIAL || request->scheme() > v1::SCHEME_SOCIAL) {
    return Invalid("scheme", "required: one of the five schemes");
  }
  absl::StatusOr<Month> from = Month::Parse(request->from_month());
  if (!from.ok()) {
    return Invalid("from_month", absl::StrCat("\"", request->from_month(), "\" is not YYYY-MM"));
  }
  absl::StatusOr<Month> to = Month::Parse(request->to_month());
  if (!to.ok()) {
    return Invalid("to_month", absl::StrCat("\"", request->to_month(), "\" is not YYYY-MM"));
  }
  if (*to < *from) {
    return Invalid("to_month", "is before from_month");
  }
  if (to->Index() - from->Index() + 1 > kMaxSeriesMonths) {
    return Invalid("to_month", absl::StrCat("at most ", kMaxSeriesMonths, " months per series"));
  }
  absl::StatusOr<View> view = Refresh();
  if (!view.ok()) {
    return ToGrpc(view.status());
  }
  const std::string& code = request->unit_code();
  const v1::AdminUnit* unit = view->hierarchy->UnitAt(code, to->LastDay());
  if (unit == nullptr) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("unit_code \"", code, "\" names no administrative unit on ", to->LastDay()));
  }
  // Months in which the code named a unit; the others are left out of the series.
  std::vector<Want> wants;
  for (Month m = *from; m <= *to; m = m.Next()) {
    if (view->hierarchy->UnitAt(code, m.LastDay()) != nullptr) {
      wants.push_back({code, *Period::Parse(m.ToString())});
    }
  }
  absl::StatusOr<std::vector<CoveragePtr>> rollups = Rollups(*view, wants, code);
  if (!rollups.ok()) {
    return ToGrpc(rollups.status());
  }
  *response->mutable_unit() = *unit;
  response->set_scheme(request->scheme());
  for (size_t i = 0; i < wants.size(); ++i) {
    if ((*rollups)[i] == nullptr) {
      continue;
    }
    const v1::SchemeCoverage* sc = FindScheme(*(*rollups)[i], request->scheme());
    v1::SchemeCoverageAtMonth* at = response->add_months();
    at->set_month(wants[i].period.ToString());
    if (sc != nullptr) {
      *at->mutable_coverage() = *sc;
    }
  }
  return grpc::Status::OK;
}

}  // namespace covtrack::aggregation
