#include "services/aggregation/coverage_requests.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/domain.h"
#include "common/measures.h"
#include "common/status/status.h"

namespace covtrack::aggregation {
namespace {

constexpr int kDefaultPreviousYearEnds = 3;
constexpr int kMaxPreviousYearEnds = 10;
constexpr PageSizeLimits kCoveragePageSizes = {100, 1000};
constexpr int kMaxSeriesMonths = 120;

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::Status RequireUnitCode(const std::string& code) {
  if (code.empty()) {
    return Invalid("unit_code", "required (\"VN\" for the nation)");
  }
  if (code.size() > kMaxUnitCodeLength) {
    return Invalid("unit_code", absl::StrCat("longer than ", kMaxUnitCodeLength, " characters"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Period> ParsePeriod(const std::string& text) {
  absl::StatusOr<Period> period = Period::Parse(text);
  if (!period.ok()) {
    return Invalid("period", period.status().message());
  }
  return period;
}

absl::StatusOr<Month> ParseMonth(absl::string_view field, const std::string& text) {
  absl::StatusOr<Month> month = Month::Parse(text);
  if (!month.ok()) {
    return Invalid(
        field, text.size() > 16 ? "is not YYYY-MM" : absl::StrCat("\"", text, "\" is not YYYY-MM"));
  }
  return month;
}

// Empty, or a calendar date between the years periods accept; never echoed when too long.
absl::Status CheckTerritoryDate(const std::string& text) {
  if (text.empty()) {
    return absl::OkStatus();
  }
  if (text.size() != 10 || !ValidateDate(text).ok()) {
    return Invalid("territory_date", text.size() > 16
                                         ? "is not YYYY-MM-DD"
                                         : absl::StrCat("\"", text, "\" is not YYYY-MM-DD"));
  }
  return absl::OkStatus();
}

// GetMeasuresRequest.measures and ListMeasuresRequest.measures: measures of the registry, each
// once; MEASURE_PARTICIPANTS is GetCoverage's.
absl::StatusOr<std::vector<v1::Measure>> ReadMeasures(
    const google::protobuf::RepeatedField<int>& measures) {
  std::vector<v1::Measure> read;
  for (int i = 0; i < measures.size(); ++i) {
    const std::string field = absl::StrCat("measures[", i, "]");
    const MeasureInfo* info = FindMeasure(static_cast<v1::Measure>(measures[i]));
    if (info == nullptr) {
      return Invalid(field, absl::StrCat("unknown measure ", measures[i]));
    }
    if (info->source == MeasureSource::kParticipationRecord) {
      return Invalid(field, absl::StrCat(info->name, " is answered by GetCoverage"));
    }
    if (std::find(read.begin(), read.end(), info->measure) != read.end()) {
      return Invalid(field, absl::StrCat(info->name, " is asked twice"));
    }
    read.push_back(info->measure);
  }
  return read;
}

}  // namespace

absl::StatusOr<FreshnessQuery> ValidateFreshness(const v1::Freshness& freshness) {
  if (freshness.at_least_seq() < 0) {
    return Invalid("freshness.at_least_seq",
                   absl::StrCat(freshness.at_least_seq(), " is negative (0: no token)"));
  }
  switch (freshness.consistency()) {
    case v1::CONSISTENCY_UNSPECIFIED:
    case v1::CONSISTENCY_APPLIED:
    case v1::CONSISTENCY_FULL:
      break;
    default:
      return Invalid("freshness.consistency",
                     absl::StrCat("unknown consistency ", freshness.consistency()));
  }
  return FreshnessQuery{freshness.at_least_seq(), freshness.consistency()};
}

absl::StatusOr<CoverageQuery> ValidateCoverageRequest(const v1::GetCoverageRequest& request) {
  RETURN_IF_ERROR(RequireUnitCode(request.unit_code()));
  ASSIGN_OR_RETURN(Period period, ParsePeriod(request.period()));
  std::vector<v1::Scheme> schemes;
  for (int i = 0; i < request.schemes_size(); ++i) {
    const int s = request.schemes(i);
    if (s < v1::SCHEME_COMPULSORY_SOCIAL || s > v1::SCHEME_SOCIAL) {
      return Invalid(absl::StrCat("schemes[", i, "]"), absl::StrCat("unknown scheme ", s));
    }
    schemes.push_back(static_cast<v1::Scheme>(s));
  }
  const int year_ends = request.previous_year_ends();
  if (year_ends < 0 || year_ends > kMaxPreviousYearEnds) {
    return Invalid("previous_year_ends",
                   absl::StrCat(year_ends, " is outside 0..", kMaxPreviousYearEnds));
  }
  RETURN_IF_ERROR(CheckTerritoryDate(request.territory_date()));
  ASSIGN_OR_RETURN(FreshnessQuery freshness, ValidateFreshness(request.freshness()));
  return CoverageQuery{
      request.unit_code(),      period,
      std::move(schemes),       year_ends == 0 ? kDefaultPreviousYearEnds : year_ends,
      request.territory_date(), freshness};
}

absl::StatusOr<CoverageListQuery> ValidateListCoverageRequest(
    const v1::ListCoverageRequest& request) {
  const std::string parent =
      request.parent_code().empty() ? std::string(kNationCode) : request.parent_code();
  if (parent.size() > kMaxUnitCodeLength) {
    return Invalid("parent_code", absl::StrCat("longer than ", kMaxUnitCodeLength, " characters"));
  }
  ASSIGN_OR_RETURN(Period period, ParsePeriod(request.period()));
  if (request.scheme() < v1::SCHEME_UNSPECIFIED || request.scheme() > v1::SCHEME_SOCIAL) {
    return Invalid("scheme", absl::StrCat("unknown scheme ", request.scheme()));
  }
  if (request.level() < v1::ADMIN_LEVEL_UNSPECIFIED || request.level() > v1::ADMIN_LEVEL_COMMUNE) {
    return Invalid("level", absl::StrCat("unknown level ", request.level()));
  }
  if (request.order_by() < v1::COVERAGE_ORDER_UNSPECIFIED ||
      request.order_by() > v1::COVERAGE_ORDER_PARTICIPANTS_DESCENDING) {
    return Invalid("order_by", absl::StrCat("unknown order ", request.order_by()));
  }
  // An empty parent_code and "VN" are the same list: the token is bound to the parent meant.
  RETURN_IF_ERROR(CheckTerritoryDate(request.territory_date()));
  ASSIGN_OR_RETURN(FreshnessQuery freshness, ValidateFreshness(request.freshness()));
  // The token is bound to the list, not to its freshness: the next page is asked with the
  // previous page's reflects_seq as its token (aggregation_service.proto).
  v1::ListCoverageRequest list = request;
  list.clear_freshness();
  ASSIGN_OR_RETURN(PageRequest page, PageRequest::Read(list, kCoveragePageSizes, parent));
  return CoverageListQuery{
      parent,          request.level(),          period,   request.scheme(), request.order_by(),
      std::move(page), request.territory_date(), freshness};
}

absl::StatusOr<SeriesQuery> ValidateSeriesRequest(const v1::GetCoverageSeriesRequest& request) {
  RETURN_IF_ERROR(RequireUnitCode(request.unit_code()));
  if (request.scheme() < v1::SCHEME_COMPULSORY_SOCIAL || request.scheme() > v1::SCHEME_SOCIAL) {
    return Invalid("scheme", "required: one of the five schemes");
  }
  ASSIGN_OR_RETURN(Month from, ParseMonth("from_month", request.from_month()));
  ASSIGN_OR_RETURN(Month to, ParseMonth("to_month", request.to_month()));
  if (to < from) {
    return Invalid("to_month", "is before from_month");
  }
  if (to.Index() - from.Index() + 1 > kMaxSeriesMonths) {
    return Invalid("to_month", absl::StrCat("at most ", kMaxSeriesMonths, " months per series"));
  }
  RETURN_IF_ERROR(CheckTerritoryDate(request.territory_date()));
  ASSIGN_OR_RETURN(FreshnessQuery freshness, ValidateFreshness(request.freshness()));
  return SeriesQuery{request.unit_code(),      request.scheme(), from, to,
                     request.territory_date(), freshness};
}

}  // namespace covtrack::aggregation

namespace covtrack::aggregation {

absl::StatusOr<MeasuresQuery> ValidateMeasuresRequest(const v1::GetMeasuresRequest& request) {
  RETURN_IF_ERROR(RequireUnitCode(request.unit_code()));
  ASSIGN_OR_RETURN(Period period, ParsePeriod(request.period()));
  ASSIGN_OR_RETURN(std::vector<v1::Measure> measures, ReadMeasures(request.measures()));
  RETURN_IF_ERROR(CheckTerritoryDate(request.territory_date()));
  ASSIGN_OR_RETURN(FreshnessQuery freshness, ValidateFreshness(request.freshness()));
  return MeasuresQuery{request.unit_code(), period, std::move(measures), request.territory_date(),
                       freshness};
}

absl::StatusOr<MeasureListQuery> ValidateListMeasuresRequest(
    const v1::ListMeasuresRequest& request) {
  const std::string parent =
      request.parent_code().empty() ? std::string(kNationCode) : request.parent_code();
  if (parent.size() > kMaxUnitCodeLength) {
    return Invalid("parent_code", absl::StrCat("longer than ", kMaxUnitCodeLength, " characters"));
  }
  ASSIGN_OR_RETURN(Period period, ParsePeriod(request.period()));
  if (request.level() < v1::ADMIN_LEVEL_UNSPECIFIED || request.level() > v1::ADMIN_LEVEL_COMMUNE) {
    return Invalid("level", absl::StrCat("unknown level ", request.level()));
  }
  ASSIGN_OR_RETURN(std::vector<v1::Measure> measures, ReadMeasures(request.measures()));
  const v1::MeasureOrder& order = request.order_by();
  if (order.measure() != v1::MEASURE_UNSPECIFIED) {
    const MeasureInfo* info = FindMeasure(order.measure());
    if (info == nullptr) {
      return Invalid("order_by.measure", absl::StrCat("unknown measure ", order.measure()));
    }
    if (info->source == MeasureSource::kParticipationRecord) {
      return Invalid("order_by.measure", absl::StrCat(info->name, " is ordered by ListCoverage"));
    }
    std::string field;
    const std::string problem =
        MeasureKeyProblem(*info, order.scheme(), order.payer_group(), &field);
    if (!problem.empty()) {
      return Invalid(absl::StrCat("order_by.", field), problem);
    }
  } else if (order.scheme() != v1::SCHEME_UNSPECIFIED ||
             order.payer_group() != v1::PAYER_GROUP_UNSPECIFIED) {
    return Invalid("order_by.measure", "required with order_by.scheme or order_by.payer_group");
  }
  RETURN_IF_ERROR(CheckTerritoryDate(request.territory_date()));
  ASSIGN_OR_RETURN(FreshnessQuery freshness, ValidateFreshness(request.freshness()));
  // As ListCoverage: the token is bound to the list (an empty parent and "VN" alike), not to
  // its freshness.
  v1::ListMeasuresRequest list = request;
  list.clear_freshness();
  ASSIGN_OR_RETURN(PageRequest page, PageRequest::Read(list, kCoveragePageSizes, parent));
  return MeasureListQuery{
      parent,          request.level(),          period,   std::move(measures), order,
      std::move(page), request.territory_date(), freshness};
}

std::string TerritoryOf(const std::string& territory_date, const Period& period) {
  return territory_date.empty() ? period.last_month().LastDay() : territory_date;
}

absl::Status NoUnitOnTerritory(absl::string_view field, absl::string_view code,
                               const std::string& territory_date, const Period& period) {
  return absl::NotFoundError(absl::StrCat(
      field, " \"", code, "\" names no administrative unit on ",
      TerritoryOf(territory_date, period),
      territory_date.empty() ? absl::StrCat(" (the end of period ", period.ToString(), ")")
                             : std::string(" (territory_date)")));
}

}  // namespace covtrack::aggregation
