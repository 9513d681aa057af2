// covctl measures import run as a real process against the real ingestion service (in-process,
// SQLite): a measures CSV stored whole, a row the service refuses pointed at by its line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "common/measures.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/tools/covctl_runner.h"

namespace covtrack {
namespace {

using testing::CovctlRun;
using ::testing::HasSubstr;
using testing::RunCovctl;
using testing::WriteFile;

class CovctlMeasuresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = testing::IngestionHarness::Start();
    const std::string units = WriteFile("units.csv",
                                        "code,name,level,type,parent_code\n"
                                        "82,Tỉnh Tiền Giang,province,Tỉnh,\n"
                                        "815,Thành phố Mỹ Tho,district,Thành phố,82\n"
                                        "28249,Phường 5,commune,Phường,815\n");
    CovctlRun run = Covctl({"units", "import", units, "--valid_to=2025-07-01"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }

  CovctlRun Covctl(std::vector<std::string> args) {
    args.push_back("--server=" + harness_->address());
    args.push_back("--timeout=20s");
    return RunCovctl(args);
  }

  // name -> value of every stored measure of 28249 in 2024-12.
  std::map<std::string, int64_t> Stored() {
    v1::ExportDataRequest request;
    request.set_from_month("2024-12");
    request.set_to_month("2024-12");
    request.set_include_measures(true);
    grpc::ClientContext context;
    auto reader = harness_->stub().ExportData(&context, request);
    std::map<std::string, int64_t> values;
    v1::ExportDataResponse chunk;
    while (reader->Read(&chunk)) {
      for (const v1::MeasureRecord& m : chunk.measures()) {
        values[MeasureName(m.measure()) + "/" + PayerGroupName(m.payer_group())] = m.value();
      }
    }
    EXPECT_THAT(reader->Finish(), testing::IsOk());
    return values;
  }

  std::unique_ptr<testing::IngestionHarness> harness_;
};

TEST_F(CovctlMeasuresTest, ImportsAMeasuresCsv) {
  const std::string path = WriteFile("measures.csv",
                                     "unit_code,month,measure,scheme,payer_group,value\n"
                                     "28249,2024-12,distinct_participants,,,9100\n"
                                     "28249,2024-12,new_participants,health,household,80\n"
                                     "28249,2024-12,arrears_owed_vnd,,,5000000000\n");
  CovctlRun run = Covctl({"measures", "import", path});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("measures_accepted"));
  EXPECT_EQ(Stored(), (std::map<std::string, int64_t>{{"arrears_owed_vnd/", 5'000'000'000},
                                                      {"distinct_participants/", 9100},
                                                      {"new_participants/household", 80}}));
}

TEST_F(CovctlMeasuresTest, ARowTheServiceRefusesIsShownByItsLine) {
  const std::string path = WriteFile("measures.csv",
                                     "unit_code,month,measure,scheme,payer_group,value\n"
                                     "28249,2024-12,arrears_owed_vnd,,,100\n"
                                     "28249,2024-12,arrears_overdue_3m_vnd,,,101\n");
  CovctlRun run = Covctl({"measures", "import", path});
  EXPECT_NE(run.exit_code, 0);
  // The whole (the amount owed, line 2) is named when the request sets it.
  EXPECT_THAT(run.err, HasSubstr(path + ":2: rejected by the server"));
  EXPECT_THAT(run.err, HasSubstr("arrears_overdue_3m_vnd"));
  EXPECT_TRUE(Stored().empty());
}

}  // namespace
}  // namespace covtrack
