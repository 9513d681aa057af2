#pragma once

// Multi-row statements over many rows: a write of a national month (~40,000 records) or of a
// reform map (~10,000 links) costs a statement per batch of rows, not a round trip per row.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sql/database.h"

namespace covtrack::ingestion {

// Rows per multi-row statement, at most: batches are powers of two up to this, so that a
// handful of prepared statements serve any number of rows. PostgreSQL makes a round trip per
// statement, so more rows help it; SQLite gains too now that its store finds each parameter's
// index once per prepared statement (at 128 rows the per-call lookup by name had cost it two
// thirds of its speed).
inline constexpr size_t kMaxRowsPerInsert = 128;

// "($1, $2, $3), ($4, $5, $6)" for `rows` rows of `columns` parameters.
std::string Placeholders(size_t rows, size_t columns);

// Runs "<head> VALUES (...), (...) <tail>" over `values`, rows of `columns` values one after
// the other, in batches; returns the rows the statements return (a RETURNING tail), in no
// particular order.
absl::StatusOr<std::vector<sql::Row>> InsertInBatches(sql::Session& session, absl::string_view head,
                                                      absl::string_view tail, size_t columns,
                                                      const sql::Params& values);
// The same, moving each batch's values out of `values` instead of copying them.
absl::StatusOr<std::vector<sql::Row>> InsertInBatches(sql::Session& session, absl::string_view head,
                                                      absl::string_view tail, size_t columns,
                                                      sql::Params&& values);

}  // namespace covtrack::ingestion
