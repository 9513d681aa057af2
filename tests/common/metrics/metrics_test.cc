// The metrics library: the exact text Prometheus reads, exact totals under concurrent updates,
// /metrics over HTTP, and the RPC interceptor on a real gRPC server.
#include "common/metrics/metrics.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/grpc_metrics.h"
#include "common/metrics/http_exporter.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::metrics {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- The text format ----

TEST(FormatValueTest, WritesNumbersAsPrometheusParsesThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2), "-2");
  EXPECT_EQ(FormatValue(1000000), "1000000");  // not 1e+06
  EXPECT_EQ(FormatValue(123456789012), "123456789012");
  EXPECT_EQ(FormatValue(0.1), "0.1");  // not 0.10000000000000001
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(-1.5), "-1.5");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(1e-7), "1e-07");
  EXPECT_EQ(FormatValue(1234567.25), "1234567.25");
  EXPECT_EQ(FormatValue(1e15), "1e+15");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(kInf), "+Inf");
  EXPECT_EQ(FormatValue(-kInf), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(RegistryTest, RendersACounterWithEscapedHelpAndLabelValues) {
  Registry registry;
  Counter& reports = registry.AddCounter(
      "covtrack_reports_total", "Reports accepted,\nby unit \\ scheme.", {"unit", "scheme"});
  reports.Add({"815", "health"}, 3);
  reports.Add({"say \"hi\"\\\nbye", "bhxh"});
  reports.Add({"815", "health"}, 0.5);

  EXPECT_EQ(registry.Render(),
            "# HELP covtrack_reports_total Reports accepted,\\nby unit \\\\ scheme.\n"
            "# TYPE covtrack_reports_total counter\n"
            "covtrack_reports_total{unit=\"815\",scheme=\"health\"} 3.5\n"
            "covtrack_reports_total{unit=\"say \\\"hi\\\"\\\\\\nbye\",scheme=\"bhxh\"} 1\n");
  EXPECT_EQ(reports.Value({"815", "health"}), 3.5);
  EXPECT_EQ(reports.Value({"815", "voluntary"}), 0);
}

TEST(RegistryTest, DropsNegativeAndNaNCounterIncrements) {
  Registry registry;
  Counter& counter = registry.AddCounter("covtrack_things_total", "Things.", {});
  counter.Add({}, 2);
  counter.Add({}, -1);
  counter.Add({}, std::nan(""));
  EXPECT_EQ(counter.Value({}), 2);
}

TEST(RegistryTest, RendersGaugesAndShowsUnlabelledFamiliesFromRegistration) {
  Registry registry;
  Gauge& depth = registry.AddGauge("covtrack_queue_depth", "Items waiting.", {});
  Gauge& lag = registry.AddGauge("covtrack_lag_seconds", "", {"peer"});
  EXPECT_EQ(registry.Render(),
            "# TYPE covtrack_lag_seconds gauge\n"
            "# HELP covtrack_queue_depth Items waiting.\n"
            "# TYPE covtrack_queue_depth gauge\n"
            "covtrack_queue_depth 0\n");

  depth.Set({}, 7);
  depth.Add({}, -2.5);
  lag.Set({"ingestion"}, 0.25);
  lag.Add({"aggregation"}, -1);
  EXPECT_EQ(registry.Render(),
            "# TYPE covtrack_lag_seconds gauge\n"
            "covtrack_lag_seconds{peer=\"aggregation\"} -1\n"
            "covtrack_lag_seconds{peer=\"ingestion\"} 0.25\n"
            "# HELP covtrack_queue_depth Items waiting.\n"
            "# TYPE covtrack_queue_depth gauge\n"
            "covtrack_queue_depth 4.5\n");
  EXPECT_EQ(depth.Value({}), 4.5);
}

TEST(RegistryTest, RendersHistogramBucketsCumulativelyWithLeLast) {
  Registry registry;
  Histogram& latency =
      registry.AddHistogram("covtrack_export_seconds", "Export time.", {"method"}, {0.25, 1, 2.5});
  latency.Observe({"ExportData"}, 0.125);
  latency.Observe({"ExportData"}, 1);  // a bound is inclusive: counts in le="1"
  latency.Observe({"ExportData"}, 2);
  latency.Observe({"ExportData"}, 5);
  latency.Observe({"ListChanges"}, 0.5);

  EXPECT_EQ(registry.Render(),
            "# HELP covtrack_export_seconds Export time.\n"
            "# TYPE covtrack_export_seconds histogram\n"
            "covtrack_export_seconds_bucket{method=\"ExportData\",le=\"0.25\"} 1\n"
            "covtrack_export_seconds_bucket{method=\"ExportData\",le=\"1\"} 2\n"
            "covtrack_export_seconds_bucket{method=\"ExportData\",le=\"2.5\"} 3\n"
            "covtrack_export_seconds_bucket{method=\"ExportData\",le=\"+Inf\"} 4\n"
            "covtrack_export_seconds_sum{method=\"ExportData\"} 8.125\n"
            "covtrack_export_seconds_count{method=\"ExportData\"} 4\n"
            "covtrack_export_seconds_bucket{method=\"ListChanges\",le=\"0.25\"} 0\n"
            "covtrack_export_seconds_bucket{method=\"ListChanges\",le=\"1\"} 1\n"
            "covtrack_export_seconds_bucket{method=\"ListChanges\",le=\"2.5\"} 1\n"
            "covtrack_export_seconds_bucket{method=\"ListChanges\",le=\"+Inf\"} 1\n"
            "covtrack_export_seconds_sum{method=\"ListChanges\"} 0.5\n"
            "covtrack_export_seconds_count{method=\"ListChanges\"} 1\n");
  EXPECT_EQ(latency.Count({"ExportData"}), 4u);
  EXPECT_EQ(latency.Sum({"ExportData"}), 8.125);
}

TEST(RegistryTest, RendersAnUnlabelledHistogramAtZeroAndNaNOnlyInPlusInf) {
  Registry registry;
  // +Inf spelled out is accepted and not doubled.
  Histogram& sizes =
      registry.AddHistogram("covtrack_batch_size", "Rows per batch.", {}, {10, 100, kInf});
  EXPECT_EQ(registry.Render(),
            "# HELP covtrack_batch_size Rows per batch.\n"
            "# TYPE covtrack_batch_size histogram\n"
            "covtrack_batch_size_bucket{le=\"10\"} 0\n"
            "covtrack_batch_size_bucket{le=\"100\"} 0\n"
            "covtrack_batch_size_bucket{le=\"+Inf\"} 0\n"
            "covtrack_batch_size_sum 0\n"
            "covtrack_batch_size_count 0\n");
  sizes.Observe({}, std::nan(""));
  EXPECT_EQ(registry.Render(),
            "# HELP covtrack_batch_size Rows per batch.\n"
            "# TYPE covtrack_batch_size histogram\n"
            "covtrack_batch_size_bucket{le=\"10\"} 0\n"
            "covtrack_batch_size_bucket{le=\"100\"} 0\n"
            "covtrack_batch_size_bucket{le=\"+Inf\"} 1\n"
            "covtrack_batch_size_sum NaN\n"
            "covtrack_batch_size_count 1\n");
}

TEST(RegistryTest, SortsFamiliesByNameWhateverTheRegistrationOrder) {
  Registry registry;
  registry.AddGauge("zeta", "", {}).Set({}, 1);
  registry.AddCounter("alpha_total", "", {}).Add({});
  registry.AddGaugeCallback("middle", "Read at scrape time.", [] { return 42.0; });
  EXPECT_EQ(registry.Render(),
            "# TYPE alpha_total counter\n"
            "alpha_total 1\n"
            "# HELP middle Read at scrape time.\n"
            "# TYPE middle gauge\n"
            "middle 42\n"
            "# TYPE zeta gauge\n"
            "zeta 1\n");
}

TEST(RegistryTest, ReregisteringTheSameFamilyReturnsIt) {
  Registry registry;
  Counter& first = registry.AddCounter("covtrack_x_total", "X.", {"a"});
  Counter& second = registry.AddCounter("covtrack_x_total", "X.", {"a"});
  EXPECT_EQ(&first, &second);
  Histogram& h1 = registry.AddHistogram("covtrack_h", "", {}, {1, 2});
  Histogram& h2 = registry.AddHistogram("covtrack_h", "", {}, {1, 2, kInf});
  EXPECT_EQ(&h1, &h2);
}

TEST(RegistryTest, GaugeCallbackIsReadAtScrapeReplacedAndRemoved) {
  Registry registry;
  double queue_length = 3;
  registry.AddGaugeCallback("covtrack_queue_length", "", [&] { return queue_length; });
  EXPECT_EQ(registry.Render(), "# TYPE covtrack_queue_length gauge\ncovtrack_queue_length 3\n");
  queue_length = 5;
  EXPECT_EQ(registry.Render(), "# TYPE covtrack_queue_length gauge\ncovtrack_queue_length 5\n");

  registry.AddGaugeCallback("covtrack_queue_length", "Newest owner.", [] { return 9.0; });
  EXPECT_EQ(registry.Render(),
            "# HELP covtrack_queue_length Newest owner.\n"
            "# TYPE covtrack_queue_length gauge\ncovtrack_queue_length 9\n");

  registry.RemoveGaugeCallback("covtrack_queue_length");
  EXPECT_EQ(registry.Render(), "");
  registry.RemoveGaugeCallback("covtrack_queue_length");  // no-op
}

TEST(RegistryTest, CounterCallbackRendersAsACounterUntilRemoved) {
  Registry registry;
  double hits = 12;
  registry.AddCounterCallback("covtrack_cache_hits_total", "Cache hits.", [&] { return hits; });
  EXPECT_EQ(registry.Render(),
            "# HELP covtrack_cache_hits_total Cache hits.\n"
            "# TYPE covtrack_cache_hits_total counter\n"
            "covtrack_cache_hits_total 12\n");
  registry.RemoveGaugeCallback("covtrack_cache_hits_total");
  EXPECT_EQ(registry.Render(), "");
}

TEST(RegistryTest, LatencyBucketsSpanHalfAMillisecondToTenSeconds) {
  std::vector<double> buckets = LatencyBuckets();
  ASSERT_GE(buckets.size(), 10u);
  EXPECT_EQ(buckets.front(), 0.0005);
  EXPECT_EQ(buckets.back(), 10);
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
}

// Programming errors abort, naming the metric. Each EXPECT_DEATH forks; "threadsafe" re-runs
// the test binary so that gRPC or HTTP threads of other tests cannot deadlock the child.
class RegistryDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
  Registry registry_;
};

TEST_F(RegistryDeathTest, ConflictingReregistrationAborts) {
  registry_.AddCounter("covtrack_x_total", "", {"a"});
  EXPECT_DEATH(registry_.AddGauge("covtrack_x_total", "", {"a"}), "already is counter");
  EXPECT_DEATH(registry_.AddCounter("covtrack_x_total", "", {"a", "b"}), "already is counter");
  registry_.AddHistogram("covtrack_h", "", {}, {1, 2});
  EXPECT_DEATH(registry_.AddHistogram("covtrack_h", "", {}, {1, 3}), "registered again with");
  EXPECT_DEATH(registry_.AddGaugeCallback("covtrack_h", "", [] { return 0.0; }),
               "already is histogram");
  EXPECT_DEATH(registry_.RemoveGaugeCallback("covtrack_x_total"), "not a callback");
  registry_.AddGaugeCallback("covtrack_queue_length", "", [] { return 0.0; });
  EXPECT_DEATH(registry_.AddCounterCallback("covtrack_queue_length", "", [] { return 0.0; }),
               "already is gauge callback");
}

TEST_F(RegistryDeathTest, NamesThatWouldCollideInTheTextAbort) {
  registry_.AddHistogram("covtrack_rpc_seconds", "", {}, {1});
  EXPECT_DEATH(registry_.AddCounter("covtrack_rpc_seconds_count", "", {}), "clashes");
  registry_.AddGauge("covtrack_size_sum", "", {});
  EXPECT_DEATH(registry_.AddHistogram("covtrack_size", "", {}, {1}), "would clash");
}

TEST_F(RegistryDeathTest, InvalidNamesAndBucketsAbort) {
  EXPECT_DEATH(registry_.AddCounter("covtrack-x", "", {}), "invalid metric name");
  EXPECT_DEATH(registry_.AddCounter("9lives", "", {}), "invalid metric name");
  EXPECT_DEATH(registry_.AddCounter("covtrack_x", "", {"bad-label"}), "invalid label name");
  EXPECT_DEATH(registry_.AddCounter("covtrack_x", "", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(registry_.AddCounter("covtrack_x", "", {"a", "a"}), "named twice");
  EXPECT_DEATH(registry_.AddHistogram("covtrack_h", "", {"le"}, {1}), "reserved for buckets");
  EXPECT_DEATH(registry_.AddHistogram("covtrack_h", "", {}, {2, 1}), "strictly increasing");
  EXPECT_DEATH(registry_.AddHistogram("covtrack_h", "", {}, {1, std::nan("")}),
               "strictly increasing");
}

TEST_F(RegistryDeathTest, TheWrongNumberOfLabelValuesAborts) {
  Counter& counter = registry_.AddCounter("covtrack_x_total", "", {"method", "code"});
  EXPECT_DEATH(counter.Add({"/a/B"}), "covtrack_x_total.*given 1 value");
  Histogram& histogram = registry_.AddHistogram("covtrack_h", "", {"method"}, {1});
  EXPECT_DEATH(histogram.Observe({}, 1), "covtrack_h.*given 0 value");
}

// ---- Concurrency ----

TEST(RegistryConcurrencyTest, TotalsAreExactUnderConcurrentUpdatesAndScrapes) {
  Registry registry;
  Counter& requests = registry.AddCounter("covtrack_requests_total", "", {"method", "code"});
  Gauge& in_flight = registry.AddGauge("covtrack_in_flight", "", {"method"});
  Gauge& started = registry.AddGauge("covtrack_started", "", {});
  Histogram& latency =
      registry.AddHistogram("covtrack_latency_seconds", "", {"method"}, LatencyBuckets());

  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done) {
      // Every scrape must be well formed even mid-update.
      std::string text = registry.Render();
      ASSERT_TRUE(text.empty() || text.back() == '\n');
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      const std::string code = t % 2 == 0 ? "OK" : "NOT_FOUND";
      for (int i = 0; i < kPerThread; ++i) {
        in_flight.Add({"/m/A"}, 1);
        started.Add({}, 1);
        requests.Add({"/m/A", code});
        latency.Observe({"/m/A"}, 0.5);
        in_flight.Add({"/m/A"}, -1);
      }
    });
  }
  for (std::thread& worker : workers) {
    worker.join();
  }
  done = true;
  scraper.join();

  EXPECT_EQ(requests.Value({"/m/A", "OK"}), kThreads / 2 * kPerThread);
  EXPECT_EQ(requests.Value({"/m/A", "NOT_FOUND"}), kThreads / 2 * kPerThread);
  EXPECT_EQ(in_flight.Value({"/m/A"}), 0);
  EXPECT_EQ(started.Value({}), kThreads * kPerThread);
  EXPECT_EQ(latency.Count({"/m/A"}), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(latency.Sum({"/m/A"}), 0.5 * kThreads * kPerThread);
  EXPECT_TRUE(absl::StrContains(
      registry.Render(),
      absl::StrCat("covtrack_latency_seconds_bucket{method=\"/m/A\",le=\"0.25\"} 0\n"
                   "covtrack_latency_seconds_bucket{method=\"/m/A\",le=\"0.5\"} ",
                   kThreads * kPerThread, "\n")));
}

// ---- /metrics over HTTP ----

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  MetricsHttpServerTest() {
    registry_.AddCounter("covtrack_reports_total", "Reports.", {"code"}).Add({"OK"}, 2);
  }
  Registry registry_;
};

TEST_F(MetricsHttpServerTest, ServesTheRegistryAtMetrics) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start("127.0.0.1:0", &registry_);
  ASSERT_THAT(server, IsOk());
  ASSERT_GT((*server)->port(), 0);

  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response->body,
            "# HELP covtrack_reports_total Reports.\n"
            "# TYPE covtrack_reports_total counter\n"
            "covtrack_reports_total{code=\"OK\"} 2\n");

  // Each scrape renders afresh.
  registry_.AddCounter("covtrack_reports_total", "Reports.", {"code"}).Add({"OK"});
  response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_TRUE(absl::StrContains(response->body, "covtrack_reports_total{code=\"OK\"} 3\n"))
      << response->body;
}

TEST_F(MetricsHttpServerTest, AnswersOtherPathsWith404) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start("127.0.0.1:0", &registry_);
  ASSERT_THAT(server, IsOk());
  httplib::Client client("127.0.0.1", (*server)->port());
  for (const char* path : {"/", "/metrics/", "/metricsx", "/healthz"}) {
    httplib::Result response = client.Get(path);
    ASSERT_TRUE(response) << path << ": " << httplib::to_string(response.error());
    EXPECT_EQ(response->status, 404) << path;
    EXPECT_FALSE(absl::StrContains(response->body, "covtrack_reports_total")) << path;
  }
}

TEST_F(MetricsHttpServerTest, RefusesAPortAlreadyInUseNamingTheAddress) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> first =
      MetricsHttpServer::Start("127.0.0.1:0", &registry_);
  ASSERT_THAT(first, IsOk());
  const std::string address = absl::StrCat("127.0.0.1:", (*first)->port());

  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start(address, &registry_);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(absl::StrContains(second.status().message(), address)) << second.status();

  // The first one still answers.
  httplib::Client client("127.0.0.1", (*first)->port());
  httplib::Result response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
}

TEST_F(MetricsHttpServerTest, RejectsAMalformedAddress) {
  for (const char* listen : {"localhost", "127.0.0.1:http", "127.0.0.1:70000", "127.0.0.1:-1"}) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start(listen, &registry_);
    EXPECT_THAT(server, StatusIs(absl::StatusCode::kInvalidArgument)) << listen;
    EXPECT_TRUE(absl::StrContains(server.status().message(), listen)) << server.status();
  }
}

TEST_F(MetricsHttpServerTest, StopsWhenDestroyedRightAfterStart) {
  // httplib ignores stop() until its accept loop runs; a hang here means Start returned early.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
        MetricsHttpServer::Start("127.0.0.1:0", &registry_);
    ASSERT_THAT(server, IsOk());
  }
}

// ---- The RPC interceptor on a real server ----

constexpr char kCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kGetChangeHead[] = "/covtrack.v1.IngestionService/GetChangeHead";
constexpr char kListRevisions[] = "/covtrack.v1.IngestionService/ListRevisions";

// Ingestion's generated base answers UNIMPLEMENTED for every method; GetChangeHead instead
// looks at its own in-flight gauge and refuses the caller.
class FakeIngestion : public v1::IngestionService::Service {
 public:
  explicit FakeIngestion(const Registry* registry) : registry_(registry) {}

  grpc::Status GetChangeHead(grpc::ServerContext*, const v1::GetChangeHeadRequest*,
                             v1::ChangeHead*) override {
    in_flight_seen_ = absl::StrContains(
        registry_->Render(),
        absl::StrCat("covtrack_rpc_in_flight{method=\"", kGetChangeHead, "\"} 1\n"));
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not for you");
  }

  std::atomic<bool> in_flight_seen_{false};

 private:
  const Registry* registry_;
};

class RpcMetricsInterceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    // gRPC 1.51's default health service is async; the server needs one sync service too.
    builder.RegisterService(&ingestion_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(NewRpcMetricsInterceptorFactory(&registry_));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  }

  void TearDown() override { StopServer(); }

  // After shutdown every call's context (and so its interceptor) is gone.
  void StopServer() {
    if (server_ != nullptr) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
  }

  grpc::StatusCode Check(const std::string& service) {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    return stub->Check(&context, request, &response).error_code();
  }

  Counter& requests() {
    return registry_.AddCounter("covtrack_rpc_requests_total",
                                "RPCs handled, by full method name and gRPC status code.",
                                {"method", "code"});
  }
  Histogram& duration() {
    return registry_.AddHistogram("covtrack_rpc_duration_seconds",
                                  "Time from receiving an RPC to sending its status, seconds.",
                                  {"method"}, LatencyBuckets());
  }
  Gauge& in_flight() {
    return registry_.AddGauge("covtrack_rpc_in_flight", "RPCs being handled right now.",
                              {"method"});
  }

  Registry registry_;
  FakeIngestion ingestion_{&registry_};
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RpcMetricsInterceptorTest, CountsAndTimesHealthChecksByCode) {
  ASSERT_EQ(Check(""), grpc::StatusCode::OK);
  ASSERT_EQ(Check("covtrack.v1.NoSuchService"), grpc::StatusCode::NOT_FOUND);
  ASSERT_EQ(Check("covtrack.v1.NoSuchService"), grpc::StatusCode::NOT_FOUND);

  EXPECT_EQ(requests().Value({kCheck, "OK"}), 1);
  EXPECT_EQ(requests().Value({kCheck, "NOT_FOUND"}), 2);
  EXPECT_EQ(duration().Count({kCheck}), 3u);
  EXPECT_GT(duration().Sum({kCheck}), 0);
  EXPECT_LT(duration().Sum({kCheck}), 30);
  const std::string text = registry_.Render();
  EXPECT_TRUE(absl::StrContains(
      text, "covtrack_rpc_requests_total{method=\"/grpc.health.v1.Health/Check\",code=\"OK\"} 1\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      "covtrack_rpc_duration_seconds_bucket{method=\"/grpc.health.v1.Health/Check\","
      "le=\"+Inf\"} 3\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "covtrack_rpc_duration_seconds_count{method=\"/grpc.health.v1.Health/Check\"} 3\n"))
      << text;

  StopServer();
  EXPECT_EQ(in_flight().Value({kCheck}), 0);
}

TEST_F(RpcMetricsInterceptorTest, RecordsTheHandlersCodeAndItsCallInFlight) {
  auto stub = v1::IngestionService::NewStub(channel_);
  grpc::ClientContext context;
  v1::GetChangeHeadRequest request;
  v1::ChangeHead response;
  ASSERT_THAT(stub->GetChangeHead(&context, request, &response),
              StatusIs(grpc::StatusCode::PERMISSION_DENIED));

  EXPECT_TRUE(ingestion_.in_flight_seen_) << "the handler did not see itself in flight";
  EXPECT_EQ(requests().Value({kGetChangeHead, "PERMISSION_DENIED"}), 1);
  EXPECT_EQ(requests().Value({kGetChangeHead, "OK"}), 0);
  EXPECT_EQ(duration().Count({kGetChangeHead}), 1u);
  StopServer();
  EXPECT_EQ(in_flight().Value({kGetChangeHead}), 0);
}

TEST_F(RpcMetricsInterceptorTest, LabelsUnregisteredMethodsUnknownNotByTheirPath) {
  // A registered method without an implementation keeps its name.
  auto stub = v1::IngestionService::NewStub(channel_);
  grpc::ClientContext context;
  v1::ListRevisionsRequest request;
  v1::ListRevisionsResponse response;
  ASSERT_THAT(stub->ListRevisions(&context, request, &response),
              StatusIs(grpc::StatusCode::UNIMPLEMENTED));
  EXPECT_EQ(requests().Value({kListRevisions, "UNIMPLEMENTED"}), 1);

  // A path nobody registered does not become a label: any client could invent millions.
  grpc::GenericStub generic(channel_);
  for (const char* path : {"/no.Such/Method", "/no.Such/Other"}) {
    grpc::ClientContext call;
    grpc::Slice empty(std::string(""));
    grpc::ByteBuffer generic_request(&empty, 1);
    grpc::ByteBuffer generic_response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&call, path, grpc::StubOptions(), &generic_request, &generic_response,
                      [&done](grpc::Status status) { done.set_value(status); });
    ASSERT_THAT(done.get_future().get(), StatusIs(grpc::StatusCode::UNIMPLEMENTED)) << path;
  }
  EXPECT_EQ(requests().Value({"unknown", "UNIMPLEMENTED"}), 2);
  EXPECT_EQ(duration().Count({"unknown"}), 2u);
  EXPECT_FALSE(absl::StrContains(registry_.Render(), "no.Such")) << registry_.Render();
}

TEST(StatusCodeNameTest, NamesEveryCodeAsGrpcDoes) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::PERMISSION_DENIED), "PERMISSION_DENIED");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(static_cast<grpc::StatusCode>(99)), "UNKNOWN");
}

}  // namespace
}  // namespace covtrack::metrics
