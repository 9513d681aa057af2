#pragma once

// The aggregation service: coverage by administrative level, rolled up from ingestion's data
// (read only over gRPC), cached in Redis or in process, with read-your-writes across replicas.
//
// Serving an answer: (1) learn ingestion's change head with a lookup that started after the
// request arrived (ChangeHeadReader, shared by concurrent requests); (2) catch the in-memory
// change log up to that head with ListChanges; (3) serve each cached rollup only if the log
// proves no change after the entry's snapshot touched its territory, months, denominators or
// the hierarchy; (4) compute the rest from one ExportData snapshot and cache them, tagged with
// that snapshot's seq; (5) where the reader's territory (territory_date) was covered by other
// units in the period, combine the rollups of those units through the crosswalk
// (reexpression.h). See docs/aggregation.md.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/access/authorizer.h"
#include "common/cache/cache.h"
#include "common/client.h"
#include "common/hierarchy/crosswalk.h"
#include "common/hierarchy/hierarchy.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "services/aggregation/change_head_reader.h"
#include "services/aggregation/change_log.h"
#include "services/aggregation/coverage_requests.h"
#include "services/aggregation/ingestion_client.h"

namespace covtrack::aggregation {

struct AggregationOptions {
  // What a read without Freshness.consistency gets (common.proto): APPLIED answers from the
  // changes this replica has applied; FULL first learns ingestion's head (read-your-writes for
  // callers that cannot carry a token).
  v1::Consistency default_consistency = v1::CONSISTENCY_APPLIED;
  std::string ingestion_addr = "127.0.0.1:50051";
  ChannelOptions ingestion_channel;  // TLS to ingestion (common/client.h); default plaintext
  // Empty: every caller may read (common/access/authorizer.h). Every RPC here reads.
  std::optional<access::AccessPolicy> access_policy;
  std::string redis_addr;  // "HOST:PORT"; empty: an in-process cache
  // With Redis: AUTH's password (empty: none), and the secret every replica shares to sign the
  // entries it stores (required: common/cache/cache.h; an entry that fails it is never served).
  std::string redis_password;
  std::string cache_key;
  // Prefix of every cache key. Replicas reading the same ingestion store share it; a different
  // store (whose change sequence numbers mean something else) needs another one.
  std::string cache_namespace = "covtrack";
  absl::Duration ingestion_deadline = absl::Seconds(5);    // unary calls to ingestion
  absl::Duration export_deadline = absl::Seconds(120);     // ExportData streams
  absl::Duration redis_timeout = absl::Milliseconds(200);  // per Redis command
  absl::Duration cache_ttl = absl::Hours(24);
  size_t in_process_cache_entries = 200000;
  // Decoded entries kept by each replica in front of the shared cache (verified the same way).
  size_t local_entries = 50000;
  // Changes kept in memory to verify cache entries (pairs touched); see ChangeLog.
  size_t change_log_pairs = 500000;
  // A replica further behind than this many changes forgets the feed and starts afresh
  // (older entries are recomputed) rather than reading the backlog.
  int64_t max_catch_up_changes = 100000;
  // How often the cache counters are logged (when they changed); zero: never.
  absl::Duration stats_log_interval = absl::Seconds(60);
};

struct AggregationStats {
  cache::CacheStats cache;
  int64_t entries_served = 0;    // rollups answered from a cache (local or shared)
  int64_t local_hits = 0;        // of those, from this replica's decoded entries
  int64_t entries_stale = 0;     // cached rollups refused (a later change touched them)
  int64_t entries_computed = 0;  // rollups computed from an export
  int64_t exports = 0;           // ExportData calls
  int64_t head_lookups = 0;      // GetChangeHead RPCs (shared by concurrent requests)
  int64_t feed_resets = 0;       // times the change log was started afresh
  int64_t hierarchy_loads = 0;
  int64_t crosswalk_loads = 0;
};

// One rolled-up answer: a unit's coverage for a period (without comparisons), for the code as
// it was at the period's end. Cached by (code, period).
struct Want {
  std::string code;
  Period period;
};

class AggregationServiceImpl : public v1::AggregationService::Service {
 public:
  // INVALID_ARGUMENT for bad options (an empty ingestion address, a malformed Redis address).
  // Does not contact ingestion or Redis: both may come up later.
  static absl::StatusOr<std::unique_ptr<AggregationServiceImpl>> Create(
      const AggregationOptions& options);
  ~AggregationServiceImpl() override;

  grpc::Status GetCoverage(grpc::ServerContext* context, const v1::GetCoverageRequest* request,
                           v1::Coverage* response) override;
  grpc::Status ListCoverage(grpc::ServerContext* context, const v1::ListCoverageRequest* request,
                            v1::ListCoverageResponse* response) override;
  grpc::Status GetCoverageSeries(grpc::ServerContext* context,
                                 const v1::GetCoverageSeriesRequest* request,
                                 v1::CoverageSeries* response) override;

  AggregationStats stats() const;

 private:
  AggregationServiceImpl(const AggregationOptions& options, std::unique_ptr<cache::Cache> cache,
                         std::shared_ptr<grpc::Channel> ingestion_channel);

  // What a request reads: the hierarchy, the crosswalk and the seq up to which both are known
  // to be current.
  struct View {
    std::shared_ptr<const Hierarchy> hierarchy;
    std::shared_ptr<const Crosswalk> crosswalk;
    int64_t hierarchy_seq = 0;
  };
  // Learns the head and brings the change log (and the hierarchy) up to it.
  absl::StatusOr<View> Refresh();
  // Brings the log up to `seq`; starts it afresh when ingestion's feed went backwards.
  absl::Status CatchUpTo(int64_t seq, bool feed_went_backwards);
  absl::Status CatchUpLocked(int64_t seq, bool feed_went_backwards)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(feed_mu_);
  View CurrentView() const;
  // Reads the crosswalk from ingestion (after the change that made it current was learned).
  absl::Status LoadCrosswalkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(feed_mu_);

  // The rollups wanted, from the cache where still valid, otherwise computed: one export per
  // period, of the subtree of the lowest common ancestor (on the period's end) of the codes
  // wanted for it. A code that names no unit at the period's end gives nullptr.
  using CoveragePtr = std::shared_ptr<const v1::Coverage>;
  absl::StatusOr<std::vector<CoveragePtr>> Rollups(View& view, const std::vector<Want>& wants);
  // Computes the rollups of `codes` for `period` from one export of `root`; sets `*snapshot_seq`
  // and `*fingerprint`, the feed's history at it (ChangeLog::FingerprintAt).
  absl::StatusOr<std::vector<std::optional<v1::Coverage>>> Compute(
      View& view, const std::vector<std::string>& codes, const Period& period,
      const std::string& root, int64_t* snapshot_seq, std::optional<uint64_t>* fingerprint);

  // The answers, for requests already validated (coverage_requests.h).
  absl::StatusOr<v1::Coverage> CoverageWithComparisons(const CoverageQuery& query);
  absl::StatusOr<v1::ListCoverageResponse> CoverageList(const CoverageListQuery& query);
  absl::StatusOr<v1::CoverageSeries> Series(const SeriesQuery& query);

  void StatsLoop();
  // Cache, rollup and change-feed figures for /metrics (common/metrics), read at scrape.
  void RegisterMetrics();
  std::vector<std::string> metric_callbacks_;  // removed on destruction

  const AggregationOptions options_;
  std::unique_ptr<cache::Cache> cache_;
  access::Authorizer access_;
  IngestionClient ingestion_;
  ChangeHeadReader heads_;

  // Catching up with the feed is single-flight: one request reads ListChanges, the others wait
  // and find the log current.
  mutable absl::Mutex feed_mu_;
  ChangeLog log_ ABSL_GUARDED_BY(feed_mu_);
  std::shared_ptr<const Hierarchy> hierarchy_ ABSL_GUARDED_BY(feed_mu_);
  int64_t hierarchy_seq_ ABSL_GUARDED_BY(feed_mu_) = 0;
  // Units changed but reloading them failed: reload before answering again.
  bool hierarchy_outdated_ ABSL_GUARDED_BY(feed_mu_) = false;
  // Read with the hierarchy, and again whenever a change carries crosswalk links.
  std::shared_ptr<const Crosswalk> crosswalk_ ABSL_GUARDED_BY(feed_mu_);
  bool crosswalk_outdated_ ABSL_GUARDED_BY(feed_mu_) = false;

  // Decoded entries, in front of the shared cache.
  struct LocalEntry {
    int64_t seq = 0;
    uint64_t fingerprint = 0;  // of the feed's history at seq (ChangeLog::FingerprintAt)
    CoveragePtr coverage;
    // False while the shared cache has not taken it (it was down): offered again on use.
    mutable std::atomic<bool> shared{false};
  };
  absl::Mutex local_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const LocalEntry>> local_
      ABSL_GUARDED_BY(local_mu_);

  std::atomic<int64_t> entries_served_{0};
  std::atomic<int64_t> local_hits_{0};
  std::atomic<int64_t> entries_stale_{0};
  std::atomic<int64_t> entries_computed_{0};
  std::atomic<int64_t> exports_{0};
  std::atomic<int64_t> feed_resets_{0};
  std::atomic<int64_t> hierarchy_loads_{0};
  std::atomic<int64_t> crosswalk_loads_{0};

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread stats_thread_;
};

}  // namespace covtrack::aggregation
