#pragma once

// A fake aggregation service for unit tests of the target service's logic: figures per unit,
// month and scheme, set by the test. Stocks: a period's figure is the latest month inside it.
// It is also the fake ingestion service's hierarchy and crosswalk (UnitSource): a code may name
// several versions (valid_from/valid_to), each read on the territory date (default the
// period's end). The real services are used by the integration tests.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/hierarchy/hierarchy.h"
#include "common/measures.h"
#include "common/period.h"
#include "services/targets/coverage_source.h"
#include "services/targets/unit_source.h"

namespace covtrack::targets::testing {

class FakeCoverageSource : public CoverageSource, public UnitSource {
 public:
  // One version of a unit; empty bounds are open.
  void AddUnit(const std::string& code, const std::string& name, v1::AdminLevel level,
               const std::string& parent, const std::string& valid_from = "",
               const std::string& valid_to = "") {
    v1::AdminUnit unit;
    unit.set_code(code);
    unit.set_name(name);
    unit.set_level(level);
    unit.set_parent_code(parent);
    unit.set_valid_from(valid_from);
    unit.set_valid_to(valid_to);
    units_[code].push_back(unit);
  }

  // A crosswalk link; shares absent when negative.
  void AddLink(const std::string& from, const std::string& to, const std::string& effective_date,
               double population_share, double labor_force_share = -1) {
    v1::CrosswalkLink link;
    link.set_from_code(from);
    link.set_to_code(to);
    link.set_effective_date(effective_date);
    if (population_share >= 0) {
      link.set_population_share(population_share);
    }
    if (labor_force_share >= 0) {
      link.set_labor_force_share(labor_force_share);
    }
    links_.push_back(link);
  }

  // A yearly denominator of the version of `code` valid on `day`, given with every read of it
  // for a period of `year` (figures set with Set carry their own).
  void SetDenominator(const std::string& code, const std::string& day, int year, v1::Scheme scheme,
                      int64_t denominator) {
    denominators_[{code, VersionFrom(code, day), year, static_cast<int>(scheme)}] = denominator;
  }

  // The territory dates the reads named, in order.
  const std::vector<std::string>& territory_dates() const { return territory_dates_; }
  // The freshness each read passed on, in order (as territory_dates).
  const std::vector<v1::Freshness>& freshnesses() const { return freshnesses_; }
  // The reflects_seq of the answers of the reads from now on, in order; the last one answers
  // every read after it (none set: 0, as an aggregation service that does not say).
  void set_reflects_seqs(std::vector<int64_t> seqs) {
    reflects_seqs_ = std::move(seqs);
    answered_ = 0;
  }
  int links_calls() const { return links_calls_; }

  absl::StatusOr<std::vector<v1::AdminUnit>> Versions(const std::string& code) override {
    if (unavailable_) {
      return Unavailable();
    }
    auto it = units_.find(code);
    return it == units_.end() ? std::vector<v1::AdminUnit>() : it->second;
  }

  absl::StatusOr<std::vector<v1::CrosswalkLink>> LinksInto(const std::string& code) override {
    if (unavailable_) {
      return Unavailable();
    }
    ++links_calls_;
    std::vector<v1::CrosswalkLink> out;
    for (const v1::CrosswalkLink& link : links_) {
      if (link.to_code() == code) {
        out.push_back(link);
      }
    }
    return out;
  }

  // One figure. denominator: the scheme's denominator (population for health, labour force
  // otherwise) of the month's year.
  void Set(const std::string& code, const std::string& month, v1::Scheme scheme,
           int64_t participants, std::optional<int64_t> in_province = std::nullopt,
           std::optional<int64_t> denominator = std::nullopt) {
    v1::SchemeCoverage c;
    c.set_scheme(scheme);
    c.set_participants(participants);
    if (in_province.has_value()) {
      c.set_in_province_participants(*in_province);
    }
    c.set_denominator_kind(DenominatorFor(scheme));
    if (denominator.has_value()) {
      c.set_denominator(*denominator);
      c.set_coverage_percent(static_cast<double>(participants) * 100.0 /
                             static_cast<double>(*denominator));
    }
    c.set_reporting_units(1);
    c.set_expected_units(1);
    c.set_as_of_month(month);
    figures_[{code, *Month::Parse(month), scheme}] = c;
  }

  // One unit's value of a measure for a month (as ingestion stores a MeasureRecord).
  void SetMeasure(const std::string& code, const std::string& month, v1::Measure measure,
                  int64_t value, v1::Scheme scheme = v1::SCHEME_UNSPECIFIED,
                  v1::PayerGroup group = v1::PAYER_GROUP_UNSPECIFIED) {
    measures_[{code, measure, scheme, group}][*Month::Parse(month)] = value;
  }
  // The periods GetMeasures was asked for, and the freshness each passed on, in order.
  const std::vector<std::string>& measure_periods() const { return measure_periods_; }
  const std::vector<v1::Freshness>& measure_freshnesses() const { return measure_freshnesses_; }
  // GetMeasures answers this error (e.g. UNIMPLEMENTED, an aggregation older than measures).
  void set_measures_error(absl::Status status) { measures_error_ = std::move(status); }

  void set_unavailable(bool unavailable) { unavailable_ = unavailable; }
  int series_calls() const { return series_calls_; }

  absl::StatusOr<v1::Coverage> GetCoverage(absl::string_view unit_code, absl::string_view period,
                                           const std::vector<v1::Scheme>& schemes,
                                           absl::string_view territory_date,
                                           const v1::Freshness& freshness) override {
    if (unavailable_) {
      return Unavailable();
    }
    Record(territory_date, freshness);
    absl::StatusOr<Period> p = Period::Parse(period);
    if (!p.ok()) {
      return p.status();
    }
    const std::string day =
        territory_date.empty() ? p->last_month().LastDay() : std::string(territory_date);
    const v1::AdminUnit* unit = UnitOn(std::string(unit_code), day);
    if (unit == nullptr) {
      return absl::NotFoundError(absl::StrCat("unit ", unit_code, " not found"));
    }
    v1::Coverage coverage = CoverageOf(*unit, *p, schemes);
    coverage.set_reflects_seq(NextSeq());
    return coverage;
  }

  absl::StatusOr<CoverageList> ListCoverage(absl::string_view parent_code, v1::AdminLevel level,
                                            absl::string_view period, v1::Scheme scheme,
                                            absl::string_view territory_date,
                                            const v1::Freshness& freshness) override {
    if (unavailable_) {
      return Unavailable();
    }
    Record(territory_date, freshness);
    absl::StatusOr<Period> p = Period::Parse(period);
    if (!p.ok()) {
      return p.status();
    }
    const std::string day =
        territory_date.empty() ? p->last_month().LastDay() : std::string(territory_date);
    CoverageList out;
    for (const auto& [code, versions] : units_) {
      const v1::AdminUnit* unit = VersionOn(versions, day);
      if (unit != nullptr && unit->parent_code() == parent_code &&
          (level == v1::ADMIN_LEVEL_UNSPECIFIED || level == unit->level())) {
        out.coverages.push_back(CoverageOf(*unit, *p, {scheme}));
      }
    }
    out.reflects_seq = NextSeq();
    return out;
  }

  // Each measure rolled up by the registry's rule over the unit's own values (the fake has no
  // children's values): LAST the latest month of the period, SUM the sum of its months, the
  // ratio owed over due; a key with nothing in the period is absent.
  absl::StatusOr<v1::MeasureSummary> GetMeasures(absl::string_view unit_code,
                                                 absl::string_view period,
                                                 const std::vector<v1::Measure>& measures,
                                                 absl::string_view territory_date,
                                                 const v1::Freshness& freshness) override {
    // The fake reads the unit at the period's end whatever `territory_date`: it keeps no
    // crosswalk (the real re-expression is tests/integration/measures_reform_test.cc's).
    if (unavailable_) {
      return Unavailable();
    }
    if (!measures_error_.ok()) {
      return measures_error_;
    }
    // Kept apart from the coverage reads' records, which tests compare whole.
    measure_freshnesses_.push_back(freshness);
    measure_periods_.push_back(std::string(period));
    absl::StatusOr<Period> p = Period::Parse(period);
    if (!p.ok()) {
      return p.status();
    }
    const v1::AdminUnit* unit = UnitOn(std::string(unit_code), p->last_month().LastDay());
    if (unit == nullptr) {
      return absl::NotFoundError(absl::StrCat("unit ", unit_code, " not found"));
    }
    std::vector<v1::Measure> asked = measures;
    if (std::find(asked.begin(), asked.end(), v1::MEASURE_ARREARS_RATIO) != asked.end()) {
      asked.push_back(v1::MEASURE_ARREARS_OWED_VND);
      asked.push_back(v1::MEASURE_CONTRIBUTIONS_DUE_VND);
    }
    auto wanted = [&](v1::Measure m) {
      return measures.empty() || std::find(asked.begin(), asked.end(), m) != asked.end();
    };
    v1::MeasureSummary summary;
    *summary.mutable_unit() = *unit;
    summary.set_period(p->ToString());
    summary.set_reflects_seq(SameSeq());
    const Period last_year = p->SamePeriodLastYear();
    for (const auto& [key, months] : measures_) {
      if (std::get<0>(key) != unit_code || !wanted(std::get<1>(key))) {
        continue;
      }
      std::optional<v1::MeasureValue> v = RollUp(months, *FindMeasure(std::get<1>(key)), *p);
      if (!v.has_value()) {
        continue;
      }
      v->set_measure(std::get<1>(key));
      v->set_scheme(std::get<2>(key));
      v->set_payer_group(std::get<3>(key));
      v1::MeasureComparison* cmp = v->mutable_same_period_last_year();
      cmp->set_period(last_year.ToString());
      if (std::optional<v1::MeasureValue> before =
              RollUp(months, *FindMeasure(std::get<1>(key)), last_year);
          before.has_value()) {
        cmp->set_value(before->value());
        cmp->set_value_change(v->value() - before->value());
      }
      *summary.add_values() = std::move(*v);
    }
    if (wanted(v1::MEASURE_ARREARS_RATIO)) {
      AddRatio(summary);
    }
    return summary;
  }

  absl::StatusOr<v1::CoverageSeries> GetCoverageSeries(absl::string_view unit_code,
                                                       v1::Scheme scheme, Month from, Month to,
                                                       absl::string_view territory_date,
                                                       const v1::Freshness& freshness) override {
    if (unavailable_) {
      return Unavailable();
    }
    Record(territory_date, freshness);
    ++series_calls_;
    v1::CoverageSeries series;
    series.set_scheme(scheme);
    series.set_reflects_seq(NextSeq());
    for (Month m = from; m <= to; m = m.Next()) {
      auto it = figures_.find({std::string(unit_code), m, scheme});
      v1::SchemeCoverageAtMonth* at = series.add_months();
      at->set_month(m.ToString());
      if (it != figures_.end()) {
        *at->mutable_coverage() = it->second;
      } else {
        at->mutable_coverage()->set_scheme(scheme);
      }
    }
    return series;
  }

 private:
  struct Key {
    std::string code;
    Month month;
    v1::Scheme scheme;
    bool operator<(const Key& o) const {
      return std::make_tuple(code, month.Index(), static_cast<int>(scheme)) <
             std::make_tuple(o.code, o.month.Index(), static_cast<int>(o.scheme));
    }
  };

  using MeasureKey = std::tuple<std::string, v1::Measure, v1::Scheme, v1::PayerGroup>;

  static std::optional<v1::MeasureValue> RollUp(const std::map<Month, int64_t>& months,
                                                const MeasureInfo& info, const Period& period) {
    std::optional<v1::MeasureValue> out;
    for (const auto& [month, value] : months) {
      if (month < period.first_month() || period.last_month() < month) {
        continue;
      }
      if (!out.has_value()) {
        out.emplace();
        out->set_value(0);
      }
      out->set_value(info.rule == MeasureRule::kSum ? out->value() + value : value);
      out->set_as_of_month(month.ToString());
      out->set_months_reported(out->months_reported() + 1);
      out->set_reporting_units(1);
      out->set_expected_units(1);
    }
    return out;
  }

  static void AddRatio(v1::MeasureSummary& summary) {
    const v1::MeasureValue* owed = nullptr;
    const v1::MeasureValue* due = nullptr;
    for (const v1::MeasureValue& v : summary.values()) {
      if (v.measure() == v1::MEASURE_ARREARS_OWED_VND) {
        owed = &v;
      } else if (v.measure() == v1::MEASURE_CONTRIBUTIONS_DUE_VND) {
        due = &v;
      }
    }
    if (owed == nullptr || due == nullptr || due->value() == 0) {
      return;
    }
    v1::MeasureValue ratio;
    ratio.set_measure(v1::MEASURE_ARREARS_RATIO);
    ratio.set_percent(static_cast<double>(owed->value()) * 100.0 /
                      static_cast<double>(due->value()));
    ratio.set_as_of_month(owed->as_of_month());
    *summary.add_values() = std::move(ratio);
  }

  void Record(absl::string_view territory_date, const v1::Freshness& freshness) {
    territory_dates_.push_back(std::string(territory_date));
    freshnesses_.push_back(freshness);
  }

  int64_t NextSeq() {
    if (reflects_seqs_.empty()) {
      return 0;
    }
    const int64_t seq = reflects_seqs_[std::min(answered_, reflects_seqs_.size() - 1)];
    ++answered_;
    return seq;
  }

  // The seq of the read answered last (the first one's before any): a measures read neither
  // consumes nor lowers the seqs the coverage reads' tests set.
  int64_t SameSeq() const {
    if (reflects_seqs_.empty()) {
      return 0;
    }
    return reflects_seqs_[std::min(answered_ == 0 ? 0 : answered_ - 1, reflects_seqs_.size() - 1)];
  }

  static absl::Status Unavailable() {
    return absl::UnavailableError("aggregation service at fake is unavailable");
  }

  const v1::AdminUnit* UnitOn(const std::string& code, const std::string& day) const {
    auto it = units_.find(code);
    return it == units_.end() ? nullptr : VersionOn(it->second, day);
  }

  std::string VersionFrom(const std::string& code, const std::string& day) const {
    const v1::AdminUnit* unit = UnitOn(code, day);
    return unit == nullptr ? "" : unit->valid_from();
  }

  v1::Coverage CoverageOf(const v1::AdminUnit& unit, const Period& period,
                          const std::vector<v1::Scheme>& schemes) const {
    v1::Coverage coverage;
    *coverage.mutable_unit() = unit;
    coverage.set_period(period.ToString());
    // The latest month of the period with any figure for the unit.
    std::optional<Month> as_of;
    for (Month m = period.first_month(); m <= period.last_month(); m = m.Next()) {
      for (v1::Scheme s : kAllSchemes) {
        if (figures_.count({unit.code(), m, s}) > 0) {
          as_of = m;
        }
      }
    }
    if (as_of.has_value()) {
      coverage.set_as_of_month(as_of->ToString());
    }
    for (v1::Scheme s : schemes) {
      v1::SchemeCoverage* c = coverage.add_schemes();
      c->set_scheme(s);
      if (as_of.has_value()) {
        if (auto it = figures_.find({unit.code(), *as_of, s}); it != figures_.end()) {
          *c = it->second;
        }
      }
      if (auto it = denominators_.find(
              {unit.code(), unit.valid_from(), period.year(), static_cast<int>(s)});
          it != denominators_.end() && !c->has_denominator()) {
        c->set_denominator(it->second);
      }
      if (!as_of.has_value()) {
        continue;
      }
      const Month year_before{as_of->year - 1, as_of->month};
      if (auto it = figures_.find({unit.code(), year_before, s}); it != figures_.end()) {
        v1::Comparison* cmp = c->mutable_same_period_last_year();
        cmp->set_period(period.SamePeriodLastYear().ToString());
        cmp->set_participants(it->second.participants());
        cmp->set_participants_change(c->participants() - it->second.participants());
      }
    }
    return coverage;
  }

  std::map<std::string, std::vector<v1::AdminUnit>> units_;
  std::vector<v1::CrosswalkLink> links_;
  std::map<Key, v1::SchemeCoverage> figures_;
  // (code, valid_from of the version, year, scheme) -> denominator.
  std::map<std::tuple<std::string, std::string, int, int>, int64_t> denominators_;
  std::map<MeasureKey, std::map<Month, int64_t>> measures_;
  std::vector<std::string> measure_periods_;
  std::vector<v1::Freshness> measure_freshnesses_;
  absl::Status measures_error_;
  std::vector<std::string> territory_dates_;
  std::vector<v1::Freshness> freshnesses_;
  std::vector<int64_t> reflects_seqs_;
  size_t answered_ = 0;
  bool unavailable_ = false;
  int series_calls_ = 0;
  int links_calls_ = 0;
};

}  // namespace covtrack::targets::testing
