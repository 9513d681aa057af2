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

absl::StatusOr<std::vector<v1::AdminUnit>> ReadUnitVersions(sql::Session& session,
                                                            const std::string& code) {
  ASSIGN_OR_RETURN(
      std::vector<sql::Row> rows,
      session.Query(absl::StrCat("SELECT ", kUnitColumns,
                                 " FROM admin_units WHERE code = $1 ORDER BY valid_from"),
                    {code}));
  std::vector<v1::AdminUnit> versions;
  versions.reserve(rows.size());
  for (const sql::Row& row : rows) {
    versions.push_back(UnitFromRow(row));
  }
  return versions;
}

absl::StatusOr<std::vector<v1::AdminUnit>> ReadChildVersions(sql::Session& session,
                                                             const std::string& code) {
  ASSIGN_OR_RETURN(std::vector<sql::Row> rows,
                   session.Query(absl::StrCat("SELECT ", kUnitColumns,
                                              " FROM admin_units WHERE parent_code = $1 "
                                              "ORDER BY code, valid_from"),
                                 {code}));
  std::vector<v1::AdminUnit> versions;
  versions.reserve(rows.size());
  for (const sql::Row& row : rows) {
    versions.push_back(UnitFromRow(row));
  }
  return versions;
}

}  // namespace covtrack::ingestion
