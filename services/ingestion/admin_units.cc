// IngestionStore's administrative units: importing versions of units (checked against the
// stored ones) and listing them.
#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/status/status.h"
#include "services/ingestion/admin_unit_table.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/unit_calendar.h"

namespace covtrack::ingestion {

absl::StatusOr<v1::ImportAdminUnitsResponse> IngestionStore::ImportAdminUnits(
    const v1::ImportAdminUnitsRequest& request, const Sender& sender) {
  return WriteOnce<v1::ImportAdminUnitsResponse>(
      request.request_id(), request, sender,
      [&](sql::Session& s, ChangeWriter& changes) -> absl::StatusOr<v1::ImportAdminUnitsResponse> {
        UnitCalendar calendar([&s](const std::string& code) { return ReadUnitVersions(s, code); },
                              [&s](const std::string& code) { return ReadChildVersions(s, code); });
        RETURN_IF_ERROR(ValidateImportedUnits(request, calendar));

        int changed = 0;
        for (const v1::AdminUnit& u : request.units()) {
          const std::string parent =
              u.level() == v1::ADMIN_LEVEL_PROVINCE ? std::string(kNationCode) : u.parent_code();
          ASSIGN_OR_RETURN(
              const int64_t written,
              s.Execute(
                  "INSERT INTO admin_units (code, valid_from, valid_to, name, level, type, "
                  "parent_code, change_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                  "ON CONFLICT (code, valid_from) DO UPDATE SET valid_to = excluded.valid_to, "
                  "name = excluded.name, level = excluded.level, type = excluded.type, "
                  "parent_code = excluded.parent_code, change_seq = excluded.change_seq "
                  "WHERE admin_units.valid_to <> excluded.valid_to "
                  "OR admin_units.name <> excluded.name OR admin_units.level <> excluded.level "
                  "OR admin_units.type <> excluded.type "
                  "OR admin_units.parent_code <> excluded.parent_code",
                  {u.code(), u.valid_from(), StoredValidTo(u.valid_to()), u.name(),
                   static_cast<int64_t>(u.level()), u.type(), parent, changes.seq()}));
          if (written > 0) {
            ++changed;
            changes.Touch(kUnitChange, u.code(), "");
          }
        }
        v1::ImportAdminUnitsResponse response;
        response.set_units_accepted(request.units_size());
        response.set_units_changed(changed);
        return response;
      });
}

absl::StatusOr<v1::ListAdminUnitsResponse> IngestionStore::ListAdminUnits(
    const v1::ListAdminUnitsRequest& request, const PageRequest& page) {
  // Key paging on (code, valid_from): units imported between pages do not shift the next page.
  ASSIGN_OR_RETURN(const std::optional<std::vector<std::string>> after, page.AfterKey(2));
  const int page_size = page.size();
  v1::ListAdminUnitsResponse response;
  RETURN_IF_ERROR(db_->Read([&](sql::Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(
        const std::vector<sql::Row> rows,
        s.Query(
            absl::StrCat("SELECT ", kUnitColumns,
                         " FROM admin_units "
                         "WHERE ($1 = 0 OR code > $2 OR (code = $2 AND valid_from > $3)) "
                         "AND ($4 = '' OR parent_code = $4) AND ($5 = 0 OR level = $5) "
                         "AND ($6 = '' OR (valid_from <= $6 AND valid_to > $6)) "
                         "AND ($7 = '' OR code = $7) "
                         "ORDER BY code, valid_from LIMIT $8"),
            {int64_t{after.has_value()}, after ? (*after)[0] : std::string(),
             after ? (*after)[1] : std::string(), request.parent_code(), int64_t{request.level()},
             request.as_of(), request.code(), int64_t{page_size + 1}}));
    for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(page_size); ++i) {
      *response.add_units() = UnitFromRow(rows[i]);
    }
    if (rows.size() > static_cast<size_t>(page_size)) {
      const v1::AdminUnit& last = response.units(page_size - 1);
      response.set_next_page_token(page.TokenAfterKey({last.code(), last.valid_from()}));
    }
    return absl::OkStatus();
  }));
  return response;
}

absl::StatusOr<std::vector<v1::AdminUnit>> IngestionStore::UnitVersions(const std::string& code) {
  std::vector<v1::AdminUnit> versions;
  RETURN_IF_ERROR(db_->Read([&](sql::Session& s) -> absl::Status {
    ASSIGN_OR_RETURN(versions, ReadUnitVersions(s, code));
    return absl::OkStatus();
  }));
  return versions;
}

}  // namespace covtrack::ingestion
