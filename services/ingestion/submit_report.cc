// IngestionStore::SubmitReport: participation records and denominators, all or nothing, each
// changed value with its revision in the audit trail. A national month is ~40,000 records, so
// the checks read the units in a few batched queries and the writes are multi-row statements
// (batched_sql.h), not a round trip per record.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "services/ingestion/admin_unit_table.h"
#include "services/ingestion/batched_sql.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/unit_calendar.h"

namespace covtrack::ingestion {
namespace {

sql::Value NullableInt(const sql::Row& row, size_t i) {
  return row.IsNull(i) ? sql::Value(std::monostate{}) : sql::Value(row.Int(i));
}

// Writes the records whose value differs from the stored one (a repeated value is no change),
// each with its revision, and returns the (unit, month) of each one written.
absl::StatusOr<std::vector<sql::Row>> WriteRecords(
    sql::Session& s, const google::protobuf::RepeatedPtrField<v1::ParticipationRecord>& records,
    int64_t seq) {
  sql::Params values;
  values.reserve(6 * records.size());
  for (const v1::ParticipationRecord& r : records) {
    values.insert(
        values.end(),
        {r.unit_code(), r.month(), int64_t{r.scheme()}, int64_t{r.participants()},
         r.has_in_province_participants() ? sql::Value(int64_t{r.in_province_participants()})
                                          : sql::Value(std::monostate{}),
         seq});
  }
  // The upsert returns the rows it inserted or changed, not those its WHERE left alone.
  ASSIGN_OR_RETURN(
      const std::vector<sql::Row> written,
      InsertInBatches(s,
                      "INSERT INTO participation (unit_code, month, scheme, participants, "
                      "in_province, change_seq)",
                      " ON CONFLICT (unit_code, month, scheme) DO UPDATE SET "
                      "participants = excluded.participants, in_province = excluded.in_province, "
                      "change_seq = excluded.change_seq "
                      "WHERE participation.participants <> excluded.participants "
                      "OR participation.in_province IS DISTINCT FROM excluded.in_province "
                      "RETURNING unit_code, month, scheme, participants, in_province",
                      6, values));
  sql::Params revisions;
  revisions.reserve(6 * written.size());
  for (const sql::Row& w : written) {
    revisions.insert(revisions.end(),
                     {w.Text(0), w.Text(1), w.Int(2), seq, w.Int(3), NullableInt(w, 4)});
  }
  RETURN_IF_ERROR(InsertInBatches(s,
                                  "INSERT INTO participation_revisions (unit_code, month, "
                                  "scheme, change_seq, participants, in_province)",
                                  "", 6, revisions)
                      .status());
  return written;
}

// The same for denominators; returns the (unit, year) of each one written.
absl::StatusOr<std::vector<sql::Row>> WriteDenominators(
    sql::Session& s, const google::protobuf::RepeatedPtrField<v1::DenominatorRecord>& denominators,
    int64_t seq) {
  sql::Params values;
  values.reserve(5 * denominators.size());
  for (const v1::DenominatorRecord& d : denominators) {
    values.insert(values.end(),
                  {d.unit_code(), int64_t{d.year()}, int64_t{d.kind()}, int64_t{d.value()}, seq});
  }
  ASSIGN_OR_RETURN(const std::vector<sql::Row> written,
                   InsertInBatches(s,
                                   "INSERT INTO denominators (unit_code, year, kind, value, "
                                   "change_seq)",
                                   " ON CONFLICT (unit_code, year, kind) DO UPDATE SET "
                                   "value = excluded.value, change_seq = excluded.change_seq "
                                   "WHERE denominators.value <> excluded.value "
                                   "RETURNING unit_code, year, kind, value",
                                   5, values));
  sql::Params revisions;
  revisions.reserve(5 * written.size());
  for (const sql::Row& w : written) {
    revisions.insert(revisions.end(), {w.Text(0), w.Int(1), w.Int(2), seq, w.Int(3)});
  }
  RETURN_IF_ERROR(InsertInBatches(s,
                                  "INSERT INTO denominator_revisions (unit_code, year, kind, "
                                  "change_seq, value)",
                                  "", 5, revisions)
                      .status());
  return written;
}

}  // namespace

absl::StatusOr<v1::SubmitReportResponse> IngestionStore::SubmitReport(
    const v1::SubmitReportRequest& request, const Sender& sender) {
  return WriteOnce<v1::SubmitReportResponse>(
      request.request_id(), request, sender,
      [&](sql::Session& s, ChangeWriter& changes) -> absl::StatusOr<v1::SubmitReportResponse> {
        // The versions of every code the report names, read up front in a few queries; the
        // checks then look them up (a code no unit ever held has none).
        std::vector<std::string> codes;
        codes.reserve(request.records_size() + request.denominators_size());
        for (const v1::ParticipationRecord& r : request.records()) {
          codes.push_back(r.unit_code());
        }
        for (const v1::DenominatorRecord& d : request.denominators()) {
          codes.push_back(d.unit_code());
        }
        std::sort(codes.begin(), codes.end());
        codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
        ASSIGN_OR_RETURN(const VersionsByCode versions, ReadVersionsOf(s, codes));
        UnitCalendar calendar(
            [&versions](const std::string& code) -> absl::StatusOr<std::vector<v1::AdminUnit>> {
              auto it = versions.find(code);
              return it == versions.end() ? std::vector<v1::AdminUnit>() : it->second;
            });
        RETURN_IF_ERROR(ValidateReportUnits(request, calendar));

        ASSIGN_OR_RETURN(const std::vector<sql::Row> records,
                         WriteRecords(s, request.records(), changes.seq()));
        for (const sql::Row& r : records) {
          changes.Touch(kParticipationChange, r.Text(0), r.Text(1));
        }
        ASSIGN_OR_RETURN(const std::vector<sql::Row> denominators,
                         WriteDenominators(s, request.denominators(), changes.seq()));
        for (const sql::Row& d : denominators) {
          changes.Touch(kDenominatorChange, d.Text(0), absl::StrCat(d.Int(1)));
        }
        v1::SubmitReportResponse response;
        response.set_records_accepted(request.records_size());
        response.set_records_changed(static_cast<int32_t>(records.size()));
        response.set_denominators_accepted(request.denominators_size());
        response.set_denominators_changed(static_cast<int32_t>(denominators.size()));
        return response;
      });
}

}  // namespace covtrack::ingestion
