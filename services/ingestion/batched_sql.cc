#include "services/ingestion/batched_sql.h"

#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status/status.h"

namespace covtrack::ingestion {

std::string Placeholders(size_t rows, size_t columns) {
  std::string text;
  for (size_t r = 0; r < rows; ++r) {
    absl::StrAppend(&text, r == 0 ? "(" : ", (");
    for (size_t c = 0; c < columns; ++c) {
      absl::StrAppend(&text, c == 0 ? "$" : ", $", r * columns + c + 1);
    }
    absl::StrAppend(&text, ")");
  }
  return text;
}

namespace {

// Placeholders(rows, columns) for the batch sizes InsertInBatches uses, each written once per
// process: a national month's write had spelled out "$1, $2, ..." again for every batch (some
// 500,000 numbers a month, 4.5 ms of a SQLite transaction of ~150).
const std::string& CachedPlaceholders(size_t rows, size_t columns) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* texts ABSL_GUARDED_BY(mu) =
      new absl::flat_hash_map<std::pair<size_t, size_t>, std::unique_ptr<const std::string>>();
  absl::MutexLock lock(&mu);
  std::unique_ptr<const std::string>& text = (*texts)[{rows, columns}];
  if (text == nullptr) {
    text = std::make_unique<const std::string>(Placeholders(rows, columns));
  }
  return *text;  // never freed nor changed, so safe to read after the lock
}

// The batch of `rows` rows from `done` on: moved out of `values` when the caller gave them up
// (a copy of a national month's values had cost SQLite's transaction ~8 ms), else copied.
template <typename Values>
sql::Params Batch(Values&& values, size_t columns, size_t done, size_t rows) {
  auto begin = values.begin() + done * columns;
  auto end = values.begin() + (done + rows) * columns;
  if constexpr (std::is_rvalue_reference_v<Values&&> &&
                !std::is_const_v<std::remove_reference_t<Values>>) {
    return sql::Params(std::make_move_iterator(begin), std::make_move_iterator(end));
  } else {
    return sql::Params(begin, end);
  }
}

template <typename Values>
absl::StatusOr<std::vector<sql::Row>> InsertInBatchesOf(sql::Session& session,
                                                        absl::string_view head,
                                                        absl::string_view tail, size_t columns,
                                                        Values&& values) {
  if (columns == 0 || values.size() % columns != 0) {
    return absl::InternalError("a batched insert's values do not fill its rows");
  }
  const size_t total = values.size() / columns;
  std::vector<sql::Row> returned;
  size_t done = 0;
  while (done < total) {
    size_t rows = kMaxRowsPerInsert;
    while (rows > total - done) {
      rows /= 2;
    }
    // The whole of `values` when it is one batch, as it stands.
    const bool whole = done == 0 && rows == total;
    const sql::Params params =
        whole ? sql::Params() : Batch(std::forward<Values>(values), columns, done, rows);
    ASSIGN_OR_RETURN(
        std::vector<sql::Row> batch,
        session.Query(absl::StrCat(head, " VALUES ", CachedPlaceholders(rows, columns), tail),
                      whole ? values : params));
    returned.insert(returned.end(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
    done += rows;
  }
  return returned;
}

}  // namespace

absl::StatusOr<std::vector<sql::Row>> InsertInBatches(sql::Session& session, absl::string_view head,
                                                      absl::string_view tail, size_t columns,
                                                      const sql::Params& values) {
  return InsertInBatchesOf(session, head, tail, columns, values);
}

absl::StatusOr<std::vector<sql::Row>> InsertInBatches(sql::Session& session, absl::string_view head,
                                                      absl::string_view tail, size_t columns,
                                                      sql::Params&& values) {
  return InsertInBatchesOf(session, head, tail, columns, std::move(values));
}

}  // namespace covtrack::ingestion
