#pragma once

// The request-id ledger every service that writes shares: a write carries a client-chosen
// request_id so that a retry never counts twice. For each id the ledger keeps a fingerprint of
// what the request asked for and the answer it got, both written in the writer's own
// transaction, so that
// - a retry of the same request gets the stored answer back (and writes nothing),
// - the same id with a different request is ALREADY_EXISTS,
// - a write that fails rolls its claim back with everything else, and the id stays free.
// On PostgreSQL two writers of the same id wait for each other at the claim; on SQLite writers
// are serialised anyway.

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sql/database.h"
#include "google/protobuf/message.h"

namespace covtrack::sql {

// What identifies a request's content: the SHA-256 (lower-case hex) of `content`.
std::string RequestFingerprint(absl::string_view content);
// Of a message's deterministic encoding (the same message always gives the same fingerprint).
std::string RequestFingerprint(const google::protobuf::Message& request);

class RequestLedger {
 public:
  // `table`: the component's ledger table, created by one of its migrations as
  //   CREATE TABLE <table> (request_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
  //                         response TEXT NOT NULL)
  // (response holds base64 of the answer's bytes: a PostgreSQL TEXT holds no NUL).
  // `fingerprint_column` names the fingerprint's column where a table older than this library
  // calls it otherwise: renaming it would break the writes of replicas still running the
  // previous release during a rolling upgrade.
  explicit RequestLedger(absl::string_view table,
                         absl::string_view fingerprint_column = "fingerprint");

  struct Answer {
    std::string response;   // the answer's bytes (e.g. a serialized response message)
    bool replayed = false;  // true: stored by an earlier request with this id
  };

  // Inside the writer's transaction: claims `request_id` and runs `write`, recording the
  // answer it returns; or, when the id was used before for the same fingerprint, returns the
  // stored answer without running `write`. ALREADY_EXISTS when the id was used for a
  // different fingerprint. An error from `write` is returned as is: the caller's transaction
  // then rolls back, the claim with it.
  absl::StatusOr<Answer> WriteOnce(sql::Session& session, absl::string_view request_id,
                                   absl::string_view fingerprint,
                                   const std::function<absl::StatusOr<std::string>()>& write) const;

  // The answer stored for `request_id` (in a read or a write): nullopt when the id is new;
  // ALREADY_EXISTS when it was used for a different fingerprint. Lets a caller answer a retry
  // before doing work that needs other services.
  absl::StatusOr<std::optional<std::string>> Find(sql::Session& session,
                                                  absl::string_view request_id,
                                                  absl::string_view fingerprint) const;

 private:
  // The stored answer of a row that exists, checked against `fingerprint`.
  absl::StatusOr<std::optional<std::string>> Stored(sql::Session& session,
                                                    absl::string_view request_id,
                                                    absl::string_view fingerprint) const;

  std::string claim_sql_;
  std::string select_sql_;
  std::string record_sql_;
};

}  // namespace covtrack::sql
