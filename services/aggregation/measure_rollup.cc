#include "services/aggregation/measure_rollup.h"

#include <algorithm>
#include <array>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/status/status.h"

namespace covtrack::aggregation {
namespace {

std::vector<MeasureKey> BuildKeys() {
  std::vector<MeasureKey> keys;
  for (const MeasureInfo& info : AllMeasures()) {
    if (info.source == MeasureSource::kParticipationRecord) {
      continue;
    }
    switch (info.dimensions) {
      case MeasureDimensions::kNone:
        keys.push_back({info.measure, v1::SCHEME_UNSPECIFIED, v1::PAYER_GROUP_UNSPECIFIED});
        break;
      case MeasureDimensions::kScheme:
      case MeasureDimensions::kSchemeAndPayer:
        for (v1::Scheme scheme : kReportedSchemes) {
          keys.push_back({info.measure, scheme, v1::PAYER_GROUP_UNSPECIFIED});
          if (info.dimensions == MeasureDimensions::kSchemeAndPayer &&
              scheme == v1::SCHEME_HEALTH) {
            for (v1::PayerGroup group : kPayerGroups) {
              keys.push_back({info.measure, scheme, group});
            }
          }
        }
        break;
      case MeasureDimensions::kHealthPayerGroup:
        for (v1::PayerGroup group : kPayerGroups) {
          keys.push_back({info.measure, v1::SCHEME_HEALTH, group});
        }
        break;
    }
  }
  return keys;
}

const std::vector<MeasureKey>& Keys() {
  static const std::vector<MeasureKey>* const keys = new std::vector<MeasureKey>(BuildKeys());
  return *keys;
}

// The ratio from its two rolled-up (or re-expressed) sums, never from units' ratios: absent
// (never 0, never infinite) when either part is, or nothing was due.
MeasureFigure RatioOf(const MeasureFigure& over, const MeasureFigure& under, int expected_units) {
  MeasureFigure ratio;
  ratio.expected_units = expected_units;
  if (over.as_of >= 0 && under.as_of >= 0 && under.value > 0) {
    ratio.as_of = over.as_of;
    ratio.reporting_units = over.reporting_units;
    ratio.months_reported = under.months_reported;
    ratio.percent = 100.0 * static_cast<double>(over.value) / static_cast<double>(under.value);
  }
  return ratio;
}

// The largest number of months a period has (a year).
constexpr int kMaxPeriodMonths = 12;

// A flow of one node, month by month over the period: bit m of `present` says month first + m
// has a value (its own, or its children's), bit m of `own` that the unit reported it itself.
struct FlowNode {
  std::array<int64_t, kMaxPeriodMonths> value = {};
  uint16_t present = 0;
  uint16_t own = 0;
};

// A stock of one node, as participants (rollup.cc): its latest month and the value read there.
struct StockNode {
  int latest = -1;
  bool own = false;
  int64_t value = 0;
};

class MeasureRollup {
 public:
  MeasureRollup(const CoverageData& data, const Period& period, std::vector<RollupNode> nodes)
      : data_(data),
        period_(period),
        first_(period.first_month().Index()),
        last_(period.last_month().Index()),
        nodes_(std::move(nodes)) {}

  absl::StatusOr<std::vector<MeasureFigure>> Run(const std::vector<bool>& wanted) {
    const std::vector<MeasureKey>& keys = Keys();
    std::vector<MeasureFigure> figures(keys.size());
    std::vector<bool> done(keys.size(), false);
    auto figure_of = [&](int k) -> const MeasureFigure& {
      if (!done[k]) {
        figures[k] = Figure(keys[k]);
        done[k] = true;
      }
      return figures[k];
    };
    for (size_t k = 0; k < keys.size(); ++k) {
      if (!wanted.empty() && !wanted[k]) {
        continue;
      }
      const MeasureInfo* info = FindMeasure(keys[k].measure);
      if (info->rule != MeasureRule::kRatio) {
        figure_of(static_cast<int>(k));
        continue;
      }
      // The ratio from the two rolled-up sums (each by its own rule), never from units' ratios.
      const MeasureFigure& over =
          figure_of(MeasureKeyIndex(info->numerator, keys[k].scheme, keys[k].group));
      const MeasureFigure& under =
          figure_of(MeasureKeyIndex(info->denominator, keys[k].scheme, keys[k].group));
      figures[k] = RatioOf(over, under, nodes_[0].leaves);
      done[k] = true;
    }
    if (!wanted.empty()) {
      // Parts computed only for a ratio asked are not part of the answer.
      for (size_t k = 0; k < keys.size(); ++k) {
        if (!wanted[k]) {
          figures[k] = MeasureFigure{};
        }
      }
    }
    if (!fault_.ok()) {
      return fault_;
    }
    return figures;
  }

 private:
  MeasureFigure Figure(const MeasureKey& key) {
    const MeasureInfo& info = *FindMeasure(key.measure);
    const int k = MeasureKeyIndex(key.measure, key.scheme, key.group);
    MeasureFigure figure;
    figure.expected_units = nodes_[0].leaves;
    if (!data_.HasMeasureKey(k)) {
      return figure;  // nobody reported it, ever: absent
    }
    if (info.rule == MeasureRule::kLast) {
      std::vector<StockNode> stocks(nodes_.size());
      for (int i = static_cast<int>(nodes_.size()) - 1; i >= 0; --i) {
        stocks[i] = Stock(i, k, info, stocks);
      }
      if (stocks[0].latest >= 0) {
        figure.as_of = stocks[0].latest;
        figure.value = stocks[0].value;
        figure.reporting_units = StockReporting(0, figure.as_of, stocks);
      }
      return figure;
    }
    std::vector<FlowNode> flows(nodes_.size());
    for (int i = static_cast<int>(nodes_.size()) - 1; i >= 0; --i) {
      flows[i] = Flow(i, k, info, flows);
    }
    const FlowNode& root = flows[0];
    for (int m = 0; m <= last_ - first_; ++m) {
      if ((root.present >> m & 1) == 0) {
        continue;
      }
      Add(figure.value, root.value[m], info.name);
      ++figure.months_reported;
      figure.as_of = first_ + m;
    }
    if (figure.as_of >= 0) {
      figure.reporting_units = FlowReporting(0, figure.as_of - first_, flows);
    }
    return figure;
  }

  // The node's own values of key `k` inside the period and the months that are its own.
  absl::Span<const CoverageData::MeasureCell> OwnCells(int index, int k) const {
    const RollupNode& node = nodes_[index];
    const absl::Span<const CoverageData::MeasureCell> cells = data_.Measure(node.data, k);
    const int from = std::max(first_, node.stock_months.first);
    const int to = std::min(last_, node.stock_months.last);
    auto below = [](const CoverageData::MeasureCell& c, int m) { return c.month_index < m; };
    auto begin = std::lower_bound(cells.begin(), cells.end(), from, below);
    auto end = std::lower_bound(begin, cells.end(), to + 1, below);
    return cells.subspan(begin - cells.begin(), end - begin);
  }

  // Children are after their parent in preorder: computed before it in reverse order.
  StockNode Stock(int index, int k, const MeasureInfo& info, const std::vector<StockNode>& done) {
    const RollupNode& node = nodes_[index];
    int children_latest = -1;
    for (int c = index + 1; c < index + node.size; c += nodes_[c].size) {
      children_latest = std::max(children_latest, done[c].latest);
    }
    const absl::Span<const CoverageData::MeasureCell> own = OwnCells(index, k);
    StockNode stock;
    if (!own.empty() && own.back().month_index >= children_latest) {
      stock.latest = own.back().month_index;
      stock.own = true;
      stock.value = Checked(own.back().value, node.unit->code(), info);
      return stock;
    }
    stock.latest = children_latest;
    for (int c = index + 1; c < index + node.size && children_latest >= 0; c += nodes_[c].size) {
      if (done[c].latest >= 0) {
        Add(stock.value, done[c].value, info.name);
      }
    }
    return stock;
  }

  int StockReporting(int index, int as_of, const std::vector<StockNode>& stocks) const {
    const StockNode& stock = stocks[index];
    if (stock.latest < 0) {
      return 0;
    }
    if (stock.own) {
      return stock.latest == as_of ? nodes_[index].leaves : 0;
    }
    int reporting = 0;
    for (int c = index + 1; c < index + nodes_[index].size; c += nodes_[c].size) {
      reporting += StockReporting(c, as_of, stocks);
    }
    return reporting;
  }

  FlowNode Flow(int index, int k, const MeasureInfo& info, const std::vector<FlowNode>& done) {
    const RollupNode& node = nodes_[index];
    FlowNode flow;
    for (const CoverageData::MeasureCell& cell : OwnCells(index, k)) {
      const int m = cell.month_index - first_;
      flow.value[m] = Checked(cell.value, node.unit->code(), info);
      flow.present |= 1 << m;
      flow.own |= 1 << m;
    }
    for (int c = index + 1; c < index + node.size; c += nodes_[c].size) {
      const FlowNode& child = done[c];
      const uint16_t months = child.present & ~flow.own;
      for (int m = 0; m < kMaxPeriodMonths; ++m) {
        if (months >> m & 1) {
          Add(flow.value[m], child.value[m], info.name);
        }
      }
      flow.present |= months;
    }
    return flow;
  }

  int FlowReporting(int index, int month, const std::vector<FlowNode>& flows) const {
    const FlowNode& flow = flows[index];
    if ((flow.present >> month & 1) == 0) {
      return 0;
    }
    if (flow.own >> month & 1) {
      return nodes_[index].leaves;
    }
    int reporting = 0;
    for (int c = index + 1; c < index + nodes_[index].size; c += nodes_[c].size) {
      reporting += FlowReporting(c, month, flows);
    }
    return reporting;
  }

  // A value as exported, trusted only inside [0, the measure's bound] (ingestion bounds what it
  // stores; one out of range here gives an error rather than a plausible rollup).
  int64_t Checked(int64_t value, absl::string_view code, const MeasureInfo& info) {
    if ((value < 0 || value > info.bound) && fault_.ok()) {
      fault_ = absl::InternalError(
          absl::StrCat("a value of ", info.name, " of unit ", code,
                       " exported by ingestion is outside [0, ", info.bound, "]; no rollup of ",
                       nodes_[0].unit->code(), " for ", period_.ToString(), " is given"));
    }
    return value;
  }

  // sum += value, or the first overflow recorded in fault_ (never a wrapped figure).
  void Add(int64_t& sum, int64_t value, absl::string_view what) {
    if (__builtin_add_overflow(sum, value, &sum) && fault_.ok()) {
      fault_ = absl::InternalError(absl::StrCat("the ", what, " of ", nodes_[0].unit->code(),
                                                " for ", period_.ToString(), " overflows"));
    }
  }

  const CoverageData& data_;
  const Period period_;
  const int first_;
  const int last_;
  const std::vector<RollupNode> nodes_;
  absl::Status fault_;
};

std::string MonthText(int index) { return Month{index / 12, index % 12 + 1}.ToString(); }

const v1::SchemeCoverage* SchemeOf(const v1::Coverage* coverage, v1::Scheme scheme) {
  if (coverage == nullptr) {
    return nullptr;
  }
  for (const v1::SchemeCoverage& sc : coverage->schemes()) {
    if (sc.scheme() == scheme && sc.has_participants() && !sc.as_of_month().empty()) {
      return &sc;
    }
  }
  return nullptr;
}

}  // namespace

absl::Span<const MeasureKey> MeasureKeys() { return Keys(); }

int MeasureKeyIndex(v1::Measure measure, v1::Scheme scheme, v1::PayerGroup group) {
  const std::vector<MeasureKey>& keys = Keys();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].measure == measure && keys[i].scheme == scheme && keys[i].group == group) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

absl::StatusOr<std::vector<MeasureFigure>> RollupMeasures(const TreeIndex& tree,
                                                          const CoverageData& data,
                                                          absl::string_view unit_code,
                                                          const Period& period,
                                                          const std::vector<bool>& wanted) {
  const std::string date = period.last_month().LastDay();
  std::vector<RollupNode> nodes = SubtreeAt(tree, data, unit_code, date);
  if (nodes.empty()) {
    return absl::NotFoundError(
        absl::StrCat("unit_code \"", unit_code, "\" names no administrative unit on ", date));
  }
  return MeasureRollup(data, period, std::move(nodes)).Run(wanted);
}

std::vector<bool> WithRatioParts(const std::vector<bool>& wanted) {
  const std::vector<MeasureKey>& keys = Keys();
  std::vector<bool> out = wanted;
  for (size_t k = 0; k < keys.size() && !wanted.empty(); ++k) {
    const MeasureInfo& info = *FindMeasure(keys[k].measure);
    if (wanted[k] && info.rule == MeasureRule::kRatio) {
      out[MeasureKeyIndex(info.numerator, keys[k].scheme, keys[k].group)] = true;
      out[MeasureKeyIndex(info.denominator, keys[k].scheme, keys[k].group)] = true;
    }
  }
  return out;
}

absl::StatusOr<ReexpressedMeasures> CombineMeasureRollups(
    const Reexpressed& how, const std::vector<const std::vector<MeasureFigure>*>& term_figures,
    const std::vector<bool>& wanted) {
  const std::vector<MeasureKey>& keys = Keys();
  ReexpressedMeasures out;
  out.figures.resize(keys.size());
  v1::Reexpression same;
  same.set_kind(how.kind);
  out.reexpression.assign(keys.size(), same);
  if (how.kind == v1::REEXPRESSION_KIND_ABSENT) {
    for (v1::Reexpression& r : out.reexpression) {
      r.set_reason(how.reason);
    }
    return out;
  }
  if (term_figures.size() != how.terms.size()) {
    return absl::InternalError("re-expression: one rollup of the measures per term expected");
  }
  for (size_t i = 0; i < term_figures.size(); ++i) {
    if (term_figures[i] == nullptr || term_figures[i]->size() != keys.size()) {
      return absl::InternalError(
          absl::StrCat("re-expression: no rollup of the measures of ", how.terms[i].unit->code()));
    }
  }
  if (how.kind == v1::REEXPRESSION_KIND_SAME_UNIT && term_figures.size() == 1) {
    out.figures = *term_figures[0];  // the unit itself: its rollup as it is
  } else {
    const std::vector<bool> parts = WithRatioParts(wanted);
    // Amounts first; the ratios then read the combined amounts.
    for (size_t k = 0; k < keys.size(); ++k) {
      if ((!parts.empty() && !parts[k]) ||
          FindMeasure(keys[k].measure)->rule == MeasureRule::kRatio) {
        continue;
      }
      const v1::DenominatorKind weight_kind =
          ReexpressionShare(*FindMeasure(keys[k].measure), keys[k].scheme);
      MeasureFigure& figure = out.figures[k];
      WeightedSum sum;
      bool all_whole = true;
      double total = 0;
      double estimated = 0;
      for (size_t i = 0; i < term_figures.size(); ++i) {
        const MeasureFigure& term = (*term_figures[i])[k];
        const double weight = WeightOf(how.terms[i], weight_kind);
        all_whole = all_whole && weight == 1;
        figure.expected_units += term.expected_units;
        figure.reporting_units += term.reporting_units;
        if (term.as_of < 0) {
          continue;  // nothing reported in that territory: adds nothing
        }
        figure.as_of = std::max(figure.as_of, term.as_of);
        figure.months_reported = std::max(figure.months_reported, term.months_reported);
        sum.Add(term.value, weight);
        const double part = weight * static_cast<double>(term.value);
        total += part;
        if (weight != 1) {
          estimated += part;
        }
      }
      if (figure.as_of >= 0) {
        ASSIGN_OR_RETURN(figure.value, sum.Value(FindMeasure(keys[k].measure)->name));
      }
      out.reexpression[k] =
          Describe(how.kind, all_whole, estimated,
                   figure.as_of >= 0 ? std::optional<double>(total) : std::nullopt);
    }
    for (size_t k = 0; k < keys.size(); ++k) {
      const MeasureInfo& info = *FindMeasure(keys[k].measure);
      if ((!wanted.empty() && !wanted[k]) || info.rule != MeasureRule::kRatio) {
        continue;
      }
      const int over = MeasureKeyIndex(info.numerator, keys[k].scheme, keys[k].group);
      const int under = MeasureKeyIndex(info.denominator, keys[k].scheme, keys[k].group);
      out.figures[k] =
          RatioOf(out.figures[over], out.figures[under], out.figures[over].expected_units);
      out.reexpression[k] = out.reexpression[over];
    }
  }
  for (size_t k = 0; k < keys.size() && !wanted.empty(); ++k) {
    if (!wanted[k]) {
      out.figures[k] = MeasureFigure{};  // a ratio's part not asked is not part of the answer
    }
  }
  return out;
}

v1::MeasureValue ToMeasureValue(const MeasureKey& key, const MeasureFigure& figure) {
  v1::MeasureValue value;
  value.set_measure(key.measure);
  value.set_scheme(key.scheme);
  value.set_payer_group(key.group);
  const MeasureInfo& info = *FindMeasure(key.measure);
  if (info.rule == MeasureRule::kRatio) {
    if (figure.percent.has_value()) {
      value.set_percent(*figure.percent);
    }
  } else {
    value.set_value(figure.value);
  }
  if (info.rule != MeasureRule::kLast) {
    value.set_months_reported(figure.months_reported);
  }
  value.set_as_of_month(MonthText(figure.as_of));
  value.set_reporting_units(figure.reporting_units);
  value.set_expected_units(figure.expected_units);
  return value;
}

v1::MeasureComparison CompareMeasure(const MeasureKey& key, const MeasureFigure& now,
                                     const MeasureFigure& then, const std::string& then_period) {
  v1::MeasureComparison c;
  c.set_period(then_period);
  if (then.as_of < 0) {
    return c;
  }
  if (FindMeasure(key.measure)->rule == MeasureRule::kRatio) {
    if (then.percent.has_value()) {
      c.set_percent(*then.percent);
      if (now.percent.has_value()) {
        c.set_percent_points_change(*now.percent - *then.percent);
      }
    }
    return c;
  }
  c.set_value(then.value);
  int64_t change = 0;
  // Left out rather than wrapped when the two figures are too far apart to subtract.
  if (now.as_of >= 0 && !__builtin_sub_overflow(now.value, then.value, &change)) {
    c.set_value_change(change);
  }
  return c;
}

std::vector<v1::ReconciliationFinding> Reconcile(const std::string& unit_code,
                                                 const ReconciliationInputs& inputs) {
  std::vector<v1::ReconciliationFinding> findings;
  auto figure = [](const std::vector<MeasureFigure>* figures, v1::Measure measure,
                   v1::Scheme scheme, v1::PayerGroup group) -> std::optional<int64_t> {
    const int k = MeasureKeyIndex(measure, scheme, group);
    if (figures == nullptr || k < 0 || (*figures)[k].as_of < 0) {
      return std::nullopt;
    }
    return (*figures)[k].value;
  };
  auto check = [&](v1::Scheme scheme, v1::PayerGroup group, std::optional<int64_t> before,
                   std::optional<int64_t> now) {
    const std::optional<int64_t> gained =
        figure(inputs.now, v1::MEASURE_NEW_PARTICIPANTS, scheme, group);
    const std::optional<int64_t> lost =
        figure(inputs.now, v1::MEASURE_LOST_PARTICIPANTS, scheme, group);
    if (!before.has_value() || !now.has_value() || !gained.has_value() || !lost.has_value()) {
      return;
    }
    // Every figure is within [0, kMaxPeople]: the differences cannot overflow.
    const int64_t stock_change = *now - *before;
    const int64_t net_flow = *gained - *lost;
    if (stock_change == net_flow) {
      return;
    }
    v1::ReconciliationFinding& f = findings.emplace_back();
    f.set_unit_code(unit_code);
    f.set_scheme(scheme);
    f.set_payer_group(group);
    f.set_stock_change(stock_change);
    f.set_net_flow(net_flow);
  };
  for (v1::Scheme scheme : kReportedSchemes) {
    const v1::SchemeCoverage* before = SchemeOf(inputs.participants_before, scheme);
    const v1::SchemeCoverage* now = SchemeOf(inputs.participants_now, scheme);
    check(scheme, v1::PAYER_GROUP_UNSPECIFIED,
          before != nullptr ? std::optional<int64_t>(before->participants()) : std::nullopt,
          now != nullptr ? std::optional<int64_t>(now->participants()) : std::nullopt);
    if (scheme != v1::SCHEME_HEALTH) {
      continue;
    }
    for (v1::PayerGroup group : kPayerGroups) {
      check(scheme, group, figure(inputs.before, v1::MEASURE_HEALTH_BY_PAYER, scheme, group),
            figure(inputs.now, v1::MEASURE_HEALTH_BY_PAYER, scheme, group));
    }
  }
  return findings;
}

}  // namespace covtrack::aggregation
