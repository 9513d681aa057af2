#include "services/ingestion/ingestion_store.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/status.h"
#include "services/ingestion/schema.h"

namespace covtrack::ingestion {

absl::StatusOr<std::unique_ptr<IngestionStore>> IngestionStore::Create(
    sql::Database* db, const FeedRetention& retention) {
  RETURN_IF_ERROR(ValidateFeedRetention(retention));
  RETURN_IF_ERROR(db->Migrate("ingestion", IngestionMigrations()));
  return std::unique_ptr<IngestionStore>(new IngestionStore(db, retention));
}

template <typename Response>
absl::StatusOr<Response> IngestionStore::WriteOnceIn(
    sql::Session& s, const std::string& request_id, const google::protobuf::Message& request,
    const Sender& sender,
    const std::function<absl::StatusOr<Response>(sql::Session&, ChangeWriter&)>& write) {
  const std::string fingerprint = sql::RequestFingerprint(request);
  Response response;
  ASSIGN_OR_RETURN(const int64_t head, LockChangeHead(s));
  ASSIGN_OR_RETURN(
      const sql::RequestLedger::Answer answer,
      ledger_.WriteOnce(s, request_id, fingerprint, [&]() -> absl::StatusOr<std::string> {
        ChangeWriter changes(head);
        ASSIGN_OR_RETURN(response, write(s, changes));
        RETURN_IF_ERROR(changes.Publish(s, request_id, sender));
        RETURN_IF_ERROR(PruneFeed(s, changes.visible_seq(), retention_, absl::Now()));
        response.set_change_seq(changes.visible_seq());
        return response.SerializeAsString();
      }));
  if (answer.replayed) {
    if (!response.ParseFromString(answer.response)) {
      return absl::InternalError(
          absl::StrCat("stored answer of request_id \"", request_id, "\" is corrupt"));
    }
    response.set_replayed(true);
  }
  return response;
}

template <typename Response>
absl::StatusOr<Response> IngestionStore::WriteOnce(
    const std::string& request_id, const google::protobuf::Message& request, const Sender& sender,
    const std::function<absl::StatusOr<Response>(sql::Session&, ChangeWriter&)>& write) {
  Response response;
  RETURN_IF_ERROR(db_->Write([&](sql::Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(response, WriteOnceIn<Response>(s, request_id, request, sender, write));
    return absl::OkStatus();
  }));
  return response;
}

absl::Status IngestionStore::SubmitReports(
    const std::function<absl::Status(const SubmitInGroup& submit)>& fill) {
  return db_->Write([&](sql::Session& s) -> absl::Status {
    const SubmitInGroup submit =
        [&](const v1::SubmitReportRequest& request,
            const Sender& sender) -> absl::StatusOr<v1::SubmitReportResponse> {
      // The same savepoint name each time: a report's savepoint is released (or rolled back
      // to and released) before the next one is set.
      RETURN_IF_ERROR(s.Execute("SAVEPOINT report", {}).status());
      absl::StatusOr<v1::SubmitReportResponse> written =
          WriteOnceIn<v1::SubmitReportResponse>(s, request.request_id(), request, sender,
                                                [&](sql::Session& session, ChangeWriter& changes) {
                                                  return WriteReport(session, changes, request);
                                                });
      if (!written.ok()) {
        // Undoes the report's claim of its request_id and any row it wrote (on PostgreSQL
        // also ends the aborted state a failed statement leaves); the earlier reports stay.
        RETURN_IF_ERROR(s.Execute("ROLLBACK TO SAVEPOINT report", {}).status());
      }
      RETURN_IF_ERROR(s.Execute("RELEASE SAVEPOINT report", {}).status());
      return written;
    };
    return fill(submit);
  });
}

template absl::StatusOr<v1::SubmitReportResponse> IngestionStore::WriteOnce(
    const std::string&, const google::protobuf::Message&, const Sender&,
    const std::function<absl::StatusOr<v1::SubmitReportResponse>(sql::Session&, ChangeWriter&)>&);
template absl::StatusOr<v1::ImportCrosswalkResponse> IngestionStore::WriteOnce(
    const std::string&, const google::protobuf::Message&, const Sender&,
    const std::function<absl::StatusOr<v1::ImportCrosswalkResponse>(sql::Session&,
                                                                    ChangeWriter&)>&);
template absl::StatusOr<v1::ImportAdminUnitsResponse> IngestionStore::WriteOnce(
    const std::string&, const google::protobuf::Message&, const Sender&,
    const std::function<absl::StatusOr<v1::ImportAdminUnitsResponse>(sql::Session&,
                                                                     ChangeWriter&)>&);

absl::StatusOr<int64_t> IngestionStore::ChangeHead() {
  int64_t head = 0;
  RETURN_IF_ERROR(db_->Read([&](sql::Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(head, ReadChangeHead(s));
    return absl::OkStatus();
  }));
  return head;
}

absl::StatusOr<v1::ListChangesResponse> IngestionStore::ListChanges(int64_t after_seq,
                                                                    int page_size) {
  v1::ListChangesResponse response;
  RETURN_IF_ERROR(db_->Read([&](sql::Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(response, ReadChanges(s, after_seq, page_size));
    return absl::OkStatus();
  }));
  return response;
}

}  // namespace covtrack::ingestion
