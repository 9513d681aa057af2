// Findings of the adversarial probe (issue 13) against real aggregation and ingestion processes
// on loopback (and a real redis-server with a password):
//   - work after the caller has gone: a burst of GetCoverageSeries calls with 1 ms deadlines
//     kept hundreds of calls (and ExportData streams) running long after their callers left;
//   - SIGTERM not honoured with that backlog;
//   - restore from a backup: figures from before the restore kept being served;
//   - cache poisoning: an entry a third party wrote into Redis was served, even after FLUSHALL.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/builders.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::CovtrackProcesses;
using testing::FreshChannel;
using testing::IsOk;
using testing::Record;
using testing::SetDeadline;
using testing::Unit;

constexpr absl::Duration kCallDeadline = absl::Seconds(30);
constexpr char kRedisPassword[] = "probe-test redis password";

// Waits (bounded) for `condition`, polling; no fixed sleep decides anything.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return condition();
}

// Province 10 > districts 101, 102 > communes 10101, 10102 (in 101), 10201 (in 102).
std::vector<v1::AdminUnit> SmallTree() {
  return {
      Unit("10", v1::ADMIN_LEVEL_PROVINCE, ""),      Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10"),
      Unit("102", v1::ADMIN_LEVEL_DISTRICT, "10"),   Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101"),
      Unit("10102", v1::ADMIN_LEVEL_COMMUNE, "101"), Unit("10201", v1::ADMIN_LEVEL_COMMUNE, "102")};
}

class AggregationProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_bin_ = testing::RedisServerBinary();
    COVTRACK_REQUIRE_SERVER(redis_bin_, "redis-server");
    dir_ = testing::TempDir();
    store_path_ = absl::StrCat(dir_, "/ingestion.db");
  }

  // Ingestion on SQLite; aggregation on a Redis of the test's own that requires a password.
  void StartServices(const std::string& shutdown_grace = "5s") {
    auto redis = testing::RedisServer::Start(*redis_bin_, dir_ + "/redis", kRedisPassword);
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
    ingestion_metrics_ = testing::FreeLoopbackPort();
    aggregation_metrics_ = testing::FreeLoopbackPort();
    CovtrackProcesses::Options options;
    options.binaries.ingestion = COVTRACK_INGESTION_BINARY;
    options.binaries.aggregation = COVTRACK_AGGREGATION_BINARY;
    options.dir = dir_;
    options.ingestion_store = absl::StrCat("sqlite:", store_path_);
    options.redis = redis_->address();
    options.redis_password = kRedisPassword;
    options.cache_namespace = "probe";
    options.shutdown_grace = shutdown_grace;
    options.ingestion_flags = {absl::StrCat("--metrics_listen=127.0.0.1:", ingestion_metrics_)};
    options.aggregation_flags = {absl::StrCat("--metrics_listen=127.0.0.1:", aggregation_metrics_)};
    system_ = std::make_unique<CovtrackProcesses>(options);
    ASSERT_THAT(system_->StartIngestion(), IsOk());
    ASSERT_THAT(system_->StartAggregation(), IsOk());
    Connect();
  }

  void Connect() {
    ingestion_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
    aggregation_ = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));
  }

  void TearDown() override {
    if (HasFailure() && system_ != nullptr) {
      std::cerr << system_->LogTails();
    }
    system_.reset();
    redis_.reset();
  }

  void Import() {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("units");
    for (const v1::AdminUnit& u : SmallTree()) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    ASSERT_THAT(ingestion_->ImportAdminUnits(&context, request, &response), IsOk());
  }

  void Submit(const std::string& unit, const std::string& month, int64_t participants,
              const std::string& request_id) {
    v1::SubmitReportRequest request;
    request.set_request_id(request_id);
    request.set_source("probe");
    *request.add_records() = Record(unit, month, v1::SCHEME_HEALTH, participants);
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    ASSERT_THAT(ingestion_->SubmitReport(&context, request, &response), IsOk());
  }

  // The health participants aggregation answers for (code, period); -1 when the call fails.
  // A call refused at admission (RESOURCE_EXHAUSTED, with a retry delay) is made again within
  // `deadline`, as a client following the delay would.
  int64_t Health(const std::string& code, const std::string& period,
                 absl::Duration deadline = kCallDeadline) {
    v1::GetCoverageRequest request;
    request.set_unit_code(code);
    request.set_period(period);
    v1::Coverage coverage;
    const absl::Time end = absl::Now() + deadline;
    grpc::Status status;
    do {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(end));
      status = aggregation_->GetCoverage(&context, request, &coverage);
    } while (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
             absl::Now() + absl::Seconds(1) < end && (absl::SleepFor(absl::Seconds(1)), true));
    EXPECT_THAT(status, IsOk()) << code << " " << period;
    for (const v1::SchemeCoverage& sc : coverage.schemes()) {
      if (sc.scheme() == v1::SCHEME_HEALTH) {
        return sc.participants();
      }
    }
    return -1;
  }

  // Many GetCoverageSeries calls of 120 months each, over distinct units and windows (so the
  // cache does not absorb them), every one with a 1 ms deadline: each caller is gone at once.
  void BurstOfAbandonedSeries(int calls) {
    const std::vector<std::string> codes = {"10", "101", "102", "10101", "10102", "10201"};
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&] {
        auto stub = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));
        for (int i = next++; i < calls; i = next++) {
          v1::GetCoverageSeriesRequest request;
          request.set_unit_code(codes[i % codes.size()]);
          request.set_scheme(v1::SCHEME_HEALTH);
          const int first_year = 1901 + 10 * ((i / codes.size()) % 19);
          request.set_from_month(absl::StrCat(first_year, "-01"));
          request.set_to_month(absl::StrCat(first_year + 9, "-12"));
          v1::CoverageSeries series;
          grpc::ClientContext context;
          SetDeadline(&context, absl::Milliseconds(1));
          stub->GetCoverageSeries(&context, request, &series);  // DEADLINE_EXCEEDED, mostly
        }
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
  }

  std::optional<std::string> redis_bin_;
  std::string dir_;
  std::string store_path_;
  int ingestion_metrics_ = 0;
  int aggregation_metrics_ = 0;
  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<CovtrackProcesses> system_;
  std::unique_ptr<v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::AggregationService::Stub> aggregation_;
};

// The probe: 1 ms-deadline series calls left 563 calls running in aggregation and ~100
// ExportData streams in ingestion 47 s later, and an honest GetCoverage took 3.3 s. Work now
// stops with its caller, and every call to ingestion carries the caller's remaining deadline.
TEST_F(AggregationProbeTest, AbandonedCallsStopWorkingAndHonestCallsAreAnswered) {
  ASSERT_NO_FATAL_FAILURE(StartServices());
  ASSERT_NO_FATAL_FAILURE(Import());
  ASSERT_NO_FATAL_FAILURE(Submit("10101", "2023-12", 100, "a"));
  const std::string exports = "covtrack_aggregation_exports_total";
  const std::optional<double> exports_before = testing::MetricValue(aggregation_metrics_, exports);
  ASSERT_TRUE(exports_before.has_value());
  constexpr int kCalls = 600;
  BurstOfAbandonedSeries(kCalls);
  // An honest caller is answered (a generous bound, not a speed assertion).
  EXPECT_EQ(Health("10", "2023", absl::Seconds(20)), 100);
  const std::string series_in_flight =
      "covtrack_rpc_in_flight{method=\"/covtrack.v1.AggregationService/GetCoverageSeries\"}";
  const std::string exports_in_flight =
      "covtrack_rpc_in_flight{method=\"/covtrack.v1.IngestionService/ExportData\"}";
  EXPECT_TRUE(WaitFor(
      [&] {
        return testing::MetricValue(aggregation_metrics_, series_in_flight) == 0.0 &&
               testing::MetricValue(ingestion_metrics_, exports_in_flight) == 0.0;
      },
      absl::Seconds(20)))
      << "series calls still running: "
      << testing::MetricValue(aggregation_metrics_, series_in_flight).value_or(-1)
      << ", exports still running: "
      << testing::MetricValue(ingestion_metrics_, exports_in_flight).value_or(-1);
  // What the abandoned calls cost: each series of 120 months is up to 120 exports when its
  // handler carries on without its caller; one that stops costs at most the export under way.
  EXPECT_LE(testing::MetricValue(aggregation_metrics_, exports).value_or(1e9) - *exports_before,
            kCalls)
      << "exports made for callers who had gone";
  EXPECT_EQ(Health("101", "2023", absl::Seconds(20)), 100);
}

// The probe: with that backlog, aggregation was still alive 300 s after SIGTERM with
// --shutdown_grace=20s. Handlers now stop when the server cuts their calls off.
TEST_F(AggregationProbeTest, SigtermWithABacklogExitsWithinTheGrace) {
  ASSERT_NO_FATAL_FAILURE(StartServices(/*shutdown_grace=*/"2s"));
  ASSERT_NO_FATAL_FAILURE(Import());
  ASSERT_NO_FATAL_FAILURE(Submit("10101", "2023-12", 100, "a"));
  BurstOfAbandonedSeries(600);
  // 2 s of grace, and a generous margin for a loaded machine.
  EXPECT_THAT(system_->StopAggregation(absl::Seconds(2 + 20)), IsOk());
}

// The probe: after ingestion's store was restored from a backup, aggregation logged that the
// feed went backwards but kept serving figures from before the restore, even after new writes.
// Here the restored store is written to past the seq aggregation had seen (so the head never
// looks lower than before), with changes that do not touch the figures asked: only the history
// itself tells the cached figures are from a store that no longer exists.
TEST_F(AggregationProbeTest, AfterARestoreFromABackupAnswersAreTheRestoredStoresPlusNewWrites) {
  ASSERT_NO_FATAL_FAILURE(StartServices());
  ASSERT_NO_FATAL_FAILURE(Import());                                   // seq 1
  ASSERT_NO_FATAL_FAILURE(Submit("10101", "2023-12", 100, "before"));  // seq 2
  EXPECT_EQ(Health("10", "2023"), 100);

  // The backup: a copy of the SQLite file of a stopped ingestion.
  ASSERT_THAT(system_->StopIngestion(), IsOk());
  const std::string backup = dir_ + "/backup.db";
  std::filesystem::copy_file(store_path_, backup);
  ASSERT_THAT(system_->StartIngestion(), IsOk());
  Connect();
  ASSERT_NO_FATAL_FAILURE(Submit("10101", "2023-12", 200, "lost-1"));  // seq 3
  ASSERT_NO_FATAL_FAILURE(Submit("10102", "2023-12", 50, "lost-2"));   // seq 4
  EXPECT_EQ(Health("10", "2023"), 250);
  EXPECT_EQ(Health("101", "2023"), 250);

  // The restore: ingestion stopped, the file copied back, started again.
  ASSERT_THAT(system_->StopIngestion(), IsOk());
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::remove(store_path_ + suffix);
  }
  std::filesystem::copy_file(backup, store_path_,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_THAT(system_->StartIngestion(), IsOk());
  Connect();
  // New acknowledged writes, past seq 4, about 2022 only.
  for (int i = 0; i < 3; ++i) {
    ASSERT_NO_FATAL_FAILURE(Submit("10201", "2022-12", 10 + i, absl::StrCat("after-", i)));
  }
  EXPECT_EQ(Health("10", "2023"), 100);
  EXPECT_EQ(Health("101", "2023"), 100);
  EXPECT_EQ(Health("10", "2022"), 12);
  ASSERT_NO_FATAL_FAILURE(Submit("10102", "2023-12", 7, "after-3"));
  EXPECT_EQ(Health("10", "2023"), 107);

  // A replica started now, with Redis still holding what the others cached, agrees.
  ASSERT_THAT(system_->StopAggregation(), IsOk());
  ASSERT_THAT(system_->StartAggregation(), IsOk());
  Connect();
  EXPECT_EQ(Health("101", "2023"), 107);
  EXPECT_EQ(Health("10", "2023"), 107);
  EXPECT_EQ(Health("10", "2022"), 12);
}

// The probe: an entry a third party wrote into Redis, under the key aggregation reads, was
// served, and kept being served after later writes and a FLUSHALL, until aggregation restarted.
// Redis now requires a password, and entries carry an HMAC under the replicas' shared key.
TEST_F(AggregationProbeTest, AForgedRedisEntryIsNeverServed) {
  ASSERT_NO_FATAL_FAILURE(StartServices());
  ASSERT_NO_FATAL_FAILURE(Import());
  ASSERT_NO_FATAL_FAILURE(Submit("10101", "2023-12", 100, "a"));

  // Without the password, Redis takes nothing.
  EXPECT_THAT(redis_->CommandWithoutPassword("SET probe:agg:v3:10:2023 x").value_or(""),
              ::testing::StartsWith("NOAUTH"));

  // A third party with the password (another program sharing this Redis) forges the entry
  // aggregation would read: a plausible figure, tagged with a seq beyond any change.
  v1::Coverage forged;
  *forged.mutable_unit() = SmallTree()[0];
  forged.set_period("2023");
  v1::SchemeCoverage* sc = forged.add_schemes();
  sc->set_scheme(v1::SCHEME_HEALTH);
  sc->set_participants(999'999);
  sc->set_as_of_month("2023-12");
  const std::string key = "probe:agg:v3:10:2023";
  const std::string payload = forged.SerializeAsString();
  for (const std::string& value :
       {absl::StrCat("9223372036854775807:0000000000000000|", payload),
        absl::StrCat("h1", std::string(32, 'x'), "9223372036854775807:0000000000000000|",
                     payload)}) {
    ASSERT_EQ(redis_->CommandArgv({"SET", key, value}), "OK");
    EXPECT_EQ(Health("10", "2023"), 100);
    EXPECT_EQ(Health("10", "2023"), 100);  // and not held by the replica either
  }
  ASSERT_EQ(redis_->Command("FLUSHALL"), "OK");
  EXPECT_EQ(Health("10", "2023"), 100);
  ASSERT_NO_FATAL_FAILURE(Submit("10102", "2023-12", 5, "b"));
  EXPECT_EQ(Health("10", "2023"), 105);
  EXPECT_GE(testing::MetricValue(aggregation_metrics_, "covtrack_cache_rejected_total").value_or(0),
            1);
  // The genuine entries aggregation wrote are read back (the cache still works).
  EXPECT_GE(redis_->KeyCount(), 1);
}

}  // namespace
}  // namespace covtrack
