// IngestionStore::SubmitReport: participation records and denominators, all or nothing, each
// changed value with its revision in the audit trail.
#include "absl/strings/str_cat.h"
#include "common/status/status.h"
#include "services/ingestion/admin_unit_table.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/unit_calendar.h"

namespace covtrack::ingestion {
namespace {

// Writes the record when its value differs from the stored one (a repeated value is no
// change), with its revision. Returns whether it changed.
absl::StatusOr<bool> WriteRecord(sql::Session& s, const v1::ParticipationRecord& r, int64_t seq) {
  const sql::Value in_province = r.has_in_province_participants()
                                     ? sql::Value(int64_t{r.in_province_participants()})
                                     : sql::Value(std::monostate{});
  ASSIGN_OR_RETURN(
      const int64_t written,
      s.Execute("INSERT INTO participation (unit_code, month, scheme, participants, in_province, "
                "change_seq) VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT (unit_code, month, scheme) DO UPDATE SET "
                "participants = excluded.participants, in_province = excluded.in_province, "
                "change_seq = excluded.change_seq "
                "WHERE participation.participants <> excluded.participants "
                "OR participation.in_province IS DISTINCT FROM excluded.in_province",
                {r.unit_code(), r.month(), int64_t{r.scheme()}, int64_t{r.participants()},
                 in_province, seq}));
  if (written == 0) {
    return false;
  }
  RETURN_IF_ERROR(
      s.Execute("INSERT INTO participation_revisions (unit_code, month, scheme, change_seq, "
                "participants, in_province) VALUES ($1, $2, $3, $4, $5, $6)",
                {r.unit_code(), r.month(), int64_t{r.scheme()}, seq, int64_t{r.participants()},
                 in_province})
          .status());
  return true;
}

// The same for a denominator.
absl::StatusOr<bool> WriteDenominator(sql::Session& s, const v1::DenominatorRecord& d,
                                      int64_t seq) {
  ASSIGN_OR_RETURN(
      const int64_t written,
      s.Execute("INSERT INTO denominators (unit_code, year, kind, value, change_seq) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (unit_code, year, kind) DO UPDATE SET "
                "value = excluded.value, change_seq = excluded.change_seq "
                "WHERE denominators.value <> excluded.value",
                {d.unit_code(), int64_t{d.year()}, int64_t{d.kind()}, int64_t{d.value()}, seq}));
  if (written == 0) {
    return false;
  }
  RETURN_IF_ERROR(
      s.Execute("INSERT INTO denominator_revisions (unit_code, year, kind, change_seq, value) "
                "VALUES ($1, $2, $3, $4, $5)",
                {d.unit_code(), int64_t{d.year()}, int64_t{d.kind()}, seq, int64_t{d.value()}})
          .status());
  return true;
}

}  // namespace

absl::StatusOr<v1::SubmitReportResponse> IngestionStore::SubmitReport(
    const v1::SubmitReportRequest& request, const Sender& sender) {
  return WriteOnce<v1::SubmitReportResponse>(
      request.request_id(), request, sender,
      [&](sql::Session& s, ChangeWriter& changes) -> absl::StatusOr<v1::SubmitReportResponse> {
        UnitCalendar calendar([&s](const std::string& code) { return ReadUnitVersions(s, code); });
        RETURN_IF_ERROR(ValidateReportUnits(request, calendar));

        v1::SubmitReportResponse response;
        int records_changed = 0;
        for (const v1::ParticipationRecord& r : request.records()) {
          ASSIGN_OR_RETURN(const bool changed, WriteRecord(s, r, changes.seq()));
          if (changed) {
            ++records_changed;
            changes.Touch(kParticipationChange, r.unit_code(), r.month());
          }
        }
        int denominators_changed = 0;
        for (const v1::DenominatorRecord& d : request.denominators()) {
          ASSIGN_OR_RETURN(const bool changed, WriteDenominator(s, d, changes.seq()));
          if (changed) {
            ++denominators_changed;
            changes.Touch(kDenominatorChange, d.unit_code(), absl::StrCat(d.year()));
          }
        }
        response.set_records_accepted(request.records_size());
        response.set_records_changed(records_changed);
        response.set_denominators_accepted(request.denominators_size());
        response.set_denominators_changed(denominators_changed);
        return response;
      });
}

}  // namespace covtrack::ingestion
