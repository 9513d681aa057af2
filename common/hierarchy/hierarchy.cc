#include "common/hierarchy/hierarchy.h"

#include <algorithm>
#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "common/domain.h"  // kNationCode only (header-only)

namespace covtrack {
namespace {

// The month of a "YYYY-MM..." date as Month::Index() counts it; false when the text does not
// start with a month.
bool MonthIndexOf(absl::string_view date, int* index) {
  int year = 0;
  int month = 0;
  if (date.size() < 7 || date[4] != '-' || !absl::SimpleAtoi(date.substr(0, 4), &year) ||
      !absl::SimpleAtoi(date.substr(5, 2), &month) || month < 1 || month > 12 || year < 0) {
    return false;
  }
  *index = year * 12 + (month - 1);
  return true;
}

// The last day ("YYYY-MM-DD") of the month with Month::Index() `index`.
std::string LastDayOfMonth(int index) {
  const absl::CivilDay last = absl::CivilDay(absl::CivilMonth(index / 12, index % 12 + 1) + 1) - 1;
  return absl::FormatCivilTime(last);
}

std::string DayBefore(absl::string_view date) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(date, &day)) {
    return std::string(date);
  }
  return absl::FormatCivilTime(day - 1);
}

// Valid on some day of `year`: starts on or before 31 December and ends after 1 January.
bool ValidDuringYear(const v1::AdminUnit& unit, int year) {
  return (unit.valid_from().empty() || unit.valid_from() <= YearEnd(year)) &&
         (unit.valid_to().empty() || unit.valid_to() > absl::StrFormat("%04d-01-01", year));
}

}  // namespace

bool ValidOn(absl::string_view valid_from, absl::string_view valid_to, absl::string_view date) {
  return (valid_from.empty() || valid_from <= date) && (valid_to.empty() || date < valid_to);
}

bool ValidOn(const v1::AdminUnit& unit, absl::string_view date) {
  return ValidOn(unit.valid_from(), unit.valid_to(), date);
}

const v1::AdminUnit* VersionOn(absl::Span<const v1::AdminUnit> versions, absl::string_view date) {
  for (const v1::AdminUnit& version : versions) {
    if (ValidOn(version, date)) {
      return &version;
    }
  }
  return nullptr;
}

std::string ParentCodeOf(const v1::AdminUnit& unit) {
  if (unit.level() == v1::ADMIN_LEVEL_PROVINCE || unit.parent_code().empty()) {
    return std::string(kNationCode);
  }
  return unit.parent_code();
}

MonthRange StockMonths(const v1::AdminUnit& unit) {
  MonthRange months;
  int from = 0;
  if (!unit.valid_from().empty() && MonthIndexOf(unit.valid_from(), &from)) {
    months.first = from;
  }
  int to = 0;
  if (!unit.valid_to().empty() && MonthIndexOf(unit.valid_to(), &to)) {
    // valid_to is exclusive: its own month counts only if that month's last day comes before
    // it, which a real date cannot do.
    months.last = LastDayOfMonth(to) < unit.valid_to() ? to : to - 1;
  }
  return months;
}

std::string YearEnd(int year) { return absl::StrFormat("%04d-12-31", year); }

const v1::AdminUnit* YearlyFigureHolder(absl::Span<const v1::AdminUnit> versions, int year) {
  if (const v1::AdminUnit* holder = VersionOn(versions, YearEnd(year)); holder != nullptr) {
    return holder;
  }
  const v1::AdminUnit* last = nullptr;
  for (const v1::AdminUnit& version : versions) {
    if (ValidDuringYear(version, year) &&
        (last == nullptr || version.valid_from() > last->valid_from())) {
      last = &version;
    }
  }
  return last;
}

std::string YearlyFigureDay(const v1::AdminUnit& holder, int year) {
  const std::string year_end = YearEnd(year);
  if (ValidOn(holder, year_end) || holder.valid_to().empty()) {
    return year_end;
  }
  return DayBefore(holder.valid_to());
}

Hierarchy::Hierarchy(std::vector<v1::AdminUnit> units) {
  nation_.set_code(std::string(kNationCode));
  nation_.set_name("Việt Nam");
  nation_.set_level(v1::ADMIN_LEVEL_NATION);
  nation_.set_type("Toàn quốc");
  version_count_ = units.size();
  for (v1::AdminUnit& u : units) {
    if (u.code() == kNationCode) {
      continue;
    }
    by_code_[u.code()].push_back(std::move(u));
  }
  // by_code_ is complete: pointers into its vectors stay valid from here on.
  for (auto& [code, versions] : by_code_) {
    std::sort(versions.begin(), versions.end(), [](const v1::AdminUnit& a, const v1::AdminUnit& b) {
      return a.valid_from() < b.valid_from();
    });
    for (const v1::AdminUnit& v : versions) {
      by_parent_[ParentCodeOf(v)].push_back(&v);
    }
  }
  for (auto& [parent, children] : by_parent_) {
    std::sort(children.begin(), children.end(), [](const v1::AdminUnit* a, const v1::AdminUnit* b) {
      return a->code() != b->code() ? a->code() < b->code() : a->valid_from() < b->valid_from();
    });
  }
}

absl::Span<const v1::AdminUnit> Hierarchy::VersionsOf(absl::string_view code) const {
  if (code.empty() || code == kNationCode) {
    return absl::Span<const v1::AdminUnit>(&nation_, 1);
  }
  auto it = by_code_.find(code);
  if (it == by_code_.end()) {
    return {};
  }
  return it->second;
}

const v1::AdminUnit* Hierarchy::UnitAt(absl::string_view code, absl::string_view date) const {
  if (code.empty() || code == kNationCode) {
    return &nation_;
  }
  return VersionOn(VersionsOf(code), date);
}

const v1::AdminUnit* Hierarchy::YearlyFigureHolder(absl::string_view code, int year) const {
  if (code.empty() || code == kNationCode) {
    return &nation_;
  }
  return covtrack::YearlyFigureHolder(VersionsOf(code), year);
}

std::vector<const v1::AdminUnit*> Hierarchy::ChildrenAt(absl::string_view code,
                                                        absl::string_view date) const {
  std::vector<const v1::AdminUnit*> children;
  auto it = by_parent_.find(code.empty() ? kNationCode : code);
  if (it == by_parent_.end()) {
    return children;
  }
  for (const v1::AdminUnit* v : it->second) {
    if (ValidOn(*v, date)) {
      children.push_back(v);
    }
  }
  return children;
}

std::vector<const v1::AdminUnit*> Hierarchy::DescendantsAt(absl::string_view root,
                                                           v1::AdminLevel level,
                                                           absl::string_view date) const {
  std::vector<const v1::AdminUnit*> found;
  absl::flat_hash_set<std::string> visited = {std::string(root.empty() ? kNationCode : root)};
  std::function<void(absl::string_view, int)> visit = [&](absl::string_view code, int depth) {
    if (depth >= kMaxHierarchyDepth) {
      return;
    }
    for (const v1::AdminUnit* child : ChildrenAt(code, date)) {
      if (!visited.insert(child->code()).second) {
        continue;  // a cycle in bad data
      }
      if (child->level() == level) {
        found.push_back(child);
      } else if (child->level() < level) {
        visit(child->code(), depth + 1);
      }
    }
  };
  visit(root, 0);
  std::sort(found.begin(), found.end(),
            [](const v1::AdminUnit* a, const v1::AdminUnit* b) { return a->code() < b->code(); });
  return found;
}

bool Hierarchy::InSubtree(absl::string_view code, absl::string_view root,
                          absl::string_view date) const {
  if (root.empty() || root == kNationCode || code == root) {
    return true;
  }
  // Administrative trees are at most four levels deep; the bound guards against a cycle in
  // bad data.
  std::string current(code);
  for (int depth = 0; depth < kMaxHierarchyDepth; ++depth) {
    const v1::AdminUnit* unit = UnitAt(current, date);
    if (unit == nullptr || unit == &nation_) {
      return false;
    }
    current = ParentCodeOf(*unit);
    if (current == root) {
      return true;
    }
  }
  return false;
}

uint64_t Hierarchy::TerritoryFingerprint(absl::string_view code, absl::string_view date) const {
  const std::string key = absl::StrCat(code, "@", date);
  {
    absl::ReaderMutexLock lock(&fingerprints_mu_);
    auto it = fingerprints_.find(key);
    if (it != fingerprints_.end()) {
      return it->second;
    }
  }
  const v1::AdminUnit* unit = UnitAt(code, date);
  if (unit == nullptr) {
    return 0;
  }
  uint64_t fingerprint = absl::HashOf(unit->code(), unit->valid_from());
  absl::flat_hash_set<std::string> visited = {unit->code()};
  std::function<void(absl::string_view, int)> visit = [&](absl::string_view parent, int depth) {
    if (depth >= kMaxHierarchyDepth) {
      return;
    }
    for (const v1::AdminUnit* child : ChildrenAt(parent, date)) {
      if (!visited.insert(child->code()).second) {
        continue;  // a cycle in bad data
      }
      // Order-independent combination: children are visited in code order anyway.
      fingerprint = fingerprint * 1000003 ^ absl::HashOf(child->code(), child->valid_from());
      visit(child->code(), depth + 1);
    }
  };
  visit(unit->code(), 0);
  absl::MutexLock lock(&fingerprints_mu_);
  fingerprints_[key] = fingerprint;
  return fingerprint;
}

}  // namespace covtrack
