#pragma once

// How an administrative unit version is kept in the admin_units table (schema.h) and read
// back: the only code that knows the stored form of an open valid_to.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/sql/database.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::ingestion {

// The columns UnitFromRow reads, in its order.
inline constexpr char kUnitColumns[] = "code, valid_from, valid_to, name, level, type, parent_code";

// An open-ended valid_to is stored as this date, so that "valid on d" is valid_to > d.
inline constexpr char kOpenEnd[] = "9999-12-31";

std::string StoredValidTo(const std::string& valid_to);
// The unit in the row's cells first .. first + 6, in kUnitColumns' order.
v1::AdminUnit UnitFromRow(const sql::Row& row, size_t first = 0);

// Every version of `code`, ordered by valid_from; empty when no unit ever held it.
absl::StatusOr<std::vector<v1::AdminUnit>> ReadUnitVersions(sql::Session& session,
                                                            const std::string& code);
// Every version of each code, ordered by valid_from; a code no unit ever held may be absent.
using VersionsByCode = absl::flat_hash_map<std::string, std::vector<v1::AdminUnit>>;
// Every version of each of `codes`, in one query per kCodesPerLookup codes.
absl::StatusOr<VersionsByCode> ReadVersionsOf(sql::Session& session,
                                              const std::vector<std::string>& codes);
// The same with each version's code, valid_from and valid_to alone: what the checks of a report
// read (unit_calendar.h, ValidateReportUnits), without the other columns a national month's
// ~10,000 codes would otherwise carry into protos and drop.
absl::StatusOr<VersionsByCode> ReadBoundsOf(sql::Session& session,
                                            const std::vector<std::string>& codes);
// Codes per ReadVersionsOf and ReadBoundsOf query. Every query has exactly this many parameters
// (the last code repeated), so that one prepared statement serves them all.
inline constexpr size_t kCodesPerLookup = 256;

// Every version whose parent_code is `code`, ordered by code and valid_from.
absl::StatusOr<std::vector<v1::AdminUnit>> ReadChildVersions(sql::Session& session,
                                                             const std::string& code);

}  // namespace covtrack::ingestion
