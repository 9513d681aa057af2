// What a store in trouble looks like from outside, against the real ingestion binary:
//   - an SQLite file damaged in the middle: the service refuses to start, naming the file, what
//     is wrong and what to do (before, it started and committed writes into it);
//   - PostgreSQL stopped under a running service: calls are UNAVAILABLE, and their messages
//     name neither the server's host and port nor any SQL (before, libpq's message went to the
//     caller whole).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "tests/fixtures/coverage_fixtures.h"
#include "tests/integration/processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/upgrade/store_tools.h"

namespace covtrack::upgrade {
namespace {

using ::testing::AllOf;
using testing::CovtrackProcesses;
using testing::FreshChannel;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::SetDeadline;

CovtrackProcesses::Options IngestionOnly(const std::string& dir, const std::string& store) {
  CovtrackProcesses::Options options;
  options.binaries = {COVTRACK_INGESTION_BINARY, "", ""};
  options.dir = dir;
  options.ingestion_store = store;
  return options;
}

TEST(StoreFaultsTest, ASqliteStoreDamagedInTheMiddleIsRefusedAtStartWithWhatToDo) {
  const std::string dir = testing::TempDir();
  const std::string path = dir + "/ingestion.db";
  {
    CovtrackProcesses system(IngestionOnly(dir, "sqlite:" + path));
    ASSERT_THAT(system.StartIngestion(), IsOk());
    auto stub = v1::IngestionService::NewStub(FreshChannel(system.ingestion_address()));
    ASSERT_THAT(fixtures::LoadFixture(*stub, fixtures::MyTho2023()), IsOk());
    ASSERT_THAT(fixtures::LoadFixture(*stub, fixtures::MaiSon2023()), IsOk());
    ASSERT_THAT(system.StopIngestion(), IsOk());
  }
  // Everything in the main file, then one page in its middle overwritten, as a disk error or
  // a copy taken mid-write would leave it.
  ASSERT_THAT(ExecSql("sqlite:" + path, "PRAGMA wal_checkpoint(TRUNCATE)", dir + "/x.log"), IsOk());
  const uintmax_t size = std::filesystem::file_size(path);
  constexpr uintmax_t kPage = 4096;
  ASSERT_GE(size, 8 * kPage);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>((size / kPage / 2) * kPage));
    const std::string garbage(kPage, '\xA5');
    file.write(garbage.data(), garbage.size());
    ASSERT_TRUE(file.good());
  }

  const std::string log = dir + "/damaged.log";
  absl::StatusOr<std::unique_ptr<testing::ChildProcess>> child = testing::ChildProcess::Start(
      {COVTRACK_INGESTION_BINARY, "--store=sqlite:" + path,
       absl::StrCat("--listen=127.0.0.1:", testing::FreeLoopbackPort())},
      log);
  ASSERT_THAT(child, IsOk());
  std::optional<int> status = (*child)->Wait(absl::Seconds(60));
  ASSERT_TRUE(status.has_value()) << "ingestion still runs on a damaged store:\n" << ReadFile(log);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << ReadFile(log);
  EXPECT_THAT(ReadFile(log), AllOf(HasSubstr(path), HasSubstr("is damaged"),
                                   HasSubstr("quick_check"), HasSubstr("latest backup")));
}

TEST(StoreFaultsTest, WithPostgresStoppedCallsAreUnavailableAndNameNoHostPortOrSql) {
  std::optional<std::string> pg_bin = testing::PostgresBinDir();
  COVTRACK_REQUIRE_SERVER(pg_bin, "PostgreSQL (postgresql-15)");
  const std::string dir = testing::TempDir();
  auto pg = testing::PostgresServer::Create(*pg_bin, dir + "/pg");
  ASSERT_THAT(pg, IsOk());
  CovtrackProcesses system(IngestionOnly(dir, (*pg)->Url("postgres")));
  ASSERT_THAT(system.StartIngestion(), IsOk());
  auto stub = v1::IngestionService::NewStub(FreshChannel(system.ingestion_address()));
  ASSERT_THAT(fixtures::LoadFixture(*stub, fixtures::MyTho2023()), IsOk());

  ASSERT_THAT((*pg)->Stop("fast"), IsOk());
  const std::string port = absl::StrCat((*pg)->port());
  auto reveals_nothing =
      AllOf(Not(HasSubstr("127.0.0.1")), Not(HasSubstr(port)), Not(HasSubstr("postgres@")),
            Not(HasSubstr("postgresql://")), Not(HasSubstr("SELECT")), Not(HasSubstr("INSERT")),
            Not(HasSubstr("BEGIN")), Not(HasSubstr("connection to server")));
  // A read and a write, twice each (the first finds the pooled connections dead, the second
  // cannot connect at all).
  for (int i = 0; i < 2; ++i) {
    v1::ListAdminUnitsRequest list;
    list.set_parent_code("82");
    v1::ListAdminUnitsResponse units;
    grpc::ClientContext list_context;
    SetDeadline(&list_context);
    grpc::Status read = stub->ListAdminUnits(&list_context, list, &units);
    EXPECT_EQ(read.error_code(), grpc::StatusCode::UNAVAILABLE) << read.error_message();
    EXPECT_THAT(read.error_message(), reveals_nothing);

    v1::SubmitReportRequest report;
    report.set_request_id(absl::StrCat("while-down-", i));
    report.set_source("BHXH");
    *report.add_records() = fixtures::MyTho2023().records.front();
    v1::SubmitReportResponse response;
    grpc::ClientContext write_context;
    SetDeadline(&write_context);
    grpc::Status write = stub->SubmitReport(&write_context, report, &response);
    EXPECT_EQ(write.error_code(), grpc::StatusCode::UNAVAILABLE) << write.error_message();
    EXPECT_THAT(write.error_message(), reveals_nothing);
  }
  // The log keeps what the caller was not told.
  EXPECT_THAT(system.LogTails(), HasSubstr("127.0.0.1"));
}

}  // namespace
}  // namespace covtrack::upgrade
