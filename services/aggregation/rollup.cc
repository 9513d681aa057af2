#include "services/aggregation/rollup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/domain.h"

namespace covtrack::aggregation {
namespace {

std::string DenominatorKey(absl::string_view code, int year) {
  return absl::StrCat(code, "|", year);
}

// One unit of the territory being rolled up.
struct Node {
  const v1::AdminUnit* unit = nullptr;
  std::vector<int> children;  // indexes into the node vector
  int leaves = 0;             // leaf units beneath (1 for a leaf)
  // The months whose stock belongs to this unit version (common/hierarchy StockMonths).
  MonthRange stock_months;
};

// The rolled-up figure of one node for one scheme.
struct SchemeFigure {
  int latest = -1;        // month index; -1: nothing reported in the period
  bool from_own = false;  // one figure for the whole of this unit's territory
  int64_t participants = 0;
  std::optional<int64_t> in_province;
  int missing_in_province = 0;
  // SCHEME_SOCIAL only: contributing units with one of compulsory and voluntary for the month
  // read and not the other. A figure with any is no figure for BHXH as a whole.
  int missing_part = 0;
};

struct DenominatorFigure {
  int64_t value = 0;
  int missing = 0;
};

class Rollup {
 public:
  Rollup(const Hierarchy& hierarchy, const CoverageData& data, const Period& period)
      : hierarchy_(hierarchy),
        data_(data),
        period_(period),
        date_(period.last_month().LastDay()),
        first_(period.first_month().Index()),
        last_(period.last_month().Index()) {}

  absl::StatusOr<v1::Coverage> Run(absl::string_view unit_code) {
    const v1::AdminUnit* unit = hierarchy_.UnitAt(unit_code, date_);
    if (unit == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("unit_code \"", unit_code, "\" names no administrative unit on ", date_));
    }
    Build(unit);
    v1::Coverage coverage;
    *coverage.mutable_unit() = *unit;
    coverage.set_period(period_.ToString());
    std::array<v1::SchemeCoverage, 6> by_scheme;  // index = Scheme value
    std::array<std::vector<SchemeFigure>, 6> figures;
    for (v1::Scheme scheme : kReportedSchemes) {
      figures[scheme] = Figures(scheme);
      by_scheme[scheme] = SchemeRollup(scheme, figures[scheme]);
    }
    by_scheme[v1::SCHEME_SOCIAL] =
        SocialRollup(figures[v1::SCHEME_COMPULSORY_SOCIAL], figures[v1::SCHEME_VOLUNTARY_SOCIAL]);
    std::string as_of;
    for (v1::Scheme scheme : kAllSchemes) {
      as_of = std::max(as_of, by_scheme[scheme].as_of_month());
      *coverage.add_schemes() = std::move(by_scheme[scheme]);
    }
    coverage.set_as_of_month(as_of);
    if (!fault_.ok()) {
      return fault_;
    }
    return coverage;
  }

 private:
  // A figure as exported, trusted only inside [0, kMaxPeople]: ingestion bounds what it
  // stores, but a count out of range here must give an error rather than a plausible rollup.
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

  // Builds the node tree beneath `unit` as of the period's end, root at index 0.
  int Build(const v1::AdminUnit* unit) {
    const int index = static_cast<int>(nodes_.size());
    nodes_.push_back(Node{});
    nodes_[index].unit = unit;
    nodes_[index].stock_months = StockMonths(*unit);
    std::vector<int> children;
    for (const v1::AdminUnit* child : hierarchy_.ChildrenAt(unit->code(), date_)) {
      children.push_back(Build(child));
    }
    int leaves = 0;
    for (int c : children) {
      leaves += nodes_[c].leaves;
    }
    nodes_[index].children = std::move(children);
    nodes_[index].leaves = nodes_[index].children.empty() ? 1 : leaves;
    return index;
  }

  // The unit's own latest figure inside the period and inside its validity.
  const CoverageData::Figure* OwnLatest(const Node& node, v1::Scheme scheme) const {
    const std::vector<CoverageData::Figure>* figures = data_.Figures(node.unit->code(), scheme);
    if (figures == nullptr) {
      return nullptr;
    }
    const int from = std::max(first_, node.stock_months.first);
    const int to = std::min(last_, node.stock_months.last);
    // Figures are sorted by month (a replica holds every month of every year): the latest at or
    // before `to` by binary search.
    auto after = std::upper_bound(
        figures->begin(), figures->end(), to,
        [](int month_index, const CoverageData::Figure& f) { return month_index < f.month_index; });
    if (after == figures->begin()) {
      return nullptr;
    }
    const CoverageData::Figure& latest = *std::prev(after);
    return latest.month_index >= from ? &latest : nullptr;
  }

  SchemeFigure Figure(int index, v1::Scheme scheme, std::vector<SchemeFigure>& out) {
    const Node& node = nodes_[index];
    SchemeFigure figure;
    int children_latest = -1;
    for (int c : node.children) {
      out[c] = Figure(c, scheme, out);
      children_latest = std::max(children_latest, out[c].latest);
    }
    const CoverageData::Figure* own = OwnLatest(node, scheme);
    if (own != nullptr && own->month_index >= children_latest) {
      figure.latest = own->month_index;
      figure.from_own = true;
      figure.participants = Checked(own->participants, node.unit->code(), "participants");
      if (own->in_province.has_value()) {
        figure.in_province =
            Checked(*own->in_province, node.unit->code(), "in-province participants");
      }
      figure.missing_in_province = own->in_province.has_value() ? 0 : 1;
      return figure;
    }
    figure.latest = children_latest;
    if (children_latest < 0) {
      return figure;
    }
    bool split_complete = true;
    int64_t in_province = 0;
    for (int c : node.children) {
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

  // Leaves whose figure was reported for month `as_of`.
  int Reporting(int index, int as_of, const std::vector<SchemeFigure>& figures) const {
    const SchemeFigure& figure = figures[index];
    if (figure.latest < 0) {
      return 0;
    }
    if (figure.from_own) {
      return figure.latest == as_of && figure.missing_part == 0 ? nodes_[index].leaves : 0;
    }
    int reporting = 0;
    for (int c : nodes_[index].children) {
      reporting += Reporting(c, as_of, figures);
    }
    return reporting;
  }

  DenominatorFigure Denominator(int index, v1::DenominatorKind kind) {
    const Node& node = nodes_[index];
    std::optional<int64_t> own = data_.Denominator(node.unit->code(), period_.year(), kind);
    // A yearly figure belongs to its holder (common/hierarchy YearlyFigureHolder): a code
    // reused by another unit later in the year does not lend this unit its figure.
    if (own.has_value() &&
        hierarchy_.YearlyFigureHolder(node.unit->code(), period_.year()) != node.unit) {
      own.reset();
    }
    if (own.has_value()) {
      return {Checked(*own, node.unit->code(), "denominator"), 0};
    }
    if (node.children.empty()) {
      return {0, 1};
    }
    DenominatorFigure sum;
    for (int c : node.children) {
      DenominatorFigure child = Denominator(c, kind);
      Add(sum.value, child.value, "denominator");
      sum.missing += child.missing;
    }
    return sum;
  }

  const DenominatorFigure& DenominatorOf(v1::DenominatorKind kind) {
    auto& cached = denominators_[kind];
    if (!cached.has_value()) {
      cached = Denominator(0, kind);
    }
    return *cached;
  }

  // The scheme's denominator for the territory (absent when a unit lacks one) and, where the
  // scheme has a figure, its rate: participants over denominator, sums over sums.
  void SetDenominatorAndRate(v1::SchemeCoverage& sc) {
    const v1::DenominatorKind kind = DenominatorFor(sc.scheme());
    sc.set_denominator_kind(kind);
    const DenominatorFigure& denominator = DenominatorOf(kind);
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

  v1::SchemeCoverage SchemeRollup(v1::Scheme scheme, const std::vector<SchemeFigure>& figures) {
    const SchemeFigure& root = figures[0];
    v1::SchemeCoverage sc;
    sc.set_scheme(scheme);
    sc.set_expected_units(nodes_[0].leaves);
    if (root.latest >= 0) {
      sc.set_participants(root.participants);
      sc.set_as_of_month(Month{root.latest / 12, root.latest % 12 + 1}.ToString());
      sc.set_reporting_units(Reporting(0, root.latest, figures));
      if (root.in_province.has_value()) {
        sc.set_in_province_participants(*root.in_province);
      }
      sc.set_units_missing_in_province(root.missing_in_province);
    }
    SetDenominatorAndRate(sc);
    return sc;
  }

  // BHXH as a whole (compulsory + voluntary) for node `index`, from both parts' figures. A part
  // reported for the whole node (from_own) pairs with the other part only when that one has a
  // figure for every leaf beneath for the same month; otherwise the node is read through its
  // children. A unit with neither part adds nothing, like a unit that reports no scheme.
  SchemeFigure SocialFigure(int index, const std::vector<SchemeFigure>& compulsory,
                            const std::vector<SchemeFigure>& voluntary,
                            std::vector<SchemeFigure>& out) {
    const SchemeFigure& c = compulsory[index];
    const SchemeFigure& v = voluntary[index];
    SchemeFigure figure;
    if (c.latest < 0 && v.latest < 0) {
      return figure;
    }
    if (c.from_own || v.from_own) {
      figure.from_own = true;
      figure.latest = std::max(c.latest, v.latest);
      const bool whole =
          c.latest == v.latest &&
          (c.from_own || Reporting(index, c.latest, compulsory) == nodes_[index].leaves) &&
          (v.from_own || Reporting(index, v.latest, voluntary) == nodes_[index].leaves);
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
    for (int child : nodes_[index].children) {
      out[child] = SocialFigure(child, compulsory, voluntary, out);
      const SchemeFigure& f = out[child];
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
  v1::SchemeCoverage SocialRollup(const std::vector<SchemeFigure>& compulsory,
                                  const std::vector<SchemeFigure>& voluntary) {
    std::vector<SchemeFigure> figures(nodes_.size());
    figures[0] = SocialFigure(0, compulsory, voluntary, figures);
    const SchemeFigure& root = figures[0];
    v1::SchemeCoverage sc;
    sc.set_scheme(v1::SCHEME_SOCIAL);
    sc.set_expected_units(nodes_[0].leaves);
    sc.set_units_missing_part(root.missing_part);
    if (root.latest >= 0) {
      sc.set_reporting_units(Reporting(0, root.latest, figures));
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

  const Hierarchy& hierarchy_;
  const CoverageData& data_;
  const Period period_;
  const std::string date_;
  const int first_;
  const int last_;
  std::vector<Node> nodes_;
  std::array<std::optional<DenominatorFigure>, 3> denominators_;
  absl::Status fault_;  // the first figure out of range or sum that overflowed
};

}  // namespace

void CoverageData::AddRecord(const v1::ParticipationRecord& record) {
  if (!IsReportedScheme(record.scheme())) {
    return;
  }
  absl::StatusOr<Month> month = Month::Parse(record.month());
  if (!month.ok()) {
    return;
  }
  Figure figure;
  figure.month_index = month->Index();
  figure.participants = record.participants();
  if (record.has_in_province_participants()) {
    figure.in_province = record.in_province_participants();
  }
  std::vector<Figure>& figures = figures_[record.unit_code()][record.scheme()];
  auto it = std::lower_bound(
      figures.begin(), figures.end(), figure.month_index,
      [](const Figure& f, int month_index) { return f.month_index < month_index; });
  if (it != figures.end() && it->month_index == figure.month_index) {
    *it = figure;
  } else {
    figures.insert(it, figure);
  }
}

void CoverageData::AddDenominator(const v1::DenominatorRecord& record) {
  if (record.kind() != v1::DENOMINATOR_KIND_POPULATION &&
      record.kind() != v1::DENOMINATOR_KIND_LABOR_FORCE) {
    return;
  }
  denominators_[DenominatorKey(record.unit_code(), record.year())][record.kind()] = record.value();
}

const std::vector<CoverageData::Figure>* CoverageData::Figures(absl::string_view code,
                                                               v1::Scheme scheme) const {
  auto it = figures_.find(code);
  if (it == figures_.end() || !IsReportedScheme(scheme)) {
    return nullptr;
  }
  return &it->second[scheme];
}

std::optional<int64_t> CoverageData::Denominator(absl::string_view code, int year,
                                                 v1::DenominatorKind kind) const {
  auto it = denominators_.find(DenominatorKey(code, year));
  if (it == denominators_.end() || kind < 1 || kind > 2) {
    return std::nullopt;
  }
  return it->second[kind];
}

absl::StatusOr<v1::Coverage> RollupCoverage(const Hierarchy& hierarchy, const CoverageData& data,
                                            absl::string_view unit_code, const Period& period) {
  return Rollup(hierarchy, data, period).Run(unit_code);
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
