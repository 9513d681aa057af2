#include "services/targets/coverage_source.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/server.h"

namespace covtrack::targets {
namespace {

// ListCoverage page size: the largest province has a few hundred communes.
constexpr int kListPageSize = 500;
// A runaway paging loop (a server that keeps answering the same token) ends here.
constexpr int kMaxListPages = 1000;

class AggregationCoverageSource : public CoverageSource {
 public:
  AggregationCoverageSource(std::shared_ptr<grpc::Channel> channel, std::string address,
                            absl::Duration deadline)
      : address_(std::move(address)),
        deadline_(deadline),
        stub_(v1::AggregationService::NewStub(channel)) {}

  absl::StatusOr<v1::Coverage> GetCoverage(absl::string_view unit_code, absl::string_view period,
                                           const std::vector<v1::Scheme>& schemes,
                                           absl::string_view territory_date) override {
    v1::GetCoverageRequest request;
    request.set_unit_code(std::string(unit_code));
    request.set_period(std::string(period));
    request.set_territory_date(std::string(territory_date));
    for (v1::Scheme scheme : schemes) {
      request.add_schemes(scheme);
    }
    v1::Coverage response;
    grpc::ClientContext context;
    SetDeadline(context);
    return Check(stub_->GetCoverage(&context, request, &response), "GetCoverage", unit_code,
                 response);
  }

  absl::StatusOr<std::vector<v1::Coverage>> ListCoverage(
      absl::string_view parent_code, v1::AdminLevel level, absl::string_view period,
      v1::Scheme scheme, absl::string_view territory_date) override {
    std::vector<v1::Coverage> all;
    v1::ListCoverageRequest request;
    request.set_parent_code(std::string(parent_code));
    request.set_territory_date(std::string(territory_date));
    request.set_level(level);
    request.set_period(std::string(period));
    request.set_scheme(scheme);
    request.set_order_by(v1::COVERAGE_ORDER_CODE);
    request.set_page_size(kListPageSize);
    for (int page = 0; page < kMaxListPages; ++page) {
      v1::ListCoverageResponse response;
      grpc::ClientContext context;
      SetDeadline(context);
      absl::StatusOr<v1::ListCoverageResponse> checked = Check(
          stub_->ListCoverage(&context, request, &response), "ListCoverage", parent_code, response);
      if (!checked.ok()) {
        return checked.status();
      }
      for (v1::Coverage& coverage : *checked->mutable_coverages()) {
        all.push_back(std::move(coverage));
      }
      if (checked->next_page_token().empty()) {
        return all;
      }
      request.set_page_token(checked->next_page_token());
    }
    return absl::InternalError(
        absl::StrCat("aggregation service at ", address_, ": ListCoverage did not finish paging"));
  }

  absl::StatusOr<v1::CoverageSeries> GetCoverageSeries(absl::string_view unit_code,
                                                       v1::Scheme scheme, Month from, Month to,
                                                       absl::string_view territory_date) override {
    v1::GetCoverageSeriesRequest request;
    request.set_unit_code(std::string(unit_code));
    request.set_territory_date(std::string(territory_date));
    request.set_scheme(scheme);
    request.set_from_month(from.ToString());
    request.set_to_month(to.ToString());
    v1::CoverageSeries response;
    grpc::ClientContext context;
    SetDeadline(context);
    return Check(stub_->GetCoverageSeries(&context, request, &response), "GetCoverageSeries",
                 unit_code, response);
  }

 private:
  void SetDeadline(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline_));
  }

  template <typename T>
  absl::StatusOr<T> Check(const grpc::Status& status, absl::string_view method,
                          absl::string_view unit_code, T& response) const {
    if (status.ok()) {
      return std::move(response);
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::UnavailableError(absl::StrCat(
          "aggregation service at ", address_, " is unavailable (", method, " ", unit_code, ": ",
          status.error_message(), "); no figures can be given without it"));
    }
    absl::Status converted = FromGrpcStatus(status);
    return absl::Status(converted.code(), absl::StrCat("aggregation service: ", method, " ",
                                                       unit_code, ": ", status.error_message()));
  }

  const std::string address_;
  const absl::Duration deadline_;
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

std::unique_ptr<CoverageSource> NewAggregationCoverageSource(std::shared_ptr<grpc::Channel> channel,
                                                             std::string address,
                                                             absl::Duration deadline) {
  return std::make_unique<AggregationCoverageSource>(std::move(channel), std::move(address),
                                                     deadline);
}

}  // namespace covtrack::targets
