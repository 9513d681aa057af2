#pragma once

// The change feed: every write transaction that changes something is published as one change
// with the next sequence number, listing what it touched (schema.h: change_counter, changes,
// change_items). Writers take the change counter's row first, so they are serialised and
// sequence numbers follow commit order.

#include <cstdint>
#include <set>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sql/database.h"
#include "covtrack/v1/ingestion_service.pb.h"

namespace covtrack::ingestion {

// Who sent a write, for the audit trail.
struct Sender {
  std::string peer;    // authenticated identity or peer address
  std::string source;  // the request's own `source` field
};

// change_items.kind.
enum ChangeKind : int64_t {
  kParticipationChange = 1,
  kDenominatorChange = 2,
  kUnitChange = 3,
  kMeasureChange = 4,  // period: the month; measure_table.h
};

// Which changes the feed keeps whole. A change is pruned when it is older than `keep_for` AND
// is not among the `keep_newest` newest: either bound alone keeps a follower that is briefly
// behind (a restart, a deploy) on the feed, and a follower behind both reloads its snapshot
// (one ExportData of everything: seconds, see README).
struct FeedRetention {
  // absl::InfiniteDuration(): nothing is ever pruned (the behaviour before issue 15).
  absl::Duration keep_for = absl::Hours(24 * 30);
  // At least 1: the head change is always kept, since a follower reads it to recognise the
  // history it follows (aggregation's fingerprint of its applied change).
  int64_t keep_newest = 10000;
};

// INVALID_ARGUMENT naming the field when `retention` cannot be applied.
absl::Status ValidateFeedRetention(const FeedRetention& retention);

// The most changes one write prunes. Pruning runs inside each write, after it published, so it
// is paced by the writes that make the feed grow: a write adds one change and may prune up to
// this many, and its cost stays bounded (a change holds at most max_items_per_request items).
inline constexpr int64_t kMaxChangesPrunedPerWrite = 4;

// Takes the writers' lock (the change counter's row) and returns the newest sequence.
absl::StatusOr<int64_t> LockChangeHead(sql::Session& session);
// The newest sequence, without a lock (in a read).
absl::StatusOr<int64_t> ReadChangeHead(sql::Session& session);

// Collects what one write transaction changed and, at the end, publishes it on the feed as one
// change with the next sequence number (or nothing, if nothing changed).
class ChangeWriter {
 public:
  // `head`: what LockChangeHead returned in this transaction.
  explicit ChangeWriter(int64_t head) : head_(head) {}

  int64_t seq() const { return head_ + 1; }  // the sequence this write commits as
  void Touch(ChangeKind kind, const std::string& unit_code, const std::string& period) {
    items_.emplace(kind, unit_code, period);
  }
  // The write stored crosswalk revisions at seq(): the feed reads the links from those rows.
  void TouchCrosswalk() { crosswalk_changed_ = true; }
  bool changed() const { return !items_.empty() || crosswalk_changed_; }
  // The sequence the caller's data is visible at.
  int64_t visible_seq() const { return changed() ? seq() : head_; }

  absl::Status Publish(sql::Session& session, const std::string& request_id, const Sender& sender);

 private:
  int64_t head_;
  std::set<std::tuple<int64_t, std::string, std::string>> items_;
  bool crosswalk_changed_ = false;
};

// The most entries a page of changes carries beyond its first change: change_items rows (a
// unit-month with at most four records, ~250 bytes; a unit-year with at most two values; a
// unit code with its versions, ~450 bytes each; a unit-month of measures, up to 28 values of
// ~35 bytes, counts as kEntriesPerMeasureMonth) plus crosswalk links (~60 bytes). 10,000 keep
// a page near 3 MB at most, under the 4 MB a gRPC client receives by default, where a page
// without a bound would grow to page_size whole reports. One change is always whole: the
// largest ingestion accepts (max_items_per_request = 100,000 records, ~20 MB) fits the 64 MB
// limit (common/server.h) a follower sets on its channel.
inline constexpr int64_t kMaxEntriesPerPage = 10000;
inline constexpr int64_t kEntriesPerMeasureMonth = 4;

// Inside a write holding the writers' lock, with `head` the newest seq once the write commits:
// drops the items of the oldest changes outside `retention` (at most kMaxChangesPrunedPerWrite
// changes) and moves the feed's start (change_counter.pruned_through) past them.
absl::Status PruneFeed(sql::Session& session, int64_t head, const FeedRetention& retention,
                       absl::Time now);

// Up to `page_size` changes after `after_seq` (after the pruned ones, when `after_seq` is older
// than the retained window), oldest first, consecutive, with the head they were read at; each with
// what it wrote (ingestion_service.proto, Change): its items, the participation and denominator
// revisions stored at its seq, every stored version of the unit codes it touched and the crosswalk
// links it wrote. Fewer when the page's entries would pass kMaxEntriesPerPage (the first change is
// always whole). A fixed number of queries per page, whatever its size.
absl::StatusOr<v1::ListChangesResponse> ReadChanges(sql::Session& session, int64_t after_seq,
                                                    int page_size);

}  // namespace covtrack::ingestion
