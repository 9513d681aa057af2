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
#include "common/sql/database.h"
#include "covtrack/v1/ingestion_service.pb.h"

namespace covtrack::ingestion {

// Who sent a write, for the audit trail.
struct Sender {
  std::string peer;    // authenticated identity or peer address
  std::string source;  // the request's own `source` field
};

// change_items.kind.
enum ChangeKind : int64_t { kParticipationChange = 1, kDenominatorChange = 2, kUnitChange = 3 };

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

// The most crosswalk links a page of changes carries, beyond its first change: an import of a
// whole reform map puts ~10,000 links (~0.5 MB) on one change, and a page of many such changes
// would pass gRPC's 4 MB message limit.
inline constexpr int64_t kMaxCrosswalkLinksPerPage = 10000;

// Up to `page_size` changes after `after_seq`, oldest first, with the head they were read at;
// each with the crosswalk links it wrote, as crosswalk_revisions holds them. Fewer when the
// crosswalk links would pass kMaxCrosswalkLinksPerPage.
absl::StatusOr<v1::ListChangesResponse> ReadChanges(sql::Session& session, int64_t after_seq,
                                                    int page_size);

}  // namespace covtrack::ingestion
