// The aggregation replica's live view: the snapshot it loads at start and the change feed it
// follows afterwards (docs/aggregation.md, "The live view"). Members of AggregationServiceImpl;
// the reads are in aggregation_service.cc and rollup_cache.cc.

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/period.h"
#include "common/status/status.h"
#include "common/time/timestamp.h"
#include "services/aggregation/aggregation_service.h"

namespace covtrack::aggregation {
namespace {

// Every month and year the service accepts (common/period.cc): the snapshot is the whole store.
constexpr char kFirstMonth[] = "1900-01";
constexpr char kLastMonth[] = "2999-12";
constexpr int kFirstYear = 1900;
constexpr int kLastYear = 2999;
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
constexpr absl::Duration kLagLogInterval = absl::Seconds(10);

std::tuple<std::string, std::string, std::string> LinkKey(const v1::CrosswalkLink& link) {
  return {link.from_code(), link.to_code(), link.effective_date()};
}

}  // namespace

bool AggregationServiceImpl::Stopping() {
  absl::MutexLock lock(&stop_mu_);
  return stopping_;
}

void AggregationServiceImpl::OnLoaded(std::function<void()> loaded) {
  {
    absl::MutexLock lock(&state_mu_);
    if (!loaded_) {
      on_loaded_.push_back(std::move(loaded));
      return;
    }
  }
  loaded();
}

bool AggregationServiceImpl::WaitUntilLoaded(absl::Duration timeout) {
  absl::MutexLock lock(&state_mu_);
  auto loaded = [this]() ABSL_SHARED_LOCKS_REQUIRED(state_mu_) { return loaded_; };
  return state_mu_.AwaitWithTimeout(absl::Condition(&loaded), timeout);
}

void AggregationServiceImpl::FollowLoop() {
  absl::Duration backoff = kFirstBackoff;
  bool need_snapshot = true;
  std::string last_problem;
  while (!Stopping()) {
    absl::Status why;
    if (need_snapshot) {
      why = LoadSnapshot();
      if (why.ok()) {
        need_snapshot = false;
        backoff = kFirstBackoff;
        last_problem.clear();
        continue;
      }
    } else {
      bool connected = false;
      const FollowEnd end = Follow(&why, &connected);
      if (end == FollowEnd::kStopping) {
        return;
      }
      if (connected) {
        backoff = kFirstBackoff;
      }
      if (end == FollowEnd::kReload) {
        log::Warn("ingestion's change feed cannot be followed from here; reloading the snapshot",
                  {{"reason", std::string(why.message())}});
        need_snapshot = true;
        continue;
      }
    }
    // Logged once per kind of problem, not on every retry.
    if (std::string(why.message()) != last_problem) {
      last_problem = std::string(why.message());
      log::Warn(need_snapshot ? "cannot load the snapshot from ingestion; retrying"
                              : "the change feed ended; following it again",
                {{"status", last_problem}, {"backoff", absl::FormatDuration(backoff)}});
    }
    absl::MutexLock lock(&stop_mu_);
    auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(stop_mu_) { return stopping_; };
    if (stop_mu_.AwaitWithTimeout(absl::Condition(&stop), backoff)) {
      return;
    }
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::Status AggregationServiceImpl::LoadSnapshot() {
  const absl::Time start = absl::Now();
  {
    absl::MutexLock lock(&state_mu_);
    load_progress_ = "loading: reading ingestion's snapshot";
  }
  ++exports_;
  CoverageData data;
  int64_t rows = 0;
  ASSIGN_OR_RETURN(
      const int64_t seq,
      ingestion_.ExportData("", "", kFirstMonth, kLastMonth, kFirstYear, kLastYear,
                            /*include_measures=*/true, [&](const v1::ExportDataResponse& chunk) {
                              for (const v1::ParticipationRecord& r : chunk.records()) {
                                data.AddRecord(r);
                              }
                              for (const v1::DenominatorRecord& d : chunk.denominators()) {
                                data.AddDenominator(d);
                              }
                              for (const v1::MeasureRecord& m : chunk.measures()) {
                                data.AddMeasure(m);
                              }
                              rows += chunk.records_size() + chunk.denominators_size() +
                                      chunk.measures_size();
                              absl::MutexLock lock(&state_mu_);
                              load_progress_ = absl::StrCat(
                                  "loading: ", rows, " rows of ingestion's snapshot read so far");
                            }));
  // The change at `seq` names the history this state belongs to (ChangeLog::Fingerprint): a
  // store restored from a backup is told apart by it, and shared entries are tagged with it.
  std::optional<uint64_t> fingerprint;
  if (seq > 0) {
    ASSIGN_OR_RETURN(v1::ListChangesResponse at, ingestion_.ListChanges(seq - 1, 1));
    if (!at.changes().empty() && at.changes(0).seq() == seq) {
      fingerprint = ChangeLog::Fingerprint(at.changes(0));
    }
  }
  // Read after the export: they reflect every change <= seq (and maybe later ones, which the
  // feed applies again: applying a change is idempotent).
  ASSIGN_OR_RETURN(units_, ingestion_.ListAllUnits());
  ASSIGN_OR_RETURN(links_, ingestion_.ListAllCrosswalkLinks());
  data.ShrinkToFit();
  auto hierarchy = std::make_shared<const Hierarchy>(units_);
  auto tree = std::make_shared<const TreeIndex>(hierarchy, units_);
  auto crosswalk = std::make_shared<const Crosswalk>(links_);
  std::vector<std::function<void()>> callbacks;
  {
    absl::MutexLock lock(&state_mu_);
    data_ = std::move(data);
    hierarchy_ = std::move(hierarchy);
    tree_ = std::move(tree);
    crosswalk_ = std::move(crosswalk);
    applied_seq_ = seq;
    applied_seq_hint_.store(seq, std::memory_order_relaxed);
    applied_commit_time_ = absl::InfinitePast();
    apply_delay_ = absl::ZeroDuration();
    log_.Reset(seq, fingerprint);
    loaded_ = true;
    callbacks = std::move(on_loaded_);
    on_loaded_.clear();
    // Nothing memoised before is trusted (the feed may have been rewritten); cleared under the
    // writer lock, so no read sees the new log with an old entry.
    ++generation_;
    summaries_.Clear();
    absl::MutexLock local_lock(&local_mu_);
    local_.clear();
    absl::MutexLock answers_lock(&answers_mu_);
    answers_.clear();
  }
  ++snapshot_loads_;
  ++hierarchy_loads_;
  ++crosswalk_loads_;
  log::Info("snapshot loaded; following ingestion's change feed",
            {{"seq", absl::StrCat(seq)},
             {"units", absl::StrCat(units_.size())},
             {"crosswalk_links", absl::StrCat(links_.size())},
             {"rows", absl::StrCat(rows)},
             {"seconds", absl::StrCat(absl::ToDoubleSeconds(absl::Now() - start))}});
  for (std::function<void()>& loaded : callbacks) {
    loaded();
  }
  return absl::OkStatus();
}

AggregationServiceImpl::FollowEnd AggregationServiceImpl::Follow(absl::Status* why,
                                                                 bool* connected) {
  int64_t applied = 0;
  std::optional<uint64_t> fingerprint;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    applied = applied_seq_;
    fingerprint = log_.FingerprintAt(applied);
  }
  // Before following on: the change this replica applied last must still be the one in the
  // feed, and the feed must still reach it. A store restored from a backup has a head below it
  // or other changes under the same seqs; a feed trimmed past it cannot be followed.
  absl::StatusOr<v1::ListChangesResponse> at =
      ingestion_.ListChanges(std::max<int64_t>(applied - 1, 0), 1);
  if (!at.ok()) {
    *why = at.status();
    return FollowEnd::kRetry;
  }
  if (at->head_seq() < applied) {
    *why = absl::DataLossError(absl::StrCat("ingestion's head ", at->head_seq(),
                                            " is below the seq applied here, ", applied,
                                            " (its store was restored from a backup or replaced)"));
    return FollowEnd::kReload;
  }
  if (applied > 0 && !at->changes().empty()) {
    const v1::Change& first = at->changes(0);
    if (first.seq() > applied) {
      *why = absl::DataLossError(absl::StrCat("the feed no longer reaches back to seq ", applied));
      return FollowEnd::kReload;
    }
    if (fingerprint.has_value() && ChangeLog::Fingerprint(first) != *fingerprint) {
      *why = absl::DataLossError(absl::StrCat("change ", applied,
                                              " in the feed is not the one applied here (the store "
                                              "was restored from a backup or replaced)"));
      return FollowEnd::kReload;
    }
  }
  *connected = true;
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&stop_mu_);
    if (stopping_) {
      return FollowEnd::kStopping;
    }
    watch_ = &context;
  }
  FollowEnd end = FollowEnd::kRetry;
  absl::Status stream = ingestion_.WatchChanges(applied, context, [&](const v1::Change& change) {
    if (change.seq() <= applied) {
      return true;  // already applied (seqs are consecutive: not expected)
    }
    if (change.seq() != applied + 1) {
      *why = absl::DataLossError(absl::StrCat("the feed went from seq ", applied, " to ",
                                              change.seq(), " (it no longer reaches back)"));
      end = FollowEnd::kReload;
      return false;
    }
    if (absl::Status applied_ok = Apply(change); !applied_ok.ok()) {
      *why = applied_ok;  // followed again from the last change applied
      return false;
    }
    applied = change.seq();
    return true;
  });
  {
    absl::MutexLock lock(&stop_mu_);
    watch_ = nullptr;
    if (stopping_) {
      return FollowEnd::kStopping;
    }
  }
  if (why->ok()) {
    *why = stream.ok() ? absl::UnavailableError("ingestion ended the change feed") : stream;
  }
  return end;
}

absl::Status AggregationServiceImpl::ReadBack(const v1::Change& change,
                                              std::vector<v1::ParticipationRecord>* records,
                                              std::vector<v1::DenominatorRecord>* denominators) {
  // An ingestion older than issue 10 names the pairs a change wrote without their values: read
  // them back, from one export of the months and years touched (at a snapshot at or after the
  // change: a value newer than the change is applied again by its own change, to the same end).
  absl::flat_hash_set<std::pair<std::string, std::string>> months;
  absl::flat_hash_set<std::pair<std::string, int>> years;
  std::string from_month, to_month;
  int from_year = 0, to_year = 0;
  if (change.records_size() == 0) {
    for (const v1::Change::UnitMonth& p : change.participation()) {
      if (!Month::Parse(p.month()).ok()) {
        continue;
      }
      months.insert({p.unit_code(), p.month()});
      from_month = from_month.empty() ? p.month() : std::min(from_month, p.month());
      to_month = std::max(to_month, p.month());
    }
  }
  if (change.denominator_values_size() == 0) {
    for (const v1::Change::UnitYear& p : change.denominators()) {
      years.insert({p.unit_code(), p.year()});
      from_year = from_year == 0 ? p.year() : std::min(from_year, p.year());
      to_year = std::max(to_year, p.year());
    }
  }
  if (months.empty() && years.empty()) {
    return absl::OkStatus();
  }
  ++exports_;
  ASSIGN_OR_RETURN(
      const int64_t seq,
      ingestion_.ExportData("", "", from_month, to_month, from_year, to_year,
                            /*include_measures=*/false, [&](const v1::ExportDataResponse& chunk) {
                              for (const v1::ParticipationRecord& r : chunk.records()) {
                                if (months.contains({r.unit_code(), r.month()})) {
                                  records->push_back(r);
                                }
                              }
                              for (const v1::DenominatorRecord& d : chunk.denominators()) {
                                if (years.contains({d.unit_code(), d.year()})) {
                                  denominators->push_back(d);
                                }
                              }
                            }));
  if (seq < change.seq()) {
    return absl::UnavailableError(
        absl::StrCat("ingestion exported seq ", seq, " to read back change ", change.seq()));
  }
  return absl::OkStatus();
}

void AggregationServiceImpl::ForgetSummaries(
    const v1::Change& change, const std::vector<v1::ParticipationRecord>& read_records,
    const std::vector<v1::DenominatorRecord>& read_denominators, bool replaced) {
  // New units or links: versions are numbered anew with the tree, and a link may change what a
  // unit's territory is read as; nothing kept is worth the risk.
  if (replaced) {
    summaries_.Clear();
    return;
  }
  // The pairs a change names and the values it carries (or was read back with): the same pairs
  // from an ingestion that fills both, either alone from older ones. Each distinct pair is
  // dropped once (this runs under the writer lock; a bulk change names thousands).
  absl::flat_hash_set<std::pair<std::string, int>> months;
  bool unreadable = false;  // a month that does not parse is ignored when applied
  auto add_month = [&](const std::string& code, const std::string& month) {
    absl::StatusOr<Month> m = Month::Parse(month);
    if (m.ok()) {
      months.emplace(code, m->Index());
    } else {
      unreadable = true;
    }
  };
  for (const v1::Change::UnitMonth& p : change.participation()) {
    add_month(p.unit_code(), p.month());
  }
  for (const v1::ParticipationRecord& r : change.records()) {
    add_month(r.unit_code(), r.month());
  }
  for (const v1::ParticipationRecord& r : read_records) {
    add_month(r.unit_code(), r.month());
  }
  if (unreadable) {
    summaries_.Clear();  // forgetting all is the safe side
    return;
  }
  absl::flat_hash_set<std::pair<std::string, int>> years;
  for (const v1::Change::UnitYear& p : change.denominators()) {
    years.emplace(p.unit_code(), p.year());
  }
  for (const v1::DenominatorRecord& d : change.denominator_values()) {
    years.emplace(d.unit_code(), d.year());
  }
  for (const v1::DenominatorRecord& d : read_denominators) {
    years.emplace(d.unit_code(), d.year());
  }
  for (const auto& [code, month] : months) {
    summaries_.TouchMonth(*tree_, code, month);
  }
  for (const auto& [code, year] : years) {
    summaries_.TouchYear(*tree_, code, year);
  }
}

absl::Status AggregationServiceImpl::Apply(const v1::Change& change) {
  // Everything slow happens before the writer lock: reading back, rebuilding the hierarchy or
  // the crosswalk (from the follower's own copies, which only this thread touches).
  std::vector<v1::ParticipationRecord> read_records;
  std::vector<v1::DenominatorRecord> read_denominators;
  if ((change.participation_size() > 0 && change.records_size() == 0) ||
      (change.denominators_size() > 0 && change.denominator_values_size() == 0)) {
    RETURN_IF_ERROR(ReadBack(change, &read_records, &read_denominators));
  }
  std::shared_ptr<const Hierarchy> hierarchy;
  std::shared_ptr<const TreeIndex> tree;
  if (change.admin_unit_codes_size() > 0) {
    if (change.units_size() == 0) {
      // Values left out (an older ingestion): every unit, read back.
      ASSIGN_OR_RETURN(units_, ingestion_.ListAllUnits());
    } else {
      // The change carries every version of each code it names, as stored.
      absl::flat_hash_set<std::string> codes(change.admin_unit_codes().begin(),
                                             change.admin_unit_codes().end());
      units_.erase(std::remove_if(units_.begin(), units_.end(),
                                  [&](const v1::AdminUnit& u) { return codes.contains(u.code()); }),
                   units_.end());
      for (const v1::AdminUnit& u : change.units()) {
        units_.push_back(u);
      }
    }
    hierarchy = std::make_shared<const Hierarchy>(units_);
    tree = std::make_shared<const TreeIndex>(hierarchy, units_);
    ++hierarchy_loads_;
  }
  std::shared_ptr<const Crosswalk> crosswalk;
  if (change.crosswalk_links_size() > 0) {
    // Upserted by key through an index of the links held: a whole reform map (10,667 links) on
    // one change costs one pass over each list, not one search of the held links per link.
    absl::flat_hash_map<std::tuple<std::string, std::string, std::string>, size_t> held;
    held.reserve(links_.size());
    for (size_t i = 0; i < links_.size(); ++i) {
      held.emplace(LinkKey(links_[i]), i);
    }
    for (const v1::CrosswalkLink& link : change.crosswalk_links()) {
      if (auto [it, added] = held.emplace(LinkKey(link), links_.size()); added) {
        links_.push_back(link);
      } else {
        links_[it->second] = link;
      }
    }
    crosswalk = std::make_shared<const Crosswalk>(links_);
    ++crosswalk_loads_;
  }
  const absl::Time now = absl::Now();
  // A change without a commit time (none from ingestion; a fake in tests) counts as on time.
  const absl::Time commit_time =
      change.has_commit_time() ? FromProtoTimestamp(change.commit_time()) : now;
  {
    absl::MutexLock lock(&state_mu_);
    for (const v1::ParticipationRecord& r : change.records()) {
      data_.AddRecord(r);
    }
    for (const v1::ParticipationRecord& r : read_records) {
      data_.AddRecord(r);
    }
    for (const v1::DenominatorRecord& d : change.denominator_values()) {
      data_.AddDenominator(d);
    }
    for (const v1::DenominatorRecord& d : read_denominators) {
      data_.AddDenominator(d);
    }
    // Ingestion fills every measure value a change stored (measures came after issue 10's
    // values on the feed: nothing to read back).
    for (const v1::MeasureRecord& m : change.measure_values()) {
      data_.AddMeasure(m);
    }
    const bool replaced = hierarchy != nullptr || crosswalk != nullptr;
    if (hierarchy != nullptr) {
      hierarchy_ = std::move(hierarchy);
      tree_ = std::move(tree);
      ++generation_;
    }
    if (crosswalk != nullptr) {
      crosswalk_ = std::move(crosswalk);
      ++generation_;
    }
    ForgetSummaries(change, read_records, read_denominators, replaced);
    log_.Append(change);
    applied_seq_ = change.seq();
    applied_seq_hint_.store(change.seq(), std::memory_order_relaxed);
    applied_commit_time_ = commit_time;
    apply_delay_ = std::max(absl::ZeroDuration(), now - commit_time);
  }
  ++changes_applied_;
  if (now - commit_time > options_.lag_log_threshold && now - last_lag_log_ > kLagLogInterval) {
    last_lag_log_ = now;
    log::Warn("this replica applies ingestion's changes late",
              {{"seq", absl::StrCat(change.seq())},
               {"lag_ms", absl::StrCat(absl::ToInt64Milliseconds(now - commit_time))}});
  }
  return absl::OkStatus();
}

}  // namespace covtrack::aggregation
