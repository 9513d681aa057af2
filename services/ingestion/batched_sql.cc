#include "services/ingestion/batched_sql.h"

#include "absl/strings/str_cat.h"
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

absl::StatusOr<std::vector<sql::Row>> InsertInBatches(sql::Session& session, absl::string_view head,
                                                      absl::string_view tail, size_t columns,
                                                      const sql::Params& values) {
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
    const sql::Params params(values.begin() + done * columns,
                             values.begin() + (done + rows) * columns);
    ASSIGN_OR_RETURN(
        std::vector<sql::Row> batch,
        session.Query(absl::StrCat(head, " VALUES ", Placeholders(rows, columns), tail), params));
    returned.insert(returned.end(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
    done += rows;
  }
  return returned;
}

}  // namespace covtrack::ingestion
