#include "services/ingestion/unit_calendar.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/hierarchy/hierarchy.h"
#include "common/period.h"
#include "common/status/status.h"
#include "services/ingestion/request_validation.h"

namespace covtrack::ingestion {
namespace {

std::string Bound(const std::string& date) { return date.empty() ? "…" : date; }

// A code as an error quotes it: never more than 40 characters of what the caller sent.
std::string Quoted(const std::string& code) {
  return code.size() <= 40 ? absl::StrCat("\"", code, "\"")
                           : absl::StrCat("\"", code.substr(0, 40), "…\"");
}

// "[2020-01-01, 2025-07-01), [2025-07-01, …)".
std::string DescribeVersions(const std::vector<v1::AdminUnit>& versions) {
  std::string text;
  for (const v1::AdminUnit& v : versions) {
    absl::StrAppend(&text, text.empty() ? "" : ", ", "[", Bound(v.valid_from()), ", ",
                    Bound(v.valid_to()), ")");
  }
  return text;
}

// True when `unit` is still valid on `date` or later: its valid_to is open or after `date`.
bool EndsAfter(const v1::AdminUnit& unit, const std::string& date) {
  return unit.valid_to().empty() || unit.valid_to() > date;
}

}  // namespace

absl::StatusOr<const std::vector<v1::AdminUnit>*> UnitCalendar::Versions(const std::string& code) {
  auto it = cache_.find(code);
  if (it == cache_.end()) {
    ASSIGN_OR_RETURN(std::vector<v1::AdminUnit> versions, load_(code));
    it = cache_.emplace(code, std::move(versions)).first;
  }
  return &it->second;
}

absl::Status ValidateReportUnits(const v1::SubmitReportRequest& request, UnitCalendar& calendar) {
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::ParticipationRecord& r = request.records(i);
    ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, calendar.Versions(r.unit_code()));
    if (versions->empty()) {
      return absl::NotFoundError(
          absl::StrCat("records[", i, "].unit_code: unknown unit ", Quoted(r.unit_code())));
    }
    ASSIGN_OR_RETURN(const Month month, Month::Parse(r.month()));
    if (VersionOn(*versions, month.LastDay()) == nullptr) {
      return FieldError("records", i, "month",
                        absl::StrCat("unit \"", r.unit_code(), "\" does not exist at the end of ",
                                     r.month(), " (valid ", DescribeVersions(*versions), ")"));
    }
  }
  for (int i = 0; i < request.denominators_size(); ++i) {
    const v1::DenominatorRecord& d = request.denominators(i);
    ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, calendar.Versions(d.unit_code()));
    if (versions->empty()) {
      return absl::NotFoundError(
          absl::StrCat("denominators[", i, "].unit_code: unknown unit ", Quoted(d.unit_code())));
    }
    if (YearlyFigureHolder(*versions, d.year()) == nullptr) {
      return FieldError("denominators", i, "year",
                        absl::StrCat("unit \"", d.unit_code(), "\" does not exist in ", d.year(),
                                     " (valid ", DescribeVersions(*versions), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateImportedUnits(const v1::ImportAdminUnitsRequest& request,
                                   UnitCalendar& calendar) {
  using VersionsByStart = std::map<std::string, v1::AdminUnit>;
  // The versions each code will have after the import, by valid_from: the stored ones, with
  // the request's units replacing those with the same valid_from.
  absl::flat_hash_map<std::string, VersionsByStart> after;
  auto versions_after = [&](const std::string& code) -> absl::StatusOr<VersionsByStart*> {
    auto it = after.find(code);
    if (it != after.end()) {
      return &it->second;
    }
    ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* stored, calendar.Versions(code));
    VersionsByStart by_start;
    for (const v1::AdminUnit& v : *stored) {
      by_start[v.valid_from()] = v;
    }
    return &after.emplace(code, std::move(by_start)).first->second;
  };
  for (const v1::AdminUnit& u : request.units()) {
    ASSIGN_OR_RETURN(VersionsByStart * versions, versions_after(u.code()));
    (*versions)[u.valid_from()] = u;
  }
  for (int i = 0; i < request.units_size(); ++i) {
    const v1::AdminUnit& u = request.units(i);
    // Overlap: with versions ordered by valid_from, each must end no later than the next starts.
    const VersionsByStart& own = after[u.code()];
    auto self = own.find(u.valid_from());
    auto next = std::next(self);
    if (next != own.end() && EndsAfter(self->second, next->first)) {
      return FieldError(
          "units", i, "valid_to",
          absl::StrCat("unit \"", u.code(), "\" [", Bound(u.valid_from()), ", ",
                       Bound(u.valid_to()), ") overlaps its interval starting ", next->first));
    }
    if (self != own.begin() && EndsAfter(std::prev(self)->second, u.valid_from())) {
      return FieldError(
          "units", i, "valid_from",
          absl::StrCat("unit \"", u.code(), "\" starting ", Bound(u.valid_from()),
                       " overlaps its interval starting ", Bound(std::prev(self)->first)));
    }
    if (u.level() == v1::ADMIN_LEVEL_PROVINCE) {
      continue;
    }
    ASSIGN_OR_RETURN(VersionsByStart * parent, versions_after(u.parent_code()));
    const v1::AdminUnit* parent_then = nullptr;
    for (const auto& [start, version] : *parent) {
      if (ValidOn(version, u.valid_from())) {
        parent_then = &version;
      }
    }
    if (parent_then == nullptr) {
      return FieldError(
          "units", i, "parent_code",
          absl::StrCat("parent \"", u.parent_code(), "\" of \"", u.code(), "\" does not exist on ",
                       u.valid_from().empty() ? "its (open) valid_from" : u.valid_from()));
    }
    if (parent_then->level() >= u.level()) {
      return FieldError("units", i, "parent_code",
                        absl::StrCat("parent \"", u.parent_code(),
                                     "\" is not a higher level than \"", u.code(), "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace covtrack::ingestion
