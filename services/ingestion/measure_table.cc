#include "services/ingestion/measure_table.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/measures.h"
#include "common/status/status.h"
#include "common/time/timestamp.h"
#include "services/ingestion/batched_sql.h"
#include "services/ingestion/change_feed.h"

namespace covtrack::ingestion {
namespace {

// measure_values' columns, in the order the reads below select them.
constexpr char kColumns[] = "unit_code, month, measure, scheme, payer_group, value";

v1::MeasureRecord RecordFromRow(const sql::Row& row, size_t first) {
  v1::MeasureRecord m;
  m.set_unit_code(row.Text(first));
  m.set_month(row.Text(first + 1));
  m.set_measure(static_cast<v1::Measure>(row.Int(first + 2)));
  m.set_scheme(static_cast<v1::Scheme>(row.Int(first + 3)));
  m.set_payer_group(static_cast<v1::PayerGroup>(row.Int(first + 4)));
  m.set_value(row.Int(first + 5));
  return m;
}

// `query` over measure_values UNION ALL the same over measure_revisions (`{table}` in it):
// every value, current or overwritten since.
std::string LiveAndRevised(absl::string_view query, absl::string_view order) {
  return absl::StrCat(absl::StrReplaceAll(query, {{"{table}", "measure_values"}}), " UNION ALL ",
                      absl::StrReplaceAll(query, {{"{table}", "measure_revisions"}}), " ORDER BY ",
                      order);
}

MeasureKey HealthTotalKey(const std::string& unit, const std::string& month) {
  return {unit, month, v1::MEASURE_PARTICIPANTS, v1::SCHEME_HEALTH, v1::PAYER_GROUP_UNSPECIFIED};
}

// Whether `unit_months` holds r's (month, unit_code); an empty set answers without copying them.
bool Holds(const std::set<std::pair<std::string, std::string>>& unit_months,
           const v1::ParticipationRecord& r) {
  return !unit_months.empty() && unit_months.count({r.month(), r.unit_code()}) > 0;
}

// Sums again the sums of health_part_sums (schema.h, migration 7) of the unit-months of `rows`
// (unit_code, month; a unit-month may repeat) from their stored values, and marks the sums
// current through change `through`: the caller knows every other measure up to it is summed.
// Whichever way a value moved, the sum is its parts' as now stored. A unit-month with no part
// gets no row (its sum is 0); a part is never deleted.
absl::Status SumPartsAgain(sql::Session& s, const std::vector<sql::Row>& rows, int64_t through) {
  std::set<std::pair<std::string, std::string>> unit_months;
  for (const sql::Row& row : rows) {
    unit_months.emplace(row.Text(1), row.Text(0));
  }
  sql::Params sum_of;
  sum_of.reserve(2 * unit_months.size());
  for (const auto& [month, unit] : unit_months) {
    sum_of.insert(sum_of.end(), {month, unit});
  }
  RETURN_IF_ERROR(InsertInBatches(s,
                                  "INSERT INTO health_part_sums (month, unit_code, parts) "
                                  "SELECT m.month, m.unit_code, SUM(m.value) FROM measure_values "
                                  "m JOIN (",
                                  absl::StrCat(") v ON m.month = v.column1 AND m.unit_code = "
                                               "v.column2 WHERE ",
                                               PartOfHealthTotal(),
                                               " GROUP BY m.month, m.unit_code "
                                               "ON CONFLICT (month, unit_code) "
                                               "DO UPDATE SET parts = excluded.parts"),
                                  2, std::move(sum_of))
                      .status());
  return s.Execute("UPDATE health_part_sums_through SET seq = $1 WHERE id = 1", {through}).status();
}

}  // namespace

std::string PartOfHealthTotal() {
  std::string parts;
  for (const MeasureInfo& info : AllMeasures()) {
    if (info.whole == v1::MEASURE_PARTICIPANTS) {
      absl::StrAppend(&parts, parts.empty() ? "" : " OR ",
                      "(m.measure = ", static_cast<int>(info.measure), " AND m.payer_group ",
                      info.parts_by_payer_group ? "<> " : "= ",
                      static_cast<int>(v1::PAYER_GROUP_UNSPECIFIED), ")");
    }
  }
  return absl::StrCat("m.scheme = ", static_cast<int>(v1::SCHEME_HEALTH), " AND (",
                      parts.empty() ? "FALSE" : parts, ")");
}

absl::StatusOr<ValuesAfterWrite> ReadValuesAfterWrite(sql::Session& s,
                                                      const v1::SubmitReportRequest& request) {
  ValuesAfterWrite after;
  // (month, unit_code) of the request's measures, and those of them it sends a health total
  // for. A bulk load sends records alone: the sets stay empty, and no record's key is copied.
  std::set<std::pair<std::string, std::string>> measure_months, health_sent;
  for (const v1::MeasureRecord& m : request.measures()) {
    measure_months.emplace(m.month(), m.unit_code());
  }
  bool any_health = false;
  for (const v1::ParticipationRecord& r : request.records()) {
    if (r.scheme() == v1::SCHEME_HEALTH) {
      any_health = true;
      if (Holds(measure_months, r)) {
        health_sent.emplace(r.month(), r.unit_code());
      }
    }
  }
  if (measure_months.empty() && !any_health) {
    return after;
  }
  if (measure_months.empty()) {
    // Health totals alone can only fall below stored payer groups: with no group stored at all
    // (every load before the first measure) there is nothing to read.
    ASSIGN_OR_RETURN(const std::vector<sql::Row> any,
                     s.Query("SELECT 1 FROM health_part_sums LIMIT 1", {}));
    if (any.empty()) {
      return after;
    }
  }
  // Every stored value of the unit-months the request sends measures for. Of those it sends
  // only a health total for, a check can fail only where the stored parts of that total add up
  // to more than the new one (the unit-month's other values neither change nor take the
  // request's part: CheckPartsWithinWholes leaves them); health_part_sums holds those sums
  // (schema.h, migration 7), so one probe a total names those unit-months, whose parts alone
  // are then read: a national month of health records moves no stored row out of the database
  // unless it is refused.
  sql::Params all_of, totals_sent;
  for (const auto& [month, unit] : measure_months) {
    all_of.insert(all_of.end(), {month, unit});
  }
  for (const v1::ParticipationRecord& r : request.records()) {
    if (r.scheme() == v1::SCHEME_HEALTH && !Holds(measure_months, r)) {
      totals_sent.insert(totals_sent.end(), {r.month(), r.unit_code(), int64_t{r.participants()}});
    }
  }
  ASSIGN_OR_RETURN(const std::vector<sql::Row> over,
                   InsertInBatches(s, "SELECT v.column1, v.column2 FROM (",
                                   ") v WHERE (SELECT h.parts FROM health_part_sums h "
                                   "WHERE h.month = v.column1 AND h.unit_code = v.column2) "
                                   "> CAST(v.column3 AS BIGINT)",
                                   3, std::move(totals_sent)));
  sql::Params parts_of;
  for (const sql::Row& row : over) {
    parts_of.insert(parts_of.end(), {row.Text(0), row.Text(1)});
  }
  const std::string select =
      absl::StrCat("SELECT m.", absl::StrReplaceAll(kColumns, {{", ", ", m."}}),
                   " FROM measure_values m JOIN (");
  constexpr char kOnPair[] = ") v ON m.month = v.column1 AND m.unit_code = v.column2";
  ASSIGN_OR_RETURN(std::vector<sql::Row> stored, InsertInBatches(s, select, kOnPair, 2, all_of));
  ASSIGN_OR_RETURN(const std::vector<sql::Row> stored_parts,
                   InsertInBatches(s, select, absl::StrCat(kOnPair, " WHERE ", PartOfHealthTotal()),
                                   2, parts_of));
  stored.insert(stored.end(), stored_parts.begin(), stored_parts.end());
  for (const sql::Row& row : stored) {
    // The key straight from the row (kColumns' order), without a MeasureRecord between.
    after.values.emplace(MeasureKey{row.Text(0), row.Text(1), static_cast<int>(row.Int(2)),
                                    static_cast<int>(row.Int(3)), static_cast<int>(row.Int(4))},
                         row.Int(5));
  }
  sql::Params totals;
  for (const auto& [month, unit] : measure_months) {
    if (health_sent.count({month, unit}) == 0) {
      totals.insert(totals.end(), {month, unit});
    }
  }
  ASSIGN_OR_RETURN(const std::vector<sql::Row> stored_totals,
                   InsertInBatches(s,
                                   "SELECT p.unit_code, p.month, p.participants FROM participation "
                                   "p JOIN (",
                                   ") v ON p.month = v.column1 AND p.unit_code = v.column2 "
                                   "WHERE p.scheme = 3",
                                   2, totals));
  for (const sql::Row& row : stored_totals) {
    after.values[HealthTotalKey(row.Text(0), row.Text(1))] = row.Int(2);
  }
  // The request's health totals, where a check can read them: in the unit-months of its
  // measures, and in those whose stored parts exceed the new total (`over`). Anywhere else a
  // total has no part above it, so CheckPartsWithinWholes would find nothing to refuse; leaving
  // them out keeps a national month of health records (10,000 totals) out of the maps.
  std::set<std::pair<std::string, std::string>> over_months;
  for (const sql::Row& row : over) {
    over_months.emplace(row.Text(0), row.Text(1));
  }
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::ParticipationRecord& r = request.records(i);
    if (r.scheme() == v1::SCHEME_HEALTH && (Holds(measure_months, r) || Holds(over_months, r))) {
      const MeasureKey key = HealthTotalKey(r.unit_code(), r.month());
      after.values[key] = r.participants();
      after.sent[key] = {absl::StrCat("records[", i, "]"), "participants"};
    }
  }
  for (int i = 0; i < request.measures_size(); ++i) {
    const MeasureKey key = KeyOf(request.measures(i));
    after.values[key] = request.measures(i).value();
    after.sent[key] = {absl::StrCat("measures[", i, "]"), "value"};
  }
  return after;
}

absl::StatusOr<std::vector<sql::Row>> WriteMeasures(
    sql::Session& s, const google::protobuf::RepeatedPtrField<v1::MeasureRecord>& measures,
    int64_t seq) {
  sql::Params values;
  values.reserve(7 * measures.size());
  for (const v1::MeasureRecord& m : measures) {
    values.insert(values.end(),
                  {m.month(), m.unit_code(), int64_t{m.measure()}, int64_t{m.scheme()},
                   int64_t{m.payer_group()}, int64_t{m.value()}, seq});
  }
  // A new key writes no revision: its current row is its first value (schema.h).
  RETURN_IF_ERROR(
      InsertInBatches(s,
                      "INSERT INTO measure_revisions (month, unit_code, measure, scheme, "
                      "payer_group, change_seq, value) "
                      "SELECT m.month, m.unit_code, m.measure, m.scheme, m.payer_group, "
                      "m.change_seq, m.value FROM measure_values m JOIN (",
                      ") v ON m.month = v.column1 AND m.unit_code = v.column2 "
                      "AND m.measure = CAST(v.column3 AS INTEGER) "
                      "AND m.scheme = CAST(v.column4 AS INTEGER) "
                      "AND m.payer_group = CAST(v.column5 AS INTEGER) "
                      "WHERE m.value <> CAST(v.column6 AS BIGINT)",
                      7, values)
          .status());
  ASSIGN_OR_RETURN(std::vector<sql::Row> written,
                   InsertInBatches(s,
                                   "INSERT INTO measure_values (month, unit_code, measure, scheme, "
                                   "payer_group, value, change_seq)",
                                   " ON CONFLICT (month, unit_code, measure, scheme, payer_group) "
                                   "DO UPDATE SET value = excluded.value, "
                                   "change_seq = excluded.change_seq "
                                   "WHERE measure_values.value <> excluded.value "
                                   "RETURNING unit_code, month",
                                   7, std::move(values)));
  if (written.empty()) {
    return written;
  }
  // CatchUpPartSums ran earlier in this transaction, under the writers' lock: every measure up
  // to this change is in the sums once these are.
  RETURN_IF_ERROR(SumPartsAgain(s, written, seq));
  return written;
}

absl::Status CatchUpPartSums(sql::Session& s) {
  ASSIGN_OR_RETURN(const std::vector<sql::Row> through,
                   s.Query("SELECT t.seq, (SELECT MAX(m.change_seq) FROM measure_values m) "
                           "FROM health_part_sums_through t WHERE t.id = 1",
                           {}));
  if (through.size() != 1) {
    return absl::InternalError("health_part_sums_through row is missing");
  }
  if (through[0].IsNull(1) || through[0].Int(1) <= through[0].Int(0)) {
    return absl::OkStatus();  // no measure written since the sums were last brought up to date
  }
  ASSIGN_OR_RETURN(const std::vector<sql::Row> rows,
                   s.Query("SELECT DISTINCT unit_code, month FROM measure_values "
                           "WHERE change_seq > $1",
                           {through[0].Int(0)}));
  return SumPartsAgain(s, rows, through[0].Int(1));
}

absl::StatusOr<std::vector<std::pair<int64_t, v1::MeasureRecord>>> ReadMeasuresOfChanges(
    sql::Session& s, int64_t after_seq, int64_t last) {
  // Each item finds its values through the primary keys' (month, unit_code).
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> rows,
      s.Query(LiveAndRevised("SELECT i.seq, r.unit_code, r.month, r.measure, r.scheme, "
                             "r.payer_group, r.value FROM change_items i JOIN {table} r "
                             "ON r.month = i.period AND r.unit_code = i.unit_code "
                             "AND r.change_seq = i.seq "
                             "WHERE i.seq > $1 AND i.seq <= $2 AND i.kind = $3",
                             "1, 2, 3, 4, 5, 6"),
              {after_seq, last, int64_t{kMeasureChange}}));
  std::vector<std::pair<int64_t, v1::MeasureRecord>> values;
  values.reserve(rows.size());
  for (const sql::Row& row : rows) {
    values.emplace_back(row.Int(0), RecordFromRow(row, 1));
  }
  return values;
}

absl::Status ReadMeasuresOfMonths(sql::Session& s, const std::string& from_month,
                                  const std::string& to_month, const std::set<std::string>* codes,
                                  const std::function<bool(v1::MeasureRecord)>& sink) {
  // A page at a time along the primary key (a national decade is some 10^7 values): each page
  // starts after the last key of the one before.
  constexpr int64_t kPage = 5000;
  sql::Params after = {from_month, std::string(), int64_t{-1}, int64_t{-1}, int64_t{-1}};
  for (;;) {
    ASSIGN_OR_RETURN(
        const std::vector<sql::Row> rows,
        s.Query(absl::StrCat("SELECT ", kColumns,
                             " FROM measure_values WHERE (month, unit_code, measure, scheme, "
                             "payer_group) > ($1, $2, $3, $4, $5) AND month <= $6 "
                             "ORDER BY month, unit_code, measure, scheme, payer_group LIMIT $7"),
                {after[0], after[1], after[2], after[3], after[4], to_month, kPage}));
    for (const sql::Row& row : rows) {
      if (codes != nullptr && codes->count(row.Text(0)) == 0) {
        continue;
      }
      if (!sink(RecordFromRow(row, 0))) {
        return absl::OkStatus();
      }
    }
    if (static_cast<int64_t>(rows.size()) < kPage) {
      return absl::OkStatus();
    }
    const sql::Row& tail = rows.back();
    after = {tail.Text(1), tail.Text(0), tail.Int(2), tail.Int(3), tail.Int(4)};
  }
}

absl::Status ListMeasureRevisions(sql::Session& s, const v1::ListRevisionsRequest& request,
                                  int64_t offset, int page_size,
                                  v1::ListRevisionsResponse& response, bool& more) {
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> rows,
      s.Query(LiveAndRevised("SELECT r.scheme, r.payer_group, r.value, r.change_seq, "
                             "c.request_id, c.source, c.peer, c.commit_time_us "
                             "FROM {table} r JOIN changes c ON c.seq = r.change_seq "
                             "WHERE r.month = $1 AND r.unit_code = $2 AND r.measure = $3 "
                             "AND ($4 = 0 OR r.scheme = $4)",
                             "4, 1, 2 LIMIT $5 OFFSET $6"),
              {request.month(), request.unit_code(), int64_t{request.measure()},
               int64_t{request.scheme()}, int64_t{page_size + 1}, offset}));
  for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(page_size); ++i) {
    const sql::Row& r = rows[i];
    v1::Revision* revision = response.add_revisions();
    v1::MeasureRecord* m = revision->mutable_measure();
    m->set_unit_code(request.unit_code());
    m->set_month(request.month());
    m->set_measure(request.measure());
    m->set_scheme(static_cast<v1::Scheme>(r.Int(0)));
    m->set_payer_group(static_cast<v1::PayerGroup>(r.Int(1)));
    m->set_value(r.Int(2));
    revision->set_change_seq(r.Int(3));
    revision->set_request_id(r.Text(4));
    revision->set_source(r.Text(5));
    revision->set_peer(r.Text(6));
    *revision->mutable_commit_time() = ToProtoTimestamp(absl::FromUnixMicros(r.Int(7)));
  }
  more = rows.size() > static_cast<size_t>(page_size);
  return absl::OkStatus();
}

}  // namespace covtrack::ingestion
