#pragma once

// The target service's own store, over common/sql (SQLite or PostgreSQL). Every target is kept
// as a revision of its (unit_code, unit_as_of, measure, scheme, payer_group, year); the highest
// revision is the current one. Writes are idempotent by request_id (common/sql/request_ledger.h).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sql/database.h"
#include "common/sql/request_ledger.h"
#include "covtrack/v1/target_service.pb.h"

namespace covtrack::targets {

// A target's place in the store's order: (unit_code, year, measure, scheme, payer_group,
// unit_as_of, revision).
struct TargetKey {
  std::string unit_code;
  int year = 0;
  int measure = 0;
  int scheme = 0;
  int payer_group = 0;
  std::string unit_as_of;
  int revision = 0;
};

struct TargetQuery {
  std::string unit_code;  // empty: every unit
  int year = 0;           // 0: every year
  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED;
  // Only targets on this measure; participants targets are stored with MEASURE_UNSPECIFIED (the
  // default, which keeps every reader of participants targets to them). nullopt: every measure.
  std::optional<v1::Measure> measure = v1::MEASURE_UNSPECIFIED;
  bool include_revisions = false;
  // Keyset paging: targets strictly after this key, in the store's order.
  std::optional<TargetKey> after;
  int limit = 0;  // 0: no limit
};

class TargetStore {
 public:
  // Opens the store at `url` and applies the "targets" migrations.
  static absl::StatusOr<std::unique_ptr<TargetStore>> Open(absl::string_view url,
                                                           std::function<absl::Time()> clock);

  // Only applies the "targets" migrations to the store at `url` (--migrate_only) and says what
  // it did. FAILED_PRECONDITION when the store's schema is newer than this binary knows.
  static absl::StatusOr<sql::MigrationReport> Migrate(absl::string_view url);

  // The result of an idempotent write: the response it produced (a serialized proto), first
  // time or replayed.
  struct WriteResult {
    std::string response;
    bool replayed = false;
  };

  // Runs `write` in one transaction unless `request_id` was seen before. `content` is what the
  // request asked for (e.g. a serialized request without its id): a retry with the same content
  // returns the stored response, a different content is ALREADY_EXISTS.
  absl::StatusOr<WriteResult> WriteOnce(
      absl::string_view request_id, absl::string_view content,
      const std::function<absl::StatusOr<std::string>(sql::Session&)>& write);

  // The stored response of an earlier request with this id and content; nullopt when the id is
  // new; ALREADY_EXISTS when it was used for a different content. Lets a caller answer a retry
  // before doing work that needs other services.
  absl::StatusOr<std::optional<std::string>> FindResponse(absl::string_view request_id,
                                                          absl::string_view content);

  // Inside WriteOnce: stores `target` as the next revision of its (unit, scheme, year), with
  // update_time from the clock, and returns it as stored.
  absl::StatusOr<v1::Target> InsertRevision(sql::Session& session, v1::Target target);

  absl::StatusOr<std::vector<v1::Target>> List(const TargetQuery& query);

  // The current revision of every target on `measure` stored under one code for one year: each
  // scheme's (and payer group's), for each unit_as_of (the code's holder of the year, "", and
  // the units it named earlier). The default: participants; nullopt: every measure.
  absl::StatusOr<std::vector<v1::Target>> CurrentTargets(
      absl::string_view unit_code, int year,
      std::optional<v1::Measure> measure = v1::MEASURE_UNSPECIFIED);

 private:
  TargetStore(std::unique_ptr<sql::Database> db, std::function<absl::Time()> clock)
      : db_(std::move(db)), ledger_("target_requests", "content"), clock_(std::move(clock)) {}

  std::unique_ptr<sql::Database> db_;
  sql::RequestLedger ledger_;
  std::function<absl::Time()> clock_;
};

}  // namespace covtrack::targets
