#include "services/ingestion/admin_unit_table.h"

#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace covtrack::ingestion {

std::string StoredValidTo(const std::string& valid_to) {
  return valid_to.empty() ? kOpenEnd : valid_to;
}

v1::AdminUnit UnitFromRow(const sql::Row& r) {
  v1::AdminUnit u;
  u.set_code(r.Text(0));
  u.set_valid_from(r.Text(1));
  const std::string valid_to = r.Text(2);
  u.set_valid_to(valid_to == kOpenEnd ? "" : valid_to);
  u.set_name(r.Text(3));
  u.set_level(static_cast<v1::AdminLevel>(r.Int(4)));
  u.set_type(r.Text(5));
  u.set_parent_code(r.Text(6));
  return u;
}

namespace {
// The unit versions `condition` ($1 = code) selects, in `order`.
absl::StatusOr<std::vector<v1::AdminUnit>> ReadVersionsWhere(sql::Session& session,
                                                             absl::string_view condition,
                                                             absl::string_view order,
                                                             const std::string& code) {
  ASSIGN_OR_RETURN(std::vector<sql::Row> rows,
                   session.Query(absl::StrCat("SELECT ", kUnitColumns, " FROM admin_units WHERE ",
                                              condition, " ORDER BY ", order),
                                 {code}));
  std::vector<v1::AdminUnit> versions;
  versions.reserve(rows.size());
  for (const sql::Row& row : rows) {
    versions.push_back(UnitFromRow(row));
  }
  return versions;
}
}  // namespace

absl::StatusOr<std::vector<v1::AdminUnit>> ReadUnitVersions(sql::Session& session,
                                                            const std::string& code) {
  return ReadVersionsWhere(session, "code = $1", "valid_from", code);
}

absl::StatusOr<std::vector<v1::AdminUnit>> ReadChildVersions(sql::Session& session,
                                                             const std::string& code) {
  return ReadVersionsWhere(session, "parent_code = $1", "code, valid_from", code);
}

}  // namespace covtrack::ingestion
