#include "services/targets/vi_format.h"

#include <gtest/gtest.h>

namespace covtrack::targets {
namespace {

TEST(FormatCountViTest, GroupsThousandsWithDots) {
  EXPECT_EQ(FormatCountVi(0), "0");
  EXPECT_EQ(FormatCountVi(999), "999");
  EXPECT_EQ(FormatCountVi(1000), "1.000");
  EXPECT_EQ(FormatCountVi(207717), "207.717");
  EXPECT_EQ(FormatCountVi(11661), "11.661");
  EXPECT_EQ(FormatCountVi(1234567), "1.234.567");
  EXPECT_EQ(FormatCountVi(-1234), "-1.234");
  EXPECT_EQ(FormatCountVi(INT64_MIN), "-9.223.372.036.854.775.808");
}

TEST(FormatDecimalViTest, CommaForDecimalsAndRoundsHalfAwayFromZero) {
  EXPECT_EQ(FormatDecimalVi(89.92, 1), "89,9");
  EXPECT_EQ(FormatDecimalVi(89.0, 1), "89,0");
  EXPECT_EQ(FormatDecimalVi(104.7171, 1), "104,7");
  EXPECT_EQ(FormatDecimalVi(100.609, 1), "100,6");
  EXPECT_EQ(FormatDecimalVi(92.775, 2), "92,78");
  EXPECT_EQ(FormatDecimalVi(0.25, 1), "0,3");
  EXPECT_EQ(FormatDecimalVi(1234.5, 1), "1.234,5");
  EXPECT_EQ(FormatDecimalVi(0.05, 2), "0,05");
  EXPECT_EQ(FormatDecimalVi(-1.26, 1), "-1,3");
  EXPECT_EQ(FormatDecimalVi(-0.04, 1), "0,0");
  EXPECT_EQ(FormatDecimalVi(30.2, 0), "30");
}

TEST(FormatPercentViTest, AppendsPercentSign) {
  EXPECT_EQ(FormatPercentVi(89.92), "89,9%");
  EXPECT_EQ(FormatPercentVi(0.9), "0,9%");
  EXPECT_EQ(FormatPercentVi(92.775, 2), "92,78%");
}

TEST(FormatMonthEndViTest, LastDayOfMonth) {
  EXPECT_EQ(FormatMonthEndVi(Month{2023, 12}), "31/12/2023");
  EXPECT_EQ(FormatMonthEndVi(Month{2024, 2}), "29/02/2024");
  EXPECT_EQ(FormatMonthEndVi(Month{2023, 6}), "30/06/2023");
}

}  // namespace
}  // namespace covtrack::targets
