#pragma once

// The aggregation service: coverage by administrative level, as a live view of ingestion's data
// (read only over gRPC), with rolled-up answers memoised per replica and mirrored to Redis.
//
// A replica loads a consistent snapshot at start (ExportData of the whole country, every unit
// version, the crosswalk), then follows WatchChanges in a background thread, applying each
// change's values to its in-memory state (live_view.cc). Reads never call ingestion, except
// CONSISTENCY_FULL, which learns ingestion's head first: a read (1) waits until the replica has
// applied the seq it needs (its token, or the head), (2) takes the state's reader lock once, so
// the whole answer reflects one applied seq, (3) serves each rollup from this replica's memo or
// the shared cache where the change log proves it current, else computes it from memory, and
// (4) where the reader's territory (territory_date) was covered by other units in the period,
// combines the rollups of those units through the crosswalk (reexpression.h).
// See docs/aggregation.md.

#include <atomic>
#include <cstdint>
#include <functional>
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
#include "common/callback_calls.h"
#include "common/client.h"
#include "common/hierarchy/crosswalk.h"
#include "common/hierarchy/hierarchy.h"
#include "common/period.h"
#include "common/server.h"
#include "common/status/status.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "services/aggregation/change_head_reader.h"
#include "services/aggregation/change_log.h"
#include "services/aggregation/coverage_requests.h"
#include "services/aggregation/ingestion_client.h"
#include "services/aggregation/measure_rollup.h"
#include "services/aggregation/rollup.h"

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
  absl::Duration ingestion_deadline = absl::Seconds(5);  // unary calls to ingestion
  absl::Duration export_deadline = absl::Seconds(120);   // the snapshot export at load
  // The longest a read waits for its replica to apply the seq it needs (its token, or with
  // CONSISTENCY_FULL ingestion's head), within the call's own deadline; then UNAVAILABLE.
  absl::Duration freshness_wait = absl::Seconds(10);
  // A replica that applies a change this long after it was committed logs it (at most every
  // 10 s): it is falling behind the writes.
  absl::Duration lag_log_threshold = absl::Seconds(1);
  absl::Duration redis_timeout = absl::Milliseconds(200);  // per Redis command
  absl::Duration cache_ttl = absl::Hours(24);
  size_t in_process_cache_entries = 200000;
  // Decoded entries kept by each replica in front of the shared cache (verified the same way).
  size_t local_entries = 50000;
  // Finished GetCoverage answers kept by each replica (a few KB each), verified the same way.
  size_t answer_entries = 10000;
  // Summaries of internal units' subtrees per period (about 0.6 KB each) kept by each replica,
  // so that a rollup after a write re-reads only the written unit's path (rollup.h SummaryMemo).
  // Enough for every internal unit (~770 before the 2025 reform) for 100 periods.
  size_t summary_entries = 100000;
  // Changes kept in memory to verify memoised and shared entries (pairs touched); see ChangeLog.
  size_t change_log_pairs = 500000;
  // How often the cache counters are logged (when they changed); zero: never.
  absl::Duration stats_log_interval = absl::Seconds(60);
  // The reads run on gRPC's callback API (common/callback_calls.h), which the synchronous
  // server's thread quota does not bound: the server's own bound on calls in progress and the
  // delay a refused caller is told (ServerOptions; main passes them on).
  int max_concurrent_calls = 64;
  absl::Duration overload_retry_after = absl::Seconds(1);
};

struct AggregationStats {
  cache::CacheStats cache;
  int64_t entries_served = 0;    // rollups answered from a cache (local or shared)
  int64_t local_hits = 0;        // of those, from this replica's decoded entries
  int64_t entries_stale = 0;     // cached rollups refused (a later change touched them)
  int64_t entries_computed = 0;  // rollups computed from the replica's memory
  // Subtrees those rollups read from a summary instead of walking them; summaries held.
  int64_t summaries_read = 0;
  int64_t summaries_held = 0;
  int64_t exports = 0;         // ExportData calls (snapshot loads, and reads back of a change
                               // that came without its values)
  int64_t head_lookups = 0;    // GetChangeHead RPCs (shared by concurrent FULL reads)
  int64_t snapshot_loads = 0;  // snapshots loaded (at start, and after a gap or a rewrite)
  int64_t changes_applied = 0;
  int64_t hierarchy_loads = 0;  // hierarchies built (at load, and when units changed)
  int64_t crosswalk_loads = 0;  // crosswalks built (at load, and when links changed)
  int64_t applied_seq = 0;      // the newest change applied
  bool loaded = false;
};

// One rolled-up answer: a unit's coverage for a period (without comparisons), for the code as
// it was at the period's end. Cached by (code, period).
struct Want {
  std::string code;
  Period period;
};

class AggregationServiceImpl : public v1::AggregationService::CallbackService {
 public:
  // INVALID_ARGUMENT for bad options (an empty ingestion address, a malformed Redis address).
  // Starts loading the snapshot in the background; ingestion and Redis may come up later
  // (the load is retried with backoff). Reads answer UNAVAILABLE until it is loaded.
  static absl::StatusOr<std::unique_ptr<AggregationServiceImpl>> Create(
      const AggregationOptions& options);
  ~AggregationServiceImpl() override;

  // Calls `loaded` once the first snapshot is loaded (at once if it is already): the server
  // turns its health to SERVING there (common/server.h, serving_at_start = false).
  void OnLoaded(std::function<void()> loaded);
  // Whether the first snapshot was loaded within `timeout` (tests and benchmarks).
  bool WaitUntilLoaded(absl::Duration timeout);

  // The reads, on gRPC's callback API: a read that may wait (CONSISTENCY_FULL, or a token this
  // replica has not applied yet) runs on a thread of its own, every other one inline.
  grpc::ServerUnaryReactor* GetCoverage(grpc::CallbackServerContext* context,
                                        const v1::GetCoverageRequest* request,
                                        v1::Coverage* response) override;
  grpc::ServerUnaryReactor* ListCoverage(grpc::CallbackServerContext* context,
                                         const v1::ListCoverageRequest* request,
                                         v1::ListCoverageResponse* response) override;
  grpc::ServerUnaryReactor* GetCoverageSeries(grpc::CallbackServerContext* context,
                                              const v1::GetCoverageSeriesRequest* request,
                                              v1::CoverageSeries* response) override;
  grpc::ServerUnaryReactor* GetMeasures(grpc::CallbackServerContext* context,
                                        const v1::GetMeasuresRequest* request,
                                        v1::MeasureSummary* response) override;
  grpc::ServerUnaryReactor* ListMeasures(grpc::CallbackServerContext* context,
                                         const v1::ListMeasuresRequest* request,
                                         v1::ListMeasuresResponse* response) override;

  AggregationStats stats() const;

  // Whether every entry queued for the shared cache before this call has been written (or
  // given up) within `timeout`. Answers never wait for it; tests and benchmarks that read Redis
  // right after an answer do.
  bool WaitShared(absl::Duration timeout);

 private:
  AggregationServiceImpl(const AggregationOptions& options, std::unique_ptr<cache::Cache> cache,
                         std::shared_ptr<grpc::Channel> ingestion_channel);

  // ---- The live view (live_view.cc) ----
  // Loads snapshots and follows the feed until the service is destroyed.
  void FollowLoop();
  // Loads a consistent snapshot and installs it (everything held before is dropped).
  absl::Status LoadSnapshot();
  enum class FollowEnd { kRetry, kReload, kStopping };
  // Follows WatchChanges from the applied seq until the stream ends or the feed cannot be
  // followed any more (a gap, a rewritten history: kReload).
  // `*connected`: the feed was reached (the retry backoff starts again).
  FollowEnd Follow(absl::Status* why, bool* connected);
  // Applies one change (seq = applied + 1): its values, read back where the feed left them out.
  absl::Status Apply(const v1::Change& change);
  // Drops the subtree summaries `change` may alter (all of them when it `replaced` the
  // hierarchy or the crosswalk). Under the writer lock, after the change's values are applied.
  void ForgetSummaries(const v1::Change& change,
                       const std::vector<v1::ParticipationRecord>& read_records,
                       const std::vector<v1::DenominatorRecord>& read_denominators, bool replaced)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  // The values of a change that names pairs without them (an ingestion older than issue 10).
  absl::Status ReadBack(const v1::Change& change, std::vector<v1::ParticipationRecord>* records,
                        std::vector<v1::DenominatorRecord>* denominators);
  bool Stopping();

  // ---- Reads ----
  // Serves a read of `method` (CallbackCalls): checks that the caller may read, validates the
  // request (`validate`, coverage_requests.h) and answers `answer(query, to_share)`, computed
  // under the reader lock once the state is as fresh as asked (Read).
  template <typename Request, typename Response, typename Query, typename AnswerFn>
  grpc::ServerUnaryReactor* ServeRead(grpc::CallbackServerContext* context, const char* method,
                                      const Request* request, Response* response,
                                      absl::StatusOr<Query> (*validate)(const Request&),
                                      AnswerFn answer) {
    return calls_.Serve(
        context, method, MayWait(request->freshness()),
        [this, context, request, response, validate, answer]() -> grpc::Status {
          COVTRACK_REQUIRE(access_.Require(*context, access::Role::kReader));
          absl::StatusOr<Query> query = validate(*request);
          if (!query.ok()) {
            return ToGrpcStatus(query.status());
          }
          return Answer(Read(query->freshness, [&](ToShare& to_share) ABSL_SHARED_LOCKS_REQUIRED(
                                                   state_mu_) { return answer(*query, to_share); }),
                        response);
        });
  }
  // Whether LockFresh may wait for `freshness` (as asked, before it is validated): for
  // ingestion's head (CONSISTENCY_FULL) or for a seq this replica has not applied yet. A guess
  // from the applied seq as last set: only a reload from a restored store (whose seqs start
  // lower) can make a read judged not to wait wait after all, inline, for --freshness_wait.
  bool MayWait(const v1::Freshness& freshness) const;
  using CoveragePtr = std::shared_ptr<const v1::Coverage>;
  // Memoised rollups (decoded entries), in front of the shared cache.
  struct LocalEntry {
    // The entry equals the rollup at this seq (re-tagged on each verification, so the next
    // one reads only the changes after it). Memoised entries are dropped on every reload.
    mutable std::atomic<int64_t> verified_seq{0};
    CoveragePtr coverage;
    // True once offered to the shared cache (queued for it, or taken); false again when the
    // write failed or was dropped (Redis down, queue full): offered again on its next use.
    mutable std::atomic<bool> shared{false};
  };
  // Waits until the state reflects what `freshness` asks and returns with the reader lock on
  // state_mu_ held (and released on error): everything an answer reads is then at one seq.
  absl::Status LockFresh(const FreshnessQuery& freshness);

  // What an answer offers the shared cache (the rollups with the seq and feed fingerprint they
  // are tagged with, and the memo's entries behind them, already marked shared). Handed to the
  // sharer thread once the reader lock is released, which encodes and writes them: the answer
  // never waits on Redis nor spends its time serialising for it, and neither does the follower.
  struct SharedEntry {
    std::string key;
    int64_t seq = 0;
    uint64_t fingerprint = 0;
    CoveragePtr coverage;
  };
  struct ToShare {
    std::vector<SharedEntry> entries;
    std::vector<std::shared_ptr<const LocalEntry>> remembered;
  };
  // Queues `to_share` for the sharer (or, when the queue is full, gives the entries up: their
  // memo entries are marked unshared and offered again on their next use).
  void Share(ToShare to_share);
  // Writes what answers queued, many answers' entries in one MSET (ShareLoop runs it).
  void ShareLoop();
  // The rollups wanted: from the memo where the change log proves them current; a rollup the
  // memo never held (a replica that just started, or a memo that turned over) from the shared
  // cache where still valid; otherwise computed from memory. A memo entry a change made stale is
  // recomputed, not asked of Redis: composed from the memoised subtree summaries it costs a few
  // nodes, less than the round trip, which would also hold the reader lock across I/O.
  // A code that names no unit at the period's end gives nullptr.
  // `used` (if given) receives the memo's entry behind each answer (nullptr where none).
  absl::StatusOr<std::vector<CoveragePtr>> Rollups(
      const std::vector<Want>& wants, ToShare& to_share,
      std::vector<std::shared_ptr<const LocalEntry>>* used = nullptr)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);

  // A finished GetCoverage answer (comparisons included), kept by request so that a warm read
  // is a lookup and a copy. It is served exactly when its rollups would all be served from the
  // memo: the change log proves each current (as for a LocalEntry), the hierarchy and crosswalk
  // it was planned on are still held (generation_), and the shared cache has taken each rollup
  // (otherwise the read goes through the memo, which offers it again).
  struct AnswerEntry {
    mutable std::atomic<int64_t> verified_seq{0};
    uint64_t generation = 0;
    std::vector<Want> wants;
    std::vector<std::shared_ptr<const LocalEntry>> rollups;
    v1::Coverage coverage;  // reflects_seq is set per read
  };
  // The answer kept for `key` if it may be served at the applied seq.
  std::optional<v1::Coverage> KeptAnswer(const std::string& key)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  void KeepAnswer(const std::string& key, std::shared_ptr<const AnswerEntry> entry);

  // Answers a read: waits for freshness (LockFresh), runs `answer` under the reader lock, then
  // offers the shared cache what it computed.
  template <typename Answer>
  auto Read(const FreshnessQuery& freshness, Answer answer)
      -> decltype(answer(std::declval<ToShare&>())) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    ToShare to_share;
    RETURN_IF_ERROR(LockFresh(freshness));
    auto result = answer(to_share);
    state_mu_.ReaderUnlock();
    Share(std::move(to_share));
    return result;
  }

  // The answers, for requests already validated (coverage_requests.h), under the reader lock.
  absl::StatusOr<v1::Coverage> CoverageWithComparisons(const CoverageQuery& query,
                                                       ToShare& to_share)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<v1::ListCoverageResponse> CoverageList(const CoverageListQuery& query,
                                                        ToShare& to_share)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<v1::CoverageSeries> Series(const SeriesQuery& query, ToShare& to_share)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);

  // ---- Measures (measure_reads.cc): computed from memory on every read, not memoised ----
  // The figures of `unit` (a version valid on `territory`) for `period` in its territory: the
  // rollups of the unit versions that covered it then, combined (CombineMeasureRollups). Where
  // it cannot be followed forward: ABSENT when `failure_is_absent`, else FAILED_PRECONDITION.
  struct MeasuresIn {
    Reexpressed how;
    ReexpressedMeasures figures;
  };
  absl::StatusOr<MeasuresIn> MeasuresInTerritory(const v1::AdminUnit& unit, const Period& period,
                                                 const std::string& territory,
                                                 const std::vector<bool>& wanted,
                                                 bool failure_is_absent)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  // A unit's measures for a period in the territory of `territory` (`unit` valid then), with
  // the figures of every key computed (to order a list by one not asked for); comparisons with
  // the year before and year ends, in the same territory, when `compare`.
  struct MeasureAnswer {
    v1::MeasureSummary summary;
    std::vector<MeasureFigure> figures;  // per MeasureKeys() entry
  };
  absl::StatusOr<MeasureAnswer> Measures(const v1::AdminUnit& unit, const Period& period,
                                         const std::string& territory,
                                         const std::vector<v1::Measure>& measures,
                                         const std::optional<MeasureKey>& also, bool compare)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<v1::MeasureSummary> MeasuresOfUnit(const MeasuresQuery& query)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<v1::ListMeasuresResponse> MeasureList(const MeasureListQuery& query)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);

  void StatsLoop();
  // Cache, rollup and change-feed figures for /metrics (common/metrics), read at scrape.
  void RegisterMetrics();
  std::vector<std::string> metric_callbacks_;  // removed on destruction

  const AggregationOptions options_;
  std::unique_ptr<cache::Cache> cache_;
  access::Authorizer access_;
  IngestionClient ingestion_;
  ChangeHeadReader heads_;

  // The state every answer reads, changed by the follower only (writer lock, short steps).
  mutable absl::Mutex state_mu_;
  bool loaded_ ABSL_GUARDED_BY(state_mu_) = false;
  int64_t applied_seq_ ABSL_GUARDED_BY(state_mu_) = 0;
  // applied_seq_ as last set, read without the lock (MayWait's guess; LockFresh decides).
  std::atomic<int64_t> applied_seq_hint_{0};
  CoverageData data_ ABSL_GUARDED_BY(state_mu_);
  std::shared_ptr<const Hierarchy> hierarchy_ ABSL_GUARDED_BY(state_mu_);
  // The same hierarchy laid out for rollups (rollup.h), replaced with it.
  std::shared_ptr<const TreeIndex> tree_ ABSL_GUARDED_BY(state_mu_);
  // Counts replacements of the hierarchy and the crosswalk (kept answers depend on both).
  uint64_t generation_ ABSL_GUARDED_BY(state_mu_) = 0;
  std::shared_ptr<const Crosswalk> crosswalk_ ABSL_GUARDED_BY(state_mu_);
  // The applied changes, reduced to what they touched: validates memoised and shared entries.
  ChangeLog log_ ABSL_GUARDED_BY(state_mu_);
  std::string load_progress_ ABSL_GUARDED_BY(state_mu_) = "loading: not started";
  std::vector<std::function<void()>> on_loaded_ ABSL_GUARDED_BY(state_mu_);
  // The commit time of the newest change applied, and how long after it was applied.
  absl::Time applied_commit_time_ ABSL_GUARDED_BY(state_mu_) = absl::InfinitePast();
  absl::Duration apply_delay_ ABSL_GUARDED_BY(state_mu_) = absl::ZeroDuration();

  // The follower's own copies, which it rebuilds the hierarchy and crosswalk from.
  std::vector<v1::AdminUnit> units_;
  std::vector<v1::CrosswalkLink> links_;
  std::thread follower_;
  absl::Time last_lag_log_ = absl::InfinitePast();

  // Memoised rollups (LocalEntry), in front of the shared cache.
  absl::Mutex local_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const LocalEntry>> local_
      ABSL_GUARDED_BY(local_mu_);
  absl::Mutex answers_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const AnswerEntry>> answers_
      ABSL_GUARDED_BY(answers_mu_);
  // Subtree summaries the rollups compose from: filled by readers (under the reader lock on
  // state_mu_, so what they keep matches the state they read), dropped by the follower under
  // the writer lock for what each change touches, cleared with the tree.
  SummaryMemo summaries_;

  std::atomic<int64_t> entries_served_{0};
  std::atomic<int64_t> local_hits_{0};
  std::atomic<int64_t> entries_stale_{0};
  std::atomic<int64_t> entries_computed_{0};
  std::atomic<int64_t> exports_{0};
  std::atomic<int64_t> snapshot_loads_{0};
  std::atomic<int64_t> changes_applied_{0};
  std::atomic<int64_t> hierarchy_loads_{0};
  std::atomic<int64_t> crosswalk_loads_{0};

  // The sharer's queue: answers' entries waiting for one MSET (bounded by kMaxQueuedShares).
  absl::Mutex share_mu_;
  std::vector<ToShare> share_queue_ ABSL_GUARDED_BY(share_mu_);
  size_t share_queued_entries_ ABSL_GUARDED_BY(share_mu_) = 0;
  bool share_busy_ ABSL_GUARDED_BY(share_mu_) = false;  // a MSET is under way
  bool share_stopping_ ABSL_GUARDED_BY(share_mu_) = false;
  std::thread sharer_;

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  grpc::ClientContext* watch_ ABSL_GUARDED_BY(stop_mu_) = nullptr;  // cancelled on stop
  std::thread stats_thread_;

  // Last: destroyed first, so that a read handed to one of its threads ends before the rest.
  CallbackCalls calls_;
};

}  // namespace covtrack::aggregation
