#pragma once

// How an administrative unit version is kept in the admin_units table (schema.h) and read
// back: the only code that knows the stored form of an open valid_to.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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
// Codes per ReadVersionsOf query. Every query has exactly this many parameters (the last code
// repeated), so that one prepared statement serves them all.
inline constexpr size_t kCodesPerLookup = 256;

// The bounds (code, valid_from and valid_to alone) of every stored version, by code: what the
// checks of a report read (unit_calendar.h, ValidateReportUnits), kept from one write
// transaction to the next while the catalogue stays as it was. Each Get reads the catalogue's
// last change (the greatest admin_units.change_seq, one probe of the index migration 6 adds)
// and reads every bound again only when it moved: a unit written anywhere, by this process or
// another on the same database, writes a greater change_seq (units are never deleted). Before,
// each report read its codes' versions (a national month: ~10,000 codes in 40 queries, about a
// tenth of the transaction; a report of one commune: a statement of 256 parameters).
//
// Get must run inside a write transaction that holds the writers' lock and has written no unit
// itself: what it reads then is committed, and only a unit's write (under that lock) moves it.
// A transaction that wrote units and then rolled back would otherwise leave bounds that were
// never committed under a change_seq the next write reuses. Reports write no units, so
// SubmitReport and StreamReports' groups qualify.
class UnitBoundsCache {
 public:
  absl::StatusOr<std::shared_ptr<const VersionsByCode>> Get(sql::Session& session);

 private:
  absl::Mutex mu_;
  int64_t last_change_ ABSL_GUARDED_BY(mu_) = -1;  // -1: nothing read yet
  std::shared_ptr<const VersionsByCode> bounds_ ABSL_GUARDED_BY(mu_);
};

// Every version whose parent_code is `code`, ordered by code and valid_from.
absl::StatusOr<std::vector<v1::AdminUnit>> ReadChildVersions(sql::Session& session,
                                                             const std::string& code);

}  // namespace covtrack::ingestion
