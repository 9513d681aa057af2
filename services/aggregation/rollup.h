#pragma once

// The rollup arithmetic: pure functions over plain data (a hierarchy and the figures exported
// by ingestion), unit-tested on their own.
//
// - The hierarchy is the one valid on the period's last day.
// - A unit's figure for a month is its own reported figure where it has one, otherwise the sum
//   of its children's; nothing is counted twice.
// - Participants are a stock: for each contributing unit, its latest month inside the period.
// - A record counts for a unit only in months when that unit version was valid (a code reused
//   after the 2025 reform does not inherit the old unit's figures).
// - Rates are sums of numerators over sums of denominators; a missing split or denominator is
//   reported as absent with a count, never as an under-count.

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/hierarchy/hierarchy.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::aggregation {

// Figures for some territory and months, as exported by ingestion, laid out for rollups: each
// code has a dense id, and per id one row per month (the four reported schemes side by side,
// sorted by month: a rollup finds a unit's month once for every scheme, in one place) and the
// denominators sorted by year. A month of a unit takes 36 bytes, so the whole country over ten
// years of months (4.8 M records: 1.2 M rows) fits in about 45 MB.
class CoverageData {
 public:
  // A count as stored: a value inside [0, kMaxPeople] (common/domain.h), or one of these.
  static constexpr int32_t kNoSplit = -1;  // in_province: the figure has no split
  // Outside [0, kMaxPeople]: kept so that a rollup reading it gives an error rather than a
  // plausible figure (ingestion bounds what it stores; this is defence in depth).
  static constexpr int32_t kOutOfRange = std::numeric_limits<int32_t>::min();
  // participants: the scheme has no figure for the month.
  static constexpr int32_t kNoFigure = std::numeric_limits<int32_t>::min() + 1;

  // One month of a unit; index = Scheme value - 1 (the reported schemes).
  struct Row {
    int32_t month_index = 0;  // Month::Index()
    std::array<int32_t, 4> participants = {kNoFigure, kNoFigure, kNoFigure, kNoFigure};
    std::array<int32_t, 4> in_province = {kNoSplit, kNoSplit, kNoSplit, kNoSplit};
  };

  // One month of one measure series (measure_rollup.h MeasureKeyIndex) of a unit: 12 bytes, not
  // 16 (the value aligned to 4, which x86-64 and arm64 read as fast): a quarter less memory per
  // value, where the whole country holds 1.2 M values per key over ten years. Fields are only
  // read and written by value, never through a pointer to a member.
#pragma pack(push, 4)
  struct MeasureCell {
    int32_t month_index = 0;  // Month::Index()
    int64_t value = 0;        // as exported; a rollup checks it against the measure's bound
  };
#pragma pack(pop)
  static_assert(sizeof(MeasureCell) == 12);
  // A unit's values of one (measure, scheme, payer group), ordered by month.
  struct MeasureSeries {
    int key = 0;  // MeasureKeyIndex
    std::vector<MeasureCell> cells;
  };

  // Later additions for the same (unit, month, scheme) replace earlier ones.
  void AddRecord(const v1::ParticipationRecord& record);
  void AddDenominator(const v1::DenominatorRecord& record);
  // Later additions for the same (unit, month, measure, scheme, payer group) replace earlier
  // ones. A key the registry does not know (an ingestion newer than this replica) is skipped.
  void AddMeasure(const v1::MeasureRecord& record);
  // Gives back the room vectors grew into while loading (a snapshot is added once, then only
  // changed a little at a time).
  void ShrinkToFit();

  // The dense id of `code`; -1 when nothing was ever added for it.
  int IdOf(absl::string_view code) const;
  // The unit's months with any figure, ordered by month (empty for id -1).
  absl::Span<const Row> Rows(int id) const;
  std::optional<int64_t> Denominator(int id, int year, v1::DenominatorKind kind) const;
  // The unit's values of measure key `key`, ordered by month (empty when none).
  absl::Span<const MeasureCell> Measure(int id, int key) const;
  // Whether any unit holds a value of measure key `key` (a rollup of a key nobody reports is
  // absent without walking the tree).
  bool HasMeasureKey(int key) const {
    return key >= 0 && key < static_cast<int>(series_per_key_.size()) && series_per_key_[key] > 0;
  }
  // Bytes held by measure values (cells and series), for the benchmark's memory figure.
  size_t MeasureBytes() const;

 private:
  struct Yearly {
    int year = 0;
    std::array<std::optional<int64_t>, 3> value;  // index = DenominatorKind value, 1..2
  };
  struct PerUnit {
    std::vector<Row> rows;             // ordered by month
    std::vector<Yearly> denominators;  // ordered by year
    // Ordered by key: a unit has at most one series per key (28 keys), each month after month,
    // so a snapshot (month after month) appends and a rollup finds a key's period in one place.
    std::vector<MeasureSeries> measures;
  };
  PerUnit& Unit(absl::string_view code);

  absl::flat_hash_map<std::string, int> ids_;
  std::vector<PerUnit> units_;
  std::vector<int> series_per_key_;  // index = measure key: units holding a series of it
};

// The hierarchy laid out for rollups, built once per hierarchy (the follower builds it when
// units change, before taking its writer lock): every version with its dates as ranks among all
// the dates the versions name (so validity is two integer comparisons in exactly the text order
// ValidOn uses), each code's versions, and each code's children ordered by code, so that the
// subtree of any unit on any date is read without a string or an allocation per node.
class TreeIndex {
 public:
  // `units`: every version `hierarchy` was built from (the index points into `hierarchy`).
  TreeIndex(std::shared_ptr<const Hierarchy> hierarchy, absl::Span<const v1::AdminUnit> units);
  TreeIndex(const TreeIndex&) = delete;
  TreeIndex& operator=(const TreeIndex&) = delete;

  const Hierarchy& hierarchy() const { return *hierarchy_; }

 private:
  friend class RollupTree;
  friend class SummaryMemo;
  struct Version {
    const v1::AdminUnit* unit = nullptr;
    int code = 0;      // code id
    int from = -1;     // position of valid_from in dates_; -1: open
    int to = 1 << 30;  // position of valid_to in dates_; open: above every rank
    MonthRange stock_months;
  };
  // How many of the dates named are <= `date`: a version is valid on `date` exactly when
  // from < rank <= to (valid_from <= date < valid_to as text).
  int Rank(absl::string_view date) const;
  static bool ValidAt(const Version& v, int rank) { return v.from < rank && rank <= v.to; }
  // The version of code id `code` valid at `rank` (the first, as VersionOn); -1 when none.
  int VersionAt(int code, int rank) const;

  std::shared_ptr<const Hierarchy> hierarchy_;
  std::vector<std::string> dates_;  // every valid_from and valid_to named, sorted, distinct
  std::vector<Version> versions_;
  absl::flat_hash_map<std::string, int> code_ids_;
  std::vector<std::vector<int>> versions_of_;  // code id -> versions, ordered by valid_from
  std::vector<std::vector<int>> children_of_;  // code id -> versions beneath, ordered by code
  std::vector<std::vector<int>> parents_of_;   // code id -> the code ids its versions name
  int nation_code_ = 0;
};

// One unit of a subtree being rolled up. The nodes are in preorder: a node's subtree is
// [index, index + size), its first child at index + 1, each next one past the last's subtree.
struct RollupNode {
  const v1::AdminUnit* unit = nullptr;
  int version = -1;  // in the TreeIndex; -1 when read from a Hierarchy
  int data = -1;     // CoverageData::IdOf the code
  int size = 1;      // nodes in its subtree, itself included
  int leaves = 1;    // leaf units beneath (1 for a leaf)
  // The months whose stock belongs to this unit version (common/hierarchy StockMonths).
  MonthRange stock_months;
};

// The subtree of `unit_code` ("VN" or empty: the nation) on `date`, in preorder, as every rollup
// reads it; empty when the code names no unit then.
std::vector<RollupNode> SubtreeAt(const TreeIndex& tree, const CoverageData& data,
                                  absl::string_view unit_code, absl::string_view date);

// What a rollup keeps of an internal unit version's subtree for one period, so that a later
// rollup above it reads its figures instead of walking it (rollup.cc).
struct SubtreeSummary;

// Summaries of internal unit versions per period (never of leaves: a leaf's figure is a lookup),
// filled by rollups and dropped precisely when a change could alter them, so that a rollup after
// a write walks only the changed unit's path and the children along it. Bounded: when full, the
// older half (entries not used since the last turnover) is dropped. Thread-safe. Valid for one
// TreeIndex (its versions' numbers): cleared when the tree is replaced.
class SummaryMemo {
 public:
  explicit SummaryMemo(size_t max_entries) : max_entries_(std::max<size_t>(max_entries, 2)) {}
  SummaryMemo(const SummaryMemo&) = delete;
  SummaryMemo& operator=(const SummaryMemo&) = delete;

  void Clear();
  // A figure of `unit_code` for month `month_index` (Month::Index()) changed: drops the
  // summaries of every version of the code and of its ancestors (through any version) for the
  // periods containing that month.
  void TouchMonth(const TreeIndex& tree, absl::string_view unit_code, int month_index);
  // A denominator of `unit_code` for `year` changed: the same, for every period of that year.
  void TouchYear(const TreeIndex& tree, absl::string_view unit_code, int year);

  struct Stats {
    size_t entries = 0;
    int64_t hits = 0;     // subtrees a rollup read from a summary
    int64_t stored = 0;   // summaries computed and kept
    int64_t dropped = 0;  // summaries dropped by a change (not by the bound)
  };
  Stats stats() const;

 private:
  friend class RollupTree;
  friend absl::StatusOr<v1::Coverage> RollupCoverage(const TreeIndex&, const CoverageData&,
                                                     absl::string_view, const Period&,
                                                     SummaryMemo*);
  struct Key {
    int version = 0;  // in the TreeIndex
    int first = 0;    // the period's months, Month::Index()
    int last = 0;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.version, k.first, k.last);
    }
    friend bool operator==(const Key& a, const Key& b) {
      return a.version == b.version && a.first == b.first && a.last == b.last;
    }
  };
  using Map = absl::flat_hash_map<Key, std::shared_ptr<const SubtreeSummary>>;
  std::shared_ptr<const SubtreeSummary> Find(const Key& key);
  void Store(const Key& key, std::shared_ptr<const SubtreeSummary> summary);
  void Insert(const Key& key, std::shared_ptr<const SubtreeSummary> summary)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the summaries of `unit_code`'s versions and their ancestors' for periods [first, last]
  // in `periods`.
  void Drop(const TreeIndex& tree, absl::string_view unit_code,
            absl::Span<const std::pair<int, int>> periods);

  const size_t max_entries_;
  mutable absl::Mutex mu_;
  // Two generations: a summary found in `older_` moves to `recent_`; when `recent_` holds half
  // the bound, it becomes `older_` and the previous older generation is dropped.
  Map recent_ ABSL_GUARDED_BY(mu_);
  Map older_ ABSL_GUARDED_BY(mu_);
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t stored_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

// The coverage of `unit_code` for `period`, all five schemes in kAllSchemes order, without
// comparisons. NOT_FOUND when the code names no unit on the period's last day. Every form gives
// the same answer; the TreeIndex ones (the service's) read the tree without strings, and with a
// `memo` compose the figure from the summaries of subtrees it holds, keeping those it computes.
absl::StatusOr<v1::Coverage> RollupCoverage(const Hierarchy& hierarchy, const CoverageData& data,
                                            absl::string_view unit_code, const Period& period);
absl::StatusOr<v1::Coverage> RollupCoverage(const TreeIndex& tree, const CoverageData& data,
                                            absl::string_view unit_code, const Period& period,
                                            SummaryMemo* memo = nullptr);

// The periods a GetCoverage answer compares with: the same period a year earlier, then the ends
// of the `previous_year_ends` years before the period's year, newest first (none before 1900).
std::vector<Period> ComparisonPeriods(const Period& period, int previous_year_ends);

// Compares `now` with `then` (same scheme). Percentages in points. territory_changed and the
// unit fields are left for the caller, who knows the hierarchy.
v1::Comparison Compare(const v1::SchemeCoverage& now, const v1::SchemeCoverage& then,
                       const std::string& then_period);

// Orders and keeps only the requested schemes (empty: all five).
void SelectSchemes(const std::vector<v1::Scheme>& schemes, v1::Coverage* coverage);

}  // namespace covtrack::aggregation
