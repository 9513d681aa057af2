#pragma once

// What a replica knows of ingestion's change feed, kept in memory: the changes with seq in
// (covered_from, seen], each reduced to what it touched and a fingerprint of the change itself
// (its seq, commit time and request id), plus the fingerprint of the change at covered_from.
// A cache entry computed at snapshot seq S carries the fingerprint of the history up to S (its
// newest change); it may be served only when S is in [covered_from, seen], this feed's history
// up to S has that same fingerprint, and no change in (S, seen] touched what the entry depends on
// (its territory's units in its months, its year's denominators, or any administrative unit).
//
// The fingerprint is what tells one history from another: a store restored from a backup
// numbers its new changes from where the backup ended, so a seq alone may name a change the
// restored store never had. Pure data, no RPCs: the replica appends each change it applies.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/hierarchy/hierarchy.h"
#include "common/period.h"
#include "covtrack/v1/ingestion_service.pb.h"

namespace covtrack::aggregation {

class ChangeLog {
 public:
  // Keeps at most about `max_touched` (unit, month) / (unit, year) pairs; older changes are
  // dropped and covered_from moves forward (entries older than that are then recomputed).
  explicit ChangeLog(size_t max_touched) : max_touched_(max_touched) {}

  // A change's identity in one history of the feed (stable across processes and replicas).
  static uint64_t Fingerprint(const v1::Change& change);

  // Forgets everything: changes <= seq are taken as known-unknown, so only entries tagged
  // >= seq can be verified from now on. Used at start and when the feed cannot be followed.
  // `fingerprint` is that of the change at `seq` (nullopt when unknown: entries tagged exactly
  // `seq` are then recomputed).
  void Reset(int64_t seq, std::optional<uint64_t> fingerprint);

  // Adds the next change; its seq must be above seen(). Returns false (and ignores it) if not.
  bool Append(const v1::Change& change);

  bool initialized() const { return initialized_; }
  // The fingerprint of the feed's history up to `seq` (in [covered_from, seen]): that of the
  // newest change <= seq this log holds, or covered_from's; nullopt when unknown.
  std::optional<uint64_t> FingerprintAt(int64_t seq) const;
  int64_t covered_from() const { return covered_from_; }
  int64_t seen() const { return seen_; }

  // Whether an entry for (code, period) computed at `entry_seq` may differ from an answer
  // computed at seen(): true when the entry is older than covered_from(), or a change after
  // entry_seq touched the entry's territory (read in `hierarchy` at the period's end), months,
  // year's denominators, or administrative units.
  // An entry whose seq is beyond seen(), or whose fingerprint is not FingerprintAt(its seq),
  // comes from another history of the feed (or was forged): true as well.
  bool Touched(int64_t entry_seq, uint64_t entry_fingerprint, const Hierarchy& hierarchy,
               absl::string_view code, const Period& period) const;

 private:
  struct Touch {
    int64_t seq = 0;
    uint64_t fingerprint = 0;
    bool admin = false;
    std::vector<std::pair<std::string, int>> months;  // (unit code, Month::Index())
    std::vector<std::pair<std::string, int>> years;   // (unit code, year) of denominators
  };
  // The first change with seq > `seq`.
  std::deque<Touch>::const_iterator After(int64_t seq) const;

  const size_t max_touched_;
  bool initialized_ = false;
  int64_t covered_from_ = 0;
  std::optional<uint64_t> covered_from_fingerprint_;
  int64_t seen_ = 0;
  size_t touched_ = 0;
  std::deque<Touch> changes_;
};

}  // namespace covtrack::aggregation
