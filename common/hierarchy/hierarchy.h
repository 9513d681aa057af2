#pragma once

// The administrative hierarchy through time: the one home of the rules that read it.
//
// A unit version (v1::AdminUnit) holds its code from valid_from up to, not including, valid_to
// (dates "YYYY-MM-DD"; an empty bound is open). A code names at most one version on a date, but
// may name different units over time: the 2025-07-01 reform reused 3,316 of the old commune
// codes for new communes, and province codes such as 82 for merged provinces. Every question is
// therefore asked of a date:
// - ValidOn / VersionOn / Hierarchy::UnitAt: the unit a code names on a date;
// - Hierarchy::ChildrenAt / DescendantsAt / InSubtree: the tree on a date;
// - StockMonths: the months whose end-of-month stock (participants) belongs to a version;
// - YearlyFigureHolder / YearlyFigureDay: the version a yearly figure (population, labour
//   force, a target) belongs to, and the day its place in the tree is read on.
//
// The free functions work on the versions of one code however they were loaded (ingestion
// reads them from SQL, access asks ingestion for them); Hierarchy keeps every version of every
// code in memory (aggregation) and answers the same questions through them.
// Pure data and pure functions: no I/O.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack {

// How deep any walk of the tree goes beneath its start: nation → province → district → commune
// is three steps, so a chain longer than this is a cycle or other corruption in stored data.
// Every walk also visits each code at most once, so that even a hierarchy that loops on some
// date (which ingestion refuses, but a store may hold from before) cannot make it run forever.
inline constexpr int kMaxHierarchyDepth = 8;

// True when `unit` is valid on `date` ("YYYY-MM-DD"): valid_from <= date < valid_to, an empty
// bound open. Dates compare as text, so "2025-07-01" is not valid for a unit whose valid_to is
// "2025-07-01".
bool ValidOn(const v1::AdminUnit& unit, absl::string_view date);
// The same rule over bare bounds, for intervals not held in a v1::AdminUnit (ingestion's rows,
// the sample-data generator's epochs). A valid_to stored as "9999-12-31" for "open" works too.
bool ValidOn(absl::string_view valid_from, absl::string_view valid_to, absl::string_view date);

// The version among `versions` (of one code, in any order) valid on `date`; nullptr when none.
// Versions of one code do not overlap (ingestion refuses overlaps); if they did, the first in
// `versions` would win.
const v1::AdminUnit* VersionOn(absl::Span<const v1::AdminUnit> versions, absl::string_view date);

// The code of a unit's parent in the tree: the nation ("VN") for a province or a unit without
// a parent_code, else parent_code. A unit's parent is the version of that code valid on the
// date the tree is read on.
std::string ParentCodeOf(const v1::AdminUnit& unit);

// A range of months [first, last], each month as Month::Index() counts it (year * 12 +
// month - 1; common/period.h). An open end is kFirstMonth / kLastMonth.
struct MonthRange {
  static constexpr int kFirstMonth = 0;
  static constexpr int kLastMonth = 1 << 30;

  int first = kFirstMonth;
  int last = kLastMonth;

  bool empty() const { return last < first; }
  bool Contains(int month_index) const { return first <= month_index && month_index <= last; }
  friend bool operator==(MonthRange a, MonthRange b) {
    return a.first == b.first && a.last == b.last;
  }
};

// The months whose stock belongs to `unit`: a month's figure (participants at the end of the
// month) belongs to the version valid on the month's last day. So from valid_from's month
// (valid_from is never after that month's last day) up to the month before valid_to's month
// (valid_to is exclusive and never after its own month's last day). An open or unreadable
// bound is open. Example: valid_to "2025-07-01" -> last is 2025-06; valid_to "2025-07-31" ->
// last is still 2025-06 (31 July is not in the validity).
MonthRange StockMonths(const v1::AdminUnit& unit);

// "YYYY-12-31".
std::string YearEnd(int year);

// The yearly figure rule (common.proto, DenominatorRecord; targets follow it too): a figure for
// `year` (population, labour force, a target) belongs to the version holding the code on 31
// December of that year, or, when none does, to the last version that held it during the year
// (the latest valid_from among those valid on some day of the year). nullptr when no version
// held the code during the year. `versions`: every version of one code, in any order.
// A code reused within the year therefore gives the year's figure to the unit holding it at the
// year's end, never to the one it replaced.
const v1::AdminUnit* YearlyFigureHolder(absl::Span<const v1::AdminUnit> versions, int year);

// The day the holder of a yearly figure for `year` is placed in the tree on: 31 December when
// it is valid then, else its last valid day (the day before valid_to). `holder` is a result of
// YearlyFigureHolder for the same year.
std::string YearlyFigureDay(const v1::AdminUnit& holder, int year);

// Every version of every unit, in memory, read as of a date.
class Hierarchy {
 public:
  // `units`: every version of every unit (ListAdminUnits with as_of empty). A province's parent
  // may be empty or "VN"; the nation itself need not be listed.
  explicit Hierarchy(std::vector<v1::AdminUnit> units);
  Hierarchy(const Hierarchy&) = delete;
  Hierarchy& operator=(const Hierarchy&) = delete;

  // Every version of `code`, ordered by valid_from; the nation alone for "VN" (or ""); empty
  // when the code names no unit at any time.
  absl::Span<const v1::AdminUnit> VersionsOf(absl::string_view code) const;
  // The version `code` names on `date`; the nation for "VN" (or ""); nullptr when none.
  const v1::AdminUnit* UnitAt(absl::string_view code, absl::string_view date) const;
  // YearlyFigureHolder over the versions of `code`; the nation for "VN" (or "").
  const v1::AdminUnit* YearlyFigureHolder(absl::string_view code, int year) const;
  // Units whose parent on `date` is `code` (provinces for "VN"), ordered by code.
  std::vector<const v1::AdminUnit*> ChildrenAt(absl::string_view code,
                                               absl::string_view date) const;
  // Units at `level` anywhere beneath `root` on `date`, ordered by code.
  std::vector<const v1::AdminUnit*> DescendantsAt(absl::string_view root, v1::AdminLevel level,
                                                  absl::string_view date) const;
  // True when `code` is `root` or lies beneath it on `date`.
  bool InSubtree(absl::string_view code, absl::string_view root, absl::string_view date) const;
  // A fingerprint of the territory `code` covers on `date`: its own version and the versions of
  // every unit beneath it. Two dates with equal fingerprints cover the same communes.
  // Remembered per (code, date): the hierarchy never changes once built.
  uint64_t TerritoryFingerprint(absl::string_view code, absl::string_view date) const;

  size_t version_count() const { return version_count_; }

 private:
  v1::AdminUnit nation_;
  size_t version_count_ = 0;
  // Versions of each code, ordered by valid_from.
  absl::flat_hash_map<std::string, std::vector<v1::AdminUnit>> by_code_;
  // Versions by parent code ("VN" for provinces), ordered by code; point into by_code_.
  absl::flat_hash_map<std::string, std::vector<const v1::AdminUnit*>> by_parent_;
  mutable absl::Mutex fingerprints_mu_;
  mutable absl::flat_hash_map<std::string, uint64_t> fingerprints_
      ABSL_GUARDED_BY(fingerprints_mu_);
};

}  // namespace covtrack
