// covctl export run as a real process against the real ingestion service (in-process, SQLite):
// what it writes is what the import commands read, and reads back into another store as it was.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "absl/strings/str_split.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/tools/covctl_runner.h"
#include "tools/sampledata/csv.h"

namespace covtrack {
namespace {

using testing::CovctlRun;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RunCovctl;
using testing::WriteFile;

constexpr char kUnits[] =
    "code,name,level,type,parent_code\n"
    "82,Tỉnh Tiền Giang,province,Tỉnh,\n"
    "815,Thành phố Mỹ Tho,district,Thành phố,82\n"
    "28249,Phường 5,commune,Phường,815\n"
    "28252,Phường 4,commune,Phường,815\n";
constexpr char kParticipation[] =
    "unit_code,month,scheme,participants,in_province_participants\n"
    "28249,2024-11,health,9000,8800\n"
    "28249,2024-12,health,9100,\n"
    "28252,2024-12,compulsory_social,1200,\n";
constexpr char kDenominators[] =
    "unit_code,year,kind,value\n"
    "28249,2024,population,10000\n"
    "28252,2024,labor_force,5000\n";
constexpr char kMeasures[] =
    "unit_code,month,measure,scheme,payer_group,value\n"
    "28249,2024-12,distinct_participants,,,9300\n"
    "28249,2024-12,new_participants,health,household,80\n"
    "28252,2024-12,arrears_owed_vnd,,,5000000000\n";

// Every line of a file but the header, as a set (the export's order is the store's).
std::set<std::string> Rows(const std::filesystem::path& path) {
  absl::StatusOr<std::string> text = sampledata::ReadFileToString(path.string());
  EXPECT_TRUE(text.ok()) << text.status();
  std::vector<std::string> lines = absl::StrSplit(text.value_or(""), '\n', absl::SkipEmpty());
  return std::set<std::string>(lines.begin() + (lines.empty() ? 0 : 1), lines.end());
}

class CovctlExportTest : public ::testing::Test {
 protected:
  // A store with the units and, when `with_data`, the figures above.
  std::unique_ptr<testing::IngestionHarness> Store(bool with_data) {
    auto harness = testing::IngestionHarness::Start();
    Covctl(*harness, {"units", "import", WriteFile("units.csv", kUnits), "--valid_to=2025-07-01"});
    if (with_data) {
      Covctl(*harness, {"ingest", WriteFile("participation.csv", kParticipation)});
      Covctl(*harness, {"denominators", "import", WriteFile("denominators.csv", kDenominators)});
      Covctl(*harness, {"measures", "import", WriteFile("measures.csv", kMeasures)});
    }
    return harness;
  }

  CovctlRun Covctl(testing::IngestionHarness& harness, std::vector<std::string> args,
                   int expected_exit = 0) {
    args.push_back("--server=" + harness.address());
    args.push_back("--timeout=20s");
    CovctlRun run = RunCovctl(args);
    EXPECT_EQ(run.exit_code, expected_exit) << run.err;
    return run;
  }

  static std::filesystem::path Dir(const std::string& name) {
    std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / name;
    std::filesystem::remove_all(dir);
    return dir;
  }
};

TEST_F(CovctlExportTest, WritesWhatTheImportCommandsReadBack) {
  auto source = Store(/*with_data=*/true);
  const std::filesystem::path first = Dir("export-first");
  CovctlRun run = Covctl(*source, {"export", first.string(), "2024-11", "2024-12"});
  EXPECT_THAT(run.out, HasSubstr("participation.csv: 3 rows"));
  EXPECT_THAT(run.out, HasSubstr("consistent with change seq"));
  // The rows sent are the rows exported (in_province_participants empty where none was sent).
  EXPECT_EQ(Rows(first / "participation.csv"),
            Rows(WriteFile("participation.csv", kParticipation)));
  EXPECT_EQ(Rows(first / "denominators.csv"), Rows(WriteFile("denominators.csv", kDenominators)));
  EXPECT_EQ(Rows(first / "measures.csv"), Rows(WriteFile("measures.csv", kMeasures)));

  // Imported into another store and exported again: the same files.
  auto copy = Store(/*with_data=*/false);
  Covctl(*copy, {"ingest", (first / "participation.csv").string()});
  Covctl(*copy, {"denominators", "import", (first / "denominators.csv").string()});
  Covctl(*copy, {"measures", "import", (first / "measures.csv").string()});
  const std::filesystem::path second = Dir("export-second");
  Covctl(*copy, {"export", second.string(), "2024-11", "2024-12"});
  for (const char* name : {"participation.csv", "denominators.csv", "measures.csv"}) {
    EXPECT_EQ(sampledata::ReadFileToString((first / name).string()).value_or("a"),
              sampledata::ReadFileToString((second / name).string()).value_or("b"))
        << name;
  }
}

TEST_F(CovctlExportTest, ASubtreeAndAMonthRangeExportOnlyTheirFigures) {
  auto source = Store(/*with_data=*/true);
  const std::filesystem::path dir = Dir("export-commune");
  Covctl(*source, {"export", dir.string(), "2024-12", "2024-12", "--parent=28252"});
  EXPECT_THAT(Rows(dir / "participation.csv"),
              ElementsAre("28252,2024-12,compulsory_social,1200,"));
  EXPECT_THAT(Rows(dir / "denominators.csv"), ElementsAre("28252,2024,labor_force,5000"));
  EXPECT_THAT(Rows(dir / "measures.csv"),
              ElementsAre("28252,2024-12,arrears_owed_vnd,,,5000000000"));
}

TEST_F(CovctlExportTest, AFailedExportLeavesNoFile) {
  auto source = Store(/*with_data=*/true);
  const std::filesystem::path dir = Dir("export-failed");
  CovctlRun run = Covctl(*source, {"export", dir.string(), "2024-12", "2024-12", "--parent=99"},
                         /*expected_exit=*/1);
  EXPECT_THAT(run.err, HasSubstr("99"));
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "files left in " << dir;
}

TEST_F(CovctlExportTest, MonthsOutOfOrderAreAUsageError) {
  auto source = Store(/*with_data=*/false);
  CovctlRun run = Covctl(*source, {"export", Dir("export-bad").string(), "2024-12", "2024-11"},
                         /*expected_exit=*/2);
  EXPECT_THAT(run.err, HasSubstr("FROM_MONTH"));
}

}  // namespace
}  // namespace covtrack
