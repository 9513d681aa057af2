#include "services/ingestion/admin_unit_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace covtrack::ingestion {

std::string StoredValidTo(const std::string& valid_to) {
  return valid_to.empty() ? kOpenEnd : valid_to;
}

namespace {
// The version's code, valid_from and valid_to in the row's cells first .. first + 2 (the first
// three of kUnitColumns), the stored open end read back as "".
v1::AdminUnit BoundsFromRow(const sql::Row& r, size_t first = 0) {
  v1::AdminUnit u;
  u.set_code(r.Text(first));
  u.set_valid_from(r.Text(first + 1));
  const std::string valid_to = r.Text(first + 2);
  u.set_valid_to(valid_to == kOpenEnd ? "" : valid_to);
  return u;
}
}  // namespace

v1::AdminUnit UnitFromRow(const sql::Row& r, size_t first) {
  v1::AdminUnit u = BoundsFromRow(r, first);
  u.set_name(r.Text(first + 3));
  u.set_level(static_cast<v1::AdminLevel>(r.Int(first + 4)));
  u.set_type(r.Text(first + 5));
  u.set_parent_code(r.Text(first + 6));
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

absl::StatusOr<VersionsByCode> ReadVersionsOf(sql::Session& session,
                                              const std::vector<std::string>& codes) {
  VersionsByCode versions;
  std::string in;
  for (size_t k = 0; k < kCodesPerLookup; ++k) {
    absl::StrAppend(&in, k == 0 ? "$" : ", $", k + 1);
  }
  const std::string query =
      absl::StrCat("SELECT ", kUnitColumns, " FROM admin_units WHERE code IN (", in,
                   ") ORDER BY code, valid_from");
  for (size_t first = 0; first < codes.size(); first += kCodesPerLookup) {
    sql::Params params;
    params.reserve(kCodesPerLookup);
    for (size_t k = 0; k < kCodesPerLookup; ++k) {
      params.push_back(codes[std::min(first + k, codes.size() - 1)]);
    }
    ASSIGN_OR_RETURN(const std::vector<sql::Row> rows, session.Query(query, params));
    for (const sql::Row& row : rows) {
      v1::AdminUnit unit = UnitFromRow(row);
      versions[unit.code()].push_back(std::move(unit));
    }
  }
  return versions;
}

absl::StatusOr<std::shared_ptr<const VersionsByCode>> UnitBoundsCache::Get(sql::Session& session) {
  ASSIGN_OR_RETURN(const std::vector<sql::Row> last,
                   session.Query("SELECT MAX(change_seq) FROM admin_units", {}));
  // No unit stored yet reads as 0: a write's change_seq is at least 1.
  const int64_t last_change = last.empty() || last[0].IsNull(0) ? 0 : last[0].Int(0);
  absl::MutexLock lock(&mu_);
  if (bounds_ == nullptr || last_change != last_change_) {
    ASSIGN_OR_RETURN(const std::vector<sql::Row> rows,
                     session.Query("SELECT code, valid_from, valid_to FROM admin_units "
                                   "ORDER BY code, valid_from",
                                   {}));
    auto bounds = std::make_shared<VersionsByCode>();
    for (const sql::Row& row : rows) {
      v1::AdminUnit unit = BoundsFromRow(row);
      (*bounds)[unit.code()].push_back(std::move(unit));
    }
    bounds_ = std::move(bounds);
    last_change_ = last_change;
  }
  return bounds_;
}

}  // namespace covtrack::ingestion
