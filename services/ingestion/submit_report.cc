// IngestionStore::SubmitReport: participation records and denominators, all or nothing, each
// value they overwrite kept in the audit trail (schema.h). A national month is ~40,000 records, so
// the checks read the units from a copy of the catalogue's bounds kept between transactions
// (UnitBoundsCache) and the writes are multi-row statements (batched_sql.h), not a round trip per
// record.
#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status/status.h"
#include "services/ingestion/admin_unit_table.h"
#include "services/ingestion/batched_sql.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/measure_table.h"
#include "services/ingestion/unit_calendar.h"

namespace covtrack::ingestion {
namespace {

// Whether any stored participation row could share a key with `records`: for each month they
// name and each batch of its unit codes, one probe of the month-first key over the codes from
// the batch's least to its greatest. The database takes both (in the collation its index is
// ordered by, which on PostgreSQL need not be the bytes' order). A report of a new month's
// figures (the bulk case: a message covers a run of codes the store holds no row of yet) then
// skips the revision statement, whose probe per record would find nothing.
absl::StatusOr<bool> AnyStoredInRange(
    sql::Session& s, const google::protobuf::RepeatedPtrField<v1::ParticipationRecord>& records) {
  // Each month's codes in order, so that a batch's range is narrow. A report's records mostly
  // come in that order already, a unit-month's schemes one after another: ordering them into a
  // set had cost a national month about as much as the probes themselves.
  std::map<absl::string_view, std::vector<absl::string_view>> codes_by_month;
  for (const v1::ParticipationRecord& r : records) {
    std::vector<absl::string_view>& codes = codes_by_month[r.month()];
    if (codes.empty() || codes.back() != r.unit_code()) {
      codes.push_back(r.unit_code());
    }
  }
  for (auto& [month, codes] : codes_by_month) {
    if (!std::is_sorted(codes.begin(), codes.end())) {
      std::sort(codes.begin(), codes.end());
      codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
    }
    sql::Params pairs;
    pairs.reserve(2 * codes.size());
    for (const absl::string_view code : codes) {
      pairs.insert(pairs.end(), {std::string(month), std::string(code)});
    }
    ASSIGN_OR_RETURN(
        const std::vector<sql::Row> any,
        InsertInBatches(s,
                        "SELECT 1 FROM participation p JOIN (SELECT MIN(CAST(column1 AS TEXT)) m, "
                        "MIN(CAST(column2 AS TEXT)) lo, MAX(CAST(column2 AS TEXT)) hi FROM (",
                        ") v) r ON p.month = r.m AND p.unit_code >= r.lo AND p.unit_code <= r.hi "
                        "LIMIT 1",
                        2, std::move(pairs)));
    if (!any.empty()) {
      return true;
    }
  }
  return false;
}

// Writes the records whose value differs from the stored one (a repeated value is no change),
// the values they replace into the audit trail, touches the (unit, month) of each one written
// on `changes` and returns how many were written. A new key writes no revision: its current row
// is its first value, so a national month of new figures writes each record once.
absl::StatusOr<int> WriteRecords(
    sql::Session& s, const google::protobuf::RepeatedPtrField<v1::ParticipationRecord>& records,
    ChangeWriter& changes) {
  ASSIGN_OR_RETURN(const bool may_replace, AnyStoredInRange(s, records));
  sql::Params values;
  values.reserve(6 * records.size());
  for (const v1::ParticipationRecord& r : records) {
    values.insert(
        values.end(),
        {r.unit_code(), r.month(), int64_t{r.scheme()}, int64_t{r.participants()},
         r.has_in_province_participants() ? sql::Value(int64_t{r.in_province_participants()})
                                          : sql::Value(std::monostate{}),
         changes.seq()});
  }
  if (!may_replace) {
    // No stored row shares a key with the records (the probe above, in this transaction), so
    // each is inserted and each is a change: a plain INSERT, with nothing for an upsert to
    // compare nor rows to return (on SQLite the records' write of a national month, touching
    // included, went from 71 to 59 ms). Should a key be there after all, the INSERT fails and
    // the report with it.
    RETURN_IF_ERROR(InsertInBatches(s,
                                    "INSERT INTO participation (unit_code, month, scheme, "
                                    "participants, in_province, change_seq)",
                                    "", 6, std::move(values))
                        .status());
    const v1::ParticipationRecord* previous = nullptr;
    for (const v1::ParticipationRecord& r : records) {
      // A unit-month's schemes usually come one after another: each is touched once.
      if (previous == nullptr || previous->unit_code() != r.unit_code() ||
          previous->month() != r.month()) {
        changes.Touch(kParticipationChange, r.unit_code(), r.month());
      }
      previous = &r;
    }
    return records.size();
  }
  RETURN_IF_ERROR(
      InsertInBatches(s,
                      "INSERT INTO participation_revisions (unit_code, month, scheme, change_seq, "
                      "participants, in_province) "
                      "SELECT p.unit_code, p.month, p.scheme, p.change_seq, p.participants, "
                      "p.in_province FROM participation p JOIN (",
                      ") v ON p.unit_code = v.column1 AND p.month = v.column2 "
                      "AND p.scheme = CAST(v.column3 AS INTEGER) "
                      "WHERE p.participants <> CAST(v.column4 AS BIGINT) "
                      "OR p.in_province IS DISTINCT FROM CAST(v.column5 AS BIGINT)",
                      6, values)
          .status());
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
                      "RETURNING unit_code, month",
                      6, std::move(values)));
  for (const sql::Row& r : written) {
    changes.Touch(kParticipationChange, r.Text(0), r.Text(1));
  }
  return static_cast<int>(written.size());
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
  RETURN_IF_ERROR(InsertInBatches(s,
                                  "INSERT INTO denominator_revisions (unit_code, year, kind, "
                                  "change_seq, value) "
                                  "SELECT d.unit_code, d.year, d.kind, d.change_seq, d.value "
                                  "FROM denominators d JOIN (",
                                  ") v ON d.unit_code = v.column1 "
                                  "AND d.year = CAST(v.column2 AS INTEGER) "
                                  "AND d.kind = CAST(v.column3 AS INTEGER) "
                                  "WHERE d.value <> CAST(v.column4 AS BIGINT)",
                                  5, values)
                      .status());
  return InsertInBatches(s, "INSERT INTO denominators (unit_code, year, kind, value, change_seq)",
                         " ON CONFLICT (unit_code, year, kind) DO UPDATE SET "
                         "value = excluded.value, change_seq = excluded.change_seq "
                         "WHERE denominators.value <> excluded.value "
                         "RETURNING unit_code, year",
                         5, std::move(values));
}

}  // namespace

absl::StatusOr<v1::SubmitReportResponse> IngestionStore::SubmitReport(
    const v1::SubmitReportRequest& request, const Sender& sender) {
  return WriteOnce<v1::SubmitReportResponse>(
      request.request_id(), request, sender,
      [&](sql::Session& s, ChangeWriter& changes) { return WriteReport(s, changes, request); });
}

absl::StatusOr<v1::SubmitReportResponse> IngestionStore::WriteReport(
    sql::Session& s, ChangeWriter& changes, const v1::SubmitReportRequest& request) {
  // Every code's versions, kept between transactions while the catalogue stays as it was.
  ASSIGN_OR_RETURN(std::shared_ptr<const VersionsByCode> bounds, unit_bounds_.Get(s));
  UnitCalendar calendar(std::move(bounds));
  RETURN_IF_ERROR(ValidateReportUnits(request, calendar));
  RETURN_IF_ERROR(CatchUpPartSums(s));
  ASSIGN_OR_RETURN(const ValuesAfterWrite after, ReadValuesAfterWrite(s, request));
  RETURN_IF_ERROR(CheckPartsWithinWholes(after));

  ASSIGN_OR_RETURN(const int records_changed, WriteRecords(s, request.records(), changes));
  ASSIGN_OR_RETURN(const std::vector<sql::Row> denominators,
                   WriteDenominators(s, request.denominators(), changes.seq()));
  for (const sql::Row& d : denominators) {
    changes.Touch(kDenominatorChange, d.Text(0), absl::StrCat(d.Int(1)));
  }
  ASSIGN_OR_RETURN(const std::vector<sql::Row> measures,
                   WriteMeasures(s, request.measures(), changes.seq()));
  for (const sql::Row& m : measures) {
    changes.Touch(kMeasureChange, m.Text(0), m.Text(1));
  }
  v1::SubmitReportResponse response;
  response.set_records_accepted(request.records_size());
  response.set_records_changed(records_changed);
  response.set_denominators_accepted(request.denominators_size());
  response.set_denominators_changed(static_cast<int32_t>(denominators.size()));
  response.set_measures_accepted(request.measures_size());
  response.set_measures_changed(static_cast<int32_t>(measures.size()));
  return response;
}

}  // namespace covtrack::ingestion
