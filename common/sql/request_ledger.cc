#include "common/sql/request_ledger.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "common/text.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace covtrack::sql {

std::string RequestFingerprint(absl::string_view content) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(content.data()), content.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string RequestFingerprint(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  return RequestFingerprint(bytes);
}

RequestLedger::RequestLedger(absl::string_view table, absl::string_view fingerprint_column)
    : claim_sql_(
          absl::StrCat("INSERT INTO ", table, " (request_id, ", fingerprint_column,
                       ", response) VALUES ($1, $2, '') ON CONFLICT (request_id) DO NOTHING")),
      select_sql_(absl::StrCat("SELECT ", fingerprint_column, ", response FROM ", table,
                               " WHERE request_id = $1")),
      record_sql_(absl::StrCat("UPDATE ", table, " SET response = $2 WHERE request_id = $1")) {}

absl::StatusOr<std::optional<std::string>> RequestLedger::Stored(
    sql::Session& session, absl::string_view request_id, absl::string_view fingerprint) const {
  ASSIGN_OR_RETURN(std::vector<Row> rows, session.Query(select_sql_, {std::string(request_id)}));
  if (rows.empty()) {
    return std::nullopt;
  }
  if (rows[0].Text(0) != fingerprint) {
    return absl::AlreadyExistsError(
        absl::StrCat("request_id ", QuoteInput(request_id),
                     " was already used for a different request; choose a new request_id"));
  }
  std::string response;
  if (!absl::Base64Unescape(rows[0].Text(1), &response)) {
    return absl::InternalError(
        absl::StrCat("the stored answer of request_id ", QuoteInput(request_id), " is corrupt"));
  }
  return response;
}

absl::StatusOr<RequestLedger::Answer> RequestLedger::WriteOnce(
    sql::Session& session, absl::string_view request_id, absl::string_view fingerprint,
    const std::function<absl::StatusOr<std::string>()>& write) const {
  // Claim the id first: on PostgreSQL a concurrent writer of the same id waits here until the
  // first one commits (and then finds its row) or rolls back (and then claims it).
  ASSIGN_OR_RETURN(int64_t claimed, session.Execute(claim_sql_, {std::string(request_id),
                                                                 std::string(fingerprint)}));
  if (claimed == 0) {
    ASSIGN_OR_RETURN(std::optional<std::string> stored, Stored(session, request_id, fingerprint));
    if (!stored.has_value()) {
      return absl::InternalError(
          absl::StrCat("request_id ", QuoteInput(request_id), " is neither new nor recorded"));
    }
    return Answer{*std::move(stored), true};
  }
  ASSIGN_OR_RETURN(std::string response, write());
  RETURN_IF_ERROR(
      session.Execute(record_sql_, {std::string(request_id), absl::Base64Escape(response)})
          .status());
  return Answer{std::move(response), false};
}

absl::StatusOr<std::optional<std::string>> RequestLedger::Find(
    sql::Session& session, absl::string_view request_id, absl::string_view fingerprint) const {
  return Stored(session, request_id, fingerprint);
}

}  // namespace covtrack::sql
