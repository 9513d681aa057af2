#include "services/targets/target_store.h"

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sql/request_ledger.h"
#include "common/status/status.h"
#include "common/text.h"
#include "common/time/timestamp.h"

namespace covtrack::targets {
namespace {

// value is kept as text with 17 significant digits, which round-trips every double exactly
// (the store layer's PostgreSQL binding of doubles keeps fewer digits).
const std::vector<sql::Migration>& Migrations() {
  static const auto* migrations = new std::vector<sql::Migration>{
      {1,
       "CREATE TABLE target_revisions ("
       "  unit_code TEXT NOT NULL,"
       "  scheme INTEGER NOT NULL,"
       "  year INTEGER NOT NULL,"
       "  revision INTEGER NOT NULL,"
       "  kind INTEGER NOT NULL,"
       "  value TEXT NOT NULL,"
       "  basis INTEGER NOT NULL,"
       "  assigned_by TEXT NOT NULL,"
       "  decision_ref TEXT NOT NULL,"
       "  update_time_micros BIGINT NOT NULL,"
       "  PRIMARY KEY (unit_code, year, scheme, revision));"
       // The current revision of each (unit, scheme, year). Bumping it with an upsert takes a
       // row lock on PostgreSQL, so concurrent writers of one target get distinct revisions.
       "CREATE TABLE target_heads ("
       "  unit_code TEXT NOT NULL,"
       "  scheme INTEGER NOT NULL,"
       "  year INTEGER NOT NULL,"
       "  revision INTEGER NOT NULL,"
       "  PRIMARY KEY (unit_code, year, scheme));"
       // request_id -> what was asked and what was answered (base64 of serialized protos).
       "CREATE TABLE target_requests ("
       "  request_id TEXT PRIMARY KEY,"
       "  content TEXT NOT NULL,"
       "  response TEXT NOT NULL);"},
      // target_requests becomes a common/sql/request_ledger.h table (its fingerprint column
      // keeps the name content), whose fingerprint is the SHA-256 of the content. The rows
      // stored before kept the content itself (base64); they are marked here and fingerprinted
      // by FingerprintLegacyRequests when the store opens.
      {2, "UPDATE target_requests SET content = 'legacy-content:' || content;"},
      // Target.unit_as_of joins the identity of a target: (unit_code, unit_as_of, scheme, year).
      // A primary key cannot be altered in SQLite, so both tables are copied into new ones; the
      // rows stored before get "" (the year's holder of the code), so nothing changes for them.
      {3,
       "CREATE TABLE target_revisions_3 ("
       "  unit_code TEXT NOT NULL,"
       "  unit_as_of TEXT NOT NULL,"
       "  scheme INTEGER NOT NULL,"
       "  year INTEGER NOT NULL,"
       "  revision INTEGER NOT NULL,"
       "  kind INTEGER NOT NULL,"
       "  value TEXT NOT NULL,"
       "  basis INTEGER NOT NULL,"
       "  assigned_by TEXT NOT NULL,"
       "  decision_ref TEXT NOT NULL,"
       "  update_time_micros BIGINT NOT NULL,"
       "  PRIMARY KEY (unit_code, unit_as_of, year, scheme, revision));"
       "INSERT INTO target_revisions_3 (unit_code, unit_as_of, scheme, year, revision, kind, "
       "  value, basis, assigned_by, decision_ref, update_time_micros) "
       "SELECT unit_code, '', scheme, year, revision, kind, value, basis, assigned_by, "
       "  decision_ref, update_time_micros FROM target_revisions;"
       "DROP TABLE target_revisions;"
       "ALTER TABLE target_revisions_3 RENAME TO target_revisions;"
       "CREATE TABLE target_heads_3 ("
       "  unit_code TEXT NOT NULL,"
       "  unit_as_of TEXT NOT NULL,"
       "  scheme INTEGER NOT NULL,"
       "  year INTEGER NOT NULL,"
       "  revision INTEGER NOT NULL,"
       "  PRIMARY KEY (unit_code, unit_as_of, year, scheme));"
       "INSERT INTO target_heads_3 (unit_code, unit_as_of, scheme, year, revision) "
       "SELECT unit_code, '', scheme, year, revision FROM target_heads;"
       "DROP TABLE target_heads;"
       "ALTER TABLE target_heads_3 RENAME TO target_heads;"},
      // Target.measure and Target.payer_group join the identity of a target (issue 11): (unit_code,
      // unit_as_of, measure, scheme, payer_group, year). Copied as migration 3 did; every target
      // stored before is a participants target (measure 0: participants are kept as
      // MEASURE_UNSPECIFIED, NormalizeTarget) without a payer group (0), so each keeps its
      // meaning, its answers and its revisions.
      {4,
       "CREATE TABLE target_revisions_4 ("
       "  unit_code TEXT NOT NULL,"
       "  unit_as_of TEXT NOT NULL,"
       "  measure INTEGER NOT NULL,"
       "  scheme INTEGER NOT NULL,"
       "  payer_group INTEGER NOT NULL,"
       "  year INTEGER NOT NULL,"
       "  revision INTEGER NOT NULL,"
       "  kind INTEGER NOT NULL,"
       "  value TEXT NOT NULL,"
       "  basis INTEGER NOT NULL,"
       "  assigned_by TEXT NOT NULL,"
       "  decision_ref TEXT NOT NULL,"
       "  update_time_micros BIGINT NOT NULL,"
       "  PRIMARY KEY (unit_code, unit_as_of, year, measure, scheme, payer_group, revision));"
       "INSERT INTO target_revisions_4 (unit_code, unit_as_of, measure, scheme, payer_group, "
       "  year, revision, kind, value, basis, assigned_by, decision_ref, update_time_micros) "
       "SELECT unit_code, unit_as_of, 0, scheme, 0, year, revision, kind, value, basis, "
       "  assigned_by, decision_ref, update_time_micros FROM target_revisions;"
       "DROP TABLE target_revisions;"
       "ALTER TABLE target_revisions_4 RENAME TO target_revisions;"
       "CREATE TABLE target_heads_4 ("
       "  unit_code TEXT NOT NULL,"
       "  unit_as_of TEXT NOT NULL,"
       "  measure INTEGER NOT NULL,"
       "  scheme INTEGER NOT NULL,"
       "  payer_group INTEGER NOT NULL,"
       "  year INTEGER NOT NULL,"
       "  revision INTEGER NOT NULL,"
       "  PRIMARY KEY (unit_code, unit_as_of, year, measure, scheme, payer_group));"
       "INSERT INTO target_heads_4 (unit_code, unit_as_of, measure, scheme, payer_group, year, "
       "  revision) "
       "SELECT unit_code, unit_as_of, 0, scheme, 0, year, revision FROM target_heads;"
       "DROP TABLE target_heads;"
       "ALTER TABLE target_heads_4 RENAME TO target_heads;"},
  };
  return *migrations;
}

constexpr absl::string_view kColumns =
    "r.unit_code, r.scheme, r.year, r.revision, r.kind, r.value, r.basis, r.assigned_by, "
    "r.decision_ref, r.update_time_micros, r.unit_as_of, r.measure, r.payer_group";

v1::Target TargetFromRow(const sql::Row& row) {
  v1::Target t;
  t.set_unit_code(row.Text(0));
  t.set_scheme(static_cast<v1::Scheme>(row.Int(1)));
  t.set_year(static_cast<int32_t>(row.Int(2)));
  t.set_revision(static_cast<int32_t>(row.Int(3)));
  t.set_kind(static_cast<v1::TargetKind>(row.Int(4)));
  t.set_value(std::strtod(row.Text(5).c_str(), nullptr));
  t.set_basis(static_cast<v1::TargetBasis>(row.Int(6)));
  t.set_assigned_by(row.Text(7));
  t.set_decision_ref(row.Text(8));
  *t.mutable_update_time() = ToProtoTimestamp(absl::FromUnixMicros(row.Int(9)));
  t.set_unit_as_of(row.Text(10));
  t.set_measure(static_cast<v1::Measure>(row.Int(11)));
  t.set_payer_group(static_cast<v1::PayerGroup>(row.Int(12)));
  return t;
}

// The rows migration 2 marked: their base64 content becomes the content's fingerprint, so a
// retry of a request answered before the ledger was shared is still recognised.
absl::Status FingerprintLegacyRequests(sql::Database& db) {
  constexpr absl::string_view kMark = "legacy-content:";
  return db.Write([&](sql::Session& session) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<sql::Row> rows,
                     session.Query("SELECT request_id, content FROM target_requests "
                                   "WHERE content LIKE 'legacy-content:%'",
                                   {}));
    for (const sql::Row& row : rows) {
      std::string content;
      if (!absl::Base64Unescape(row.Text(1).substr(kMark.size()), &content)) {
        return absl::InternalError(
            absl::StrCat("target_requests: the stored content of request_id ",
                         QuoteInput(row.Text(0)), " is corrupt"));
      }
      RETURN_IF_ERROR(session
                          .Execute("UPDATE target_requests SET content = $2 WHERE request_id = $1",
                                   {row.Text(0), sql::RequestFingerprint(content)})
                          .status());
    }
    return absl::OkStatus();
  });
}

// The migrations, then the rows migration 2 left for code to finish.
absl::Status MigrateStore(sql::Database& db, sql::MigrationReport* report) {
  RETURN_IF_ERROR(db.Migrate("targets", Migrations(), report));
  return FingerprintLegacyRequests(db);
}

}  // namespace

absl::StatusOr<sql::MigrationReport> TargetStore::Migrate(absl::string_view url) {
  ASSIGN_OR_RETURN(std::unique_ptr<sql::Database> db, sql::Database::Open(url));
  sql::MigrationReport report;
  RETURN_IF_ERROR(MigrateStore(*db, &report));
  return report;
}

absl::StatusOr<std::unique_ptr<TargetStore>> TargetStore::Open(absl::string_view url,
                                                               std::function<absl::Time()> clock) {
  absl::StatusOr<std::unique_ptr<sql::Database>> db = sql::Database::Open(url);
  if (!db.ok()) {
    return db.status();
  }
  RETURN_IF_ERROR(MigrateStore(**db, nullptr));
  if (!clock) {
    clock = absl::Now;
  }
  return std::unique_ptr<TargetStore>(new TargetStore(std::move(*db), std::move(clock)));
}

absl::StatusOr<TargetStore::WriteResult> TargetStore::WriteOnce(
    absl::string_view request_id, absl::string_view content,
    const std::function<absl::StatusOr<std::string>(sql::Session&)>& write) {
  const std::string fingerprint = sql::RequestFingerprint(content);
  WriteResult result;
  RETURN_IF_ERROR(db_->Write([&](sql::Session& session) -> absl::Status {
    ASSIGN_OR_RETURN(
        sql::RequestLedger::Answer answer,
        ledger_.WriteOnce(session, request_id, fingerprint, [&] { return write(session); }));
    result = WriteResult{std::move(answer.response), answer.replayed};
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::optional<std::string>> TargetStore::FindResponse(absl::string_view request_id,
                                                                     absl::string_view content) {
  const std::string fingerprint = sql::RequestFingerprint(content);
  std::optional<std::string> found;
  RETURN_IF_ERROR(db_->Read([&](sql::Session& session) -> absl::Status {
    ASSIGN_OR_RETURN(found, ledger_.Find(session, request_id, fingerprint));
    return absl::OkStatus();
  }));
  return found;
}

absl::StatusOr<v1::Target> TargetStore::InsertRevision(sql::Session& session, v1::Target target) {
  const sql::Params key = {target.unit_code(),
                           static_cast<int64_t>(target.scheme()),
                           static_cast<int64_t>(target.year()),
                           target.unit_as_of(),
                           static_cast<int64_t>(target.measure()),
                           static_cast<int64_t>(target.payer_group())};
  absl::StatusOr<std::vector<sql::Row>> head = session.Query(
      "INSERT INTO target_heads (unit_code, scheme, year, unit_as_of, measure, payer_group, "
      "revision) VALUES ($1, $2, $3, $4, $5, $6, 1) "
      "ON CONFLICT (unit_code, unit_as_of, year, measure, scheme, payer_group) "
      "DO UPDATE SET revision = target_heads.revision + 1 "
      "RETURNING revision",
      key);
  if (!head.ok()) {
    return head.status();
  }
  if (head->size() != 1) {
    return absl::InternalError("target_heads upsert returned no revision");
  }
  target.set_revision(static_cast<int32_t>((*head)[0].Int(0)));
  // Kept in microseconds: the answer says what a later read will.
  const int64_t micros = absl::ToUnixMicros(clock_());
  *target.mutable_update_time() = ToProtoTimestamp(absl::FromUnixMicros(micros));
  absl::StatusOr<int64_t> inserted = session.Execute(
      "INSERT INTO target_revisions (unit_code, scheme, year, revision, kind, value, basis, "
      "assigned_by, decision_ref, update_time_micros, unit_as_of, measure, payer_group) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
      {target.unit_code(), static_cast<int64_t>(target.scheme()),
       static_cast<int64_t>(target.year()), static_cast<int64_t>(target.revision()),
       static_cast<int64_t>(target.kind()), absl::StrFormat("%.17g", target.value()),
       static_cast<int64_t>(target.basis()), target.assigned_by(), target.decision_ref(), micros,
       target.unit_as_of(), static_cast<int64_t>(target.measure()),
       static_cast<int64_t>(target.payer_group())});
  if (!inserted.ok()) {
    return inserted.status();
  }
  return target;
}

absl::StatusOr<std::vector<v1::Target>> TargetStore::List(const TargetQuery& query) {
  // One statement for every filter combination (so it is prepared once): an empty filter
  // matches everything.
  // Keyset paging compares the whole key as one row value (SQLite and PostgreSQL compare them
  // in order, as ORDER BY does).
  std::string sql = absl::StrCat(
      "SELECT ", kColumns,
      " FROM target_revisions r JOIN target_heads h ON h.unit_code = r.unit_code"
      " AND h.unit_as_of = r.unit_as_of AND h.measure = r.measure AND h.scheme = r.scheme"
      " AND h.payer_group = r.payer_group AND h.year = r.year"
      " WHERE ($1 = '' OR r.unit_code = $1)"
      " AND (CAST($2 AS INTEGER) = 0 OR r.year = CAST($2 AS INTEGER))"
      " AND (CAST($3 AS INTEGER) = 0 OR r.scheme = CAST($3 AS INTEGER))"
      " AND (CAST($4 AS INTEGER) = 1 OR r.revision = h.revision)"
      " AND (CAST($11 AS INTEGER) < 0 OR r.measure = CAST($11 AS INTEGER))"
      " AND (CAST($5 AS INTEGER) = 0 OR (r.unit_code, r.year, r.measure, r.scheme,"
      "   r.payer_group, r.unit_as_of, r.revision) > ($6, CAST($7 AS INTEGER),"
      "   CAST($12 AS INTEGER), CAST($8 AS INTEGER), CAST($13 AS INTEGER), $10,"
      "   CAST($9 AS INTEGER)))"
      " ORDER BY r.unit_code, r.year, r.measure, r.scheme, r.payer_group, r.unit_as_of,"
      " r.revision");
  if (query.limit > 0) {
    absl::StrAppend(&sql, " LIMIT ", query.limit);
  }
  const TargetKey* after = query.after.has_value() ? &*query.after : nullptr;
  sql::Params params = {query.unit_code,
                        static_cast<int64_t>(query.year),
                        static_cast<int64_t>(query.scheme),
                        static_cast<int64_t>(query.include_revisions ? 1 : 0),
                        static_cast<int64_t>(after != nullptr ? 1 : 0),
                        after != nullptr ? after->unit_code : std::string(),
                        static_cast<int64_t>(after != nullptr ? after->year : 0),
                        static_cast<int64_t>(after != nullptr ? after->scheme : 0),
                        static_cast<int64_t>(after != nullptr ? after->revision : 0),
                        after != nullptr ? after->unit_as_of : std::string(),
                        static_cast<int64_t>(query.measure.has_value() ? *query.measure : -1),
                        static_cast<int64_t>(after != nullptr ? after->measure : 0),
                        static_cast<int64_t>(after != nullptr ? after->payer_group : 0)};
  std::vector<v1::Target> targets;
  absl::Status status = db_->Read([&](sql::Session& session) -> absl::Status {
    absl::StatusOr<std::vector<sql::Row>> rows = session.Query(sql, params);
    if (!rows.ok()) {
      return rows.status();
    }
    for (const sql::Row& row : *rows) {
      targets.push_back(TargetFromRow(row));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return targets;
}

absl::StatusOr<std::vector<v1::Target>> TargetStore::CurrentTargets(
    absl::string_view unit_code, int year, std::optional<v1::Measure> measure) {
  TargetQuery query;
  query.measure = measure;
  query.unit_code = std::string(unit_code);
  query.year = year;
  return List(query);
}

}  // namespace covtrack::targets
