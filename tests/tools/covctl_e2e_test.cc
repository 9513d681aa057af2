// covctl run as a real process (the built binary) against the real ingestion service running
// in-process on a loopback port over a real SQLite store.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/tools/covctl_runner.h"
#include "tools/sampledata/csv.h"

namespace covtrack {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::CovctlRun;
using testing::RunCovctl;
using testing::WriteFile;

constexpr char kUnits[] =
    "code,name,level,type,parent_code\n"
    "82,Tỉnh Tiền Giang,province,Tỉnh,\n"
    "815,Thành phố Mỹ Tho,district,Thành phố,82\n"
    "28249,Phường 5,commune,Phường,815\n"
    "28252,Phường 4,commune,Phường,815\n";

class CovctlEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = testing::IngestionHarness::Start();
    std::string units = WriteFile("units.csv", kUnits);
    CovctlRun run = Covctl({"units", "import", units, "--valid_to=2025-07-01"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }

  CovctlRun Covctl(std::vector<std::string> args) {
    args.push_back("--server=" + harness_->address());
    args.push_back("--timeout=20s");
    return RunCovctl(args);
  }

  int64_t ChangeHead() {
    grpc::ClientContext context;
    v1::ChangeHead head;
    EXPECT_THAT(harness_->stub().GetChangeHead(&context, v1::GetChangeHeadRequest(), &head),
                testing::IsOk());
    return head.seq();
  }

  std::vector<v1::Revision> Revisions(const std::string& unit) {
    grpc::ClientContext context;
    v1::ListRevisionsRequest request;
    request.set_unit_code(unit);
    v1::ListRevisionsResponse response;
    grpc::Status status = harness_->stub().ListRevisions(&context, request, &response);
    EXPECT_THAT(status, testing::IsOk());
    return {response.revisions().begin(), response.revisions().end()};
  }

  std::unique_ptr<testing::IngestionHarness> harness_;
};

TEST_F(CovctlEndToEndTest, MalformedCsvReportsEveryBadLineAndStoresNothing) {
  int64_t head = ChangeHead();
  std::string path = WriteFile("bad.csv",
                               "unit_code,month,scheme,participants,in_province_participants\n"
                               "28249,2023-12,health,10412,10001\n"
                               "28249,2023-12,compulsory_social,-4,\n"
                               "28252,2023-12,health,9000,8000\n"
                               "28252,2023-13,health,9000,9100\n");
  CovctlRun run = Covctl({"ingest", path});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr(path + ":3: participants -4 is negative"));
  EXPECT_THAT(run.err,
              HasSubstr(path + ":5: month \"2023-13\" is not a month (YYYY-MM); "
                               "in_province_participants 9100 is above participants 9000"));
  EXPECT_THAT(run.err, HasSubstr("2 bad rows of 4; nothing was sent"));
  EXPECT_THAT(run.err, Not(HasSubstr(":2:")));
  EXPECT_EQ(run.out, "");
  // Nothing stored: the good rows were not sent either.
  EXPECT_EQ(ChangeHead(), head);
  EXPECT_TRUE(Revisions("28249").empty());
  EXPECT_TRUE(Revisions("28252").empty());
}

TEST_F(CovctlEndToEndTest, BrokenCsvStructureIsReportedWithItsLine) {
  std::string path = WriteFile("broken.csv",
                               "unit_code,month,scheme,participants\n"
                               "28249,2023-12,health,10412\n"
                               "28249,\"2023-12,health,1\n");
  CovctlRun run = Covctl({"ingest", path});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr(path + ":3: unterminated quoted field"));
  EXPECT_TRUE(Revisions("28249").empty());
}

TEST_F(CovctlEndToEndTest, ServerRejectionPointsAtTheLineAndStoresNothing) {
  int64_t head = ChangeHead();
  std::string path = WriteFile("unknown.csv",
                               "unit_code,month,scheme,participants\n"
                               "28249,2023-12,health,10412\n"
                               "99999,2023-12,health,5\n");
  CovctlRun run = Covctl({"ingest", path});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr(path + ":3: rejected by the server"));
  EXPECT_THAT(run.err, HasSubstr("99999"));
  EXPECT_EQ(ChangeHead(), head);
  EXPECT_TRUE(Revisions("28249").empty());
}

TEST_F(CovctlEndToEndTest, UploadRerunAndCorrectionKeepTheAuditTrail) {
  std::string first = WriteFile("first.csv",
                                "unit_code,month,scheme,participants,in_province_participants\n"
                                "28249,2023-12,health,10412,10001\n"
                                "28252,2023-12,health,9000,\n"
                                "28249,2023-11,health,10400,\n");
  CovctlRun run =
      Covctl({"ingest", first, "--batch_size=2", "--format=json", "--source=BHXH Mỹ Tho"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("\"messages_committed\": 2"));
  EXPECT_THAT(run.out, HasSubstr("\"records_accepted\": \"3\""));
  EXPECT_THAT(run.out, HasSubstr("\"records_changed\": \"3\""));

  // The same command again (as after an interruption): recognised, nothing counted twice.
  int64_t head = ChangeHead();
  run = Covctl({"ingest", first, "--batch_size=2", "--format=json", "--source=BHXH Mỹ Tho"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("\"messages_replayed\": 2"));
  EXPECT_THAT(run.out, HasSubstr("\"records_changed\": \"0\""));
  EXPECT_EQ(ChangeHead(), head);

  // A correction: the new value wins, the old one stays in the audit trail.
  std::string correction = WriteFile("correction.csv",
                                     "unit_code,month,scheme,participants\n"
                                     "28249,2023-12,health,10500\n");
  run = Covctl({"ingest", correction, "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("1,0,1,1,0,0,"));
  run = Covctl({"revisions", "28249", "--month=2023-12", "--scheme=health", "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr(",2023-12,health,10412,10001,"));
  EXPECT_THAT(run.out, HasSubstr("BHXH Mỹ Tho"));
  EXPECT_THAT(run.out, HasSubstr(",2023-12,health,10500,,"));
  EXPECT_LT(run.out.find("10412"), run.out.find("10500"));  // oldest first
  run = Covctl({"revisions", "28249", "--month=2023-12"});
  EXPECT_THAT(run.out, HasSubstr("10,412"));  // the table for people groups thousands
}

TEST_F(CovctlEndToEndTest, UnitsAndDenominators) {
  CovctlRun run = Covctl({"units", "list", "--parent=815", "--as_of=2024-01-01", "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("28249,Phường 5,commune,Phường,815,,2025-07-01\n"));
  EXPECT_THAT(run.out, HasSubstr("28252,Phường 4,commune,Phường,815,,2025-07-01\n"));
  EXPECT_THAT(run.out, Not(HasSubstr("815,Thành phố")));
  run = Covctl({"units", "list", "--parent=815", "--as_of=2025-08-01", "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "code,name,level,type,parent_code,valid_from,valid_to\n");

  std::string denominators = WriteFile("denominators.csv",
                                       "unit_code,year,kind,value\n"
                                       "28249,2023,population,11000\n"
                                       "28249,2023,labor_force,6400\n");
  run = Covctl({"denominators", "import", denominators, "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("1,0,0,0,2,2,"));
  std::vector<v1::Revision> revisions = Revisions("28249");
  ASSERT_EQ(revisions.size(), 2u);
  EXPECT_EQ(revisions[0].denominator().value() + revisions[1].denominator().value(), 17400);
}

// The reference files have no validity columns: the flags give it, and the code 82 reused
// across the reform is then read correctly as of dates before and after.
TEST(CovctlCatalogueTest, ImportsBothReferenceCataloguesWithValidityFlags) {
  auto harness = testing::IngestionHarness::Start();
  std::string dir = COVTRACK_SOURCE_DIR "/data/vn-admin-units/";
  std::string server = "--server=" + harness->address();
  CovctlRun run = RunCovctl({"units", "import", dir + "units_2025-03-01.csv",
                             "--valid_to=2025-07-01", server, "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("10806,10806,"));
  run = RunCovctl({"units", "import", dir + "units_2025-07-01.csv", "--valid_from=2025-07-01",
                   server, "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("3355,3355,"));
  run = RunCovctl({"units", "list", "--code=82", "--as_of=2025-06-30", server, "--format=csv"});
  EXPECT_THAT(run.out, HasSubstr("82,Tỉnh Tiền Giang,province,"));
  EXPECT_THAT(run.out, Not(HasSubstr("Đồng Tháp")));
  run = RunCovctl({"units", "list", "--code=82", "--as_of=2025-07-01", server, "--format=csv"});
  EXPECT_THAT(run.out, HasSubstr("82,Tỉnh Đồng Tháp,province,"));
  EXPECT_THAT(run.out, Not(HasSubstr("Tiền Giang")));
  run = RunCovctl({"units", "list", "--parent=VN", "--as_of=2025-07-01", server, "--format=csv"});
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1 + 34);
  // Re-running the import is recognised as a retry (the first answer, nothing new committed).
  run = RunCovctl({"units", "import", dir + "units_2025-07-01.csv", "--valid_from=2025-07-01",
                   server, "--format=json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("\"replayed\": true"));
  grpc::ClientContext context;
  v1::ChangeHead head;
  ASSERT_THAT(harness->stub().GetChangeHead(&context, v1::GetChangeHeadRequest(), &head),
              testing::IsOk());
  EXPECT_THAT(run.out, HasSubstr(absl::StrCat("\"change_seq\": \"", head.seq(), "\"")));
}

TEST_F(CovctlEndToEndTest, UnreachableServerIsExitCodeThree) {
  std::string path =
      WriteFile("good.csv", "unit_code,month,scheme,participants\n28249,2023-12,health,1\n");
  std::string address = harness_->address();
  harness_->Stop();
  CovctlRun run = RunCovctl({"ingest", path, "--server=" + address, "--timeout=5s"});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_THAT(run.err, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(run.err, HasSubstr("Run the same command again to resume"));
}

TEST(CovctlUsageTest, BadCommandLinesAreExitCodeTwo) {
  EXPECT_EQ(RunCovctl({}).exit_code, 2);
  EXPECT_EQ(RunCovctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunCovctl({"ingest"}).exit_code, 2);
  CovctlRun run = RunCovctl({"coverage", "82", "2023-Q5"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("period \"2023-Q5\""));
  EXPECT_EQ(RunCovctl({"units", "list", "--format=yaml"}).exit_code, 2);
  EXPECT_EQ(RunCovctl({"ingest", "/nonexistent/file.csv"}).exit_code, 2);
}

}  // namespace
}  // namespace covtrack
