#include "services/ingestion/unit_calendar.h"

#include <map>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/hierarchy/hierarchy.h"
#include "common/period.h"
#include "common/status/status.h"
#include "common/text.h"
#include "services/ingestion/request_validation.h"

namespace covtrack::ingestion {
namespace {

std::string Bound(const std::string& date) { return date.empty() ? "…" : date; }

// A code as an error quotes it: never more than a short prefix of what the caller sent.
std::string Quoted(const std::string& code) { return QuoteInput(code); }

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

// The first day of `child`'s validity on which its parent (versions of the parent's code, by
// valid_from) does not exist (`missing`) or is not at a higher level.
struct ParentGap {
  std::string day;  // "" for "since always"
  bool missing = true;
};
std::optional<ParentGap> FindParentGap(const v1::AdminUnit& child,
                                       const std::map<std::string, v1::AdminUnit>& parent) {
  // Walk the child's validity from one parent version to the next: each step starts where the
  // previous parent version ends, so every date where the parent changes is looked at.
  std::string day = child.valid_from();
  while (true) {
    const v1::AdminUnit* then = nullptr;
    for (const auto& [start, version] : parent) {
      if (ValidOn(version, day)) {
        then = &version;
        break;
      }
    }
    if (then == nullptr) {
      return ParentGap{day, true};
    }
    if (then->level() >= child.level()) {
      return ParentGap{day, false};
    }
    if (then->valid_to().empty() ||
        (!child.valid_to().empty() && then->valid_to() >= child.valid_to())) {
      return std::nullopt;
    }
    day = then->valid_to();  // after `day`: a version is valid before its valid_to
  }
}

std::string DayName(const std::string& day) { return day.empty() ? "its (open) valid_from" : day; }

// " (valid [from, to))".
std::string Validity(const v1::AdminUnit& unit) {
  return absl::StrCat(" (valid [", Bound(unit.valid_from()), ", ", Bound(unit.valid_to()), "))");
}

// True when the import changes where or at which level `code` exists: its versions' bounds or
// levels differ from the stored ones (a new name or type changes no child's parent).
bool ShapeChanged(const std::vector<v1::AdminUnit>& stored,
                  const std::map<std::string, v1::AdminUnit>& after) {
  if (stored.size() != after.size()) {
    return true;
  }
  auto it = after.begin();
  for (const v1::AdminUnit& s : stored) {
    const v1::AdminUnit& a = (it++)->second;
    if (s.valid_from() != a.valid_from() || s.valid_to() != a.valid_to() ||
        s.level() != a.level()) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<const std::vector<v1::AdminUnit>*> UnitCalendar::Versions(const std::string& code) {
  if (known_ != nullptr) {
    static const std::vector<v1::AdminUnit> kNone;
    auto it = known_->find(code);
    return it == known_->end() ? &kNone : &it->second;
  }
  auto it = cache_.find(code);
  if (it == cache_.end()) {
    ASSIGN_OR_RETURN(std::vector<v1::AdminUnit> versions, load_(code));
    it = cache_.emplace(code, std::move(versions)).first;
  }
  return &it->second;
}

absl::StatusOr<std::vector<v1::AdminUnit>> UnitCalendar::Children(const std::string& code) {
  if (children_ == nullptr) {
    return std::vector<v1::AdminUnit>();
  }
  return children_(code);
}

namespace {

// A monthly figure of `list`[i] names a unit that exists at the end of its month.
absl::Status CheckUnitAtMonthEnd(UnitCalendar& calendar, MonthEnds& month_ends,
                                 absl::string_view list, int i, const std::string& unit_code,
                                 const std::string& month_text) {
  ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* versions, calendar.Versions(unit_code));
  if (versions->empty()) {
    return absl::NotFoundError(
        absl::StrCat(list, "[", i, "].unit_code: unknown unit ", Quoted(unit_code)));
  }
  ASSIGN_OR_RETURN(const absl::string_view last_day, month_ends.Of(month_text));
  if (VersionOn(*versions, last_day) == nullptr) {
    return FieldError(list, i, "month",
                      absl::StrCat("unit \"", unit_code, "\" does not exist at the end of ",
                                   month_text, " (valid ", DescribeVersions(*versions), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateReportUnits(const v1::SubmitReportRequest& request, UnitCalendar& calendar) {
  MonthEnds month_ends;
  for (int i = 0; i < request.records_size(); ++i) {
    const v1::ParticipationRecord& r = request.records(i);
    // A unit-month's schemes usually follow one another: the first of them was just checked.
    if (i > 0 && request.records(i - 1).unit_code() == r.unit_code() &&
        request.records(i - 1).month() == r.month()) {
      continue;
    }
    RETURN_IF_ERROR(
        CheckUnitAtMonthEnd(calendar, month_ends, "records", i, r.unit_code(), r.month()));
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
  for (int i = 0; i < request.measures_size(); ++i) {
    const v1::MeasureRecord& m = request.measures(i);
    if (i > 0 && request.measures(i - 1).unit_code() == m.unit_code() &&
        request.measures(i - 1).month() == m.month()) {
      continue;
    }
    RETURN_IF_ERROR(
        CheckUnitAtMonthEnd(calendar, month_ends, "measures", i, m.unit_code(), m.month()));
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
    if (std::optional<ParentGap> gap = FindParentGap(u, *parent); gap.has_value()) {
      return FieldError(
          "units", i, "parent_code",
          gap->missing
              ? absl::StrCat("parent \"", u.parent_code(), "\" of \"", u.code(),
                             "\" does not exist on ", DayName(gap->day), Validity(u))
              : absl::StrCat("parent \"", u.parent_code(), "\" is not a higher level than \"",
                             u.code(), "\" on ", DayName(gap->day), Validity(u)));
    }
  }
  // The stored children of every code whose validity or level the import changes must still
  // have that code as a parent, at a higher level, on every day they name it.
  absl::flat_hash_set<std::string> checked;
  for (int i = 0; i < request.units_size(); ++i) {
    const std::string& code = request.units(i).code();
    if (!checked.insert(code).second) {
      continue;  // in request order, each code once: the first unit of it is named
    }
    ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit>* stored, calendar.Versions(code));
    if (stored->empty() || !ShapeChanged(*stored, after[code])) {
      continue;  // a new code has no stored children; an unchanged one keeps them valid
    }
    ASSIGN_OR_RETURN(const std::vector<v1::AdminUnit> children, calendar.Children(code));
    for (const v1::AdminUnit& stored_child : children) {
      // The child as it will be: a version the import replaces is its imported form.
      const v1::AdminUnit* child = &stored_child;
      if (auto own = after.find(stored_child.code()); own != after.end()) {
        if (auto version = own->second.find(stored_child.valid_from());
            version != own->second.end()) {
          child = &version->second;
        }
      }
      if (child->level() == v1::ADMIN_LEVEL_PROVINCE || child->parent_code() != code) {
        continue;
      }
      if (std::optional<ParentGap> gap = FindParentGap(*child, after[code]); gap.has_value()) {
        return FieldError(
            "units", i, gap->missing ? "valid_to" : "level",
            absl::StrCat("\"", code, "\" would ",
                         gap->missing ? "not exist" : "not be a higher level than its child",
                         " on ", DayName(gap->day), ", yet \"", child->code(), "\"",
                         Validity(*child), " names it as its parent; change \"", child->code(),
                         "\" first"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace covtrack::ingestion
