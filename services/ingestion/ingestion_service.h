#pragma once

#include <atomic>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/access/authorizer.h"
#include "common/sql/database.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/request_validation.h"

namespace covtrack::ingestion {

struct IngestionOptions {
  std::string store_url = "sqlite:var/ingestion.db";
  RequestLimits limits;
  // How often an open WatchChanges stream looks for changes committed by other replicas
  // (writes through this replica wake it at once).
  absl::Duration watch_poll_interval = absl::Seconds(1);
  // Empty: every caller may do everything (common/access/authorizer.h).
  std::optional<access::AccessPolicy> access_policy;
  // How long the change feed keeps each change whole (change_feed.h).
  FeedRetention feed_retention;
};

// The gRPC face of IngestionStore. Every handler reads the same way: authorize (common/access)
// → validate the request (request_validation.h, common/paging) → the store's operation, an
// absl::StatusOr → ToGrpcStatus once, at the end. Commits through this replica wake its
// WatchChanges streams.
class IngestionServiceImpl final : public v1::IngestionService::Service {
 public:
  static absl::StatusOr<std::unique_ptr<IngestionServiceImpl>> Create(
      const IngestionOptions& options);

  grpc::Status ImportAdminUnits(grpc::ServerContext* context,
                                const v1::ImportAdminUnitsRequest* request,
                                v1::ImportAdminUnitsResponse* response) override;
  grpc::Status ListAdminUnits(grpc::ServerContext* context,
                              const v1::ListAdminUnitsRequest* request,
                              v1::ListAdminUnitsResponse* response) override;
  grpc::Status SubmitReport(grpc::ServerContext* context, const v1::SubmitReportRequest* request,
                            v1::SubmitReportResponse* response) override;
  grpc::Status StreamReports(grpc::ServerContext* context,
                             grpc::ServerReader<v1::SubmitReportRequest>* reader,
                             v1::StreamReportsResponse* response) override;
  grpc::Status ListRevisions(grpc::ServerContext* context, const v1::ListRevisionsRequest* request,
                             v1::ListRevisionsResponse* response) override;
  grpc::Status GetChangeHead(grpc::ServerContext* context, const v1::GetChangeHeadRequest* request,
                             v1::ChangeHead* response) override;
  grpc::Status ListChanges(grpc::ServerContext* context, const v1::ListChangesRequest* request,
                           v1::ListChangesResponse* response) override;
  grpc::Status WatchChanges(grpc::ServerContext* context, const v1::WatchChangesRequest* request,
                            grpc::ServerWriter<v1::Change>* writer) override;
  grpc::Status ExportData(grpc::ServerContext* context, const v1::ExportDataRequest* request,
                          grpc::ServerWriter<v1::ExportDataResponse>* writer) override;
  grpc::Status ImportCrosswalk(grpc::ServerContext* context,
                               const v1::ImportCrosswalkRequest* request,
                               v1::ImportCrosswalkResponse* response) override;
  grpc::Status ListCrosswalk(grpc::ServerContext* context, const v1::ListCrosswalkRequest* request,
                             v1::ListCrosswalkResponse* response) override;

  // Shutdown has begun and in-flight calls have `grace` before gRPC cancels them. Open
  // WatchChanges streams end at once (UNAVAILABLE, naming the after_seq to watch again from);
  // StreamReports uploads keep committing for half the grace, then stop between messages with
  // UNAVAILABLE and the committed count (the trailer "covtrack-committed-messages"), so that the
  // client resumes where it stopped. Idempotent; call it before the server's Shutdown.
  void BeginDrain(absl::Duration grace);

 private:
  IngestionServiceImpl(IngestionOptions options, std::unique_ptr<sql::Database> db,
                       std::unique_ptr<IngestionStore> store);
  void NoteCommitted(int64_t seq);
  // A report's checks before the store's: the reporter role and every unit inside the caller's
  // jurisdiction → the report's own checks (request_validation.h).
  absl::Status CheckReport(const grpc::ServerContext& context,
                           const v1::SubmitReportRequest& request);
  // One report, for SubmitReport: CheckReport → the store; counted in the metrics either way.
  // (StreamReports runs the same steps, with its messages grouped in transactions.)
  absl::StatusOr<v1::SubmitReportResponse> Submit(const grpc::ServerContext& context,
                                                  const v1::SubmitReportRequest& request);
  // The admin role → the import's checks → the store; counted in the metrics either way.
  absl::StatusOr<v1::ImportAdminUnitsResponse> Import(const grpc::ServerContext& context,
                                                      const v1::ImportAdminUnitsRequest& request);

  bool UploadsStopped() const;
  // A turn to read the feed for a WatchChanges stream (at most kMaxConcurrentFeedReads at once);
  // false when the call ended while waiting.
  bool AcquireFeedRead(grpc::ServerContext& context);
  void ReleaseFeedRead();

  const IngestionOptions options_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<IngestionStore> store_;
  access::Authorizer access_;
  absl::Mutex mu_;
  int64_t last_committed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // When StreamReports stops taking messages (BeginDrain), in Unix nanoseconds.
  std::atomic<int64_t> uploads_stop_unix_ns_{std::numeric_limits<int64_t>::max()};
  absl::Mutex feed_mu_;
  int feed_readers_ ABSL_GUARDED_BY(feed_mu_) = 0;
};

}  // namespace covtrack::ingestion
