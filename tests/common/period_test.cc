#include "common/period.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;

TEST(MonthTest, ParsesAndFormats) {
  absl::StatusOr<Month> m = Month::Parse("2023-08");
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->year, 2023);
  EXPECT_EQ(m->month, 8);
  EXPECT_EQ(m->ToString(), "2023-08");
  EXPECT_EQ(m->LastDay(), "2023-08-31");
  EXPECT_EQ(Month::Parse("2024-02")->LastDay(), "2024-02-29");
  EXPECT_EQ(Month::Parse("2023-02")->LastDay(), "2023-02-28");
  EXPECT_EQ(Month::Parse("2023-12")->Next().ToString(), "2024-01");
  EXPECT_EQ(Month::Parse("2023-01")->Previous().ToString(), "2022-12");
  EXPECT_EQ(Month::Parse("2023-05")->PlusMonths(-17).ToString(), "2021-12");
}

TEST(MonthTest, RejectsMalformedMonths) {
  for (const char* bad : {"2023-13", "2023-00", "2023-1", "23-01", "2023/01", "2023-01-01", "",
                          "abcd-01", "2023-0a"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<Month> m = Month::Parse(bad);
    EXPECT_THAT(m, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_NE(m.status().message().find("YYYY-MM"), absl::string_view::npos);
  }
}

TEST(MonthEndsTest, EachTextGetsItsOwnMonthsLastDayAndABadOneIsRefusedAfterAGoodOne) {
  MonthEnds ends;
  EXPECT_EQ(*ends.Of("2024-02"), "2024-02-29");
  EXPECT_EQ(*ends.Of("2024-02"), "2024-02-29");
  EXPECT_EQ(*ends.Of("2025-02"), "2025-02-28");
  EXPECT_THAT(ends.Of("2025-13").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ends.Of("").status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(*ends.Of("2025-04"), "2025-04-30");

  MonthEnds fresh;  // an empty text before any other is refused too
  EXPECT_THAT(fresh.Of("").status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DateTest, ValidatesCalendarDates) {
  EXPECT_THAT(ValidateDate("2024-02-29"), IsOk());
  EXPECT_FALSE(ValidateDate("2023-02-29").ok());
  EXPECT_FALSE(ValidateDate("2025-06-31").ok());
  EXPECT_FALSE(ValidateDate("2025-7-01").ok());
  EXPECT_THAT(ValidateDate("2000-02-29"), IsOk());
  EXPECT_FALSE(ValidateDate("1900-02-29").ok());
}

TEST(PeriodTest, EachKindHasItsMonths) {
  struct Case {
    const char* text;
    const char* first;
    const char* last;
    const char* last_year;
  };
  for (const Case& c : {Case{"2023", "2023-01", "2023-12", "2022"},
                        Case{"2017-H1", "2017-01", "2017-06", "2016-H1"},
                        Case{"2017-H2", "2017-07", "2017-12", "2016-H2"},
                        Case{"2023-Q1", "2023-01", "2023-03", "2022-Q1"},
                        Case{"2023-Q4", "2023-10", "2023-12", "2022-Q4"},
                        Case{"2023-08", "2023-08", "2023-08", "2022-08"}}) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<Period> p = Period::Parse(c.text);
    ASSERT_THAT(p, IsOk());
    EXPECT_EQ(p->first_month().ToString(), c.first);
    EXPECT_EQ(p->last_month().ToString(), c.last);
    EXPECT_EQ(p->ToString(), c.text);
    EXPECT_EQ(p->SamePeriodLastYear().ToString(), c.last_year);
  }
}

TEST(PeriodTest, RejectsMalformedPeriods) {
  for (const char* bad :
       {"2023-H3", "2023-Q0", "2023-Q5", "2023-13", "2023H1", "H1-2023", "", "20233", "2023-h1"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(Period::Parse(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

}  // namespace
}  // namespace covtrack
