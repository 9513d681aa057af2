// Issue 13's load test, against real ingestion and aggregation processes on loopback, each
// started with --max_concurrent_calls=4 and 2: ten times as many clients as they admit, for 10 s
// each, writing reports, reading rollups and holding change streams open. What must hold:
//   - each process's thread count and resident memory stay under stated bounds (sampled from
//     /proc/PID/status throughout);
//   - the excess is refused quickly: RESOURCE_EXHAUSTED with a retry delay (message and the
//     grpc-retry-pushback-ms trailer), each refusal within 2 s while admitted calls are slow;
//   - no admitted call fails, and every acknowledged write is there afterwards;
//   - grpc.health.v1 answers SERVING throughout, for "" and for the service's own name.
// And the probe's forged page token: a ListCoverage token whose offset overflows is refused.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::CovtrackProcesses;
using testing::FreshChannel;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::Record;
using testing::StatusIs;
using testing::Unit;

// --max_concurrent_calls of each. Aggregation admits fewer: each call it admits may call
// ingestion (an export) while its change stream to ingestion stays open, and ingestion must
// admit all of that (2 + 1 <= 4), or aggregation's admitted calls fail for want of ingestion.
constexpr int kIngestionAdmits = 4;
constexpr int kAggregationAdmits = 2;
constexpr absl::Duration kLoadFor = absl::Seconds(10);  // per service
constexpr absl::Duration kCallDeadline = absl::Seconds(20);
// A refusal must not wait for a thread: generous, while admitted calls take seconds.
constexpr absl::Duration kRefusalBound = absl::Seconds(2);
// Bounds on each process under this load. The threads: the admitted calls and the poller
// (max_concurrent_calls + 1), gRPC's own (event engine, executor, timers) and the service's
// (store, change feed); without the bound gRPC makes a thread per concurrent call (40 or 20 here).
constexpr int kMaxThreads = 36;
constexpr int64_t kMaxRssKb = 160 * 1024;
const std::vector<std::string> kCommunes = {"10101", "10102", "10201"};

// Every call of this test waits for its channel to connect, within its deadline. Debian 12's
// gRPC (1.51) can report a loopback connect that is merely in progress as failed: it reads
// errno after other calls have overwritten it ("connect: No such file or directory"; fixed
// upstream in grpc/grpc#35064). CI saw it when the image build loaded the machine: the
// channel fails, backs off, and a call without wait_for_ready fails UNAVAILABLE at once. That
// is the client library, not the server under test; a server that stops accepting still fails
// here, by the deadline.
void PrepareCall(grpc::ClientContext* context, absl::Duration deadline) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  context->set_wait_for_ready(true);
}

// Province 10 > districts 101, 102 > communes 10101, 10102 (in 101), 10201 (in 102).
std::vector<v1::AdminUnit> SmallTree() {
  return {
      Unit("10", v1::ADMIN_LEVEL_PROVINCE, ""),      Unit("101", v1::ADMIN_LEVEL_DISTRICT, "10"),
      Unit("102", v1::ADMIN_LEVEL_DISTRICT, "10"),   Unit("10101", v1::ADMIN_LEVEL_COMMUNE, "101"),
      Unit("10102", v1::ADMIN_LEVEL_COMMUNE, "101"), Unit("10201", v1::ADMIN_LEVEL_COMMUNE, "102")};
}

// The n-th write of the test: its own (commune, month), so that every acknowledged value can
// be checked afterwards whatever order the writes landed in.
std::string MonthOf(int n) {
  const int index = n / static_cast<int>(kCommunes.size());
  return absl::StrFormat("%04d-%02d", 2001 + index / 12, 1 + index % 12);
}

// A field of /proc/PID/status ("Threads", "VmRSS"), as a number; nullopt when gone.
std::optional<int64_t> ProcStatus(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      std::string digits;
      for (char c : line.substr(field.size() + 1)) {
        if (c >= '0' && c <= '9') {
          digits += c;
        }
      }
      int64_t value = 0;
      if (absl::SimpleAtoi(digits, &value)) {
        return value;
      }
    }
  }
  return std::nullopt;
}

// What the clients saw, shared between their threads.
struct Outcomes {
  std::mutex mu;
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  absl::Duration slowest_refusal;
  absl::Duration slowest_admitted;
  std::vector<std::string> failures;  // admitted calls that failed, refusals without a delay
  std::map<std::string, int64_t> acknowledged;  // "commune|month" -> participants

  void Failure(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (failures.size() < 20) {
      failures.push_back(what);
    }
  }
  // Checks a refusal as a client would use it; true when the call was refused (retry it).
  bool Refused(const grpc::Status& status, const grpc::ClientContext& context,
               absl::Duration took) {
    if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
      return false;
    }
    ++refused;
    auto pushback = context.GetServerTrailingMetadata().find("grpc-retry-pushback-ms");
    if (pushback == context.GetServerTrailingMetadata().end() ||
        !absl::StrContains(status.error_message(), "retry after")) {
      Failure(absl::StrCat("refusal without a retry delay: ", status.error_message()));
    }
    std::lock_guard<std::mutex> lock(mu);
    slowest_refusal = std::max(slowest_refusal, took);
    return true;
  }
  void Admitted(absl::Duration took) {
    ++admitted;
    std::lock_guard<std::mutex> lock(mu);
    slowest_admitted = std::max(slowest_admitted, took);
  }
};

// Samples a process's threads and memory until stopped; keeps the maxima.
class ProcessSampler {
 public:
  explicit ProcessSampler(pid_t pid)
      : thread_([this, pid] {
          while (!stop_) {
            if (std::optional<int64_t> threads = ProcStatus(pid, "Threads")) {
              max_threads_ = std::max<int64_t>(max_threads_, *threads);
            }
            if (std::optional<int64_t> rss = ProcStatus(pid, "VmRSS")) {
              max_rss_kb_ = std::max<int64_t>(max_rss_kb_, *rss);
            }
            ++samples_;
            absl::SleepFor(absl::Milliseconds(20));
          }
        }) {}
  ~ProcessSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  int64_t max_threads() const { return max_threads_; }
  int64_t max_rss_kb() const { return max_rss_kb_; }
  int samples() const { return samples_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_threads_{0};
  std::atomic<int64_t> max_rss_kb_{0};
  std::atomic<int> samples_{0};
  std::thread thread_;
};

// Asks grpc.health.v1 on a service's port, for "" and its full name, until stopped; every
// answer must be SERVING within the probe's 2 s (a kubelet's timeoutSeconds).
class HealthProber {
 public:
  HealthProber(const std::string& address, const std::string& service_name)
      : thread_([this, address, service_name] {
          auto stub = grpc::health::v1::Health::NewStub(FreshChannel(address));
          while (!stop_) {
            for (const std::string& name : {std::string(""), service_name}) {
              grpc::health::v1::HealthCheckRequest request;
              request.set_service(name);
              grpc::health::v1::HealthCheckResponse response;
              grpc::ClientContext context;
              PrepareCall(&context, absl::Seconds(2));
              const grpc::Status status = stub->Check(&context, request, &response);
              ++probes_;
              if (!status.ok() ||
                  response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
                ++failed_;
              }
            }
            absl::SleepFor(absl::Milliseconds(50));
          }
        }) {}
  ~HealthProber() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  int probes() const { return probes_; }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> probes_{0};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    ingestion_metrics_ = testing::FreeLoopbackPort();
    aggregation_metrics_ = testing::FreeLoopbackPort();
    CovtrackProcesses::Options options;
    options.binaries.ingestion = COVTRACK_INGESTION_BINARY;
    options.binaries.aggregation = COVTRACK_AGGREGATION_BINARY;
    options.dir = dir_;
    options.ingestion_store = absl::StrCat("sqlite:", dir_, "/ingestion.db");
    options.cache_namespace = "load";
    options.ingestion_flags = {absl::StrCat("--max_concurrent_calls=", kIngestionAdmits),
                               "--overload_retry_after=100ms",
                               absl::StrCat("--metrics_listen=127.0.0.1:", ingestion_metrics_)};
    options.aggregation_flags = {absl::StrCat("--max_concurrent_calls=", kAggregationAdmits),
                                 "--overload_retry_after=100ms",
                                 absl::StrCat("--metrics_listen=127.0.0.1:", aggregation_metrics_)};
    system_ = std::make_unique<CovtrackProcesses>(options);
    ASSERT_THAT(system_->StartIngestion(), IsOk());
    ASSERT_THAT(system_->StartAggregation(), IsOk());
    ingestion_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
    aggregation_ = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));

    v1::ImportAdminUnitsRequest request;
    request.set_request_id("units");
    for (const v1::AdminUnit& u : SmallTree()) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    PrepareCall(&context, kCallDeadline);
    ASSERT_THAT(ingestion_->ImportAdminUnits(&context, request, &response), IsOk());
  }

  void TearDown() override {
    if (HasFailure() && system_ != nullptr) {
      std::cerr << system_->LogTails();
    }
    system_.reset();
  }

  // The value of a counter on a /metrics page, summed over its series; -1 when unreachable.
  static double CounterTotal(int port, const std::string& name) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(5);
    httplib::Result result = client.Get("/metrics");
    if (!result || result->status != 200) {
      return -1;
    }
    double total = 0;
    std::istringstream lines(result->body);
    std::string line;
    while (std::getline(lines, line)) {
      if (absl::StartsWith(line, name + "{")) {
        double value = 0;
        if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
          total += value;
        }
      }
    }
    return total;
  }

  // Ingestion's clients: most write reports (retrying a refusal with the same request_id, as
  // a client honouring the retry delay does); every fourth holds a change stream open for
  // 1.5 s, so that admitted calls are slow and the slots stay taken.
  void IngestionClient(int client, absl::Time until, std::atomic<int>& next_write, Outcomes& out) {
    auto stub = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
    while (absl::Now() < until) {
      if (client % 4 == 0) {
        grpc::ClientContext context;
        PrepareCall(&context, absl::Milliseconds(1500));
        const absl::Time start = absl::Now();
        auto stream = stub->WatchChanges(&context, v1::WatchChangesRequest());
        v1::Change change;
        while (stream->Read(&change)) {
        }
        const grpc::Status status = stream->Finish();
        const absl::Duration took = absl::Now() - start;
        if (out.Refused(status, context, took)) {
          absl::SleepFor(absl::Milliseconds(100));
        } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          out.Admitted(took);  // held for its whole deadline, as asked
        } else {
          out.Failure(
              absl::StrCat("WatchChanges: ", status.error_code(), " ", status.error_message()));
        }
        continue;
      }
      const int n = next_write++;
      v1::SubmitReportRequest request;
      request.set_request_id(absl::StrCat("load-", n));
      request.set_source("load test");
      *request.add_records() =
          Record(kCommunes[n % kCommunes.size()], MonthOf(n), v1::SCHEME_HEALTH, 1000 + n);
      while (true) {
        v1::SubmitReportResponse response;
        grpc::ClientContext context;
        PrepareCall(&context, kCallDeadline);
        const absl::Time start = absl::Now();
        const grpc::Status status = stub->SubmitReport(&context, request, &response);
        const absl::Duration took = absl::Now() - start;
        if (out.Refused(status, context, took)) {
          absl::SleepFor(absl::Milliseconds(100));
          continue;
        }
        if (!status.ok()) {
          out.Failure(absl::StrCat("SubmitReport ", n, ": ", status.error_code(), " ",
                                   status.error_message()));
        } else {
          out.Admitted(took);
          std::lock_guard<std::mutex> lock(out.mu);
          out.acknowledged[absl::StrCat(kCommunes[n % kCommunes.size()], "|", MonthOf(n))] =
              1000 + n;
        }
        break;
      }
    }
  }

  // Aggregation's clients read: a province's series over ten years (slow), a list, a figure.
  void AggregationClient(int client, absl::Time until, Outcomes& out) {
    auto stub = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));
    for (int i = 0; absl::Now() < until; ++i) {
      grpc::ClientContext context;
      PrepareCall(&context, kCallDeadline);
      const absl::Time start = absl::Now();
      grpc::Status status;
      switch ((client + i) % 3) {
        case 0: {
          v1::GetCoverageSeriesRequest request;
          request.set_unit_code("10");
          request.set_scheme(v1::SCHEME_HEALTH);
          request.set_from_month("2001-01");
          request.set_to_month("2010-12");
          v1::CoverageSeries series;
          status = stub->GetCoverageSeries(&context, request, &series);
          break;
        }
        case 1: {
          v1::ListCoverageRequest request;
          request.set_parent_code("10");
          request.set_period("2001");
          v1::ListCoverageResponse list;
          status = stub->ListCoverage(&context, request, &list);
          break;
        }
        default: {
          v1::GetCoverageRequest request;
          request.set_unit_code(kCommunes[i % kCommunes.size()]);
          request.set_period("2001-06");
          v1::Coverage coverage;
          status = stub->GetCoverage(&context, request, &coverage);
        }
      }
      const absl::Duration took = absl::Now() - start;
      if (out.Refused(status, context, took)) {
        absl::SleepFor(absl::Milliseconds(100));
      } else if (status.ok()) {
        out.Admitted(took);
      } else {
        out.Failure(
            absl::StrCat("aggregation: ", status.error_code(), " ", status.error_message()));
      }
    }
  }

  std::string dir_;
  int ingestion_metrics_ = 0;
  int aggregation_metrics_ = 0;
  std::unique_ptr<CovtrackProcesses> system_;
  std::unique_ptr<v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::AggregationService::Stub> aggregation_;
};

TEST_F(LoadTest, TenTimesTheAdmittedClientsAreShedWhileNothingAdmittedIsLost) {
  ProcessSampler ingestion_sampler(system_->ingestion()->pid());
  ProcessSampler aggregation_sampler(system_->aggregation()->pid());
  HealthProber ingestion_health(system_->ingestion_address(),
                                v1::IngestionService::service_full_name());
  HealthProber aggregation_health(system_->aggregation_address(),
                                  v1::AggregationService::service_full_name());

  // One service overloaded at a time: aggregation reads ingestion's feed, and while ingestion
  // refuses calls, aggregation's own calls to it are refused too (UNAVAILABLE to its callers);
  // that is ingestion's overload, not aggregation's, and would blur what each admits.
  Outcomes ingestion_out, aggregation_out;
  std::atomic<int> next_write{0};
  absl::Time until = absl::Now() + kLoadFor;
  std::vector<std::thread> clients;
  for (int i = 0; i < 10 * kIngestionAdmits; ++i) {
    clients.emplace_back([&, i] { IngestionClient(i, until, next_write, ingestion_out); });
  }
  for (std::thread& client : clients) {
    client.join();
  }
  clients.clear();
  until = absl::Now() + kLoadFor;
  for (int i = 0; i < 10 * kAggregationAdmits; ++i) {
    clients.emplace_back([&, i] { AggregationClient(i, until, aggregation_out); });
  }
  for (std::thread& client : clients) {
    client.join();
  }
  ingestion_health.Stop();
  aggregation_health.Stop();
  ingestion_sampler.Stop();
  aggregation_sampler.Stop();

  for (Outcomes* out : {&ingestion_out, &aggregation_out}) {
    EXPECT_THAT(out->failures, ::testing::IsEmpty());
    EXPECT_GT(out->admitted, 0);
    EXPECT_GT(out->refused, 0) << "the excess was not refused";
    EXPECT_LT(out->slowest_refusal, kRefusalBound);
  }
  std::cerr << "ingestion: " << ingestion_out.admitted << " admitted (slowest "
            << ingestion_out.slowest_admitted << "), " << ingestion_out.refused
            << " refused (slowest " << ingestion_out.slowest_refusal << "); threads at most "
            << ingestion_sampler.max_threads() << ", RSS at most "
            << ingestion_sampler.max_rss_kb() / 1024 << " MiB\n"
            << "aggregation: " << aggregation_out.admitted << " admitted (slowest "
            << aggregation_out.slowest_admitted << "), " << aggregation_out.refused
            << " refused (slowest " << aggregation_out.slowest_refusal << "); threads at most "
            << aggregation_sampler.max_threads() << ", RSS at most "
            << aggregation_sampler.max_rss_kb() / 1024 << " MiB\n"
            << "health probes: " << ingestion_health.probes() << " + "
            << aggregation_health.probes() << "\n";

  for (ProcessSampler* sampler : {&ingestion_sampler, &aggregation_sampler}) {
    EXPECT_GT(sampler->samples(), 100);
    EXPECT_LE(sampler->max_threads(), kMaxThreads);
    EXPECT_LE(sampler->max_rss_kb(), kMaxRssKb);
  }
  for (HealthProber* health : {&ingestion_health, &aggregation_health}) {
    EXPECT_GT(health->probes(), 20);
    EXPECT_EQ(health->failed(), 0);
  }
  // The refusals were counted where an operator looks.
  EXPECT_GT(CounterTotal(ingestion_metrics_, "covtrack_rpc_rejected_total"), 0);
  EXPECT_GT(CounterTotal(aggregation_metrics_, "covtrack_rpc_rejected_total"), 0);

  // Every acknowledged write is there: an export of everything written.
  ASSERT_FALSE(ingestion_out.acknowledged.empty());
  std::string last_month;
  for (const auto& [key, participants] : ingestion_out.acknowledged) {
    last_month = std::max(last_month, key.substr(key.find('|') + 1));
  }
  v1::ExportDataRequest request;
  request.set_from_month("2001-01");
  request.set_to_month(last_month);
  grpc::ClientContext context;
  PrepareCall(&context, kCallDeadline);
  auto stream = ingestion_->ExportData(&context, request);
  std::map<std::string, int64_t> stored;
  v1::ExportDataResponse chunk;
  while (stream->Read(&chunk)) {
    for (const v1::ParticipationRecord& r : chunk.records()) {
      stored[absl::StrCat(r.unit_code(), "|", r.month())] = r.participants();
    }
  }
  ASSERT_THAT(stream->Finish(), IsOk());
  int missing = 0;
  for (const auto& [key, participants] : ingestion_out.acknowledged) {
    auto it = stored.find(key);
    if (it == stored.end() || it->second != participants) {
      ++missing;
    }
  }
  EXPECT_EQ(missing, 0) << "of " << ingestion_out.acknowledged.size() << " acknowledged writes";
}

// The probe's finding, against a real aggregation: a ListCoverage token whose offset overflows
// was accepted (OK, zero items). A token made from a real one with its offset forged is
// INVALID_ARGUMENT naming page_token, and the error does not echo it.
TEST_F(LoadTest, AForgedPageTokenIsRefused) {
  v1::ListCoverageRequest request;
  request.set_parent_code("10");
  request.set_period("2001");
  request.set_page_size(1);
  v1::ListCoverageResponse first;
  {
    grpc::ClientContext context;
    PrepareCall(&context, kCallDeadline);
    ASSERT_THAT(aggregation_->ListCoverage(&context, request, &first), IsOk());
  }
  ASSERT_FALSE(first.next_page_token().empty());
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(first.next_page_token(), &raw));
  // The token ends with its offset as "<length>:<digits>" ("1:1" here).
  ASSERT_TRUE(absl::EndsWith(raw, "o1:1")) << absl::CEscape(raw);
  raw.resize(raw.size() - 3);
  for (const std::string& offset : {std::string("9223372036854775807"),
                                    std::string("9223372036854775808"), std::string("-1")}) {
    request.set_page_token(
        absl::WebSafeBase64Escape(absl::StrCat(raw, offset.size(), ":", offset)));
    v1::ListCoverageResponse forged;
    grpc::ClientContext context;
    PrepareCall(&context, kCallDeadline);
    const grpc::Status status = aggregation_->ListCoverage(&context, request, &forged);
    EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token")))
        << offset;
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(request.page_token())));
  }
  // The real token still pages on.
  request.set_page_token(first.next_page_token());
  v1::ListCoverageResponse second;
  grpc::ClientContext context;
  PrepareCall(&context, kCallDeadline);
  ASSERT_THAT(aggregation_->ListCoverage(&context, request, &second), IsOk());
  EXPECT_EQ(second.coverages_size(), 1);
}

}  // namespace
}  // namespace covtrack
