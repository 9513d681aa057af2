#include "services/targets/coverage_source.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/measures.h"
#include "common/status/status.h"
#include "common/text.h"
#include "services/targets/upstream.h"

namespace covtrack::targets {
namespace {

// ListCoverage page size: the largest province has a few hundred communes.
constexpr int kListPageSize = 500;
// A runaway paging loop (a server that keeps answering the same token) ends here.
constexpr int kMaxListPages = 1000;

// A count of people read from aggregation: 0 ≤ n ≤ kMaxPeople. A change between two such
// counts: |n| ≤ kMaxPeople.
bool CountInRange(int64_t n) { return n >= 0 && n <= kMaxPeople; }
bool ChangeInRange(int64_t n) { return n >= -kMaxPeople && n <= kMaxPeople; }

absl::Status FigureOutOfRange(const v1::Coverage& coverage, const v1::SchemeCoverage& scheme,
                              absl::string_view field, int64_t value) {
  return absl::FailedPreconditionError(absl::StrCat(
      "the aggregation service gave unit ", CutText(coverage.unit().code(), kMaxUnitCodeLength),
      " a ", SchemeName(scheme.scheme()), " ", field, " of ", value,
      ", beyond any unit's (at most ", kMaxPeople, "): the figures must be corrected"));
}

absl::Status CheckComparison(const v1::Coverage& coverage, const v1::SchemeCoverage& scheme,
                             const v1::Comparison& comparison) {
  if (comparison.has_participants_change() && !ChangeInRange(comparison.participants_change())) {
    return FigureOutOfRange(coverage, scheme, "participants change",
                            comparison.participants_change());
  }
  if (!CountInRange(comparison.participants())) {
    return FigureOutOfRange(coverage, scheme, "earlier participants", comparison.participants());
  }
  return absl::OkStatus();
}

absl::Status CheckSchemeFigures(const v1::Coverage& coverage, const v1::SchemeCoverage& s) {
  if (!CountInRange(s.participants())) {
    return FigureOutOfRange(coverage, s, "participants count", s.participants());
  }
  if (s.has_in_province_participants() && !CountInRange(s.in_province_participants())) {
    return FigureOutOfRange(coverage, s, "in-province participants count",
                            s.in_province_participants());
  }
  if (s.has_denominator() && !CountInRange(s.denominator())) {
    return FigureOutOfRange(coverage, s,
                            DenominatorFor(s.scheme()) == v1::DENOMINATOR_KIND_POPULATION
                                ? "population"
                                : "labour force",
                            s.denominator());
  }
  RETURN_IF_ERROR(CheckComparison(coverage, s, s.same_period_last_year()));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFigures(const v1::Coverage& coverage) {
  for (const v1::SchemeCoverage& s : coverage.schemes()) {
    RETURN_IF_ERROR(CheckSchemeFigures(coverage, s));
  }
  return absl::OkStatus();
}

absl::Status CheckMeasureFigures(const v1::MeasureSummary& summary) {
  auto refuse = [&](const v1::MeasureValue& v, absl::string_view field) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the aggregation service gave unit ", CutText(summary.unit().code(), kMaxUnitCodeLength),
        " a ", MeasureName(v.measure()), " ", field,
        " below 0 or not a number: the figures must be corrected"));
  };
  auto bad_percent = [](double p) { return !std::isfinite(p) || p < 0; };
  for (const v1::MeasureValue& v : summary.values()) {
    if (v.has_value() && v.value() < 0) {
      return refuse(v, "value");
    }
    if (v.has_percent() && bad_percent(v.percent())) {
      return refuse(v, "percent");
    }
    const v1::MeasureComparison& last_year = v.same_period_last_year();
    if (last_year.has_value() && last_year.value() < 0) {
      return refuse(v, "value a year earlier");
    }
    if (last_year.has_percent() && bad_percent(last_year.percent())) {
      return refuse(v, "percent a year earlier");
    }
  }
  return absl::OkStatus();
}

namespace {

class AggregationCoverageSource : public CoverageSource {
 public:
  AggregationCoverageSource(std::shared_ptr<grpc::Channel> channel, std::string address,
                            absl::Duration deadline)
      : upstream_{"aggregation", std::move(address), deadline},
        stub_(v1::AggregationService::NewStub(channel)) {}

  absl::StatusOr<v1::Coverage> GetCoverage(absl::string_view unit_code, absl::string_view period,
                                           const std::vector<v1::Scheme>& schemes,
                                           absl::string_view territory_date,
                                           const v1::Freshness& freshness) override {
    v1::GetCoverageRequest request;
    request.set_unit_code(std::string(unit_code));
    request.set_period(std::string(period));
    request.set_territory_date(std::string(territory_date));
    *request.mutable_freshness() = freshness;
    for (v1::Scheme scheme : schemes) {
      request.add_schemes(scheme);
    }
    v1::Coverage response;
    grpc::ClientContext context;
    upstream_.Prepare(context);
    RETURN_IF_ERROR(upstream_.Check(stub_->GetCoverage(&context, request, &response), "GetCoverage",
                                    unit_code));
    RETURN_IF_ERROR(CheckFigures(response));
    return response;
  }

  absl::StatusOr<CoverageList> ListCoverage(absl::string_view parent_code, v1::AdminLevel level,
                                            absl::string_view period, v1::Scheme scheme,
                                            absl::string_view territory_date,
                                            const v1::Freshness& freshness) override {
    CoverageList all;
    v1::ListCoverageRequest request;
    *request.mutable_freshness() = freshness;
    request.set_parent_code(std::string(parent_code));
    request.set_territory_date(std::string(territory_date));
    request.set_level(level);
    request.set_period(std::string(period));
    request.set_scheme(scheme);
    request.set_order_by(v1::COVERAGE_ORDER_CODE);
    request.set_page_size(kListPageSize);
    for (int page = 0; page < kMaxListPages; ++page) {
      RETURN_IF_ERROR(Upstream::StopIfCallEnded("while listing the units' figures"));
      v1::ListCoverageResponse response;
      grpc::ClientContext context;
      upstream_.Prepare(context);
      RETURN_IF_ERROR(upstream_.Check(stub_->ListCoverage(&context, request, &response),
                                      "ListCoverage", parent_code));
      for (v1::Coverage& coverage : *response.mutable_coverages()) {
        RETURN_IF_ERROR(CheckFigures(coverage));
        all.coverages.push_back(std::move(coverage));
      }
      all.reflects_seq =
          page == 0 ? response.reflects_seq() : std::min(all.reflects_seq, response.reflects_seq());
      if (response.next_page_token().empty()) {
        return all;
      }
      request.set_page_token(response.next_page_token());
      // No page older than the one before it (aggregation_service.proto); the consistency asked
      // stays as the caller gave it.
      if (response.reflects_seq() > request.freshness().at_least_seq()) {
        request.mutable_freshness()->set_at_least_seq(response.reflects_seq());
      }
    }
    return absl::UnavailableError(
        absl::StrCat("aggregation service: ListCoverage ", parent_code, " did not finish paging"));
  }

  absl::StatusOr<v1::CoverageSeries> GetCoverageSeries(absl::string_view unit_code,
                                                       v1::Scheme scheme, Month from, Month to,
                                                       absl::string_view territory_date,
                                                       const v1::Freshness& freshness) override {
    v1::GetCoverageSeriesRequest request;
    request.set_unit_code(std::string(unit_code));
    request.set_territory_date(std::string(territory_date));
    *request.mutable_freshness() = freshness;
    request.set_scheme(scheme);
    request.set_from_month(from.ToString());
    request.set_to_month(to.ToString());
    v1::CoverageSeries response;
    grpc::ClientContext context;
    upstream_.Prepare(context);
    RETURN_IF_ERROR(upstream_.Check(stub_->GetCoverageSeries(&context, request, &response),
                                    "GetCoverageSeries", unit_code));
    v1::Coverage unit;
    *unit.mutable_unit() = response.unit();
    for (const v1::SchemeCoverageAtMonth& month : response.months()) {
      RETURN_IF_ERROR(CheckSchemeFigures(unit, month.coverage()));
    }
    return response;
  }

  absl::StatusOr<v1::MeasureSummary> GetMeasures(absl::string_view unit_code,
                                                 absl::string_view period,
                                                 const std::vector<v1::Measure>& measures,
                                                 absl::string_view territory_date,
                                                 const v1::Freshness& freshness) override {
    v1::GetMeasuresRequest request;
    request.set_unit_code(std::string(unit_code));
    request.set_period(std::string(period));
    request.set_territory_date(std::string(territory_date));
    *request.mutable_freshness() = freshness;
    for (v1::Measure measure : measures) {
      request.add_measures(measure);
    }
    v1::MeasureSummary response;
    grpc::ClientContext context;
    upstream_.Prepare(context);
    RETURN_IF_ERROR(upstream_.Check(stub_->GetMeasures(&context, request, &response), "GetMeasures",
                                    unit_code));
    RETURN_IF_ERROR(CheckMeasureFigures(response));
    return response;
  }

 private:
  const Upstream upstream_;
  std::unique_ptr<v1::AggregationService::Stub> stub_;
};

}  // namespace

const v1::SchemeCoverage* FindScheme(const v1::Coverage& coverage, v1::Scheme scheme) {
  for (const v1::SchemeCoverage& s : coverage.schemes()) {
    if (s.scheme() == scheme) {
      return &s;
    }
  }
  return nullptr;
}

absl::StatusOr<v1::Coverage> CoverageReads::GetCoverage(absl::string_view unit_code,
                                                        absl::string_view period,
                                                        const std::vector<v1::Scheme>& schemes,
                                                        absl::string_view territory_date) {
  ASSIGN_OR_RETURN(v1::Coverage coverage,
                   source_->GetCoverage(unit_code, period, schemes, territory_date, freshness_));
  Reflects(coverage.reflects_seq());
  return coverage;
}

absl::StatusOr<std::vector<v1::Coverage>> CoverageReads::ListCoverage(
    absl::string_view parent_code, v1::AdminLevel level, absl::string_view period,
    v1::Scheme scheme, absl::string_view territory_date) {
  ASSIGN_OR_RETURN(CoverageList list, source_->ListCoverage(parent_code, level, period, scheme,
                                                            territory_date, freshness_));
  Reflects(list.reflects_seq);
  return std::move(list.coverages);
}

absl::StatusOr<v1::CoverageSeries> CoverageReads::GetCoverageSeries(
    absl::string_view unit_code, v1::Scheme scheme, Month from, Month to,
    absl::string_view territory_date) {
  ASSIGN_OR_RETURN(
      v1::CoverageSeries series,
      source_->GetCoverageSeries(unit_code, scheme, from, to, territory_date, freshness_));
  Reflects(series.reflects_seq());
  return series;
}

absl::StatusOr<v1::MeasureSummary> CoverageReads::GetMeasures(
    absl::string_view unit_code, absl::string_view period, const std::vector<v1::Measure>& measures,
    absl::string_view territory_date) {
  ASSIGN_OR_RETURN(v1::MeasureSummary summary,
                   source_->GetMeasures(unit_code, period, measures, territory_date, freshness_));
  Reflects(summary.reflects_seq());
  return summary;
}

std::unique_ptr<CoverageSource> NewAggregationCoverageSource(std::shared_ptr<grpc::Channel> channel,
                                                             std::string address,
                                                             absl::Duration deadline) {
  return std::make_unique<AggregationCoverageSource>(std::move(channel), std::move(address),
                                                     deadline);
}

}  // namespace covtrack::targets
