// covctl's coverage commands, run as a real process against the real ingestion and aggregation
// services in-process (SQLite store, in-process cache), with data loaded through covctl itself.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/test_env.h"
#include "tests/tools/covctl_runner.h"
#include "tools/sampledata/csv.h"

namespace covtrack {
namespace {

using ::testing::HasSubstr;

using testing::CovctlRun;
using testing::RunCovctl;
using testing::WriteFile;

class CovctlCoverageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = testing::IngestionHarness::Start();
    aggregation_ = StartAggregation();
    ASSERT_EQ(Covctl({"units", "import",
                      WriteFile("units.csv",
                                "code,name,level,type,parent_code,valid_from,valid_to\n"
                                "82,Tỉnh Tiền Giang,province,Tỉnh,,,2025-07-01\n"
                                "815,Thành phố Mỹ Tho,district,Thành phố,82,,2025-07-01\n"
                                "28249,Phường 5,commune,Phường,815,,2025-07-01\n"
                                "28252,Phường 4,commune,Phường,815,,2025-07-01\n")})
                  .exit_code,
              0);
    ASSERT_EQ(Covctl({"denominators", "import",
                      WriteFile("denominators.csv",
                                "unit_code,year,kind,value\n"
                                "28249,2023,population,11000\n28252,2023,population,10000\n"
                                "28249,2024,population,11000\n28252,2024,population,10000\n")})
                  .exit_code,
              0);
    // Stocks: 2024's figure is December's, not a sum of months.
    ASSERT_EQ(
        Covctl({"ingest", WriteFile("participation.csv",
                                    "unit_code,month,scheme,participants\n"
                                    "28249,2023-12,health,9800\n28252,2023-12,health,8900\n"
                                    "28249,2024-06,health,9900\n28252,2024-06,health,8950\n"
                                    "28249,2024-12,health,10000\n28252,2024-12,health,9000\n")})
            .exit_code,
        0);
  }

  // The harness's default: reads without a token are fully consistent (read-your-writes).
  virtual std::unique_ptr<testing::AggregationHarness> StartAggregation() {
    return testing::AggregationHarness::Start(ingestion_->address());
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

TEST_F(CovctlCoverageTest, CoverageOfAUnitAsCsvAndTable) {
  CovctlRun run = Covctl({"coverage", "815", "2024", "--schemes=health", "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // 19,000 of 21,000 people = 90.48%; a year earlier 18,700 = 89.05%: +300, +1.43 points.
  EXPECT_THAT(run.out, HasSubstr("health,19000,,21000,population,90.48,2023,300,+1.43,2/2,"));
  run = Covctl({"coverage", "815", "2024", "--schemes=health"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("Thành phố Mỹ Tho (815), 2024, as of 2024-12"));
  EXPECT_THAT(run.out, HasSubstr("19,000"));
}

TEST_F(CovctlCoverageTest, CoverageListAndSeries) {
  CovctlRun run = Covctl({"coverage", "list", "815", "2024", "--scheme=health",
                          "--order=coverage_asc", "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // 28252: 90.00% before 28249: 90.91%.
  size_t lower = run.out.find("28252,Phường 4,2024-12,health,9000,10000,90.00,");
  size_t higher = run.out.find("28249,Phường 5,2024-12,health,10000,11000,90.91,");
  ASSERT_NE(lower, std::string::npos) << run.out;
  ASSERT_NE(higher, std::string::npos) << run.out;
  EXPECT_LT(lower, higher);

  run = Covctl({"coverage", "series", "815", "health", "2024-05", "2024-06", "--format=csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("2024-06,18850,,21000,89.76,2/2,\n"));
  EXPECT_THAT(run.out, HasSubstr("2024-05,"));
}

TEST_F(CovctlCoverageTest, UnknownUnitIsRejected) {
  CovctlRun run = Covctl({"coverage", "99999", "2024"});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr("NOT_FOUND"));
}

// Issue 10: covctl's writes print the seq they are visible at, and its reads carry one. The
// replica here answers reads without a token from what it has applied (CONSISTENCY_APPLIED,
// the deployed default): only the token promises that a read sees the upload before it.
class CovctlTokenTest : public CovctlCoverageTest {
 protected:
  std::unique_ptr<testing::AggregationHarness> StartAggregation() override {
    aggregation::AggregationOptions options;
    options.ingestion_addr = ingestion_->address();
    options.default_consistency = v1::CONSISTENCY_APPLIED;
    options.stats_log_interval = absl::ZeroDuration();
    return testing::AggregationHarness::Start(options);
  }

  // A correction of 28249's December 2024 health figure through covctl ingest; the
  // last_change_seq it printed (the last CSV column).
  int64_t Correct(int64_t participants) {
    CovctlRun run =
        Covctl({"ingest",
                WriteFile("correction.csv", absl::StrCat("unit_code,month,scheme,participants\n"
                                                         "28249,2024-12,health,",
                                                         participants, "\n")),
                "--format=csv"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, HasSubstr(",last_change_seq\n"));
    const std::string row = std::string(absl::StripTrailingAsciiWhitespace(run.out));
    int64_t seq = 0;
    EXPECT_TRUE(absl::SimpleAtoi(row.substr(row.rfind(',') + 1), &seq)) << run.out;
    EXPECT_GT(seq, 0) << run.out;
    return seq;
  }

  // The reflects_seq of a JSON answer (an int64: a string in protobuf's JSON), -1 if absent.
  static int64_t ReflectsSeq(const std::string& json) {
    const std::string key = "\"reflects_seq\": \"";
    const size_t at = json.rfind(key);
    int64_t seq = -1;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(
            json.substr(at + key.size(), json.find('"', at + key.size()) - (at + key.size())),
            &seq)) {
      return -1;
    }
    return seq;
  }
};

TEST_F(CovctlTokenTest, ReadsCarryingTheUploadsSeqSeeIt) {
  const int64_t seq = Correct(10500);
  const std::string token = absl::StrCat("--at_least_seq=", seq);
  CovctlRun run = Covctl({"coverage", "815", "2024", "--schemes=health", "--format=csv", token});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("health,19500,,21000,population,92.86,"));

  const int64_t next = Correct(10600);
  EXPECT_GT(next, seq);
  run = Covctl({"coverage", "list", "815", "2024", "--scheme=health", "--format=csv",
                absl::StrCat("--at_least_seq=", next), "--consistency=applied"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("28249,Phường 5,2024-12,health,10600,11000,96.36,"));

  const int64_t last = Correct(10700);
  run = Covctl({"coverage", "series", "815", "health", "2024-11", "2024-12", "--format=csv",
                absl::StrCat("--at_least_seq=", last)});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("2024-12,19700,,21000,93.81,2/2,\n"));

  // Someone else's upload: no seq to carry, everything acknowledged asked for.
  run =
      Covctl({"coverage", "815", "2024", "--schemes=health", "--format=csv", "--consistency=full"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("health,19700,,21000,population,93.81,"));
}

TEST_F(CovctlTokenTest, BadTokensAreUsageErrors) {
  CovctlRun run = Covctl({"coverage", "815", "2024", "--at_least_seq=-1"});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("--at_least_seq"));
  run = Covctl({"coverage", "list", "815", "2024", "--consistency=eventual"});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("--consistency \"eventual\" is not one of applied, full"));
  run = Covctl({"report", "815", "2024", "--consistency=strong"});
  EXPECT_EQ(run.exit_code, 2) << run.err;
}

// JSON answers say the seq their figures reflect: at least the token. Needs the aggregation
// service to fill reflects_seq (issue 10, part 2).
TEST_F(CovctlTokenTest, JsonAnswersSayASeqAtLeastTheirToken) {
  const int64_t seq = Correct(10500);
  const std::string token = absl::StrCat("--at_least_seq=", seq);
  CovctlRun run = Covctl({"coverage", "815", "2024", "--schemes=health", "--format=json", token});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_GE(ReflectsSeq(run.out), seq) << run.out;
  run = Covctl({"coverage", "list", "815", "2024", "--scheme=health", "--format=json", token});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_GE(ReflectsSeq(run.out), seq) << run.out;
  run =
      Covctl({"coverage", "series", "815", "health", "2024-11", "2024-12", "--format=json", token});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_GE(ReflectsSeq(run.out), seq) << run.out;
}

}  // namespace
}  // namespace covtrack
