#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/call_context.h"
#include "common/domain.h"
#include "common/log.h"
#include "common/status/status.h"
#include "services/aggregation/aggregation_service.h"
#include "services/aggregation/rollup.h"

// The aggregation service's rollups: waiting until the replica is fresh enough for a read,
// serving memoised and shared rollups the change log proves current, and computing the rest
// from the replica's memory (docs/aggregation.md). Members of AggregationServiceImpl; its RPC
// handlers are in aggregation_service.cc, the feed it follows in live_view.cc.

namespace covtrack::aggregation {
namespace {

// Cache entries: "<namespace>:agg:v3:<code>:<period>" ->
//   "<snapshot seq>:<feed fingerprint, 16 hex digits>|<serialized Coverage without comparisons>"
// (signed by the Redis cache: common/cache/cache.h). v3: the feed's history fingerprint
// (change_log.h), so entries computed before a restore from a backup are never served; entries
// written under v1 or v2 by an older binary are never read, and expire with their TTL.
std::string CacheKey(absl::string_view ns, absl::string_view code, const Period& period) {
  return absl::StrCat(ns, ":agg:v3:", code, ":", period.ToString());
}

std::string EncodeEntry(int64_t seq, uint64_t fingerprint, const v1::Coverage& coverage) {
  return absl::StrCat(seq, ":", absl::Hex(fingerprint, absl::kZeroPad16), "|",
                      coverage.SerializeAsString());
}

bool DecodeEntry(const std::string& value, int64_t* seq, uint64_t* fingerprint,
                 v1::Coverage* coverage) {
  const size_t bar = value.find('|');
  if (bar == std::string::npos) {
    return false;
  }
  const absl::string_view tag = absl::string_view(value).substr(0, bar);
  const size_t colon = tag.find(':');
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(tag.substr(0, colon), seq) ||
      !absl::SimpleHexAtoi(tag.substr(colon + 1), fingerprint)) {
    return false;
  }
  return coverage->ParseFromArray(value.data() + bar + 1, static_cast<int>(value.size() - bar - 1));
}

}  // namespace

absl::Status AggregationServiceImpl::LockFresh(const FreshnessQuery& freshness)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const v1::Consistency consistency = freshness.consistency == v1::CONSISTENCY_UNSPECIFIED
                                          ? options_.default_consistency
                                          : freshness.consistency;
  int64_t want = freshness.at_least_seq;
  if (consistency == v1::CONSISTENCY_FULL) {
    {
      absl::ReaderMutexLock lock(&state_mu_);
      if (!loaded_) {
        return absl::UnavailableError(load_progress_);
      }
    }
    // A lookup that started after this call arrived: every write acknowledged before it.
    absl::StatusOr<int64_t> head = heads_.Get();
    if (!head.ok()) {
      if (CurrentCallCancelled()) {
        return absl::CancelledError("the call was cancelled or its deadline passed");
      }
      return absl::UnavailableError(
          absl::StrCat("freshness.consistency: FULL needs ingestion's head, which cannot be read: ",
                       head.status().message()));
    }
    want = std::max(want, *head);
  }
  // The answer must reach the caller before its deadline, as UNAVAILABLE naming the seqs rather
  // than a bare DEADLINE_EXCEEDED: the wait ends a little before (a tenth of the time left, at
  // most 50 ms).
  const absl::Time now = absl::Now();
  absl::Time deadline = now + options_.freshness_wait;
  const absl::Time call_deadline = CurrentCallDeadline();
  if (call_deadline < deadline) {
    deadline = call_deadline - std::min((call_deadline - now) / 10, absl::Milliseconds(50));
  }
  auto ready = [this, want]() ABSL_SHARED_LOCKS_REQUIRED(state_mu_) {
    return !loaded_ || applied_seq_ >= want;
  };
  state_mu_.ReaderLockWhenWithDeadline(absl::Condition(&ready), deadline);
  if (!loaded_) {
    absl::Status loading = absl::UnavailableError(load_progress_);
    state_mu_.ReaderUnlock();
    return loading;
  }
  if (applied_seq_ < want) {
    absl::Status behind = absl::UnavailableError(absl::StrCat(
        "freshness: the answer must reflect seq ", want,
        consistency == v1::CONSISTENCY_FULL && want > freshness.at_least_seq
            ? " (ingestion's head, CONSISTENCY_FULL)"
            : " (freshness.at_least_seq)",
        "; this replica has applied up to seq ", applied_seq_,
        " and the wait ended first (the call's deadline or the server's bound); retry"));
    state_mu_.ReaderUnlock();
    return behind;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AggregationServiceImpl::CoveragePtr>> AggregationServiceImpl::Rollups(
    const std::vector<Want>& wants, ToShare& to_share,
    std::vector<std::shared_ptr<const LocalEntry>>* used) {
  const int64_t applied = applied_seq_;
  // The feed's history at `applied`: unknown only when the snapshot's own change could not be
  // named, and then nothing is offered to the shared cache (its entries must say their history).
  const std::optional<uint64_t> fingerprint = log_.FingerprintAt(applied);
  std::vector<std::string> keys;
  keys.reserve(wants.size());
  for (const Want& w : wants) {
    keys.push_back(CacheKey(options_.cache_namespace, w.code, w.period));
  }
  std::vector<CoveragePtr> results(wants.size());
  if (used != nullptr) {
    used->assign(wants.size(), nullptr);
  }
  // 1. This replica's memo; 2. the shared cache for the rest; 3. computed from memory. The
  // first two are verified against the change log in the same way.
  std::vector<std::shared_ptr<const LocalEntry>> local(wants.size());
  {
    absl::ReaderMutexLock lock(&local_mu_);
    for (size_t i = 0; i < wants.size(); ++i) {
      auto it = local_.find(keys[i]);
      if (it != local_.end()) {
        local[i] = it->second;
      }
    }
  }
  std::vector<size_t> shared_lookups;  // never held here: the shared cache may have them
  std::vector<size_t> to_compute;      // made stale by a change, or not in the shared cache
  for (size_t i = 0; i < wants.size(); ++i) {
    const LocalEntry* entry = local[i].get();
    if (entry != nullptr) {
      const int64_t verified = entry->verified_seq.load(std::memory_order_acquire);
      bool current = verified == applied;
      if (!current) {
        const std::optional<uint64_t> at = log_.FingerprintAt(verified);
        current = at.has_value() &&
                  !log_.Touched(verified, *at, *hierarchy_, wants[i].code, wants[i].period);
        if (current) {
          entry->verified_seq.store(applied, std::memory_order_release);
        }
      }
      if (current) {
        results[i] = entry->coverage;
        if (used != nullptr) {
          (*used)[i] = local[i];
        }
        ++entries_served_;
        ++local_hits_;
        // exchange: offered by one answer only, however many use it before the write lands.
        if (!entry->shared.load(std::memory_order_relaxed) && fingerprint.has_value() &&
            cache_->stats().available && !entry->shared.exchange(true)) {
          to_share.entries.push_back({keys[i], applied, *fingerprint, entry->coverage});
          to_share.remembered.push_back(local[i]);
        }
        continue;
      }
      ++entries_stale_;
      to_compute.push_back(i);
      continue;
    }
    shared_lookups.push_back(i);
  }
  std::vector<std::pair<std::string, std::shared_ptr<const LocalEntry>>> to_remember;
  if (!shared_lookups.empty()) {
    std::vector<std::string> shared_keys;
    for (size_t i : shared_lookups) {
      shared_keys.push_back(keys[i]);
    }
    std::vector<std::optional<std::string>> cached = cache_->MultiGet(shared_keys);
    for (size_t k = 0; k < shared_lookups.size(); ++k) {
      const size_t i = shared_lookups[k];
      auto coverage = std::make_shared<v1::Coverage>();
      int64_t seq = 0;
      uint64_t entry_fingerprint = 0;
      if (cached[k].has_value() &&
          DecodeEntry(*cached[k], &seq, &entry_fingerprint, coverage.get())) {
        if (!log_.Touched(seq, entry_fingerprint, *hierarchy_, wants[i].code, wants[i].period)) {
          auto entry = std::make_shared<LocalEntry>();
          entry->verified_seq = applied;
          entry->shared = true;
          entry->coverage = std::move(coverage);
          results[i] = entry->coverage;
          if (used != nullptr) {
            (*used)[i] = entry;
          }
          to_remember.push_back({keys[i], std::move(entry)});
          ++entries_served_;
          continue;
        }
        ++entries_stale_;
      }
      to_compute.push_back(i);
    }
  }
  // In the order asked, so that of several failing rollups the first asked names the error.
  std::sort(to_compute.begin(), to_compute.end());
  for (size_t i : to_compute) {
    auto entry = std::make_shared<LocalEntry>();
    entry->verified_seq = applied;
    absl::StatusOr<v1::Coverage> computed =
        RollupCoverage(*tree_, data_, wants[i].code, wants[i].period, &summaries_);
    if (absl::IsNotFound(computed.status())) {
      continue;  // the code names no unit at the period's end
    }
    RETURN_IF_ERROR(computed.status());
    ++entries_computed_;
    entry->coverage = std::make_shared<const v1::Coverage>(*std::move(computed));
    results[i] = entry->coverage;
    if (used != nullptr) {
      (*used)[i] = entry;
    }
    if (fingerprint.has_value()) {
      entry->shared = true;  // before another answer can find it in the memo
      to_share.entries.push_back({keys[i], applied, *fingerprint, entry->coverage});
      to_share.remembered.push_back(entry);
    }
    to_remember.push_back({keys[i], std::move(entry)});
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

std::optional<v1::Coverage> AggregationServiceImpl::KeptAnswer(const std::string& key) {
  std::shared_ptr<const AnswerEntry> entry;
  {
    absl::ReaderMutexLock lock(&answers_mu_);
    auto it = answers_.find(key);
    if (it == answers_.end()) {
      return std::nullopt;
    }
    entry = it->second;
  }
  if (entry->generation != generation_) {
    return std::nullopt;
  }
  const int64_t applied = applied_seq_;
  const int64_t verified = entry->verified_seq.load(std::memory_order_acquire);
  if (verified != applied) {
    // The same proof as for each rollup in the memo (Rollups), for all of them.
    const std::optional<uint64_t> at = log_.FingerprintAt(verified);
    if (!at.has_value()) {
      return std::nullopt;
    }
    for (const Want& w : entry->wants) {
      if (log_.Touched(verified, *at, *hierarchy_, w.code, w.period)) {
        return std::nullopt;
      }
    }
    entry->verified_seq.store(applied, std::memory_order_release);
  }
  int64_t served = 0;
  bool offer = false;
  for (const std::shared_ptr<const LocalEntry>& rollup : entry->rollups) {
    if (rollup != nullptr) {
      ++served;
      offer = offer || !rollup->shared.load(std::memory_order_relaxed);
    }
  }
  // A rollup the shared cache has not taken (it was down) goes through the memo, which offers
  // it again: the shared cache fills up again after an outage.
  if (offer && cache_->stats().available && log_.FingerprintAt(applied).has_value()) {
    return std::nullopt;
  }
  entries_served_ += served;
  local_hits_ += served;
  v1::Coverage coverage = entry->coverage;
  coverage.set_reflects_seq(applied);
  return coverage;
}

void AggregationServiceImpl::KeepAnswer(const std::string& key,
                                        std::shared_ptr<const AnswerEntry> entry) {
  absl::MutexLock lock(&answers_mu_);
  if (answers_.size() >= options_.answer_entries) {
    answers_.clear();  // crude but bounded, as the memo
  }
  answers_[key] = std::move(entry);
}

// Entries queued for the shared cache at most (a few KB each): beyond, an answer's entries are
// given up rather than held, and offered again on their next use.
constexpr size_t kMaxQueuedShares = 20000;

void AggregationServiceImpl::Share(ToShare to_share) {
  if (to_share.entries.empty()) {
    return;
  }
  {
    absl::MutexLock lock(&share_mu_);
    if (!share_stopping_ && share_queued_entries_ + to_share.entries.size() <= kMaxQueuedShares) {
      share_queued_entries_ += to_share.entries.size();
      share_queue_.push_back(std::move(to_share));
      return;
    }
  }
  for (const std::shared_ptr<const LocalEntry>& entry : to_share.remembered) {
    entry->shared = false;
  }
}

void AggregationServiceImpl::ShareLoop() {
  while (true) {
    std::vector<ToShare> batch;
    {
      absl::MutexLock lock(&share_mu_);
      share_busy_ = false;
      auto work = [this]() ABSL_SHARED_LOCKS_REQUIRED(share_mu_) {
        return share_stopping_ || !share_queue_.empty();
      };
      share_mu_.Await(absl::Condition(&work));
      if (share_stopping_) {
        return;
      }
      batch.swap(share_queue_);
      share_queued_entries_ = 0;
      share_busy_ = true;
    }
    // One MSET for every answer queued meanwhile: under load, fewer round trips than answers.
    std::vector<std::pair<std::string, std::string>> entries;
    for (ToShare& t : batch) {
      for (SharedEntry& e : t.entries) {
        entries.push_back({std::move(e.key), EncodeEntry(e.seq, e.fingerprint, *e.coverage)});
      }
    }
    if (!cache_->MultiSet(entries, options_.cache_ttl)) {
      for (const ToShare& t : batch) {
        for (const std::shared_ptr<const LocalEntry>& entry : t.remembered) {
          entry->shared = false;
        }
      }
    }
  }
}

bool AggregationServiceImpl::WaitShared(absl::Duration timeout) {
  absl::MutexLock lock(&share_mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(share_mu_) {
    return share_queue_.empty() && !share_busy_;
  };
  return share_mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

}  // namespace covtrack::aggregation
