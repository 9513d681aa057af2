// GetMeasures and ListMeasures: the measures beyond participants (docs/measures.md), rolled up
// from the replica's memory by each measure's rule (measure_rollup.h). Members of
// AggregationServiceImpl; the live view that holds the values is in live_view.cc.
//
// Unlike coverage, measure rollups are not memoised or shared: a unit's measures over a period
// are a walk of its subtree per key with two binary searches per node, cheaper than a verified
// cache entry would be to keep for every (unit, period, measure set).

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/call_context.h"
#include "common/domain.h"
#include "common/server.h"
#include "common/status/status.h"
#include "services/aggregation/aggregation_service.h"

namespace covtrack::aggregation {
namespace {

// How many year ends GetMeasures compares with (GetCoverage's default).
constexpr int kMeasureYearEnds = 3;

bool Asked(const std::vector<v1::Measure>& measures, v1::Measure measure) {
  return measures.empty() || std::find(measures.begin(), measures.end(), measure) != measures.end();
}

// The keys whose figures a summary needs: those of the measures asked, those a reconciliation
// reads (when flows are asked), and `also` (a list's order).
std::vector<bool> KeysToCompute(const std::vector<v1::Measure>& measures, bool reconcile,
                                const std::optional<MeasureKey>& also) {
  const absl::Span<const MeasureKey> keys = MeasureKeys();
  std::vector<bool> wanted(keys.size(), false);
  for (size_t k = 0; k < keys.size(); ++k) {
    const v1::Measure m = keys[k].measure;
    wanted[k] = Asked(measures, m) || (reconcile && (m == v1::MEASURE_NEW_PARTICIPANTS ||
                                                     m == v1::MEASURE_LOST_PARTICIPANTS ||
                                                     m == v1::MEASURE_HEALTH_BY_PAYER));
  }
  if (also.has_value()) {
    wanted[MeasureKeyIndex(also->measure, also->scheme, also->group)] = true;
  }
  return wanted;
}

// The keys of the payer groups' stocks: read at the month before the period to reconcile.
std::vector<bool> GroupStockKeys() {
  const absl::Span<const MeasureKey> keys = MeasureKeys();
  std::vector<bool> wanted(keys.size(), false);
  for (size_t k = 0; k < keys.size(); ++k) {
    wanted[k] = keys[k].measure == v1::MEASURE_HEALTH_BY_PAYER;
  }
  return wanted;
}

// The figure a list is ordered by: the percent for a ratio, else the value; absent: none.
std::optional<double> OrderValue(const MeasureKey& key, const MeasureFigure& figure) {
  if (figure.as_of < 0) {
    return std::nullopt;
  }
  if (FindMeasure(key.measure)->rule == MeasureRule::kRatio) {
    return figure.percent;
  }
  return static_cast<double>(figure.value);
}

}  // namespace

grpc::ServerUnaryReactor* AggregationServiceImpl::GetMeasures(grpc::CallbackServerContext* context,
                                                              const v1::GetMeasuresRequest* request,
                                                              v1::MeasureSummary* response) {
  return ServeRead(context, "GetMeasures", request, response, &ValidateMeasuresRequest,
                   [this](const MeasuresQuery& query, ToShare&)
                       ABSL_SHARED_LOCKS_REQUIRED(state_mu_) { return MeasuresOfUnit(query); });
}

grpc::ServerUnaryReactor* AggregationServiceImpl::ListMeasures(
    grpc::CallbackServerContext* context, const v1::ListMeasuresRequest* request,
    v1::ListMeasuresResponse* response) {
  return ServeRead(context, "ListMeasures", request, response, &ValidateListMeasuresRequest,
                   [this](const MeasureListQuery& query, ToShare&)
                       ABSL_SHARED_LOCKS_REQUIRED(state_mu_) { return MeasureList(query); });
}

absl::StatusOr<AggregationServiceImpl::MeasuresIn> AggregationServiceImpl::MeasuresInTerritory(
    const v1::AdminUnit& unit, const Period& period, const std::string& territory,
    const std::vector<bool>& wanted, bool failure_is_absent) {
  MeasuresIn in;
  ASSIGN_OR_RETURN(in.how,
                   ReexpressForRead(*hierarchy_, *crosswalk_, unit, period.last_month().LastDay(),
                                    territory, failure_is_absent));
  // Each term's rollup with the parts of the ratios asked: the ratio of a re-expressed unit is
  // made from the combined amounts, never from its predecessors' ratios.
  const std::vector<bool> parts = WithRatioParts(wanted);
  std::vector<std::vector<MeasureFigure>> rolled(in.how.terms.size());
  std::vector<const std::vector<MeasureFigure>*> terms;
  for (size_t i = 0; i < in.how.terms.size(); ++i) {
    ASSIGN_OR_RETURN(rolled[i],
                     RollupMeasures(*tree_, data_, in.how.terms[i].unit->code(), period, parts));
    terms.push_back(&rolled[i]);
  }
  ASSIGN_OR_RETURN(in.figures, CombineMeasureRollups(in.how, terms, wanted));
  return in;
}

absl::StatusOr<AggregationServiceImpl::MeasureAnswer> AggregationServiceImpl::Measures(
    const v1::AdminUnit& unit, const Period& period, const std::string& territory,
    const std::vector<v1::Measure>& measures, const std::optional<MeasureKey>& also, bool compare) {
  const Hierarchy& hierarchy = *hierarchy_;
  const std::string& code = unit.code();
  // Findings are about flows: made when they are asked (or everything is).
  const bool reconcile = Asked(measures, v1::MEASURE_NEW_PARTICIPANTS) ||
                         Asked(measures, v1::MEASURE_LOST_PARTICIPANTS);
  // A period a list entry cannot be read in is ABSENT, as ListCoverage's; the one GetMeasures
  // asks is answered or refused.
  ASSIGN_OR_RETURN(MeasuresIn in, MeasuresInTerritory(unit, period, territory,
                                                      KeysToCompute(measures, reconcile, also),
                                                      /*failure_is_absent=*/!compare));
  MeasureAnswer answer;
  answer.figures = in.figures.figures;
  const std::vector<MeasureFigure>& now = answer.figures;
  const bool same_unit = in.how.kind == v1::REEXPRESSION_KIND_SAME_UNIT;
  v1::MeasureSummary& summary = answer.summary;
  *summary.mutable_unit() = unit;
  summary.set_period(period.ToString());
  if (!same_unit) {
    for (v1::Predecessor& p : Predecessors(in.how)) {
      *summary.add_predecessors() = std::move(p);
    }
  }

  // Comparisons: the same territory in each earlier period (82 since 2025-07-01 against old 82
  // + old 87 in 2024); where it cannot be made, the values are absent and territory_changed.
  const std::vector<Period> earlier =
      compare ? ComparisonPeriods(period, kMeasureYearEnds) : std::vector<Period>{};
  std::vector<MeasuresIn> then;
  for (const Period& p : earlier) {
    ASSIGN_OR_RETURN(MeasuresIn t,
                     MeasuresInTerritory(unit, p, territory, KeysToCompute(measures, false, {}),
                                         /*failure_is_absent=*/true));
    then.push_back(std::move(t));
  }
  // The same unit version is the same territory only when the units beneath it are the same too
  // (as GetCoverage), read at the date the figure asked was read on.
  const std::string now_date = same_unit ? period.last_month().LastDay() : territory;
  const uint64_t now_territory = hierarchy.TerritoryFingerprint(code, now_date);
  std::vector<bool> territory_changed(earlier.size(), false);
  for (size_t i = 0; i < earlier.size(); ++i) {
    const std::string then_date = earlier[i].last_month().LastDay();
    const v1::AdminUnit* then_unit = hierarchy.UnitAt(code, then_date);
    const bool same_territory = then_unit != nullptr &&
                                then_unit->valid_from() == unit.valid_from() &&
                                hierarchy.TerritoryFingerprint(code, then_date) == now_territory;
    const v1::ReexpressionKind kind = then[i].how.kind;
    territory_changed[i] = kind == v1::REEXPRESSION_KIND_ABSENT ||
                           (kind == v1::REEXPRESSION_KIND_SAME_UNIT && !same_territory);
  }
  const absl::Span<const MeasureKey> keys = MeasureKeys();
  for (size_t k = 0; k < keys.size(); ++k) {
    const bool absent = in.how.kind == v1::REEXPRESSION_KIND_ABSENT;
    if (!Asked(measures, keys[k].measure) || (now[k].as_of < 0 && !absent)) {
      continue;  // not asked, or nothing reported: absent, never 0
    }
    v1::MeasureValue* value = summary.add_values();
    if (absent) {
      // Not re-expressible (a share unknown): the key without a figure, and why.
      value->set_measure(keys[k].measure);
      value->set_scheme(keys[k].scheme);
      value->set_payer_group(keys[k].group);
    } else {
      *value = ToMeasureValue(keys[k], now[k]);
    }
    *value->mutable_reexpression() = in.figures.reexpression[k];
    for (size_t i = 0; i < earlier.size(); ++i) {
      v1::MeasureComparison c =
          CompareMeasure(keys[k], now[k], then[i].figures.figures[k], earlier[i].ToString());
      *c.mutable_reexpression() = then[i].figures.reexpression[k];
      c.set_territory_changed(territory_changed[i]);
      if (i == 0) {
        *value->mutable_same_period_last_year() = std::move(c);
      } else {
        *value->add_previous_year_ends() = std::move(c);
      }
    }
  }

  // Findings are about what a unit reported: made for a unit read as itself only. A stock change
  // and net flow re-expressed with shares below 1 would differ by the rounding of the estimate;
  // the predecessors' findings are theirs, read at their own codes and dates.
  if (reconcile && same_unit) {
    const TreeIndex& tree = *tree_;
    // The stocks at the end of the month before the period, against the period's stocks.
    ASSIGN_OR_RETURN(const Period before,
                     Period::Parse(period.first_month().Previous().ToString()));
    ASSIGN_OR_RETURN(const v1::Coverage participants_now,
                     RollupCoverage(tree, data_, code, period));
    absl::StatusOr<v1::Coverage> participants_before = RollupCoverage(tree, data_, code, before);
    absl::StatusOr<std::vector<MeasureFigure>> groups_before =
        RollupMeasures(tree, data_, code, before, GroupStockKeys());
    for (const absl::Status& s : {participants_before.status(), groups_before.status()}) {
      if (!s.ok() && !absl::IsNotFound(s)) {
        return s;
      }
    }
    ReconciliationInputs inputs;
    inputs.participants_now = &participants_now;
    inputs.participants_before = participants_before.ok() ? &*participants_before : nullptr;
    inputs.now = &now;
    inputs.before = groups_before.ok() ? &*groups_before : nullptr;
    for (v1::ReconciliationFinding& f : Reconcile(code, inputs)) {
      *summary.add_findings() = std::move(f);
    }
  }
  return answer;
}

absl::StatusOr<v1::MeasureSummary> AggregationServiceImpl::MeasuresOfUnit(
    const MeasuresQuery& query) {
  const std::string territory = TerritoryOf(query.territory_date, query.period);
  const v1::AdminUnit* unit = hierarchy_->UnitAt(query.unit_code, territory);
  if (unit == nullptr) {
    return NoUnitOnTerritory("unit_code", query.unit_code, query.territory_date, query.period);
  }
  ASSIGN_OR_RETURN(MeasureAnswer answer, Measures(*unit, query.period, territory, query.measures,
                                                  std::nullopt, /*compare=*/true));
  answer.summary.set_reflects_seq(applied_seq_);
  return std::move(answer.summary);
}

absl::StatusOr<v1::ListMeasuresResponse> AggregationServiceImpl::MeasureList(
    const MeasureListQuery& query) {
  ASSIGN_OR_RETURN(const int64_t offset, query.page.Offset());
  const Hierarchy& hierarchy = *hierarchy_;
  const std::string territory = TerritoryOf(query.territory_date, query.period);
  const v1::AdminUnit* parent = hierarchy.UnitAt(query.parent_code, territory);
  if (parent == nullptr) {
    return NoUnitOnTerritory("parent_code", query.parent_code, query.territory_date, query.period);
  }
  if (query.level != v1::ADMIN_LEVEL_UNSPECIFIED && query.level <= parent->level()) {
    return absl::InvalidArgumentError(
        absl::StrCat("level: must be below the parent's level (", LevelName(parent->level()), ")"));
  }
  const std::vector<const v1::AdminUnit*> units =
      query.level == v1::ADMIN_LEVEL_UNSPECIFIED
          ? hierarchy.ChildrenAt(query.parent_code, territory)
          : hierarchy.DescendantsAt(query.parent_code, query.level, territory);
  std::optional<MeasureKey> order;
  int order_key = -1;
  if (query.order.measure() != v1::MEASURE_UNSPECIFIED) {
    order = MeasureKey{query.order.measure(), query.order.scheme(), query.order.payer_group()};
    order_key = MeasureKeyIndex(order->measure, order->scheme, order->group);
  }
  struct Entry {
    v1::MeasureSummary summary;
    std::optional<double> key;
  };
  std::vector<Entry> list;
  list.reserve(units.size());
  for (const v1::AdminUnit* u : units) {
    // Each unit's measures are rolled up afresh: a list of every commune stops when its caller
    // has gone rather than finishing for nobody.
    if (CurrentCallCancelled()) {
      return absl::CancelledError("the call was cancelled or its deadline passed");
    }
    ASSIGN_OR_RETURN(MeasureAnswer answer, Measures(*u, query.period, territory, query.measures,
                                                    order, /*compare=*/false));
    Entry& e = list.emplace_back();
    e.summary = std::move(answer.summary);
    if (order_key >= 0) {
      e.key = OrderValue(*order, answer.figures[order_key]);
    }
  }
  // Units come by code; the order keeps that for ties, and puts units without the figure last.
  if (order_key >= 0) {
    const bool descending = query.order.descending();
    std::stable_sort(list.begin(), list.end(), [&](const Entry& a, const Entry& b) {
      if (a.key.has_value() != b.key.has_value()) {
        return a.key.has_value();
      }
      if (!a.key.has_value() || *a.key == *b.key) {
        return false;
      }
      return descending ? *a.key > *b.key : *a.key < *b.key;
    });
  }
  v1::ListMeasuresResponse response;
  response.set_reflects_seq(applied_seq_);
  // A token's offset past the list (or forged near INT64_MAX) is an empty page, not an overflow.
  const int64_t total = static_cast<int64_t>(list.size());
  const int64_t begin = std::min(offset, total);
  const int64_t page_end = begin + std::min<int64_t>(query.page.size(), total - begin);
  for (int64_t i = begin; i < page_end; ++i) {
    *response.add_summaries() = std::move(list[i].summary);
  }
  if (page_end < total) {
    response.set_next_page_token(query.page.TokenAtOffset(page_end));
  }
  return response;
}

}  // namespace covtrack::aggregation
