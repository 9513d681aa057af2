// covctl measures show and measures list (issue 11), run as a real process against the real
// ingestion and aggregation services in-process (SQLite store, in-process cache), the measures
// loaded through covctl measures import.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/tools/covctl_runner.h"

namespace covtrack {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::CovctlRun;
using testing::RunCovctl;
using testing::WriteFile;

class CovctlMeasureViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = testing::IngestionHarness::Start();
    aggregation_ = testing::AggregationHarness::Start(ingestion_->address());
    ASSERT_EQ(Covctl({"units", "import",
                      WriteFile("units.csv",
                                "code,name,level,type,parent_code,valid_from,valid_to\n"
                                "82,Tỉnh Tiền Giang,province,Tỉnh,,,2025-07-01\n"
                                "815,Thành phố Mỹ Tho,district,Thành phố,82,,2025-07-01\n"
                                "28249,Phường 5,commune,Phường,815,,2025-07-01\n"
                                "28252,Phường 4,commune,Phường,815,,2025-07-01\n"
                                "28255,Phường 3,commune,Phường,815,,2025-07-01\n")})
                  .exit_code,
              0);
    // 28249: 1 % of its due owed, 28252: 90 %; 28255 reported nothing.
    CovctlRun run = Covctl({"measures", "import",
                            WriteFile("measures.csv",
                                      "unit_code,month,measure,scheme,payer_group,value\n"
                                      "28249,2024-12,arrears_owed_vnd,,,10000000\n"
                                      "28249,2024-12,contributions_due_vnd,,,1000000000\n"
                                      "28252,2024-12,arrears_owed_vnd,,,90000000\n"
                                      "28252,2024-12,contributions_due_vnd,,,100000000\n"
                                      "28249,2024-11,new_participants,health,,120\n"
                                      "28249,2024-12,new_participants,health,,80\n")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }

  CovctlRun Covctl(std::vector<std::string> args) {
    args.push_back("--server=" + ingestion_->address());
    args.push_back("--aggregation_server=" + aggregation_->address());
    args.push_back("--timeout=20s");
    return RunCovctl(args);
  }

  std::unique_ptr<testing::IngestionHarness> ingestion_;
  std::unique_ptr<testing::AggregationHarness> aggregation_;
};

TEST_F(CovctlMeasureViewTest, ShowsAUnitsMeasuresInATableAndJson) {
  CovctlRun run = Covctl({"measures", "show", "815", "2024"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Thành phố Mỹ Tho (815), 2024"));
  // Named and measured as the registry says; flows summed over the months, the ratio from sums.
  EXPECT_THAT(run.out, HasSubstr("số tiền nợ đóng"));
  EXPECT_THAT(run.out, HasSubstr("100,000,000"));
  EXPECT_THAT(run.out, HasSubstr("đồng"));
  EXPECT_THAT(run.out, HasSubstr("người tham gia mới"));
  EXPECT_THAT(run.out, HasSubstr("200"));
  EXPECT_THAT(run.out, HasSubstr("tỷ lệ nợ"));
  EXPECT_THAT(run.out, HasSubstr("9.09"));
  // Nothing reported: no row, never 0.
  EXPECT_THAT(run.out, Not(HasSubstr("số đơn vị nợ")));
  run = Covctl({"measures", "show", "815", "2024", "--format=json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("\"measure\": \"MEASURE_ARREARS_RATIO\""));
  EXPECT_THAT(run.out, HasSubstr("\"months_reported\": 2"));
  // A bad period is a usage error before any call.
  EXPECT_EQ(Covctl({"measures", "show", "815", "2024-Q9"}).exit_code, 2);
}

TEST_F(CovctlMeasureViewTest, ListsUnitsWorstArrearsRatioFirst) {
  CovctlRun run = Covctl({"measures", "list", "815", "2024", "--order_by=arrears_ratio",
                          "--descending", "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const size_t p4 = run.out.find("28252,Phường 4,tỷ lệ nợ");
  const size_t p5 = run.out.find("28249,Phường 5,tỷ lệ nợ");
  const size_t p3 = run.out.find("28255,Phường 3");
  ASSERT_NE(p4, std::string::npos) << run.out;
  ASSERT_NE(p5, std::string::npos) << run.out;
  ASSERT_NE(p3, std::string::npos) << run.out;
  EXPECT_LT(p4, p5);
  EXPECT_LT(p5, p3);  // nothing reported: last
  // The order's measure is checked before any call.
  run = Covctl({"measures", "list", "815", "2024", "--order_by=arrears_ratio:health"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr("order_by.scheme"));
  EXPECT_EQ(Covctl({"measures", "list", "815", "2024", "--order_by=nonsense"}).exit_code, 2);
}

// --measure keeps the listed measures only (the ratio alone, without the sums it is made of);
// an unknown name is a usage error before any call.
TEST_F(CovctlMeasureViewTest, MeasureChoosesWhatIsShown) {
  for (const char* command : {"show", "list"}) {
    SCOPED_TRACE(command);
    CovctlRun run = Covctl({"measures", command, "815", "2024", "--measure=arrears_ratio"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, HasSubstr("tỷ lệ nợ"));
    EXPECT_THAT(run.out, Not(HasSubstr("số tiền nợ đóng")));
    EXPECT_THAT(run.out, Not(HasSubstr("người tham gia mới")));
    run = Covctl({"measures", command, "815", "2024", "--measure=arrears_ratio, new_participants"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, HasSubstr("người tham gia mới"));
    run = Covctl({"measures", command, "815", "2024", "--measure=arrears_ratio,nonsense"});
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_THAT(run.err, HasSubstr("--measure"));
  }
}

// --territory_date reaches GetMeasures and ListMeasures (the re-expression itself is
// tests/integration/measures_reform_test.cc's): 815 names nothing after the reform, and a bad
// date is a usage error before any call.
TEST_F(CovctlMeasureViewTest, TerritoryDateIsPassedOn) {
  CovctlRun run = Covctl({"measures", "show", "815", "2024", "--territory_date=2024-12-31"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("tỷ lệ nợ"));
  run = Covctl({"measures", "show", "815", "2024", "--territory_date=2025-07-01"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr("(territory_date)"));
  run = Covctl({"measures", "list", "815", "2024", "--territory_date=2025-07-01"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr("(territory_date)"));
  EXPECT_EQ(Covctl({"measures", "show", "815", "2024", "--territory_date=2024-13-01"}).exit_code,
            2);
  EXPECT_EQ(Covctl({"measures", "list", "815", "2024", "--territory_date=someday"}).exit_code, 2);
}

}  // namespace
}  // namespace covtrack
