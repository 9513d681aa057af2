#include "services/ingestion/change_feed.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/status/status.h"
#include "common/time/timestamp.h"
#include "services/ingestion/crosswalk_table.h"

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
  for (const auto& [kind, unit, period] : items_) {
    RETURN_IF_ERROR(session
                        .Execute("INSERT INTO change_items (seq, kind, unit_code, period) "
                                 "VALUES ($1, $2, $3, $4)",
                                 {seq(), kind, unit, period})
                        .status());
  }
  return session.Execute("UPDATE change_counter SET last_seq = $1 WHERE id = 1", {seq()}).status();
}

absl::StatusOr<v1::ListChangesResponse> ReadChanges(sql::Session& session, int64_t after_seq,
                                                    int page_size) {
  v1::ListChangesResponse response;
  ASSIGN_OR_RETURN(const int64_t head, ReadChangeHead(session));
  response.set_head_seq(head);
  ASSIGN_OR_RETURN(
      std::vector<sql::Row> changes,
      session.Query(
          "SELECT seq, request_id, commit_time_us FROM changes WHERE seq > $1 ORDER BY seq "
          "LIMIT $2",
          {after_seq, int64_t{page_size}}));
  for (const sql::Row& c : changes) {
    if (CurrentCallCancelled()) {  // one query per change: stop when the caller has gone
      return absl::CancelledError(
          "change feed read cancelled by the caller (or past its deadline)");
    }
    v1::Change* change = response.add_changes();
    change->set_seq(c.Int(0));
    change->set_request_id(c.Text(1));
    *change->mutable_commit_time() = ToProtoTimestamp(absl::FromUnixMicros(c.Int(2)));
    ASSIGN_OR_RETURN(
        std::vector<sql::Row> items,
        session.Query("SELECT kind, unit_code, period FROM change_items WHERE seq = $1",
                      {c.Int(0)}));
    for (const sql::Row& item : items) {
      switch (item.Int(0)) {
        case kParticipationChange: {
          v1::Change::UnitMonth* m = change->add_participation();
          m->set_unit_code(item.Text(1));
          m->set_month(item.Text(2));
          break;
        }
        case kDenominatorChange: {
          v1::Change::UnitYear* y = change->add_denominators();
          y->set_unit_code(item.Text(1));
          y->set_year(static_cast<int32_t>(item.Int(2)));
          break;
        }
        default:
          change->add_admin_unit_codes(item.Text(1));
      }
    }
  }
  if (changes.empty()) {
    return response;
  }
  // The page's crosswalk links in one read: a change that imported a whole reform map carries
  // thousands of them.
  ASSIGN_OR_RETURN(
      std::vector<sql::Row> links,
      session.Query(absl::StrCat("SELECT change_seq, ", kLinkColumns,
                                 " FROM crosswalk_revisions WHERE change_seq > $1 AND "
                                 "change_seq <= $2 ORDER BY change_seq, effective_date, "
                                 "from_code, to_code"),
                    {after_seq, changes.back().Int(0)}));
  int next = 0;  // changes are in seq order, and so are the links
  for (const sql::Row& link : links) {
    while (next < response.changes_size() && response.changes(next).seq() != link.Int(0)) {
      ++next;
    }
    if (next == response.changes_size()) {
      return absl::InternalError(
          absl::StrCat("crosswalk revision at seq ", link.Int(0), " has no change"));
    }
    *response.mutable_changes(next)->add_crosswalk_links() = LinkFromRow(link, 1);
  }
  // Bound the page's crosswalk links (each import carries up to 20,000): the page ends before
  // the change that would take it past kMaxCrosswalkLinksPerPage, the first change always
  // whole. Readers page on by after_seq, so a shorter page only means another call.
  int64_t links_in_page = 0;
  int keep = 0;
  for (; keep < response.changes_size(); ++keep) {
    links_in_page += response.changes(keep).crosswalk_links_size();
    if (keep > 0 && links_in_page > kMaxCrosswalkLinksPerPage) {
      break;
    }
  }
  response.mutable_changes()->DeleteSubrange(keep, response.changes_size() - keep);
  return response;
}

}  // namespace covtrack::ingestion
