// The backup and restore drill of deploy/README.md, against the real services, on SQLite and on
// PostgreSQL: sample data loaded through the services (units, reports, the crosswalk, targets
// and a revision), every answer of a fixed set of calls to the three services recorded, both
// stores backed up while the services run (SQLite's online backup; pg_dump -Fc), the services
// stopped, the stores wiped and restored (the backup API; pg_restore), the services started
// again, and every answer the same as before.
//
// Aggregation is restarted with the others: its cache was filled before the restore, and after
// a restore the change feed may stand behind what aggregation saw, so the drill (like the
// documented procedure) starts it fresh rather than rely on it noticing.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/upgrade/sample_system.h"
#include "tests/upgrade/store_tools.h"

namespace covtrack::upgrade {
namespace {

using testing::CovtrackProcesses;
using testing::FreshChannel;
using testing::IsOk;

class BackupRestoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    if (GetParam() == "sqlite") {
      stores_ = {absl::StrCat("sqlite:", dir_, "/ingestion.db"),
                 absl::StrCat("sqlite:", dir_, "/targets.db")};
    } else {
      std::optional<std::string> ingestion = testing::NewPostgresDatabase();
      COVTRACK_REQUIRE_SERVER(ingestion, "PostgreSQL");
      COVTRACK_REQUIRE_SERVER(testing::PostgresBinDir(), "PostgreSQL's programs (pg_dump)");
      stores_ = {*ingestion, *testing::NewPostgresDatabase()};
    }
    CovtrackProcesses::Options options;
    options.binaries = {COVTRACK_INGESTION_BINARY, COVTRACK_AGGREGATION_BINARY,
                        COVTRACK_TARGETS_BINARY};
    options.dir = dir_;
    options.ingestion_store = stores_[0];
    options.targets_store = stores_[1];
    system_ = std::make_unique<CovtrackProcesses>(options);
  }

  void TearDown() override {
    if (HasFailure()) {
      std::cerr << system_->LogTails() << ReadFile(log_);
    }
    system_.reset();
  }

  void Connect() {
    ingestion_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
    aggregation_ = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));
    targets_ = v1::TargetService::NewStub(FreshChannel(system_->targets_address()));
  }

  Answers Record() { return RecordAnswers(*ingestion_, *aggregation_, *targets_); }

  std::string dir_;
  std::string log_ = testing::TempDir() + "/tools.log";
  std::vector<std::string> stores_;
  std::unique_ptr<CovtrackProcesses> system_;
  std::unique_ptr<v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::AggregationService::Stub> aggregation_;
  std::unique_ptr<v1::TargetService::Stub> targets_;
};

TEST_P(BackupRestoreTest, DumpWipeRestoreAndEveryAnswerIsTheSame) {
  ASSERT_THAT(system_->StartAll(), IsOk());
  Connect();
  ASSERT_THAT(LoadSample(*ingestion_, *targets_), IsOk());
  const Answers before = Record();
  for (const auto& [call, answer] : before) {
    EXPECT_FALSE(absl::StartsWith(answer, "error")) << call << ": " << answer;
  }

  // Backed up while the services run, as an operator would.
  const std::vector<std::string> backups = {dir_ + "/ingestion.backup", dir_ + "/targets.backup"};
  for (size_t i = 0; i < stores_.size(); ++i) {
    ASSERT_THAT(BackupStore(stores_[i], backups[i], log_), IsOk());
  }

  ASSERT_THAT(system_->StopTargets(), IsOk());
  ASSERT_THAT(system_->StopAggregation(), IsOk());
  ASSERT_THAT(system_->StopIngestion(), IsOk());
  for (size_t i = 0; i < stores_.size(); ++i) {
    ASSERT_THAT(WipeStore(stores_[i], log_), IsOk());
  }
  // Wiped for real: an ingestion started on it now knows no unit.
  ASSERT_THAT(system_->StartIngestion(), IsOk());
  Connect();
  {
    v1::ListAdminUnitsResponse units;
    grpc::ClientContext context;
    ASSERT_THAT(ingestion_->ListAdminUnits(&context, {}, &units), IsOk());
    EXPECT_EQ(units.units_size(), 0);
  }
  ASSERT_THAT(system_->StopIngestion(), IsOk());
  for (size_t i = 0; i < stores_.size(); ++i) {
    ASSERT_THAT(WipeStore(stores_[i], log_), IsOk());
    ASSERT_THAT(RestoreStore(stores_[i], backups[i], log_), IsOk());
  }

  ASSERT_THAT(system_->StartAll(), IsOk());
  Connect();
  const Answers after = Record();
  EXPECT_EQ(after.size(), before.size());
  EXPECT_EQ(DifferingAnswers(before, after), "");
}

INSTANTIATE_TEST_SUITE_P(Stores, BackupRestoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack::upgrade
