#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/call_context.h"
#include "common/domain.h"
#include "common/log.h"
#include "common/status/status.h"
#include "services/aggregation/aggregation_service.h"
#include "services/aggregation/rollup.h"

// The aggregation service's rollup cache: following ingestion's change feed, verifying cached
// rollups against it, and computing the rest from one export (docs/aggregation.md). Members of
// AggregationServiceImpl; its RPC handlers are in aggregation_service.cc.

namespace covtrack::aggregation {
namespace {

constexpr int kChangesPageSize = 1000;
constexpr int kComputeAttempts = 3;

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

// What a request returns when its caller has gone: nothing more is done for it.
absl::Status CallCancelled() {
  return absl::CancelledError("the call was cancelled or its deadline passed; work stopped");
}

// A failed call to ingestion: UNAVAILABLE to the caller (another service failed), unless it was
// cut short because the caller itself had gone.
absl::Status ForIngestionFailure(const absl::Status& status) {
  if (absl::IsCancelled(status) || CurrentCallCancelled()) {
    return CallCancelled();
  }
  return absl::UnavailableError(status.message());
}

// The unit and its ancestors on `date`, itself first, the nation last; empty when the code names
// no unit then. Bounded: the tree is a few levels deep whatever the data says.
std::vector<std::string> Ancestry(const Hierarchy& hierarchy, const std::string& code,
                                  const std::string& date) {
  constexpr int kMaxLevels = 8;
  std::vector<std::string> chain;
  const v1::AdminUnit* unit = hierarchy.UnitAt(code, date);
  while (unit != nullptr && chain.size() < kMaxLevels) {
    chain.push_back(unit->code());
    if (unit->code() == kNationCode) {
      return chain;
    }
    unit = hierarchy.UnitAt(ParentCodeOf(*unit), date);
  }
  if (!chain.empty()) {
    chain.push_back(std::string(kNationCode));
  }
  return chain;
}

// The lowest common ancestor on `date` of the codes that name a unit then (the nation when the
// tree says nothing better): the one subtree an export must cover to roll all of them up.
std::string LowestCommonAncestor(const Hierarchy& hierarchy, const std::vector<std::string>& codes,
                                 const std::string& date) {
  std::vector<std::string> common;
  size_t first = 0;  // index into `common` of the lowest ancestor shared so far
  for (const std::string& code : codes) {
    std::vector<std::string> chain = Ancestry(hierarchy, code, date);
    if (chain.empty()) {
      continue;
    }
    if (common.empty()) {
      common = std::move(chain);
      continue;
    }
    while (first + 1 < common.size() &&
           std::find(chain.begin(), chain.end(), common[first]) == chain.end()) {
      ++first;
    }
  }
  return common.empty() ? std::string(kNationCode) : common[first];
}

}  // namespace

// ---- Keeping up with ingestion's change feed ----

AggregationServiceImpl::View AggregationServiceImpl::CurrentView() const {
  absl::ReaderMutexLock lock(&feed_mu_);
  return View{hierarchy_, crosswalk_, hierarchy_seq_};
}

absl::Status AggregationServiceImpl::LoadCrosswalkLocked() {
  absl::StatusOr<std::vector<v1::CrosswalkLink>> links = ingestion_.ListAllCrosswalkLinks();
  if (!links.ok()) {
    crosswalk_outdated_ = true;  // the next request tries again
    return ForIngestionFailure(links.status());
  }
  crosswalk_ = std::make_shared<const Crosswalk>(std::move(*links));
  crosswalk_outdated_ = false;
  ++crosswalk_loads_;
  return absl::OkStatus();
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
  if (!head.ok() && CurrentCallCancelled()) {
    return CallCancelled();
  }
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
    if (log_.initialized() && !hierarchy_outdated_ && !crosswalk_outdated_ && log_.seen() >= seq) {
      return absl::OkStatus();
    }
  }
  absl::MutexLock lock(&feed_mu_);
  // A request may have waited long for the lock behind another catch-up: if its caller has
  // gone meanwhile, the next request does the work.
  if (CurrentCallCancelled()) {
    return CallCancelled();
  }
  return CatchUpLocked(seq, feed_went_backwards);
}

absl::Status AggregationServiceImpl::CatchUpLocked(int64_t seq, bool feed_went_backwards) {
  if (!feed_went_backwards && log_.initialized() && !hierarchy_outdated_ && !crosswalk_outdated_ &&
      log_.seen() >= seq) {
    return absl::OkStatus();  // another request caught up meanwhile
  }
  auto start_afresh = [&](absl::string_view why) -> absl::Status {
    // Nothing this replica decoded can be verified against a log that starts afresh (and after
    // the feed went backwards, none of it can be trusted): let it go.
    {
      absl::MutexLock local_lock(&local_mu_);
      local_.clear();
    }
    // The change at `seq` names the history entries computed from now on belong to.
    std::optional<uint64_t> fingerprint;
    if (seq > 0) {
      absl::StatusOr<v1::ListChangesResponse> at = ingestion_.ListChanges(seq - 1, 1);
      if (!at.ok()) {
        return ForIngestionFailure(at.status());
      }
      if (!at->changes().empty() && at->changes(0).seq() == seq) {
        fingerprint = ChangeLog::Fingerprint(at->changes(0));
      }
    }
    // The hierarchy is read after `seq` was learned, so it reflects every change <= seq.
    absl::StatusOr<std::vector<v1::AdminUnit>> units = ingestion_.ListAllUnits();
    if (!units.ok()) {
      return ForIngestionFailure(units.status());
    }
    hierarchy_ = std::make_shared<const Hierarchy>(std::move(*units));
    hierarchy_outdated_ = false;
    RETURN_IF_ERROR(LoadCrosswalkLocked());
    hierarchy_seq_ = seq;
    log_.Reset(seq, fingerprint);
    ++feed_resets_;
    ++hierarchy_loads_;
    log::Info("following ingestion's change feed afresh",
              {{"seq", absl::StrCat(seq)},
               {"reason", std::string(why)},
               {"units", absl::StrCat(hierarchy_->version_count())},
               {"crosswalk_links", absl::StrCat(crosswalk_->size())}});
    return absl::OkStatus();
  };
  if (!log_.initialized()) {
    return start_afresh("start");
  }
  if (feed_went_backwards && seq < log_.seen()) {
    // Nothing in the log, nor any entry this replica decoded, can be trusted any more.
    return start_afresh("feed went backwards");
  }
  if (seq - log_.seen() > options_.max_catch_up_changes) {
    return start_afresh("too far behind");
  }
  // The first page starts at the newest change this replica holds, which must still be the
  // same change: a store restored from a backup and written to since may have passed the seq
  // this replica saw with other changes under the same numbers.
  const std::optional<uint64_t> newest_fingerprint = log_.FingerprintAt(log_.newest_seq());
  bool check_newest = log_.newest_seq() > 0 && newest_fingerprint.has_value() && log_.seen() < seq;
  while (log_.seen() < seq) {
    if (CurrentCallCancelled()) {
      return CallCancelled();  // what was appended stays; the next request goes on from there
    }
    const int64_t newest = log_.newest_seq();
    absl::StatusOr<v1::ListChangesResponse> page =
        ingestion_.ListChanges(check_newest ? newest - 1 : log_.seen(), kChangesPageSize);
    if (!page.ok()) {
      return ForIngestionFailure(page.status());
    }
    if (check_newest) {
      check_newest = false;
      if (page->changes().empty() || page->changes(0).seq() != newest ||
          newest_fingerprint != ChangeLog::Fingerprint(page->changes(0))) {
        log::Warn(
            "ingestion's change feed is not the one followed so far (its store was "
            "restored from a backup or replaced?): cached and held figures are dropped",
            {{"seq", absl::StrCat(newest)}});
        return start_afresh("feed history changed");
      }
    }
    for (const v1::Change& change : page->changes()) {
      if (log_.Append(change)) {
        // Marked as soon as the change is in the log: if a later page or the reload fails, the
        // next request reloads before it answers (the log will not show the change again).
        hierarchy_outdated_ = hierarchy_outdated_ || change.admin_unit_codes_size() > 0;
        crosswalk_outdated_ = crosswalk_outdated_ || change.crosswalk_links_size() > 0;
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
  if (hierarchy_outdated_) {
    absl::StatusOr<std::vector<v1::AdminUnit>> units = ingestion_.ListAllUnits();
    if (!units.ok()) {
      return ForIngestionFailure(units.status());  // still outdated: tried again
    }
    hierarchy_ = std::make_shared<const Hierarchy>(std::move(*units));
    hierarchy_outdated_ = false;
    ++hierarchy_loads_;
  }
  if (crosswalk_outdated_) {
    // Rollups are keyed by the code as it was and do not depend on the crosswalk: only the
    // combination at read time does, so nothing cached is invalidated.
    RETURN_IF_ERROR(LoadCrosswalkLocked());
  }
  hierarchy_seq_ = log_.seen();
  return absl::OkStatus();
}

// ---- Rollups: cached or computed ----

absl::StatusOr<std::vector<std::optional<v1::Coverage>>> AggregationServiceImpl::Compute(
    View& view, const std::vector<std::string>& codes, const Period& period,
    const std::string& root, int64_t* snapshot_seq, std::optional<uint64_t>* fingerprint) {
  const std::string date = period.last_month().LastDay();
  for (int attempt = 0; attempt < kComputeAttempts; ++attempt) {
    if (CurrentCallCancelled()) {
      return CallCancelled();
    }
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
      // The history the export was read from, named right after the log reached it.
      *fingerprint = log_.FingerprintAt(seq);
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
    View& view, const std::vector<Want>& wants) {
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
      if (local[i] != nullptr && !log_.Touched(local[i]->seq, local[i]->fingerprint,
                                               *view.hierarchy, wants[i].code, wants[i].period)) {
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
      entries.push_back(
          {keys[i], EncodeEntry(local[i]->seq, local[i]->fingerprint, *local[i]->coverage)});
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
      if (cached[k].has_value() &&
          DecodeEntry(*cached[k], &entry->seq, &entry->fingerprint, coverage.get())) {
        if (!log_.Touched(entry->seq, entry->fingerprint, *view.hierarchy, wants[i].code,
                          wants[i].period)) {
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
    // One export per period: a caller who gave up (a 1 ms deadline on a long series) stops
    // costing exports here.
    if (CurrentCallCancelled()) {
      return CallCancelled();
    }
    const Period& period = wants[indexes.front()].period;
    std::vector<std::string> codes;
    for (size_t i : indexes) {
      codes.push_back(wants[i].code);
    }
    const std::string root =
        LowestCommonAncestor(*view.hierarchy, codes, period.last_month().LastDay());
    int64_t seq = 0;
    // Unknown (the log was reset at a point it could not name): the answer is given, not kept.
    std::optional<uint64_t> fingerprint;
    absl::StatusOr<std::vector<std::optional<v1::Coverage>>> computed =
        Compute(view, codes, period, root, &seq, &fingerprint);
    if (!computed.ok()) {
      return computed.status();
    }
    for (size_t k = 0; k < indexes.size(); ++k) {
      if ((*computed)[k].has_value()) {
        auto coverage = std::make_shared<const v1::Coverage>(std::move(*(*computed)[k]));
        results[indexes[k]] = coverage;
        if (!fingerprint.has_value()) {
          continue;
        }
        to_store.push_back({keys[indexes[k]], EncodeEntry(seq, *fingerprint, *coverage)});
        auto entry = std::make_shared<LocalEntry>();
        entry->seq = seq;
        entry->fingerprint = *fingerprint;
        entry->coverage = std::move(coverage);
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

}  // namespace covtrack::aggregation
