// The aggregation benchmark, in one run, on the full unit catalogue with generated data:
//  1. warm: GetCoverage for a province (all schemes, default comparisons) served from a warm
//     cache, against the baseline: an empty unary RPC (grpc.health.v1.Health/Check) on the same
//     server, same channel, same client concurrency. Rounds alternate system and baseline; the
//     ratio of throughputs is the figure (aim: above 0.5).
//  2. cold: the same call for provinces never asked before (every rollup computed from
//     ingestion's export), one at a time.
//  3. one national ListCoverage of every province, all schemes, on a cold cache.
//
//   build/bench/aggregation/aggregation_bench [--redis=HOST:PORT] [--concurrency=1,16]
//       [--seconds=3] [--rounds=3] [--year=2023] [--province=01]
//
// Data: every commune, four schemes, every month of --year and December of the three years
// before (tools/sampledata), loaded through a real ingestion service (SQLite in a temp folder).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/aggregation/aggregation_service.h"
#include "services/ingestion/ingestion_service.h"
#include "tools/sampledata/sample_data.h"

ABSL_FLAG(std::string, redis, "", "HOST:PORT of Redis; empty: the in-process cache");
ABSL_FLAG(std::string, concurrency, "1,16",
          "client threads issuing calls at once; a comma-separated list measures each");
ABSL_FLAG(int, seconds, 3, "length of each measured phase");
ABSL_FLAG(int, rounds, 3, "warm rounds (system and baseline alternate)");
ABSL_FLAG(int, year, 2023, "the year of data (every month) and the period asked for");
ABSL_FLAG(std::string, province, "01", "the province asked for in the warm phase");
ABSL_FLAG(int, cold_provinces, 10, "provinces asked once each in the cold phase");

namespace covtrack {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "aggregation_bench: " << what << "\n";
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> value, const std::string& what) {
  if (!value.ok()) {
    Die(absl::StrCat(what, ": ", value.status().ToString()));
  }
  return std::move(*value);
}

void MustOk(const grpc::Status& status, const std::string& what) {
  if (!status.ok()) {
    Die(absl::StrCat(what, ": ", status.error_message()));
  }
}

// Calls per second of `call` from `threads` threads for `seconds`.
template <typename Call>
double Throughput(int threads, int seconds, Call call) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> calls{0};
  std::vector<std::thread> workers;
  const Clock::time_point start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        call();
        ++n;
      }
      calls += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& w : workers) {
    w.join();
  }
  return static_cast<double>(calls.load()) / Since(start);
}

void Run() {
  const int year = absl::GetFlag(FLAGS_year);
  std::vector<int> concurrencies;
  for (absl::string_view c : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(c, &n) || n <= 0) {
      Die("--concurrency: want positive numbers separated by commas");
    }
    concurrencies.push_back(n);
  }
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const std::string redis = absl::GetFlag(FLAGS_redis);

  // ---- Data: the catalogue and generated figures, through a real ingestion service ----
  Clock::time_point start = Clock::now();
  auto sample = Must(sampledata::SampleData::Load(), "sample data");
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("aggregation_bench_", getpid()))
          .string();
  std::filesystem::create_directories(dir);
  ingestion::IngestionOptions ingestion_options;
  ingestion_options.store_url = absl::StrCat("sqlite:", dir, "/ingestion.db");
  auto ingestion = Must(ingestion::IngestionServiceImpl::Create(ingestion_options), "ingestion");
  auto ingestion_server = Must(Server::Start(ServerOptions{}, {ingestion.get()}), "serve");
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  auto ingest = v1::IngestionService::NewStub(grpc::CreateCustomChannel(
      ingestion_server->address(), grpc::InsecureChannelCredentials(), args));
  {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("catalogue");
    for (const auto& u : sample->units()) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    MustOk(ingest->ImportAdminUnits(&context, request, &response), "import units");
  }
  std::vector<v1::ParticipationRecord> records =
      Must(sample->Records({"VN"}, Month{year, 1}, Month{year, 12}), "records");
  for (int y = year - 3; y < year; ++y) {
    auto december = Must(sample->Records({"VN"}, Month{y, 12}, Month{y, 12}), "records");
    records.insert(records.end(), december.begin(), december.end());
  }
  auto denominators = Must(sample->Denominators({"VN"}, year - 3, year), "denominators");
  {
    grpc::ClientContext context;
    v1::StreamReportsResponse summary;
    auto writer = ingest->StreamReports(&context, &summary);
    constexpr size_t kBatch = 5000;
    for (size_t i = 0; i < records.size(); i += kBatch) {
      v1::SubmitReportRequest request;
      request.set_request_id(absl::StrCat("bench-", i));
      request.set_source("bench");
      for (size_t j = i; j < std::min(records.size(), i + kBatch); ++j) {
        *request.add_records() = records[j];
      }
      if (i == 0) {
        for (const auto& d : denominators) {
          *request.add_denominators() = d;
        }
      }
      writer->Write(request);
    }
    writer->WritesDone();
    MustOk(writer->Finish(), "load");
  }
  std::cout << absl::StrFormat(
      "data: %d units, %d participation records, %d denominators loaded in %.1f s\n",
      sample->units().size(), records.size(), denominators.size(), Since(start));
  records.clear();
  records.shrink_to_fit();

  // ---- The aggregation service, with a cache namespace of its own per phase ----
  auto start_aggregation = [&](const std::string& ns) {
    aggregation::AggregationOptions options;
    options.ingestion_addr = ingestion_server->address();
    options.redis_addr = redis;
    options.cache_namespace = ns;
    options.stats_log_interval = absl::ZeroDuration();
    auto service = Must(aggregation::AggregationServiceImpl::Create(options), "aggregation");
    if (!redis.empty()) {
      for (int i = 0; i < 500 && !service->stats().cache.available; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!service->stats().cache.available) {
        Die(absl::StrCat("Redis at ", redis, " is not reachable"));
      }
    }
    return service;
  };
  const std::string run_id = absl::StrCat("bench-", getpid(), "-", absl::ToUnixMillis(absl::Now()));
  const std::string period = absl::StrCat(year);

  // Phase 3 first, on its own instance: national ListCoverage, cold.
  {
    auto service = start_aggregation(run_id + "-national");
    auto server = Must(Server::Start(ServerOptions{}, {service.get()}), "serve aggregation");
    grpc::ChannelArguments client_args;
    client_args.SetMaxReceiveMessageSize(64 << 20);
    auto stub = v1::AggregationService::NewStub(grpc::CreateCustomChannel(
        server->address(), grpc::InsecureChannelCredentials(), client_args));
    // The first call of a fresh replica loads the hierarchy (all unit versions); time it apart.
    Clock::time_point t0 = Clock::now();
    {
      v1::GetCoverageRequest request;
      request.set_unit_code("VN");
      request.set_period("1999");
      request.set_previous_year_ends(1);
      v1::Coverage response;
      grpc::ClientContext context;
      MustOk(stub->GetCoverage(&context, request, &response), "first call");
    }
    const double first_call = Since(t0);
    t0 = Clock::now();
    v1::ListCoverageRequest request;
    request.set_parent_code("VN");
    request.set_level(v1::ADMIN_LEVEL_PROVINCE);
    request.set_period(period);
    request.set_page_size(1000);
    v1::ListCoverageResponse response;
    grpc::ClientContext context;
    MustOk(stub->ListCoverage(&context, request, &response), "national list");
    const double cold_list = Since(t0);
    t0 = Clock::now();
    v1::ListCoverageResponse again;
    grpc::ClientContext context2;
    MustOk(stub->ListCoverage(&context2, request, &again), "national list again");
    const double warm_list = Since(t0);
    int64_t health = 0;
    for (const auto& c : response.coverages()) {
      for (const auto& sc : c.schemes()) {
        if (sc.scheme() == v1::SCHEME_HEALTH) {
          health += sc.participants();
        }
      }
    }
    std::cout << absl::StrFormat(
        "national ListCoverage of every province (%d provinces, all schemes), cold: %.3f s "
        "(then warm: %.4f s; a fresh replica's first call, loading the hierarchy: %.3f s); "
        "national health participants %d\n",
        response.coverages_size(), cold_list, warm_list, first_call, health);
    server->Shutdown();
  }

  // Phases 1 and 2 on one instance.
  auto service = start_aggregation(run_id + "-province");
  auto server = Must(Server::Start(ServerOptions{}, {service.get()}), "serve aggregation");
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::AggregationService::NewStub(channel);
  auto health_stub = grpc::health::v1::Health::NewStub(channel);
  auto get = [&](const std::string& unit) {
    v1::GetCoverageRequest request;
    request.set_unit_code(unit);
    request.set_period(period);
    v1::Coverage response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    MustOk(stub->GetCoverage(&context, request, &response), "GetCoverage " + unit);
  };
  auto check = [&] {
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    MustOk(health_stub->Check(&context, request, &response), "Health/Check");
  };
  get("VN");  // loads the hierarchy; not timed

  // Cold GetCoverage: provinces never asked on this instance (5 rollups each: the period, the
  // same period last year and three year ends).
  const std::vector<std::string> provinces = {"02", "04", "06", "08", "10", "11", "12", "14",
                                              "15", "17", "19", "20", "22", "24", "25", "26"};
  const int cold_n = std::min<int>(absl::GetFlag(FLAGS_cold_provinces), provinces.size());
  std::vector<double> cold;
  for (int i = 0; i < cold_n; ++i) {
    Clock::time_point t0 = Clock::now();
    get(provinces[i]);
    cold.push_back(Since(t0));
  }
  std::sort(cold.begin(), cold.end());
  double cold_sum = 0;
  for (double c : cold) {
    cold_sum += c;
  }
  std::cout << absl::StrFormat(
      "cold GetCoverage of a province (%d provinces, one at a time): mean %.1f ms, median %.1f ms, "
      "max %.1f ms\n",
      cold_n, 1000 * cold_sum / cold_n, 1000 * cold[cold_n / 2], 1000 * cold.back());

  // Warm GetCoverage against the empty unary RPC.
  const std::string province = absl::GetFlag(FLAGS_province);
  get(province);  // warms the cache
  for (int concurrency : concurrencies) {
    const aggregation::AggregationStats before = service->stats();
    std::vector<double> ratios;
    int64_t calls = 0;
    for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
      const double warm = Throughput(concurrency, seconds, [&] { get(province); });
      const double empty = Throughput(concurrency, seconds, check);
      calls += static_cast<int64_t>(warm * seconds);
      ratios.push_back(warm / empty);
      std::cout << absl::StrFormat(
          "concurrency %d, round %d: warm GetCoverage(%s, %s) %.0f calls/s; empty unary RPC "
          "%.0f calls/s; ratio %.2f (cache %s)\n",
          concurrency, round, province, period, warm, empty, warm / empty,
          redis.empty() ? "in-process" : "redis " + redis);
    }
    // For context: what one GetChangeHead costs on ingestion at the same concurrency (every
    // warm answer waits for one, shared with the calls that arrived meanwhile).
    const double heads = Throughput(concurrency, seconds, [&] {
      v1::ChangeHead head;
      grpc::ClientContext context;
      MustOk(ingest->GetChangeHead(&context, v1::GetChangeHeadRequest(), &head), "head");
    });
    std::cout << absl::StrFormat("concurrency %d: ingestion GetChangeHead alone %.0f calls/s\n",
                                 concurrency, heads);
    const aggregation::AggregationStats after = service->stats();
    std::sort(ratios.begin(), ratios.end());
    std::cout << absl::StrFormat(
        "concurrency %d: warm/empty ratio, median of %d rounds: %.2f; %d rollups served from "
        "cache, %d computed, %d head lookups for about %d calls\n",
        concurrency, ratios.size(), ratios[ratios.size() / 2],
        after.entries_served - before.entries_served,
        after.entries_computed - before.entries_computed, after.head_lookups - before.head_lookups,
        calls);
  }
  server->Shutdown();
  ingestion_server->Shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace covtrack

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: a global
  // lock-order graph updated on every lock, a few percent of a busy server's time.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  covtrack::Run();
  return 0;
}
