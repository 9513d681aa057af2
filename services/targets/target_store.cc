#include "services/targets/target_store.h"

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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
  };
  return *migrations;
}

constexpr absl::string_view kColumns =
    "r.unit_code, r.scheme, r.year, r.revision, r.kind, r.value, r.basis, r.assigned_by, "
    "r.decision_ref, r.update_time_micros";

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
  const int64_t micros = row.Int(9);
  t.mutable_update_time()->set_seconds(micros / 1000000);
  t.mutable_update_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  return t;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TargetStore>> TargetStore::Open(absl::string_view url,
                                                               std::function<absl::Time()> clock) {
  absl::StatusOr<std::unique_ptr<sql::Database>> db = sql::Database::Open(url);
  if (!db.ok()) {
    return db.status();
  }
  if (absl::Status s = (*db)->Migrate("targets", Migrations()); !s.ok()) {
    return s;
  }
  if (!clock) {
    clock = absl::Now;
  }
  return std::unique_ptr<TargetStore>(new TargetStore(std::move(*db), std::move(clock)));
}

absl::StatusOr<TargetStore::WriteResult> TargetStore::WriteOnce(
    absl::string_view request_id, absl::string_view content,
    const std::function<absl::StatusOr<std::string>(sql::Session&)>& write) {
  const std::string encoded_content = absl::Base64Escape(content);
  WriteResult result;
  absl::Status status = db_->Write([&](sql::Session& session) -> absl::Status {
    result = WriteResult{};
    // Claim the id first: on PostgreSQL a concurrent writer of the same id waits here until
    // the first one commits or rolls back.
    absl::StatusOr<int64_t> claimed = session.Execute(
        "INSERT INTO target_requests (request_id, content, response) VALUES ($1, $2, '') "
        "ON CONFLICT (request_id) DO NOTHING",
        {std::string(request_id), encoded_content});
    if (!claimed.ok()) {
      return claimed.status();
    }
    if (*claimed == 0) {
      absl::StatusOr<std::vector<sql::Row>> rows =
          session.Query("SELECT content, response FROM target_requests WHERE request_id = $1",
                        {std::string(request_id)});
      if (!rows.ok()) {
        return rows.status();
      }
      if (rows->empty() || (*rows)[0].Text(0) != encoded_content) {
        return absl::AlreadyExistsError(
            absl::StrCat("request_id \"", request_id,
                         "\" was already used for a different request; choose a new request_id"));
      }
      std::string response;
      if (!absl::Base64Unescape((*rows)[0].Text(1), &response)) {
        return absl::InternalError(
            absl::StrCat("stored response of request_id \"", request_id, "\" is corrupt"));
      }
      result.response = std::move(response);
      result.replayed = true;
      return absl::OkStatus();
    }
    absl::StatusOr<std::string> response = write(session);
    if (!response.ok()) {
      return response.status();
    }
    absl::StatusOr<int64_t> updated =
        session.Execute("UPDATE target_requests SET response = $2 WHERE request_id = $1",
                        {std::string(request_id), absl::Base64Escape(*response)});
    if (!updated.ok()) {
      return updated.status();
    }
    result.response = std::move(*response);
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return result;
}

absl::StatusOr<std::optional<std::string>> TargetStore::FindResponse(absl::string_view request_id,
                                                                     absl::string_view content) {
  std::optional<std::string> found;
  absl::Status status = db_->Read([&](sql::Session& session) -> absl::Status {
    absl::StatusOr<std::vector<sql::Row>> rows =
        session.Query("SELECT content, response FROM target_requests WHERE request_id = $1",
                      {std::string(request_id)});
    if (!rows.ok()) {
      return rows.status();
    }
    if (rows->empty()) {
      return absl::OkStatus();
    }
    if ((*rows)[0].Text(0) != absl::Base64Escape(content)) {
      return absl::AlreadyExistsError(
          absl::StrCat("request_id \"", request_id,
                       "\" was already used for a different request; choose a new request_id"));
    }
    std::string response;
    if (!absl::Base64Unescape((*rows)[0].Text(1), &response)) {
      return absl::InternalError(
          absl::StrCat("stored response of request_id \"", request_id, "\" is corrupt"));
    }
    found = std::move(response);
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return found;
}

absl::StatusOr<v1::Target> TargetStore::InsertRevision(sql::Session& session, v1::Target target) {
  const sql::Params key = {target.unit_code(), static_cast<int64_t>(target.scheme()),
                           static_cast<int64_t>(target.year())};
  absl::StatusOr<std::vector<sql::Row>> head = session.Query(
      "INSERT INTO target_heads (unit_code, scheme, year, revision) VALUES ($1, $2, $3, 1) "
      "ON CONFLICT (unit_code, year, scheme) DO UPDATE SET revision = target_heads.revision + 1 "
      "RETURNING revision",
      key);
  if (!head.ok()) {
    return head.status();
  }
  if (head->size() != 1) {
    return absl::InternalError("target_heads upsert returned no revision");
  }
  target.set_revision(static_cast<int32_t>((*head)[0].Int(0)));
  const int64_t micros = absl::ToUnixMicros(clock_());
  target.mutable_update_time()->set_seconds(micros / 1000000);
  target.mutable_update_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  absl::StatusOr<int64_t> inserted = session.Execute(
      "INSERT INTO target_revisions (unit_code, scheme, year, revision, kind, value, basis, "
      "assigned_by, decision_ref, update_time_micros) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      {target.unit_code(), static_cast<int64_t>(target.scheme()),
       static_cast<int64_t>(target.year()), static_cast<int64_t>(target.revision()),
       static_cast<int64_t>(target.kind()), absl::StrFormat("%.17g", target.value()),
       static_cast<int64_t>(target.basis()), target.assigned_by(), target.decision_ref(), micros});
  if (!inserted.ok()) {
    return inserted.status();
  }
  return target;
}

absl::StatusOr<std::vector<v1::Target>> TargetStore::List(const TargetQuery& query) {
  // One statement for every filter combination (so it is prepared once): an empty filter
  // matches everything.
  std::string sql = absl::StrCat(
      "SELECT ", kColumns,
      " FROM target_revisions r JOIN target_heads h ON h.unit_code = r.unit_code"
      " AND h.scheme = r.scheme AND h.year = r.year"
      " WHERE ($1 = '' OR r.unit_code = $1)"
      " AND (CAST($2 AS INTEGER) = 0 OR r.year = CAST($2 AS INTEGER))"
      " AND (CAST($3 AS INTEGER) = 0 OR r.scheme = CAST($3 AS INTEGER))"
      " AND (CAST($4 AS INTEGER) = 1 OR r.revision = h.revision)"
      " AND (CAST($5 AS INTEGER) = 0 OR r.unit_code > $6"
      "   OR (r.unit_code = $6 AND (r.year > CAST($7 AS INTEGER)"
      "   OR (r.year = CAST($7 AS INTEGER) AND (r.scheme > CAST($8 AS INTEGER)"
      "   OR (r.scheme = CAST($8 AS INTEGER) AND r.revision > CAST($9 AS INTEGER)))))))"
      " ORDER BY r.unit_code, r.year, r.scheme, r.revision");
  if (query.limit > 0) {
    absl::StrAppend(&sql, " LIMIT ", query.limit);
  }
  sql::Params params = {query.unit_code,
                        static_cast<int64_t>(query.year),
                        static_cast<int64_t>(query.scheme),
                        static_cast<int64_t>(query.include_revisions ? 1 : 0),
                        static_cast<int64_t>(query.after.has_value() ? 1 : 0),
                        query.after.has_value() ? std::get<0>(*query.after) : std::string(),
                        static_cast<int64_t>(query.after ? std::get<1>(*query.after) : 0),
                        static_cast<int64_t>(query.after ? std::get<2>(*query.after) : 0),
                        static_cast<int64_t>(query.after ? std::get<3>(*query.after) : 0)};
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

absl::StatusOr<std::map<v1::Scheme, v1::Target>> TargetStore::CurrentTargets(
    absl::string_view unit_code, int year) {
  TargetQuery query;
  query.unit_code = std::string(unit_code);
  query.year = year;
  absl::StatusOr<std::vector<v1::Target>> targets = List(query);
  if (!targets.ok()) {
    return targets.status();
  }
  std::map<v1::Scheme, v1::Target> by_scheme;
  for (v1::Target& t : *targets) {
    by_scheme[t.scheme()] = std::move(t);
  }
  return by_scheme;
}

}  // namespace covtrack::targets
