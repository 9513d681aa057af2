// The aggregation service's request checks, alone: no servers.
#include "services/aggregation/coverage_requests.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::aggregation {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::HasSubstr;

v1::GetCoverageRequest CoverageRequest(const std::string& code, const std::string& period) {
  v1::GetCoverageRequest r;
  r.set_unit_code(code);
  r.set_period(period);
  return r;
}

TEST(ValidateCoverageRequestTest, NamesTheFieldAtFault) {
  EXPECT_THAT(ValidateCoverageRequest(CoverageRequest("", "2023")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unit_code")));
  EXPECT_THAT(ValidateCoverageRequest(CoverageRequest(std::string(5000, '8'), "2023")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 16")));
  EXPECT_THAT(ValidateCoverageRequest(CoverageRequest("82", "2023-13")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("period")));
  v1::GetCoverageRequest bad_scheme = CoverageRequest("82", "2023");
  bad_scheme.add_schemes(v1::SCHEME_HEALTH);
  bad_scheme.add_schemes(static_cast<v1::Scheme>(9));
  EXPECT_THAT(ValidateCoverageRequest(bad_scheme),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("schemes[1]")));
  v1::GetCoverageRequest too_many = CoverageRequest("82", "2023");
  too_many.set_previous_year_ends(11);
  EXPECT_THAT(ValidateCoverageRequest(too_many),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("previous_year_ends")));
}

TEST(ValidateCoverageRequestTest, DefaultsToThreeYearEnds) {
  absl::StatusOr<CoverageQuery> query = ValidateCoverageRequest(CoverageRequest("815", "2023-H1"));
  ASSERT_THAT(query, IsOk());
  EXPECT_EQ(query->unit_code, "815");
  EXPECT_EQ(query->period.ToString(), "2023-H1");
  EXPECT_EQ(query->previous_year_ends, 3);
  EXPECT_TRUE(query->schemes.empty());
}

TEST(TerritoryDateTest, EveryReadTakesADateAndNamesTheFieldWhenItIsNotOne) {
  v1::GetCoverageRequest coverage = CoverageRequest("82", "2024");
  coverage.set_territory_date("2025-07-01");
  absl::StatusOr<CoverageQuery> query = ValidateCoverageRequest(coverage);
  ASSERT_THAT(query, IsOk());
  EXPECT_EQ(query->territory_date, "2025-07-01");
  for (const std::string bad : {"2025-02-29", "2025-7-01", "20250701", "1850-01-01", "tomorrow"}) {
    coverage.set_territory_date(bad);
    EXPECT_THAT(ValidateCoverageRequest(coverage),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("territory_date")))
        << bad;
  }
  coverage.set_territory_date(std::string(5000, '2'));
  const absl::Status long_date = ValidateCoverageRequest(coverage).status();
  EXPECT_THAT(long_date, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("territory_date")));
  EXPECT_LT(long_date.message().size(), 100u);  // never echoed whole

  v1::ListCoverageRequest list;
  list.set_period("2024");
  list.set_territory_date("2025-07-01");
  absl::StatusOr<CoverageListQuery> list_query = ValidateListCoverageRequest(list);
  ASSERT_THAT(list_query, IsOk());
  EXPECT_EQ(list_query->territory_date, "2025-07-01");
  list.set_territory_date("2025-13-01");
  EXPECT_THAT(ValidateListCoverageRequest(list),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("territory_date")));

  v1::GetCoverageSeriesRequest series;
  series.set_unit_code("82");
  series.set_scheme(v1::SCHEME_HEALTH);
  series.set_from_month("2024-01");
  series.set_to_month("2025-12");
  series.set_territory_date("2025-12-31");
  absl::StatusOr<SeriesQuery> series_query = ValidateSeriesRequest(series);
  ASSERT_THAT(series_query, IsOk());
  EXPECT_EQ(series_query->territory_date, "2025-12-31");
  series.set_territory_date("2025-12-32");
  EXPECT_THAT(ValidateSeriesRequest(series),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("territory_date")));
}

TEST(ValidateListCoverageRequestTest, RejectsNegativePageSizeAndATokenFromOtherFilters) {
  v1::ListCoverageRequest request;
  request.set_parent_code("82");
  request.set_period("2023");
  request.set_page_size(-1);
  EXPECT_THAT(ValidateListCoverageRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  request.set_page_size(2);
  absl::StatusOr<CoverageListQuery> first = ValidateListCoverageRequest(request);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->page.first_page());
  request.set_page_token(first->page.TokenAtOffset(2));
  absl::StatusOr<CoverageListQuery> second = ValidateListCoverageRequest(request);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(second->page.Offset(), IsOk());
  EXPECT_EQ(*second->page.Offset(), 2);
  // The same token with another scheme, order or parent is not a page of this list.
  v1::ListCoverageRequest other = request;
  other.set_scheme(v1::SCHEME_HEALTH);
  EXPECT_THAT(ValidateListCoverageRequest(other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  other = request;
  other.set_order_by(v1::COVERAGE_ORDER_COVERAGE_ASCENDING);
  EXPECT_THAT(ValidateListCoverageRequest(other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  other = request;
  other.set_parent_code("87");
  EXPECT_THAT(ValidateListCoverageRequest(other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  other = request;
  other.set_page_token("not-a-token");
  EXPECT_THAT(ValidateListCoverageRequest(other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
}

TEST(ValidateListCoverageRequestTest, EmptyParentIsTheNation) {
  v1::ListCoverageRequest request;
  request.set_period("2024");
  absl::StatusOr<CoverageListQuery> query = ValidateListCoverageRequest(request);
  ASSERT_THAT(query, IsOk());
  EXPECT_EQ(query->parent_code, "VN");
  EXPECT_EQ(query->page.size(), 100);
  request.set_level(static_cast<v1::AdminLevel>(42));
  EXPECT_THAT(ValidateListCoverageRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("level")));
}

TEST(ValidateSeriesRequestTest, BoundsTheSeries) {
  v1::GetCoverageSeriesRequest request;
  request.set_unit_code("82");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_from_month("2015-01");
  request.set_to_month("2024-12");
  absl::StatusOr<SeriesQuery> query = ValidateSeriesRequest(request);
  ASSERT_THAT(query, IsOk());
  EXPECT_EQ(query->to.Index() - query->from.Index() + 1, 120);
  request.set_from_month("2014-12");
  EXPECT_THAT(ValidateSeriesRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 120 months")));
  request.set_from_month("2025-01");
  EXPECT_THAT(ValidateSeriesRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("before from_month")));
  request.set_from_month(std::string(10000, 'x'));
  absl::StatusOr<SeriesQuery> huge = ValidateSeriesRequest(request);
  EXPECT_THAT(huge, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("from_month")));
  EXPECT_LT(huge.status().message().size(), 100u);  // never echoes a huge input
  request.set_from_month("2024-01");
  request.set_scheme(v1::SCHEME_UNSPECIFIED);
  EXPECT_THAT(ValidateSeriesRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scheme")));
}

}  // namespace
}  // namespace covtrack::aggregation
