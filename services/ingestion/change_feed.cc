#include "services/ingestion/change_feed.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/status/status.h"
#include "common/time/timestamp.h"
#include "services/ingestion/admin_unit_table.h"
#include "services/ingestion/batched_sql.h"
#include "services/ingestion/crosswalk_table.h"
#include "services/ingestion/measure_table.h"

namespace covtrack::ingestion {

absl::StatusOr<int64_t> LockChangeHead(sql::Session& session) {
  ASSIGN_OR_RETURN(std::vector<sql::Row> rows,
                   session.Query(absl::StrCat("SELECT last_seq FROM change_counter WHERE id = 1",
                                              session.ForUpdate()),
                                 {}));
  if (rows.size() != 1) {
    return absl::InternalError("change_counter row is missing");
  }
  return rows[0].Int(0);
}

absl::StatusOr<int64_t> ReadChangeHead(sql::Session& session) {
  ASSIGN_OR_RETURN(std::vector<sql::Row> rows,
                   session.Query("SELECT last_seq FROM change_counter WHERE id = 1", {}));
  return rows.empty() ? 0 : rows[0].Int(0);
}

absl::Status ValidateFeedRetention(const FeedRetention& retention) {
  if (retention.keep_for < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("feed retention: keep_for must not be negative");
  }
  if (retention.keep_newest < 1) {
    return absl::InvalidArgumentError(
        "feed retention: keep_newest must be at least 1 (the head change is always kept)");
  }
  return absl::OkStatus();
}

absl::Status PruneFeed(sql::Session& session, int64_t head, const FeedRetention& retention,
                       absl::Time now) {
  if (retention.keep_for == absl::InfiniteDuration() || head - retention.keep_newest < 1) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const std::vector<sql::Row> counter,
                   session.Query("SELECT pruned_through FROM change_counter WHERE id = 1", {}));
  if (counter.size() != 1) {
    return absl::InternalError("change_counter row is missing");
  }
  const int64_t pruned = counter[0].Int(0);
  // The oldest changes not pruned yet, of those the count bound lets go, through the primary
  // key: a bounded read whatever the feed's length.
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> oldest,
      session.Query("SELECT seq, commit_time_us FROM changes WHERE seq > $1 AND seq <= $2 "
                    "ORDER BY seq LIMIT $3",
                    {pruned, head - retention.keep_newest, kMaxChangesPrunedPerWrite}));
  // Stops at the first change young enough to keep: the feed's start only moves forward, and
  // what follows it stays whole even if a clock step made a later change look older.
  const int64_t cutoff_us = absl::ToUnixMicros(now - retention.keep_for);
  int64_t through = pruned;
  for (const sql::Row& change : oldest) {
    if (change.Int(1) >= cutoff_us) {
      break;
    }
    through = change.Int(0);
  }
  if (through == pruned) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(
      session.Execute("DELETE FROM change_items WHERE seq > $1 AND seq <= $2", {pruned, through})
          .status());
  return session.Execute("UPDATE change_counter SET pruned_through = $1 WHERE id = 1", {through})
      .status();
}

absl::Status ChangeWriter::Publish(sql::Session& session, const std::string& request_id,
                                   const Sender& sender) {
  if (!changed()) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(
      session
          .Execute("INSERT INTO changes (seq, request_id, source, peer, "
                   "commit_time_us) VALUES ($1, $2, $3, $4, $5)",
                   {seq(), request_id, sender.source, sender.peer, absl::ToUnixMicros(absl::Now())})
          .status());
  sql::Params items;
  items.reserve(4 * items_.size());
  for (const auto& [kind, unit, period] : items_) {
    items.insert(items.end(), {seq(), kind, unit, period});
  }
  RETURN_IF_ERROR(InsertInBatches(session,
                                  "INSERT INTO change_items (seq, kind, unit_code, period)", "", 4,
                                  std::move(items))
                      .status());
  return session.Execute("UPDATE change_counter SET last_seq = $1 WHERE id = 1", {seq()}).status();
}

namespace {

// The page's changes are consecutive, so a row's change is found by its seq's offset from the
// first.
absl::StatusOr<v1::Change*> ChangeAt(v1::ListChangesResponse& page, int64_t seq,
                                     absl::string_view what) {
  const int64_t index = seq - page.changes(0).seq();
  if (index < 0 || index >= page.changes_size() || page.changes(index).seq() != seq) {
    return absl::InternalError(absl::StrCat(what, " at seq ", seq, " has no change"));
  }
  return page.mutable_changes(static_cast<int>(index));
}

// `query` over a live table (`{table}` in it) UNION ALL the same over its revision table, in
// `order`: the values changes wrote, whether still current or overwritten since (schema.h).
std::string LiveAndRevised(absl::string_view query, absl::string_view live,
                           absl::string_view revised, absl::string_view order) {
  return absl::StrCat(absl::StrReplaceAll(query, {{"{table}", live}}), " UNION ALL ",
                      absl::StrReplaceAll(query, {{"{table}", revised}}), " ORDER BY ", order);
}

// The last seq of a page that starts at changes[0]: the changes up to the one that would take
// the page past kMaxEntriesPerPage, the first one always. `entries` holds (seq, count) rows.
int64_t PageEnd(const std::vector<sql::Row>& changes, const std::vector<sql::Row>& entries) {
  std::map<int64_t, int64_t> per_change;
  for (const sql::Row& row : entries) {
    per_change[row.Int(0)] += row.Int(1);
  }
  int64_t in_page = 0;
  for (size_t k = 0; k < changes.size(); ++k) {
    const int64_t seq = changes[k].Int(0);
    if (auto it = per_change.find(seq); it != per_change.end()) {
      in_page += it->second;
    }
    if (k > 0 && in_page > kMaxEntriesPerPage) {
      return changes[k - 1].Int(0);
    }
  }
  return changes.back().Int(0);
}

}  // namespace

absl::StatusOr<v1::ListChangesResponse> ReadChanges(sql::Session& session, int64_t after_seq,
                                                    int page_size) {
  v1::ListChangesResponse response;
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> counter,
      session.Query("SELECT last_seq, pruned_through FROM change_counter WHERE id = 1", {}));
  if (counter.size() != 1) {
    return absl::InternalError("change_counter row is missing");
  }
  response.set_head_seq(counter[0].Int(0));
  // Changes through pruned_through have lost their items: a page never starts among them, so a
  // reader from before the window sees the gap (the first seq past the one it asked for).
  after_seq = std::max(after_seq, counter[0].Int(1));
  // Every query below reads a seq range through a primary key or an index that starts with
  // the seq (change_items, crosswalk_revisions_seq), or joins the revisions and units on their
  // primary keys from change_items, so a page costs the same few queries whatever it holds.
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> changes,
      session.Query(
          "SELECT seq, request_id, commit_time_us FROM changes WHERE seq > $1 ORDER BY seq "
          "LIMIT $2",
          {after_seq, int64_t{page_size}}));
  if (changes.empty()) {
    return response;
  }
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> entries,
      session.Query(absl::StrCat("SELECT seq, SUM(CASE WHEN kind = ", kMeasureChange, " THEN ",
                                 kEntriesPerMeasureMonth,
                                 " ELSE 1 END) FROM change_items "
                                 "WHERE seq > $1 AND seq <= $2 GROUP BY seq UNION ALL "
                                 "SELECT change_seq, COUNT(*) FROM crosswalk_revisions "
                                 "WHERE change_seq > $1 AND change_seq <= $2 GROUP BY change_seq"),
                    {after_seq, changes.back().Int(0)}));
  const int64_t last = PageEnd(changes, entries);
  const sql::Params range = {after_seq, last};
  for (const sql::Row& c : changes) {
    if (c.Int(0) > last) {
      break;
    }
    v1::Change* change = response.add_changes();
    change->set_seq(c.Int(0));
    change->set_request_id(c.Text(1));
    *change->mutable_commit_time() = ToProtoTimestamp(absl::FromUnixMicros(c.Int(2)));
  }

  ASSIGN_OR_RETURN(const std::vector<sql::Row> items,
                   session.Query("SELECT seq, kind, unit_code, period FROM change_items "
                                 "WHERE seq > $1 AND seq <= $2 ORDER BY seq, kind, unit_code, "
                                 "period",
                                 range));
  for (const sql::Row& item : items) {
    ASSIGN_OR_RETURN(v1::Change* const change, ChangeAt(response, item.Int(0), "change item"));
    switch (item.Int(1)) {
      case kParticipationChange: {
        v1::Change::UnitMonth* m = change->add_participation();
        m->set_unit_code(item.Text(2));
        m->set_month(item.Text(3));
        break;
      }
      case kDenominatorChange: {
        int32_t year = 0;
        if (!absl::SimpleAtoi(item.Text(3), &year)) {
          return absl::InternalError(
              absl::StrCat("change item at seq ", item.Int(0), " has no year"));
        }
        v1::Change::UnitYear* y = change->add_denominators();
        y->set_unit_code(item.Text(2));
        y->set_year(year);
        break;
      }
      case kMeasureChange: {
        v1::Change::UnitMonth* m = change->add_measure_months();
        m->set_unit_code(item.Text(2));
        m->set_month(item.Text(3));
        break;
      }
      default:
        change->add_admin_unit_codes(item.Text(2));
    }
  }

  // A write stores an item for each unit-month and unit-year it changed, and the values it
  // wrote carry its seq as change_seq: in the live table while they are current, in the
  // revision table once overwritten (schema.h). Each item looks its values up in both by their
  // primary keys' (month, unit_code) (unit_code first in participation_revisions) or
  // (unit_code, year).
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> records,
      session.Query(LiveAndRevised("SELECT i.seq, r.unit_code, r.month, r.scheme, "
                                   "r.participants, r.in_province FROM change_items i "
                                   "JOIN {table} r ON r.unit_code = i.unit_code "
                                   "AND r.month = i.period AND r.change_seq = i.seq "
                                   "WHERE i.seq > $1 AND i.seq <= $2 AND i.kind = $3",
                                   "participation", "participation_revisions", "1, 2, 3, 4"),
                    {after_seq, last, int64_t{kParticipationChange}}));
  for (const sql::Row& row : records) {
    ASSIGN_OR_RETURN(v1::Change* const change,
                     ChangeAt(response, row.Int(0), "participation revision"));
    v1::ParticipationRecord* r = change->add_records();
    r->set_unit_code(row.Text(1));
    r->set_month(row.Text(2));
    r->set_scheme(static_cast<v1::Scheme>(row.Int(3)));
    r->set_participants(row.Int(4));
    if (!row.IsNull(5)) {
      r->set_in_province_participants(row.Int(5));
    }
  }
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> denominators,
      session.Query(LiveAndRevised("SELECT i.seq, r.unit_code, r.year, r.kind, r.value "
                                   "FROM change_items i JOIN {table} r "
                                   "ON r.unit_code = i.unit_code "
                                   "AND r.year = CAST(i.period AS INTEGER) "
                                   "AND r.change_seq = i.seq "
                                   "WHERE i.seq > $1 AND i.seq <= $2 AND i.kind = $3",
                                   "denominators", "denominator_revisions", "1, 2, 3, 4"),
                    {after_seq, last, int64_t{kDenominatorChange}}));
  for (const sql::Row& row : denominators) {
    ASSIGN_OR_RETURN(v1::Change* const change,
                     ChangeAt(response, row.Int(0), "denominator revision"));
    v1::DenominatorRecord* d = change->add_denominator_values();
    d->set_unit_code(row.Text(1));
    d->set_year(static_cast<int32_t>(row.Int(2)));
    d->set_kind(static_cast<v1::DenominatorKind>(row.Int(3)));
    d->set_value(row.Int(4));
  }
  ASSIGN_OR_RETURN(const auto measures, ReadMeasuresOfChanges(session, after_seq, last));
  for (const auto& [seq, value] : measures) {
    ASSIGN_OR_RETURN(v1::Change* const change, ChangeAt(response, seq, "measure revision"));
    *change->add_measure_values() = value;
  }
  // Units keep no revisions: each change carries every version of its codes as stored now,
  // which a follower applying changes in order replaces them with.
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> units,
      // kUnitColumns' names are admin_units' alone (change_items has unit_code, not code).
      session.Query(absl::StrCat("SELECT i.seq, ", kUnitColumns,
                                 " FROM change_items i JOIN admin_units u ON u.code = i.unit_code "
                                 "WHERE i.seq > $1 AND i.seq <= $2 AND i.kind = $3 "
                                 "ORDER BY i.seq, u.code, u.valid_from"),
                    {after_seq, last, int64_t{kUnitChange}}));
  for (const sql::Row& row : units) {
    ASSIGN_OR_RETURN(v1::Change* const change, ChangeAt(response, row.Int(0), "unit"));
    *change->add_units() = UnitFromRow(row, 1);
  }
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> links,
      session.Query(absl::StrCat("SELECT change_seq, ", kLinkColumns,
                                 " FROM crosswalk_revisions WHERE change_seq > $1 AND "
                                 "change_seq <= $2 ORDER BY change_seq, effective_date, "
                                 "from_code, to_code"),
                    range));
  for (const sql::Row& link : links) {
    ASSIGN_OR_RETURN(v1::Change* const change,
                     ChangeAt(response, link.Int(0), "crosswalk revision"));
    *change->add_crosswalk_links() = LinkFromRow(link, 1);
  }
  return response;
}

}  // namespace covtrack::ingestion
