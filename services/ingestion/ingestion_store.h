#pragma once

// The ingestion service's data: validation, all-or-nothing writes, idempotency, the audit
// trail and the change feed, over common/sql (SQLite or PostgreSQL, the same SQL for both).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "common/sql/database.h"
#include "covtrack/v1/ingestion_service.pb.h"

namespace covtrack::ingestion {

struct StoreLimits {
  // Records plus denominators in one SubmitReport, and units in one ImportAdminUnits. A
  // national month (about 10,000 communes × 4 schemes) fits in one request.
  int max_items_per_request = 100000;
};

// Who sent a write, for the audit trail.
struct Sender {
  std::string peer;    // authenticated identity or peer address
  std::string source;  // the request's own `source` field
};

class IngestionStore {
 public:
  // Opens `db` (not owned; must outlive the store) and applies pending migrations.
  static absl::StatusOr<std::unique_ptr<IngestionStore>> Create(sql::Database* db,
                                                                StoreLimits limits = {});

  absl::StatusOr<v1::ImportAdminUnitsResponse> ImportAdminUnits(
      const v1::ImportAdminUnitsRequest& request, const Sender& sender);
  absl::StatusOr<v1::SubmitReportResponse> SubmitReport(const v1::SubmitReportRequest& request,
                                                        const Sender& sender);

  absl::StatusOr<v1::ListAdminUnitsResponse> ListAdminUnits(
      const v1::ListAdminUnitsRequest& request);
  absl::StatusOr<v1::ListRevisionsResponse> ListRevisions(const v1::ListRevisionsRequest& request);

  absl::StatusOr<int64_t> ChangeHead();
  absl::StatusOr<v1::ListChangesResponse> ListChanges(int64_t after_seq, int page_size);

  // Streams a consistent snapshot in chunks; stops early if `sink` returns false.
  absl::Status ExportData(const v1::ExportDataRequest& request,
                          const std::function<bool(const v1::ExportDataResponse&)>& sink);

 private:
  IngestionStore(sql::Database* db, StoreLimits limits) : db_(db), limits_(limits) {}

  sql::Database* db_;
  StoreLimits limits_;
};

}  // namespace covtrack::ingestion
