#pragma once

// The ingestion service's data over common/sql (SQLite or PostgreSQL, the same SQL for both):
// all-or-nothing writes, once per request_id (common/sql/request_ledger.h), each published on
// the change feed (change_feed.h) with its audit trail; and the reads of units, revisions,
// changes and exports. Where each part lives:
//   ingestion_store.cc  opening the store, the write frame, the change head and feed reads
//   submit_report.cc    participation records and denominators, with their revisions
//   admin_units.cc      importing and listing administrative units
//   crosswalk.cc        importing and listing crosswalk links (checks in crosswalk_check.h)
//   revisions.cc        the audit trail of one unit
//   export_data.cc      consistent snapshots of a subtree
// A request reaching a method here has passed its checks in request_validation.h; the checks
// against stored units (unit_calendar.h) run inside the write's transaction.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/paging/paging.h"
#include "common/sql/database.h"
#include "common/sql/request_ledger.h"
#include "covtrack/v1/ingestion_service.pb.h"
#include "services/ingestion/admin_unit_table.h"
#include "services/ingestion/change_feed.h"

namespace covtrack::ingestion {

class IngestionStore {
 public:
  // Opens `db` (not owned; must outlive the store) and applies pending migrations. Each write
  // prunes the change feed by `retention` (change_feed.h).
  static absl::StatusOr<std::unique_ptr<IngestionStore>> Create(
      sql::Database* db, const FeedRetention& retention = FeedRetention());

  absl::StatusOr<v1::ImportAdminUnitsResponse> ImportAdminUnits(
      const v1::ImportAdminUnitsRequest& request, const Sender& sender);
  absl::StatusOr<v1::SubmitReportResponse> SubmitReport(const v1::SubmitReportRequest& request,
                                                        const Sender& sender);
  // Several reports in one transaction, for StreamReports' group commit: `fill` calls `submit`
  // for each report in turn, which writes it as SubmitReport does (once per request_id, on the
  // change feed, audited) inside a savepoint of its own. A report refused there (its error
  // returned) is rolled back to its savepoint and leaves nothing behind, not even its
  // request_id's claim; the reports before it stay in the transaction. When `fill` returns OK
  // the transaction commits (durably: WAL with synchronous=FULL, PostgreSQL's synchronous
  // commit), and only then is any of its reports written; otherwise none is.
  using SubmitInGroup = std::function<absl::StatusOr<v1::SubmitReportResponse>(
      const v1::SubmitReportRequest& request, const Sender& sender)>;
  absl::Status SubmitReports(const std::function<absl::Status(const SubmitInGroup& submit)>& fill);
  absl::StatusOr<v1::ImportCrosswalkResponse> ImportCrosswalk(
      const v1::ImportCrosswalkRequest& request, const Sender& sender);

  absl::StatusOr<v1::ListAdminUnitsResponse> ListAdminUnits(
      const v1::ListAdminUnitsRequest& request, const PageRequest& page);
  // Every version of the units that held `code`, ordered by valid_from (for access checks).
  absl::StatusOr<std::vector<v1::AdminUnit>> UnitVersions(const std::string& code);
  absl::StatusOr<v1::ListCrosswalkResponse> ListCrosswalk(const v1::ListCrosswalkRequest& request,
                                                          const PageRequest& page);
  absl::StatusOr<v1::ListRevisionsResponse> ListRevisions(const v1::ListRevisionsRequest& request,
                                                          const PageRequest& page);

  absl::StatusOr<int64_t> ChangeHead();
  // `page_size` as common/paging resolved it (at least 1).
  absl::StatusOr<v1::ListChangesResponse> ListChanges(int64_t after_seq, int page_size);

  // Streams a consistent snapshot in chunks; stops early if `sink` returns false.
  absl::Status ExportData(const v1::ExportDataRequest& request,
                          const std::function<bool(const v1::ExportDataResponse&)>& sink);

 private:
  IngestionStore(sql::Database* db, const FeedRetention& retention)
      : db_(db), retention_(retention), ledger_("requests", "request_hash") {}

  // One write transaction: the writers' lock (the change head), then `write` once per
  // request_id, what it touched published on the change feed and change_seq set to where the
  // write is visible, and the feed pruned by the retention rule. A retry of the same request gets
  // the stored answer with `replayed` set and writes nothing; the same id with another request is
  // ALREADY_EXISTS.
  template <typename Response>
  absl::StatusOr<Response> WriteOnce(
      const std::string& request_id, const google::protobuf::Message& request, const Sender& sender,
      const std::function<absl::StatusOr<Response>(sql::Session&, ChangeWriter&)>& write);
  // WriteOnce's work inside a transaction the caller holds (`s`).
  template <typename Response>
  absl::StatusOr<Response> WriteOnceIn(
      sql::Session& s, const std::string& request_id, const google::protobuf::Message& request,
      const Sender& sender,
      const std::function<absl::StatusOr<Response>(sql::Session&, ChangeWriter&)>& write);
  // The rows of one report (submit_report.cc), for SubmitReport and SubmitReports.
  absl::StatusOr<v1::SubmitReportResponse> WriteReport(sql::Session& s, ChangeWriter& changes,
                                                       const v1::SubmitReportRequest& request);

  sql::Database* db_;
  const FeedRetention retention_;
  sql::RequestLedger ledger_;
  UnitBoundsCache unit_bounds_;
};

}  // namespace covtrack::ingestion
