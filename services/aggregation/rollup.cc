#include "services/aggregation/rollup.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "services/aggregation/measure_rollup.h"

namespace covtrack::aggregation {

// What a rollup keeps of an internal node for one period: every figure a rollup above it reads
// of its subtree, so that the subtree is not walked again until a change touches it.
struct SubtreeSummary {
  // The rolled-up figure of one node for one scheme.
  struct Figure {
    int latest = -1;        // month index; -1: nothing reported in the period
    bool from_own = false;  // one figure for the whole of this unit's territory
    int64_t participants = 0;
    std::optional<int64_t> in_province;
    int missing_in_province = 0;
    // SCHEME_SOCIAL only: contributing units with one of compulsory and voluntary for the month
    // read and not the other. A figure with any is no figure for BHXH as a whole.
    int missing_part = 0;
  };
  struct Denominator {
    int64_t value = 0;
    int missing = 0;
  };
  // Leaves reporting the node's figure, per month of the period (offset from its first month):
  // the root's as_of month, which reporting_units counts for, is only known at the root.
  using Reporting = std::array<int32_t, 12>;

  int leaves = 0;
  int height = 0;  // levels beneath the node in its subtree (the depth bound cuts none)
  std::array<Figure, 5> figures;  // index = Scheme value - 1 (SCHEME_SOCIAL last)
  std::array<Reporting, 5> reporting;
  std::array<Denominator, 2> denominators;  // index = DenominatorKind value - 1
};

namespace {

using Node = RollupNode;
using SchemeFigure = SubtreeSummary::Figure;
using DenominatorFigure = SubtreeSummary::Denominator;
using Months = SubtreeSummary::Reporting;

constexpr int kSocialSlot = v1::SCHEME_SOCIAL - 1;
int Slot(v1::Scheme scheme) { return scheme - 1; }

// A subtree as a rollup reads it: its nodes in preorder and, when read with a memo, per node the
// summary standing for its subtree (such a node is read as a leaf: its subtree is not listed),
// its depth and its height (levels beneath it).
struct Subtree {
  std::vector<Node> nodes;
  std::vector<std::shared_ptr<const SubtreeSummary>> summaries;  // empty without a memo
  std::vector<int> depth;
  std::vector<int> height;
};

// Finishes the node at `index` once its subtree has been appended: its size and leaves (and,
// read with a memo, its height).
void CloseNode(Subtree& subtree, int index) {
  std::vector<Node>& nodes = subtree.nodes;
  Node& node = nodes[index];
  node.size = static_cast<int>(nodes.size()) - index;
  if (node.size == 1) {
    node.leaves = 1;
    return;
  }
  int leaves = 0;
  int height = 0;
  const bool heights = !subtree.height.empty();
  for (int c = index + 1; c < index + node.size; c += nodes[c].size) {
    leaves += nodes[c].leaves;
    if (heights) {
      height = std::max(height, subtree.height[c] + 1);
    }
  }
  node.leaves = leaves;
  if (heights) {
    subtree.height[index] = height;
  }
}

// The subtree of `unit` on `date` read from a Hierarchy (the form without a TreeIndex).
void BuildFromHierarchy(const Hierarchy& hierarchy, const CoverageData& data,
                        const v1::AdminUnit* unit, const std::string& date, int depth,
                        Subtree& subtree) {
  const int index = static_cast<int>(subtree.nodes.size());
  Node node;
  node.unit = unit;
  node.data = data.IdOf(unit->code());
  node.stock_months = StockMonths(*unit);
  subtree.nodes.push_back(node);
  if (depth < kMaxHierarchyDepth) {
    for (const v1::AdminUnit* child : hierarchy.ChildrenAt(unit->code(), date)) {
      BuildFromHierarchy(hierarchy, data, child, date, depth + 1, subtree);
    }
  }
  CloseNode(subtree, index);
}

class Rollup {
 public:
  // `subtree`: the subtree rolled up (root first); `holds_year_figure`: whether a node's unit
  // version holds the period year's yearly figures (YearlyFigureHolder); `summarise`: compute
  // every figure a summary of each internal node needs (Summaries), not only the root's.
  Rollup(const CoverageData& data, const Period& period, Subtree subtree,
         absl::FunctionRef<bool(const Node&)> holds_year_figure, bool summarise)
      : data_(data),
        period_(period),
        first_(period.first_month().Index()),
        last_(period.last_month().Index()),
        nodes_(std::move(subtree.nodes)),
        summaries_(std::move(subtree.summaries)),
        depth_(std::move(subtree.depth)),
        height_(std::move(subtree.height)),
        holds_year_figure_(holds_year_figure),
        summarise_(summarise) {}

  // With `summarise`, an error may come from a figure the root's answer does not read (a
  // denominator beneath a unit that has its own): the caller then rolls up without summaries.
  absl::StatusOr<v1::Coverage> Run() {
    FindRows();
    for (auto& cached : denominators_) {
      cached.assign(nodes_.size(), std::nullopt);
    }
    v1::Coverage coverage;
    *coverage.mutable_unit() = *nodes_[0].unit;
    coverage.set_period(period_.ToString());
    std::array<v1::SchemeCoverage, 6> by_scheme;  // index = Scheme value
    for (v1::Scheme scheme : kReportedSchemes) {
      figures_[Slot(scheme)] = Figures(scheme);
      reporting_[Slot(scheme)] = ReportingOf(Slot(scheme));
      by_scheme[scheme] = SchemeRollup(scheme);
    }
    SocialFigures();
    reporting_[kSocialSlot] = ReportingOf(kSocialSlot);
    by_scheme[v1::SCHEME_SOCIAL] = SocialRollup();
    std::string as_of;
    for (v1::Scheme scheme : kAllSchemes) {
      as_of = std::max(as_of, by_scheme[scheme].as_of_month());
      *coverage.add_schemes() = std::move(by_scheme[scheme]);
    }
    coverage.set_as_of_month(as_of);
    if (summarise_) {
      for (int i : Summarised()) {
        for (v1::DenominatorKind kind :
             {v1::DENOMINATOR_KIND_POPULATION, v1::DENOMINATOR_KIND_LABOR_FORCE}) {
          DenominatorAt(i, kind);
        }
      }
    }
    if (!fault_.ok()) {
      return fault_;
    }
    return coverage;
  }

  // After a Run with `summarise` that succeeded: the summary of every internal node that was
  // read (not itself from a summary) and whose subtree the depth bound did not cut, by the
  // node's version.
  std::vector<std::pair<int, std::shared_ptr<const SubtreeSummary>>> Summaries() const {
    std::vector<std::pair<int, std::shared_ptr<const SubtreeSummary>>> out;
    for (int i : Summarised()) {
      auto summary = std::make_shared<SubtreeSummary>();
      summary->leaves = nodes_[i].leaves;
      summary->height = height_[i];
      for (int slot = 0; slot < 5; ++slot) {
        summary->figures[slot] = figures_[slot][i];
        summary->reporting[slot] = reporting_[slot][i];
      }
      for (int k = 0; k < 2; ++k) {
        summary->denominators[k] = *denominators_[k][i];
      }
      out.push_back({nodes_[i].version, std::move(summary)});
    }
    return out;
  }

 private:
  // The summary standing for node `index`'s subtree; nullptr when the node is read.
  const SubtreeSummary* Summary(int index) const {
    return summaries_.empty() ? nullptr : summaries_[index].get();
  }

  // The nodes a summary is made of (with `summarise`): internal, read, and not cut by the depth
  // bound (a summary is used only where its whole height fits beneath the node).
  std::vector<int> Summarised() const {
    std::vector<int> out;
    if (!summarise_) {
      return out;
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (Summary(i) == nullptr && nodes_[i].size > 1 &&
          depth_[i] + height_[i] < kMaxHierarchyDepth) {
        out.push_back(static_cast<int>(i));
      }
    }
    return out;
  }

  // A figure as exported, trusted only inside [0, kMaxPeople]: ingestion bounds what it
  // stores, but a count out of range here must give an error rather than a plausible rollup.
  // (Stored counts out of range are CoverageData::kOutOfRange, negative like any other.)
  int64_t Checked(int64_t value, absl::string_view code, absl::string_view what) {
    if ((value < 0 || value > kMaxPeople) && fault_.ok()) {
      fault_ = absl::InternalError(
          absl::StrCat("the ", what, " of unit ", code, " exported by ingestion is outside [0, ",
                       kMaxPeople, "]; no rollup of ", nodes_.empty() ? "" : nodes_[0].unit->code(),
                       " for ", period_.ToString(), " is given"));
    }
    return value;
  }

  // sum += value, or the first overflow recorded in fault_ (the rollup is then an error, never
  // a wrapped, plausible number).
  void Add(int64_t& sum, int64_t value, absl::string_view what) {
    if (__builtin_add_overflow(sum, value, &sum) && fault_.ok()) {
      fault_ = absl::InternalError(absl::StrCat("the ", what, " of ",
                                                nodes_.empty() ? "" : nodes_[0].unit->code(),
                                                " for ", period_.ToString(), " overflows"));
    }
  }

  // Per node read, its rows inside the period and inside its validity: [first, last) into
  // data_.Rows (rows are sorted by month: two binary searches per node, shared by the schemes).
  void FindRows() {
    rows_.resize(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const Node& node = nodes_[i];
      if (Summary(i) != nullptr) {
        continue;
      }
      const absl::Span<const CoverageData::Row> rows = data_.Rows(node.data);
      const int from = std::max(first_, node.stock_months.first);
      const int to = std::min(last_, node.stock_months.last);
      auto month_below = [](const CoverageData::Row& r, int m) { return r.month_index < m; };
      auto begin = std::lower_bound(rows.begin(), rows.end(), from, month_below);
      auto end = std::lower_bound(begin, rows.end(), to + 1, month_below);
      rows_[i] = {rows.data(), static_cast<int>(begin - rows.begin()),
                  static_cast<int>(end - rows.begin())};
    }
  }

  // The unit's own latest figure for `scheme` inside the period and inside its validity.
  struct Own {
    int month_index = -1;
    int32_t participants = 0;
    int32_t in_province = CoverageData::kNoSplit;
  };
  std::optional<Own> OwnLatest(int index, v1::Scheme scheme) const {
    const NodeRows& r = rows_[index];
    for (int i = r.end - 1; i >= r.begin; --i) {
      const CoverageData::Row& row = r.rows[i];
      if (row.participants[scheme - 1] != CoverageData::kNoFigure) {
        return Own{row.month_index, row.participants[scheme - 1], row.in_province[scheme - 1]};
      }
    }
    return std::nullopt;
  }

  SchemeFigure Figure(int index, v1::Scheme scheme, std::vector<SchemeFigure>& out) {
    if (const SubtreeSummary* summary = Summary(index)) {
      return summary->figures[Slot(scheme)];
    }
    const Node& node = nodes_[index];
    SchemeFigure figure;
    int children_latest = -1;
    for (int c = index + 1; c < index + node.size; c += nodes_[c].size) {
      out[c] = Figure(c, scheme, out);
      children_latest = std::max(children_latest, out[c].latest);
    }
    const std::optional<Own> own = OwnLatest(index, scheme);
    if (own.has_value() && own->month_index >= children_latest) {
      figure.latest = own->month_index;
      figure.from_own = true;
      figure.participants = Checked(own->participants, node.unit->code(), "participants");
      const bool split = own->in_province != CoverageData::kNoSplit;
      if (split) {
        figure.in_province =
            Checked(own->in_province, node.unit->code(), "in-province participants");
      }
      figure.missing_in_province = split ? 0 : 1;
      return figure;
    }
    figure.latest = children_latest;
    if (children_latest < 0) {
      return figure;
    }
    bool split_complete = true;
    int64_t in_province = 0;
    for (int c = index + 1; c < index + node.size; c += nodes_[c].size) {
      const SchemeFigure& child = out[c];
      if (child.latest < 0) {
        continue;  // nothing reported beneath: contributes zero and lacks no split
      }
      Add(figure.participants, child.participants, "participants");
      figure.missing_in_province += child.missing_in_province;
      if (child.in_province.has_value()) {
        Add(in_province, *child.in_province, "in-province participants");
      } else {
        split_complete = false;
      }
    }
    if (split_complete) {
      figure.in_province = in_province;
    }
    return figure;
  }

  // Per node, the leaves whose figure in `slot` was reported for each month of the period: a
  // figure read for the whole node (from_own) counts all its leaves for its month (for BHXH as a
  // whole only when no part is missing), any other the sum of its children's. Children come
  // after their parent in preorder: one pass backwards.
  std::vector<Months> ReportingOf(int slot) const {
    std::vector<Months> reporting(nodes_.size(), Months{});
    const int months = last_ - first_ + 1;
    for (int i = static_cast<int>(nodes_.size()) - 1; i >= 0; --i) {
      if (const SubtreeSummary* summary = Summary(i)) {
        reporting[i] = summary->reporting[slot];
        continue;
      }
      const SchemeFigure& figure = figures_[slot][i];
      if (figure.latest < 0) {
        continue;
      }
      if (figure.from_own) {
        if (figure.missing_part == 0 && InPeriod(figure.latest)) {
          reporting[i][figure.latest - first_] = nodes_[i].leaves;
        }
        continue;
      }
      for (int c = i + 1; c < i + nodes_[i].size; c += nodes_[c].size) {
        for (int m = 0; m < months; ++m) {
          reporting[i][m] += reporting[c][m];
        }
      }
    }
    return reporting;
  }

  bool InPeriod(int month) const { return month >= first_ && month <= last_; }

  // Leaves beneath node `index` whose figure in `slot` was reported for month `as_of`.
  int Reporting(int slot, int index, int as_of) const {
    return InPeriod(as_of) ? reporting_[slot][index][as_of - first_] : 0;
  }

  DenominatorFigure DenominatorAt(int index, v1::DenominatorKind kind) {
    std::optional<DenominatorFigure>& cached = denominators_[kind - 1][index];
    if (!cached.has_value()) {
      cached = Denominator(index, kind);
    }
    return *cached;
  }

  DenominatorFigure Denominator(int index, v1::DenominatorKind kind) {
    if (const SubtreeSummary* summary = Summary(index)) {
      return summary->denominators[kind - 1];
    }
    const Node& node = nodes_[index];
    std::optional<int64_t> own = data_.Denominator(node.data, period_.year(), kind);
    // A yearly figure belongs to its holder (common/hierarchy YearlyFigureHolder): a code
    // reused by another unit later in the year does not lend this unit its figure.
    if (own.has_value() && !holds_year_figure_(node)) {
      own.reset();
    }
    if (own.has_value()) {
      return {Checked(*own, node.unit->code(), "denominator"), 0};
    }
    if (node.size == 1) {
      return {0, 1};
    }
    DenominatorFigure sum;
    for (int c = index + 1; c < index + node.size; c += nodes_[c].size) {
      DenominatorFigure child = DenominatorAt(c, kind);
      Add(sum.value, child.value, "denominator");
      sum.missing += child.missing;
    }
    return sum;
  }

  // The scheme's denominator for the territory (absent when a unit lacks one) and, where the
  // scheme has a figure, its rate: participants over denominator, sums over sums.
  void SetDenominatorAndRate(v1::SchemeCoverage& sc) {
    const v1::DenominatorKind kind = DenominatorFor(sc.scheme());
    sc.set_denominator_kind(kind);
    const DenominatorFigure denominator = DenominatorAt(0, kind);
    sc.set_units_missing_denominator(denominator.missing);
    if (denominator.missing == 0) {
      sc.set_denominator(denominator.value);
    }
    if (!sc.as_of_month().empty() && sc.has_denominator() && sc.denominator() > 0) {
      sc.set_coverage_percent(100.0 * static_cast<double>(sc.participants()) /
                              static_cast<double>(sc.denominator()));
    }
  }

  // Every node's figure for one reported scheme (index = node).
  std::vector<SchemeFigure> Figures(v1::Scheme scheme) {
    std::vector<SchemeFigure> figures(nodes_.size());
    figures[0] = Figure(0, scheme, figures);
    return figures;
  }

  v1::SchemeCoverage SchemeRollup(v1::Scheme scheme) {
    const SchemeFigure& root = figures_[Slot(scheme)][0];
    v1::SchemeCoverage sc;
    sc.set_scheme(scheme);
    sc.set_expected_units(nodes_[0].leaves);
    if (root.latest >= 0) {
      sc.set_participants(root.participants);
      sc.set_as_of_month(Month{root.latest / 12, root.latest % 12 + 1}.ToString());
      sc.set_reporting_units(Reporting(Slot(scheme), 0, root.latest));
      if (root.in_province.has_value()) {
        sc.set_in_province_participants(*root.in_province);
      }
      sc.set_units_missing_in_province(root.missing_in_province);
    }
    SetDenominatorAndRate(sc);
    return sc;
  }

  // BHXH as a whole for every node a rollup reads: from the root down as far as the figure
  // needs, or (with `summarise`) every node, children before their parent.
  void SocialFigures() {
    figures_[kSocialSlot].assign(nodes_.size(), SchemeFigure{});
    social_done_.assign(nodes_.size(), false);
    if (summarise_) {
      for (int i = static_cast<int>(nodes_.size()) - 1; i >= 0; --i) {
        SocialFigureAt(i);
      }
    } else {
      SocialFigureAt(0);
    }
  }

  const SchemeFigure& SocialFigureAt(int index) {
    if (!social_done_[index]) {
      const SubtreeSummary* summary = Summary(index);
      figures_[kSocialSlot][index] =
          summary != nullptr ? summary->figures[kSocialSlot] : SocialFigure(index);
      social_done_[index] = true;
    }
    return figures_[kSocialSlot][index];
  }

  // BHXH as a whole (compulsory + voluntary) for node `index`, from both parts' figures. A part
  // reported for the whole node (from_own) pairs with the other part only when that one has a
  // figure for every leaf beneath for the same month; otherwise the node is read through its
  // children. A unit with neither part adds nothing, like a unit that reports no scheme.
  SchemeFigure SocialFigure(int index) {
    constexpr int kCompulsory = v1::SCHEME_COMPULSORY_SOCIAL - 1;
    constexpr int kVoluntary = v1::SCHEME_VOLUNTARY_SOCIAL - 1;
    const SchemeFigure& c = figures_[kCompulsory][index];
    const SchemeFigure& v = figures_[kVoluntary][index];
    SchemeFigure figure;
    if (c.latest < 0 && v.latest < 0) {
      return figure;
    }
    if (c.from_own || v.from_own) {
      figure.from_own = true;
      figure.latest = std::max(c.latest, v.latest);
      const bool whole =
          c.latest == v.latest &&
          (c.from_own || Reporting(kCompulsory, index, c.latest) == nodes_[index].leaves) &&
          (v.from_own || Reporting(kVoluntary, index, v.latest) == nodes_[index].leaves);
      if (!whole) {
        figure.missing_part = 1;
        return figure;
      }
      figure.participants = c.participants;
      Add(figure.participants, v.participants, "social participants");
      if (c.in_province.has_value() && v.in_province.has_value()) {
        int64_t in_province = *c.in_province;
        Add(in_province, *v.in_province, "social in-province participants");
        figure.in_province = in_province;
      }
      figure.missing_in_province = c.missing_in_province + v.missing_in_province;
      return figure;
    }
    bool split_complete = true;
    int64_t in_province = 0;
    for (int child = index + 1; child < index + nodes_[index].size; child += nodes_[child].size) {
      const SchemeFigure& f = SocialFigureAt(child);
      if (f.latest < 0) {
        continue;
      }
      figure.latest = std::max(figure.latest, f.latest);
      figure.missing_part += f.missing_part;
      Add(figure.participants, f.participants, "social participants");
      figure.missing_in_province += f.missing_in_province;
      if (f.in_province.has_value()) {
        Add(in_province, *f.in_province, "social in-province participants");
      } else {
        split_complete = false;
      }
    }
    if (split_complete) {
      figure.in_province = in_province;
    }
    return figure;
  }

  // SCHEME_SOCIAL, against the labour force: a figure only where both parts have one for the
  // whole territory read; otherwise no participants, split, rate or as_of_month, with
  // units_missing_part saying why and reporting_units counting the leaves that reported both.
  v1::SchemeCoverage SocialRollup() {
    const SchemeFigure& root = figures_[kSocialSlot][0];
    v1::SchemeCoverage sc;
    sc.set_scheme(v1::SCHEME_SOCIAL);
    sc.set_expected_units(nodes_[0].leaves);
    sc.set_units_missing_part(root.missing_part);
    if (root.latest >= 0) {
      sc.set_reporting_units(Reporting(kSocialSlot, 0, root.latest));
      if (root.missing_part == 0) {
        sc.set_participants(root.participants);
        sc.set_as_of_month(Month{root.latest / 12, root.latest % 12 + 1}.ToString());
        if (root.in_province.has_value()) {
          sc.set_in_province_participants(*root.in_province);
        }
        sc.set_units_missing_in_province(root.missing_in_province);
      }
    }
    SetDenominatorAndRate(sc);
    return sc;
  }

  const CoverageData& data_;
  const Period period_;
  const int first_;
  const int last_;
  const std::vector<Node> nodes_;
  const std::vector<std::shared_ptr<const SubtreeSummary>> summaries_;
  const std::vector<int> depth_;
  const std::vector<int> height_;
  const absl::FunctionRef<bool(const Node&)> holds_year_figure_;
  const bool summarise_;
  struct NodeRows {
    const CoverageData::Row* rows = nullptr;
    int begin = 0;  // [begin, end): the rows inside the period and the node's validity
    int end = 0;
  };
  std::vector<NodeRows> rows_;
  std::array<std::vector<SchemeFigure>, 5> figures_;  // index = Scheme value - 1; then per node
  std::array<std::vector<Months>, 5> reporting_;      // the same
  std::vector<bool> social_done_;
  std::array<std::vector<std::optional<DenominatorFigure>>, 2> denominators_;  // kind - 1
  absl::Status fault_;  // the first figure out of range or sum that overflowed
};

}  // namespace

// Reads a TreeIndex for rollups (its friend).
class RollupTree {
 public:
  // The subtree of `code` on `date` in preorder; empty when the code names no unit then. With a
  // `memo`, an internal node it holds a summary of for months [first, last] stands for its
  // subtree.
  static Subtree Build(const TreeIndex& tree, const CoverageData& data, absl::string_view code,
                       absl::string_view date, SummaryMemo* memo, int first, int last) {
    Subtree subtree;
    const int rank = tree.Rank(date);
    int root = -1;
    if (code.empty() || code == kNationCode) {
      root = tree.VersionAt(tree.nation_code_, rank);
    } else if (auto it = tree.code_ids_.find(code); it != tree.code_ids_.end()) {
      root = tree.VersionAt(it->second, rank);
    }
    if (root >= 0) {
      Add(tree, data, root, rank, 0, memo, first, last, subtree);
    }
    return subtree;
  }

  static int Rank(const TreeIndex& tree, absl::string_view date) { return tree.Rank(date); }

  // YearlyFigureHolder(code, year) == the node's version, read through the ranks where it can
  // be: `year_end` is the rank of the year's 31 December.
  static bool HoldsYearFigure(const TreeIndex& tree, const Node& node, int year, int year_end) {
    const TreeIndex::Version& v = tree.versions_[node.version];
    const int holder = tree.VersionAt(v.code, year_end);
    if (holder >= 0) {
      return holder == node.version;
    }
    // No version holds the code on 31 December (it ended within the year): the rule's second
    // part, rare enough to ask the hierarchy itself.
    return tree.hierarchy().YearlyFigureHolder(node.unit->code(), year) == node.unit;
  }

 private:
  static void Add(const TreeIndex& tree, const CoverageData& data, int version, int rank, int depth,
                  SummaryMemo* memo, int first, int last, Subtree& subtree) {
    const TreeIndex::Version& v = tree.versions_[version];
    const int index = static_cast<int>(subtree.nodes.size());
    Node node;
    node.unit = v.unit;
    node.version = version;
    node.data = data.IdOf(v.unit->code());
    node.stock_months = v.stock_months;
    subtree.nodes.push_back(node);
    if (memo != nullptr) {
      subtree.summaries.emplace_back();
      subtree.depth.push_back(depth);
      subtree.height.push_back(0);
    }
    if (depth < kMaxHierarchyDepth) {
      const std::vector<int>& children = tree.children_of_[v.code];
      if (memo != nullptr && std::any_of(children.begin(), children.end(), [&](int child) {
            return TreeIndex::ValidAt(tree.versions_[child], rank);
          })) {
        std::shared_ptr<const SubtreeSummary> summary = memo->Find({version, first, last});
        if (summary != nullptr && depth + summary->height < kMaxHierarchyDepth) {
          subtree.nodes[index].leaves = summary->leaves;
          subtree.height[index] = summary->height;
          subtree.summaries[index] = std::move(summary);
          return;
        }
      }
      for (int child : children) {
        if (TreeIndex::ValidAt(tree.versions_[child], rank)) {
          Add(tree, data, child, rank, depth + 1, memo, first, last, subtree);
        }
      }
    }
    CloseNode(subtree, index);
  }
};

namespace {

// A stored count: the value, or kOutOfRange outside [0, kMaxPeople].
int32_t StoredCount(int64_t value) {
  return value < 0 || value > kMaxPeople ? CoverageData::kOutOfRange : static_cast<int32_t>(value);
}

}  // namespace

std::vector<RollupNode> SubtreeAt(const TreeIndex& tree, const CoverageData& data,
                                  absl::string_view unit_code, absl::string_view date) {
  return RollupTree::Build(tree, data, unit_code, date, /*memo=*/nullptr, 0, 0).nodes;
}

CoverageData::PerUnit& CoverageData::Unit(absl::string_view code) {
  auto [it, added] = ids_.try_emplace(code, static_cast<int>(units_.size()));
  if (added) {
    units_.emplace_back();
  }
  return units_[it->second];
}

void CoverageData::AddRecord(const v1::ParticipationRecord& record) {
  if (!IsReportedScheme(record.scheme())) {
    return;
  }
  absl::StatusOr<Month> month = Month::Parse(record.month());
  if (!month.ok()) {
    return;
  }
  const int month_index = month->Index();
  std::vector<Row>& rows = Unit(record.unit_code()).rows;
  // A snapshot comes month after month for each unit: the last row or a new one at the end
  // is the common case.
  auto it = rows.end();
  if (!rows.empty() && rows.back().month_index >= month_index) {
    it = std::lower_bound(rows.begin(), rows.end(), month_index,
                          [](const Row& r, int m) { return r.month_index < m; });
  }
  if (it == rows.end() || it->month_index != month_index) {
    it = rows.insert(it, Row{});
    it->month_index = month_index;
  }
  const int s = record.scheme() - 1;
  it->participants[s] = StoredCount(record.participants());
  it->in_province[s] = record.has_in_province_participants()
                           ? StoredCount(record.in_province_participants())
                           : kNoSplit;
}

void CoverageData::AddDenominator(const v1::DenominatorRecord& record) {
  if (record.kind() != v1::DENOMINATOR_KIND_POPULATION &&
      record.kind() != v1::DENOMINATOR_KIND_LABOR_FORCE) {
    return;
  }
  std::vector<Yearly>& years = Unit(record.unit_code()).denominators;
  auto it = std::lower_bound(years.begin(), years.end(), record.year(),
                             [](const Yearly& y, int year) { return y.year < year; });
  if (it == years.end() || it->year != record.year()) {
    it = years.insert(it, Yearly{record.year(), {}});
  }
  it->value[record.kind()] = record.value();
}

void CoverageData::AddMeasure(const v1::MeasureRecord& record) {
  const int key = MeasureKeyIndex(record.measure(), record.scheme(), record.payer_group());
  absl::StatusOr<Month> month = Month::Parse(record.month());
  if (key < 0 || !month.ok()) {
    return;
  }
  const int month_index = month->Index();
  std::vector<MeasureSeries>& all = Unit(record.unit_code()).measures;
  auto series = std::lower_bound(all.begin(), all.end(), key,
                                 [](const MeasureSeries& s, int k) { return s.key < k; });
  if (series == all.end() || series->key != key) {
    series = all.insert(series, MeasureSeries{key, {}});
    if (key >= static_cast<int>(series_per_key_.size())) {
      series_per_key_.resize(key + 1, 0);
    }
    ++series_per_key_[key];
  }
  std::vector<MeasureCell>& cells = series->cells;
  // A snapshot comes month after month: appending is the common case.
  auto it = cells.end();
  if (!cells.empty() && cells.back().month_index >= month_index) {
    it = std::lower_bound(cells.begin(), cells.end(), month_index,
                          [](const MeasureCell& c, int m) { return c.month_index < m; });
  }
  if (it == cells.end() || it->month_index != month_index) {
    it = cells.insert(it, MeasureCell{month_index, 0});
  }
  it->value = record.value();
}

void CoverageData::ShrinkToFit() {
  units_.shrink_to_fit();
  for (PerUnit& unit : units_) {
    unit.rows.shrink_to_fit();
    unit.denominators.shrink_to_fit();
    unit.measures.shrink_to_fit();
    for (MeasureSeries& series : unit.measures) {
      series.cells.shrink_to_fit();
    }
  }
}

absl::Span<const CoverageData::MeasureCell> CoverageData::Measure(int id, int key) const {
  if (id < 0) {
    return {};
  }
  const std::vector<MeasureSeries>& all = units_[id].measures;
  auto series = std::lower_bound(all.begin(), all.end(), key,
                                 [](const MeasureSeries& s, int k) { return s.key < k; });
  if (series == all.end() || series->key != key) {
    return {};
  }
  return series->cells;
}

size_t CoverageData::MeasureBytes() const {
  size_t bytes = 0;
  for (const PerUnit& unit : units_) {
    bytes += unit.measures.capacity() * sizeof(MeasureSeries);
    for (const MeasureSeries& series : unit.measures) {
      bytes += series.cells.capacity() * sizeof(MeasureCell);
    }
  }
  return bytes;
}

int CoverageData::IdOf(absl::string_view code) const {
  auto it = ids_.find(code);
  return it == ids_.end() ? -1 : it->second;
}

absl::Span<const CoverageData::Row> CoverageData::Rows(int id) const {
  if (id < 0) {
    return {};
  }
  return units_[id].rows;
}

std::optional<int64_t> CoverageData::Denominator(int id, int year, v1::DenominatorKind kind) const {
  if (id < 0 || kind < 1 || kind > 2) {
    return std::nullopt;
  }
  const std::vector<Yearly>& years = units_[id].denominators;
  auto it = std::lower_bound(years.begin(), years.end(), year,
                             [](const Yearly& y, int year) { return y.year < year; });
  if (it == years.end() || it->year != year) {
    return std::nullopt;
  }
  return it->value[kind];
}

TreeIndex::TreeIndex(std::shared_ptr<const Hierarchy> hierarchy,
                     absl::Span<const v1::AdminUnit> units)
    : hierarchy_(std::move(hierarchy)) {
  auto code_id = [this](const std::string& code) {
    auto [it, added] = code_ids_.try_emplace(code, static_cast<int>(versions_of_.size()));
    if (added) {
      versions_of_.emplace_back();
      children_of_.emplace_back();
      parents_of_.emplace_back();
    }
    return it->second;
  };
  nation_code_ = code_id(std::string(kNationCode));
  // The versions as the hierarchy holds them (pointers into it), each code once.
  std::vector<const v1::AdminUnit*> held;
  for (const v1::AdminUnit& u : units) {
    if (u.code() == kNationCode || code_ids_.contains(u.code())) {
      continue;
    }
    code_id(u.code());
    for (const v1::AdminUnit& v : hierarchy_->VersionsOf(u.code())) {
      held.push_back(&v);
    }
  }
  held.push_back(hierarchy_->UnitAt(kNationCode, ""));
  for (const v1::AdminUnit* v : held) {
    for (const std::string* date : {&v->valid_from(), &v->valid_to()}) {
      if (!date->empty()) {
        dates_.push_back(*date);
      }
    }
  }
  std::sort(dates_.begin(), dates_.end());
  dates_.erase(std::unique(dates_.begin(), dates_.end()), dates_.end());
  auto position = [this](const std::string& date) {
    return static_cast<int>(std::lower_bound(dates_.begin(), dates_.end(), date) - dates_.begin());
  };
  versions_.reserve(held.size());
  for (const v1::AdminUnit* v : held) {
    Version version;
    version.unit = v;
    version.code = code_id(v->code());
    // `from` and `to` are the positions of valid_from and valid_to in dates_; as Rank(date)
    // counts the dates <= date: valid_from <= date <=> from < Rank(date), and
    // date < valid_to <=> Rank(date) <= to.
    if (!v->valid_from().empty()) {
      version.from = position(v->valid_from());
    }
    if (!v->valid_to().empty()) {
      version.to = position(v->valid_to());
    }
    version.stock_months = StockMonths(*v);
    const int index = static_cast<int>(versions_.size());
    versions_.push_back(version);
    versions_of_[version.code].push_back(index);
    if (v->code() != kNationCode) {
      const int parent = code_id(ParentCodeOf(*v));
      children_of_[parent].push_back(index);
      std::vector<int>& parents = parents_of_[version.code];
      if (std::find(parents.begin(), parents.end(), parent) == parents.end()) {
        parents.push_back(parent);
      }
    }
  }
  // As Hierarchy::ChildrenAt lists them: by code, then valid_from. (versions_of_ keeps the
  // hierarchy's order, by valid_from, since VersionsOf gave them so.)
  for (std::vector<int>& children : children_of_) {
    std::sort(children.begin(), children.end(), [this](int a, int b) {
      const v1::AdminUnit& x = *versions_[a].unit;
      const v1::AdminUnit& y = *versions_[b].unit;
      return x.code() != y.code() ? x.code() < y.code() : x.valid_from() < y.valid_from();
    });
  }
}

int TreeIndex::Rank(absl::string_view date) const {
  return static_cast<int>(std::upper_bound(dates_.begin(), dates_.end(), date) - dates_.begin());
}

int TreeIndex::VersionAt(int code, int rank) const {
  for (int v : versions_of_[code]) {
    if (ValidAt(versions_[v], rank)) {
      return v;
    }
  }
  return -1;
}

namespace {

absl::Status NoUnit(absl::string_view unit_code, absl::string_view date) {
  return absl::NotFoundError(
      absl::StrCat("unit_code \"", unit_code, "\" names no administrative unit on ", date));
}

}  // namespace

absl::StatusOr<v1::Coverage> RollupCoverage(const Hierarchy& hierarchy, const CoverageData& data,
                                            absl::string_view unit_code, const Period& period) {
  const std::string date = period.last_month().LastDay();
  const v1::AdminUnit* unit = hierarchy.UnitAt(unit_code, date);
  if (unit == nullptr) {
    return NoUnit(unit_code, date);
  }
  Subtree subtree;
  BuildFromHierarchy(hierarchy, data, unit, date, 0, subtree);
  auto holds = [&](const Node& node) {
    return hierarchy.YearlyFigureHolder(node.unit->code(), period.year()) == node.unit;
  };
  return Rollup(data, period, std::move(subtree), holds, /*summarise=*/false).Run();
}

absl::StatusOr<v1::Coverage> RollupCoverage(const TreeIndex& tree, const CoverageData& data,
                                            absl::string_view unit_code, const Period& period,
                                            SummaryMemo* memo) {
  const std::string date = period.last_month().LastDay();
  const int first = period.first_month().Index();
  const int last = period.last_month().Index();
  Subtree subtree = RollupTree::Build(tree, data, unit_code, date, memo, first, last);
  if (subtree.nodes.empty()) {
    return NoUnit(unit_code, date);
  }
  const int year_end = RollupTree::Rank(tree, YearEnd(period.year()));
  auto holds = [&](const Node& node) {
    return RollupTree::HoldsYearFigure(tree, node, period.year(), year_end);
  };
  Rollup rollup(data, period, std::move(subtree), holds, /*summarise=*/memo != nullptr);
  absl::StatusOr<v1::Coverage> coverage = rollup.Run();
  if (memo == nullptr) {
    return coverage;
  }
  if (!coverage.ok()) {
    // Summarising reads figures the answer may not (a denominator beneath a unit that has its
    // own): the answer, or its error, is the one of a rollup reading only what it needs. Nothing
    // is kept of a subtree with a fault, so this is the rare path.
    return RollupCoverage(tree, data, unit_code, period, nullptr);
  }
  for (auto& [version, summary] : rollup.Summaries()) {
    memo->Store({version, first, last}, std::move(summary));
  }
  return coverage;
}

void SummaryMemo::Clear() {
  absl::MutexLock lock(&mu_);
  dropped_ += static_cast<int64_t>(recent_.size() + older_.size());
  recent_.clear();
  older_.clear();
}

std::shared_ptr<const SubtreeSummary> SummaryMemo::Find(const Key& key) {
  absl::MutexLock lock(&mu_);
  if (auto it = recent_.find(key); it != recent_.end()) {
    ++hits_;
    return it->second;
  }
  auto it = older_.find(key);
  if (it == older_.end()) {
    return nullptr;
  }
  ++hits_;
  std::shared_ptr<const SubtreeSummary> summary = std::move(it->second);
  older_.erase(it);
  Insert(key, summary);
  return summary;
}

void SummaryMemo::Store(const Key& key, std::shared_ptr<const SubtreeSummary> summary) {
  absl::MutexLock lock(&mu_);
  ++stored_;
  older_.erase(key);
  Insert(key, std::move(summary));
}

void SummaryMemo::Insert(const Key& key, std::shared_ptr<const SubtreeSummary> summary) {
  recent_[key] = std::move(summary);
  if (recent_.size() >= max_entries_ / 2) {
    // The older generation (summaries unused since the last turnover) goes: at most
    // max_entries_ are held, and what rollups keep reading stays.
    older_.swap(recent_);
    recent_.clear();
  }
}

void SummaryMemo::Drop(const TreeIndex& tree, absl::string_view unit_code,
                       absl::Span<const std::pair<int, int>> periods) {
  auto code = tree.code_ids_.find(unit_code);
  if (code == tree.code_ids_.end()) {
    return;  // no unit version has the code: no rollup reads its figures
  }
  // The code and every ancestor of any of its versions (over-dropping is safe: a rollup after a
  // change of units reads another tree anyway, and the memo is then cleared).
  std::vector<int> codes = {code->second};
  absl::flat_hash_set<int> seen = {code->second};
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < codes.size(); ++i) {
    for (int version : tree.versions_of_[codes[i]]) {
      for (const auto& [first, last] : periods) {
        const Key key{version, first, last};
        dropped_ += static_cast<int64_t>(recent_.erase(key) + older_.erase(key));
      }
    }
    for (int parent : tree.parents_of_[codes[i]]) {
      if (seen.insert(parent).second) {
        codes.push_back(parent);
      }
    }
  }
}

void SummaryMemo::TouchMonth(const TreeIndex& tree, absl::string_view unit_code, int month_index) {
  // The periods containing the month (common/period.h): its year, half, quarter and itself.
  const int year_start = month_index - month_index % 12;
  const int half = year_start + (month_index % 12) / 6 * 6;
  const int quarter = year_start + (month_index % 12) / 3 * 3;
  const std::pair<int, int> periods[] = {{year_start, year_start + 11},
                                         {half, half + 5},
                                         {quarter, quarter + 2},
                                         {month_index, month_index}};
  Drop(tree, unit_code, periods);
}

void SummaryMemo::TouchYear(const TreeIndex& tree, absl::string_view unit_code, int year) {
  // Every period of the year: a denominator is yearly.
  const int start = year * 12;
  std::vector<std::pair<int, int>> periods = {{start, start + 11}};
  for (int h = 0; h < 2; ++h) {
    periods.push_back({start + h * 6, start + h * 6 + 5});
  }
  for (int q = 0; q < 4; ++q) {
    periods.push_back({start + q * 3, start + q * 3 + 2});
  }
  for (int m = 0; m < 12; ++m) {
    periods.push_back({start + m, start + m});
  }
  Drop(tree, unit_code, periods);
}

SummaryMemo::Stats SummaryMemo::stats() const {
  absl::MutexLock lock(&mu_);
  return {recent_.size() + older_.size(), hits_, stored_, dropped_};
}

std::vector<Period> ComparisonPeriods(const Period& period, int previous_year_ends) {
  // Years before 1900 are outside what periods and months accept anywhere in covtrack.
  constexpr int kFirstYear = 1900;
  std::vector<Period> periods;
  if (period.year() - 1 >= kFirstYear) {
    periods.push_back(period.SamePeriodLastYear());
  }
  for (int i = 1; i <= previous_year_ends && period.year() - i >= kFirstYear; ++i) {
    periods.push_back(Period::ForYear(period.year() - i));
  }
  return periods;
}

v1::Comparison Compare(const v1::SchemeCoverage& now, const v1::SchemeCoverage& then,
                       const std::string& then_period) {
  v1::Comparison c;
  c.set_period(then_period);
  if (!then.as_of_month().empty()) {
    c.set_participants(then.participants());
    int64_t change = 0;
    // Left out rather than wrapped when the two figures are too far apart to subtract.
    if (!now.as_of_month().empty() &&
        !__builtin_sub_overflow(now.participants(), then.participants(), &change)) {
      c.set_participants_change(change);
    }
  }
  c.set_as_of_month(then.as_of_month());
  c.set_reporting_units(then.reporting_units());
  c.set_expected_units(then.expected_units());
  if (then.has_coverage_percent()) {
    c.set_coverage_percent(then.coverage_percent());
    if (now.has_coverage_percent()) {
      c.set_coverage_points_change(now.coverage_percent() - then.coverage_percent());
    }
  }
  return c;
}

void SelectSchemes(const std::vector<v1::Scheme>& schemes, v1::Coverage* coverage) {
  if (schemes.empty()) {
    return;
  }
  std::vector<v1::SchemeCoverage> all(coverage->schemes().begin(), coverage->schemes().end());
  coverage->clear_schemes();
  for (v1::Scheme scheme : schemes) {
    for (const v1::SchemeCoverage& sc : all) {
      if (sc.scheme() == scheme) {
        *coverage->add_schemes() = sc;
      }
    }
  }
}

}  // namespace covtrack::aggregation
