// Safe upgrades and rollbacks, against the real binaries, on SQLite and on PostgreSQL:
//   - a store of the previous release's schema with data in it (tests/upgrade/fixtures, made by
//     the DISABLED_MakeFixtures case below) is migrated by --migrate_only, and the current
//     services then answer from it as they did (the figures, the revised target, the report);
//   - a binary refuses to start on a store whose schema is newer than it knows, naming both
//     versions and what to do, with and without --migrate_only;
//   - --migrate_only applies the migrations of a new store once, says so, serves nothing and
//     exits 0; run again, it has nothing to apply.
//
// Regenerating the fixtures (at each release, before its first new migration lands), from the
// build folder, with the test servers' environment (scripts/test-servers.sh) and the sqlite3
// shell installed:
//   tests/upgrade/upgrade_test --gtest_also_run_disabled_tests
//     --gtest_filter='*DISABLED_MakeFixtures*'
// writes tests/upgrade/fixtures/{ingestion,targets}.{sqlite,postgresql}.sql in the source tree.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "tests/fixtures/coverage_fixtures.h"
#include "tests/integration/processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/upgrade/sample_system.h"
#include "tests/upgrade/store_tools.h"

namespace covtrack::upgrade {
namespace {

using ::testing::AllOf;
using testing::CovtrackProcesses;
using testing::FreshChannel;
using ::testing::HasSubstr;
using testing::IsOk;

constexpr absl::Duration kExitTimeout = absl::Seconds(60);

class UpgradeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    if (GetParam() == "sqlite") {
      ingestion_store_ = absl::StrCat("sqlite:", dir_, "/ingestion.db");
      targets_store_ = absl::StrCat("sqlite:", dir_, "/targets.db");
    } else {
      std::optional<std::string> ingestion = testing::NewPostgresDatabase();
      COVTRACK_REQUIRE_SERVER(ingestion, "PostgreSQL");
      COVTRACK_REQUIRE_SERVER(testing::PostgresBinDir(), "PostgreSQL's programs (psql)");
      ingestion_store_ = *ingestion;
      targets_store_ = *testing::NewPostgresDatabase();
    }
  }

  void TearDown() override {
    if (HasFailure() && system_ != nullptr) {
      std::cerr << system_->LogTails();
    }
    system_.reset();
  }

  static std::string Fixture(const std::string& component) {
    return absl::StrCat(COVTRACK_UPGRADE_FIXTURES, "/", component, ".", GetParam(), ".sql");
  }

  void LoadFixtures() {
    ASSERT_THAT(LoadSqlFile(ingestion_store_, Fixture("ingestion"), dir_ + "/load.log"), IsOk())
        << ReadFile(dir_ + "/load.log");
    ASSERT_THAT(LoadSqlFile(targets_store_, Fixture("targets"), dir_ + "/load.log"), IsOk())
        << ReadFile(dir_ + "/load.log");
  }

  // Runs a binary to its end; its exit code (-1: killed or still running after the timeout)
  // and what it wrote.
  std::pair<int, std::string> Run(const std::string& binary, const std::string& store,
                                  const std::vector<std::string>& flags) {
    const std::string log = absl::StrCat(dir_, "/run-", runs_++, ".log");
    std::vector<std::string> argv = {
        binary, "--store=" + store,
        absl::StrCat("--listen=127.0.0.1:", testing::FreeLoopbackPort())};
    if (binary == COVTRACK_TARGETS_BINARY) {
      // Never reached: a run that migrates or refuses calls no other service.
      argv.push_back("--ingestion_addr=127.0.0.1:1");
      argv.push_back("--aggregation_addr=127.0.0.1:1");
    }
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> child =
        testing::ChildProcess::Start(argv, log);
    if (!child.ok()) {
      return {-1, std::string(child.status().message())};
    }
    std::optional<int> status = (*child)->Wait(kExitTimeout);
    const int code = status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    return {code, ReadFile(log)};
  }

  void StartServices() {
    CovtrackProcesses::Options options;
    options.binaries = {COVTRACK_INGESTION_BINARY, COVTRACK_AGGREGATION_BINARY,
                        COVTRACK_TARGETS_BINARY};
    options.dir = dir_;
    options.ingestion_store = ingestion_store_;
    options.targets_store = targets_store_;
    system_ = std::make_unique<CovtrackProcesses>(options);
    ASSERT_THAT(system_->StartAll(), IsOk());
    ingestion_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
    aggregation_ = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));
    targets_ = v1::TargetService::NewStub(FreshChannel(system_->targets_address()));
  }

  std::string dir_;
  std::string ingestion_store_;
  std::string targets_store_;
  int runs_ = 0;
  std::unique_ptr<CovtrackProcesses> system_;
  std::unique_ptr<v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::AggregationService::Stub> aggregation_;
  std::unique_ptr<v1::TargetService::Stub> targets_;
};

TEST_P(UpgradeTest, TheStoreOfThePreviousReleaseMigratesAndAnswersAsItDid) {
  ASSERT_NO_FATAL_FAILURE(LoadFixtures());
  auto [ingestion_code, ingestion_out] =
      Run(COVTRACK_INGESTION_BINARY, ingestion_store_, {"--migrate_only"});
  EXPECT_EQ(ingestion_code, 0) << ingestion_out;
  EXPECT_THAT(ingestion_out, HasSubstr("the ingestion store"));
  auto [targets_code, targets_out] =
      Run(COVTRACK_TARGETS_BINARY, targets_store_, {"--migrate_only"});
  EXPECT_EQ(targets_code, 0) << targets_out;
  EXPECT_THAT(targets_out, HasSubstr("the targets store"));

  ASSERT_NO_FATAL_FAILURE(StartServices());
  // The figures: Mỹ Tho's and Mai Sơn's published totals.
  {
    v1::GetCoverageRequest request;
    request.set_unit_code("815");
    request.set_period("2023");
    v1::Coverage coverage;
    grpc::ClientContext context;
    ASSERT_THAT(aggregation_->GetCoverage(&context, request, &coverage), IsOk());
    bool health_seen = false;
    for (const v1::SchemeCoverage& s : coverage.schemes()) {
      if (s.scheme() == v1::SCHEME_HEALTH) {
        health_seen = true;
        EXPECT_EQ(s.participants(), fixtures::my_tho_2023::kHealth);
        EXPECT_EQ(s.denominator(), fixtures::my_tho_2023::kPopulation);
      }
    }
    EXPECT_TRUE(health_seen);
  }
  // The crosswalk link, the revised target and the report written from them.
  {
    v1::ListCrosswalkResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(ingestion_->ListCrosswalk(&context, {}, &response), IsOk());
    ASSERT_EQ(response.links_size(), 1);
    EXPECT_EQ(response.links(0).from_code(), "82");
    EXPECT_EQ(response.links(0).effective_date(), "2025-07-01");
  }
  {
    v1::ListTargetsRequest request;
    request.set_unit_code("815");
    request.set_scheme(v1::SCHEME_HEALTH);
    request.set_include_revisions(true);
    v1::ListTargetsResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(targets_->ListTargets(&context, request, &response), IsOk());
    ASSERT_EQ(response.targets_size(), 2);
    EXPECT_EQ(response.targets(0).value(), 88.5);
    EXPECT_EQ(response.targets(1).revision(), 2);
    EXPECT_EQ(response.targets(1).value(), 89.0);
  }
  {
    v1::GetReportRequest request;
    request.set_unit_code("815");
    request.set_period("2023");
    v1::Report report;
    grpc::ClientContext context;
    ASSERT_THAT(targets_->GetReport(&context, request, &report), IsOk());
    EXPECT_THAT(report.text(), HasSubstr("207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,9% "
                                         "dân số, vượt 0,9% chỉ tiêu (chỉ tiêu 89,0%)"));
  }
  // Requests answered before the upgrade are still recognised (the ledgers carried over), and
  // the migrated stores take new writes.
  EXPECT_THAT(LoadSample(*ingestion_, *targets_), IsOk());
  {
    v1::SetTargetRequest request;
    request.set_request_id("after-upgrade");
    v1::Target* t = request.mutable_target();
    t->set_unit_code("125");
    t->set_scheme(v1::SCHEME_VOLUNTARY_SOCIAL);
    t->set_year(2024);
    t->set_kind(v1::TARGET_KIND_PARTICIPANTS);
    t->set_value(500);
    v1::Target stored;
    grpc::ClientContext context;
    EXPECT_THAT(targets_->SetTarget(&context, request, &stored), IsOk());
    EXPECT_EQ(stored.revision(), 1);
  }
  {
    v1::ListTargetsRequest request;
    request.set_include_revisions(true);
    v1::ListTargetsResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(targets_->ListTargets(&context, request, &response), IsOk());
    EXPECT_EQ(response.targets_size(), 6);  // the fixture's five revisions and the new one
  }
}

TEST_P(UpgradeTest, ABinaryOlderThanTheStoresSchemaRefusesToStartAndSaysWhatToDo) {
  ASSERT_NO_FATAL_FAILURE(LoadFixtures());
  // What a newer release's migration leaves behind.
  const std::string log = dir_ + "/bump.log";
  ASSERT_THAT(
      ExecSql(ingestion_store_,
              "INSERT INTO schema_migrations (component, version) VALUES ('ingestion', 99)", log),
      IsOk());
  ASSERT_THAT(
      ExecSql(targets_store_,
              "INSERT INTO schema_migrations (component, version) VALUES ('targets', 99)", log),
      IsOk());
  for (const auto& [binary, store, component] :
       {std::make_tuple(std::string(COVTRACK_INGESTION_BINARY), ingestion_store_, "ingestion"),
        std::make_tuple(std::string(COVTRACK_TARGETS_BINARY), targets_store_, "targets")}) {
    for (const std::vector<std::string>& flags :
         {std::vector<std::string>{}, std::vector<std::string>{"--migrate_only"}}) {
      auto [code, out] = Run(binary, store, flags);
      EXPECT_NE(code, 0) << component << " started on a newer schema:\n" << out;
      EXPECT_THAT(
          out, AllOf(HasSubstr(absl::StrCat("the ", component, " store's schema is at version 99")),
                     HasSubstr("newer than this binary knows (version "), HasSubstr("roll forward"),
                     HasSubstr("restore the backup")))
          << component << (flags.empty() ? "" : " --migrate_only");
    }
  }
}

TEST_P(UpgradeTest, MigrateOnlyMigratesANewStoreOnceServesNothingAndExits) {
  for (const auto& [binary, store, component] :
       {std::make_tuple(std::string(COVTRACK_INGESTION_BINARY), ingestion_store_, "ingestion"),
        std::make_tuple(std::string(COVTRACK_TARGETS_BINARY), targets_store_, "targets")}) {
    auto [code, out] = Run(binary, store, {"--migrate_only"});
    EXPECT_EQ(code, 0) << out;  // it exits by itself: it serves nothing
    EXPECT_THAT(out, AllOf(HasSubstr(absl::StrCat("the ", component, " store ")),
                           HasSubstr("was at schema version 0 (new); applied migrations 1, 2")));
    auto [again_code, again_out] = Run(binary, store, {"--migrate_only"});
    EXPECT_EQ(again_code, 0) << again_out;
    EXPECT_THAT(again_out, HasSubstr("the newest this binary knows: nothing to apply"));
  }
}

// Not a test: makes the fixtures from today's schema (see the top of this file).
TEST_P(UpgradeTest, DISABLED_MakeFixtures) {
  ASSERT_NO_FATAL_FAILURE(StartServices());
  ASSERT_THAT(LoadSample(*ingestion_, *targets_), IsOk());
  system_.reset();  // stopped: SQLite's WAL folded into the file
  const std::string log = dir_ + "/dump.log";
  ASSERT_THAT(DumpStore(ingestion_store_, Fixture("ingestion"), log), IsOk()) << ReadFile(log);
  ASSERT_THAT(DumpStore(targets_store_, Fixture("targets"), log), IsOk()) << ReadFile(log);
}

INSTANTIATE_TEST_SUITE_P(Stores, UpgradeTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack::upgrade
