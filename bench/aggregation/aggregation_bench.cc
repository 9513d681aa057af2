// The aggregation benchmark, in one run, on the full unit catalogue with generated data:
//  1. warm: GetCoverage for a province (all schemes, default comparisons) served from a warm
//     cache, against the baseline: an empty unary RPC (grpc.health.v1.Health/Check) on the same
//     server, same channel, same client concurrency. Rounds alternate system and baseline; the
//     ratio of throughputs is the figure (aim: above 0.5).
//  2. cold: the same call for provinces never asked before (every rollup computed from
//     ingestion's export), one at a time.
//  3. one national ListCoverage of every province, all schemes, on a cold cache.
//  4. across the 2025 reform: ListCoverage of the 34 provinces for --reform_year re-expressed
//     (territory_date 2025-07-01, every figure the sum of its predecessors through the shipped
//     crosswalk) against the baseline: the 63 old provinces for that year as they were. Cold
//     (fresh replicas, --cold_rounds of each, alternating) and warm (rounds alternate, as in 1).
//     The ratios are the figures (issue 9 asks at most 2x cold and 1.2x warm).
//
//   build/bench/aggregation/aggregation_bench [--redis=HOST:PORT] [--concurrency=1,16]
//       [--seconds=3] [--rounds=3] [--year=2023] [--province=01] [--reform_year=2024]
//   build/bench/aggregation/aggregation_bench --country_months=120 --country_store=FILE.db
//       --aggregation_binary=build/services/aggregation/covtrack-aggregation  (see RunCountry)
//   build/bench/aggregation/aggregation_bench --measure_months=120  (see RunMeasureMemory)
//
// Data: every commune, four schemes, every month of --year and December of the three years
// before and of --reform_year (tools/sampledata), loaded through a real ingestion service
// (SQLite in a temp folder), and the reform's crosswalk (data/vn-admin-units/merge_map_2025.csv:
// an old unit on one row went whole, on several its shares are unknown).
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/measures.h"
#include "common/server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/aggregation/aggregation_service.h"
#include "services/aggregation/measure_rollup.h"
#include "services/ingestion/ingestion_service.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/sample_data.h"

ABSL_FLAG(std::string, redis, "", "HOST:PORT of Redis; empty: the in-process cache");
ABSL_FLAG(std::string, concurrency, "1,16",
          "client threads issuing calls at once; a comma-separated list measures each");
ABSL_FLAG(int, measure_months, 0,
          "if set: the memory of one measure key for every commune over this many months ending "
          "December of --year, held as a replica holds it, and a national rollup of it against "
          "one of participants over the same units (RunMeasureMemory); nothing else is run");
ABSL_FLAG(int, seconds, 3, "length of each measured phase");
ABSL_FLAG(int, rounds, 3, "warm rounds (system and baseline alternate)");
ABSL_FLAG(int, year, 2023, "the year of data (every month) and the period asked for");
ABSL_FLAG(std::string, province, "01", "the province asked for in the warm phase");
ABSL_FLAG(int, cold_provinces, 10, "provinces asked once each in the cold phase");
ABSL_FLAG(int, reform_year, 2024, "the pre-reform year whose December the reform phase lists");
ABSL_FLAG(int, visible_writes, 200, "writes timed from acknowledgement to visible on two replicas");
ABSL_FLAG(std::string, visible_commune, "00001", "the commune those writes go to");
ABSL_FLAG(int, cold_rounds, 3, "fresh replicas of each kind in the reform phase's cold part");
ABSL_FLAG(int, cold_lists, 1,
          "fresh replicas each asked the cold national ListCoverage (more than one: the median "
          "and range are printed too)");
ABSL_FLAG(bool, cold_only, false,
          "only the cold figures (the national list and the provinces), then stop: for comparing "
          "two binaries back to back");
ABSL_FLAG(int, country_months, 0,
          "instead of the phases above: the whole country over this many months ending December "
          "of --year (120: about 4.8 M records), a replica's load time, memory and cold national "
          "rollups");
ABSL_FLAG(int, rollup_loops, 0,
          "if set: only the cold national list's rollups, in-process, without gRPC or a cache: "
          "the bench's data added to CoverageData as a snapshot load adds it, then this many "
          "times the 63 provinces' rollups for --year with an empty subtree memo "
          "(RunRollupLoops); nothing else is run");
ABSL_FLAG(
    int, rollup_evict_mb, 64,
    "with --rollup_loops: MB written before each loop, so that it starts with the figures out "
    "of the processor's caches, as after a snapshot load (0: warm caches)");
ABSL_FLAG(std::string, country_store, "",
          "SQLite file the country data is generated into once and reused from");
ABSL_FLAG(std::string, aggregation_binary, "",
          "covtrack-aggregation, started as the replica the country mode measures");

namespace covtrack {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
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

// A stub of the ingestion server (messages up to 64 MiB: a national month in one report) after
// importing the whole unit catalogue through it.
std::unique_ptr<v1::IngestionService::Stub> ConnectAndImportCatalogue(
    const Server& server, const sampledata::SampleData& sample) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  auto ingest = v1::IngestionService::NewStub(
      grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), args));
  v1::ImportAdminUnitsRequest request;
  request.set_request_id("catalogue");
  for (const auto& u : sample.units()) {
    *request.add_units() = u;
  }
  v1::ImportAdminUnitsResponse response;
  grpc::ClientContext context;
  MustOk(ingest->ImportAdminUnits(&context, request, &response), "import units");
  return ingest;
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
  auto ingest = ConnectAndImportCatalogue(*ingestion_server, *sample);
  std::vector<v1::ParticipationRecord> records =
      Must(sample->Records({"VN"}, Month{year, 1}, Month{year, 12}), "records");
  const int reform_year = absl::GetFlag(FLAGS_reform_year);
  for (int y = year - 3; y < year; ++y) {
    auto december = Must(sample->Records({"VN"}, Month{y, 12}, Month{y, 12}), "records");
    records.insert(records.end(), december.begin(), december.end());
  }
  if (reform_year < year - 3 || reform_year > year) {
    auto december =
        Must(sample->Records({"VN"}, Month{reform_year, 12}, Month{reform_year, 12}), "records");
    records.insert(records.end(), december.begin(), december.end());
  }
  auto denominators = Must(sample->Denominators({"VN"}, year - 3, year), "denominators");
  if (reform_year < year - 3 || reform_year > year) {
    auto more = Must(sample->Denominators({"VN"}, reform_year, reform_year), "denominators");
    denominators.insert(denominators.end(), more.begin(), more.end());
  }
  {
    grpc::ClientContext context;
    v1::StreamReportsResponse summary;
    auto writer = ingest->StreamReports(&context, &summary);
    constexpr size_t kBatch = 5000;
    // Denominators first, in messages of their own (a request holds at most 100,000 rows).
    constexpr size_t kDenominatorBatch = 50000;
    for (size_t i = 0; i < denominators.size(); i += kDenominatorBatch) {
      v1::SubmitReportRequest request;
      request.set_request_id(absl::StrCat("bench-denominators-", i));
      request.set_source("bench");
      for (size_t j = i; j < std::min(denominators.size(), i + kDenominatorBatch); ++j) {
        *request.add_denominators() = denominators[j];
      }
      writer->Write(request);
    }
    for (size_t i = 0; i < records.size(); i += kBatch) {
      v1::SubmitReportRequest request;
      request.set_request_id(absl::StrCat("bench-", i));
      request.set_source("bench");
      for (size_t j = i; j < std::min(records.size(), i + kBatch); ++j) {
        *request.add_records() = records[j];
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
  {
    Clock::time_point t0 = Clock::now();
    const std::string map_path = absl::StrCat(sampledata::DefaultDataDir(), "/merge_map_2025.csv");
    const auto map = Must(
        sampledata::ParseCsv(Must(sampledata::ReadFileToString(map_path), map_path)), map_path);
    std::map<std::string, int> rows_of;  // an old code on several rows was divided
    for (const auto& row : map.rows) {
      if (row.fields.size() == 3) {
        ++rows_of[row.fields[0]];
      }
    }
    v1::ImportCrosswalkRequest request;
    request.set_request_id("bench-crosswalk");
    request.set_source("merge_map_2025.csv");
    for (const auto& row : map.rows) {
      if (row.fields.size() != 3) {
        continue;
      }
      v1::CrosswalkLink* link = request.add_links();
      link->set_from_code(row.fields[0]);
      link->set_to_code(row.fields[1]);
      link->set_effective_date("2025-07-01");
      if (rows_of[row.fields[0]] == 1) {
        link->set_population_share(1);
      }
    }
    v1::ImportCrosswalkResponse response;
    grpc::ClientContext context;
    MustOk(ingest->ImportCrosswalk(&context, request, &response), "import crosswalk");
    std::cout << absl::StrFormat("crosswalk: %d links imported in %.1f s\n",
                                 response.links_accepted(), Since(t0));
  }

  // ---- The aggregation service, with a cache namespace of its own per phase ----
  auto start_aggregation = [&](const std::string& ns) {
    aggregation::AggregationOptions options;
    options.ingestion_addr = ingestion_server->address();
    options.redis_addr = redis;
    options.cache_namespace = ns;
    // The Redis cache signs its entries; any key of 32 bytes or more will do for a benchmark.
    options.cache_key = "covtrack-aggregation-bench-cache-signing-key";
    options.stats_log_interval = absl::ZeroDuration();
    Clock::time_point t0 = Clock::now();
    auto service = Must(aggregation::AggregationServiceImpl::Create(options), "aggregation");
    if (!service->WaitUntilLoaded(absl::Minutes(10))) {
      Die("the replica did not load its snapshot within 10 minutes");
    }
    std::cout << absl::StrFormat("a replica loaded its snapshot in %.2f s\n", Since(t0));
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

  // Phase 3 first, on instances of its own (--cold_lists): national ListCoverage, cold.
  std::vector<double> cold_lists;
  for (int list = 0; list < std::max(1, absl::GetFlag(FLAGS_cold_lists)); ++list) {
    auto service = start_aggregation(absl::StrCat(run_id, "-national-", list));
    auto server = Must(Server::Start(ServerOptions{}, {service.get()}), "serve aggregation");
    grpc::ChannelArguments client_args;
    client_args.SetMaxReceiveMessageSize(64 << 20);
    auto stub = v1::AggregationService::NewStub(grpc::CreateCustomChannel(
        server->address(), grpc::InsecureChannelCredentials(), client_args));
    // Loaded (start_aggregation waits), and this rollup never asked: cold.
    Clock::time_point t0 = Clock::now();
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
    // The same warm list on a channel of its own, connected by this call: what of a first
    // call on a new channel is the connection's, not the rollups'.
    auto fresh_stub = v1::AggregationService::NewStub(grpc::CreateCustomChannel(
        server->address(), grpc::InsecureChannelCredentials(), client_args));
    t0 = Clock::now();
    v1::ListCoverageResponse fresh;
    grpc::ClientContext context3;
    MustOk(fresh_stub->ListCoverage(&context3, request, &fresh), "national list, new channel");
    const double fresh_list = Since(t0);
    std::cout << absl::StrFormat(
        "national ListCoverage of every province (%d provinces, all schemes), cold: %.2f ms "
        "(then warm: %.2f ms; warm on a new channel: %.2f ms); national health participants %d\n",
        response.coverages_size(), 1000 * cold_list, 1000 * warm_list, 1000 * fresh_list, health);
    cold_lists.push_back(cold_list);
    server->Shutdown();
  }
  if (cold_lists.size() > 1) {
    std::sort(cold_lists.begin(), cold_lists.end());
    std::cout << absl::StrFormat(
        "national ListCoverage cold, %d fresh replicas: median %.2f ms (min %.2f, max %.2f)\n",
        cold_lists.size(), 1000 * cold_lists[cold_lists.size() / 2], 1000 * cold_lists.front(),
        1000 * cold_lists.back());
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
      "cold GetCoverage of a province (%d provinces, one at a time): mean %.2f ms, median %.2f "
      "ms, max %.2f ms\n",
      cold_n, 1000 * cold_sum / cold_n, 1000 * cold[cold_n / 2], 1000 * cold.back());
  if (absl::GetFlag(FLAGS_cold_only)) {
    server->Shutdown();
    ingestion_server->Shutdown();
    std::filesystem::remove_all(dir);
    return;
  }

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

  // Write -> visible without a token on two replicas: the time from a write's acknowledgement
  // until both replicas answer it (APPLIED reads of the commune's own rollup, polled).
  {
    auto second = start_aggregation(run_id + "-second");
    auto second_server = Must(Server::Start(ServerOptions{}, {second.get()}), "serve second");
    auto second_stub = v1::AggregationService::NewStub(
        grpc::CreateChannel(second_server->address(), grpc::InsecureChannelCredentials()));
    const std::string commune = absl::GetFlag(FLAGS_visible_commune);
    auto health_on = [&](v1::AggregationService::Stub& s) {
      v1::GetCoverageRequest request;
      request.set_unit_code(commune);
      request.set_period(absl::StrCat(year, "-12"));
      request.set_previous_year_ends(1);
      request.add_schemes(v1::SCHEME_HEALTH);
      v1::Coverage response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      MustOk(s.GetCoverage(&context, request, &response), "GetCoverage " + commune);
      return response.schemes(0).participants();
    };
    std::vector<double> visible;
    for (int i = 1; i <= absl::GetFlag(FLAGS_visible_writes); ++i) {
      v1::SubmitReportRequest request;
      request.set_request_id(absl::StrCat(run_id, "-visible-", i));
      request.set_source("bench");
      v1::ParticipationRecord* r = request.add_records();
      r->set_unit_code(commune);
      r->set_month(absl::StrCat(year, "-12"));
      r->set_scheme(v1::SCHEME_HEALTH);
      r->set_participants(1000000 + i);
      v1::SubmitReportResponse response;
      grpc::ClientContext context;
      MustOk(ingest->SubmitReport(&context, request, &response), "SubmitReport");
      const Clock::time_point acked = Clock::now();
      bool first_seen = false;
      bool second_seen = false;
      while (!(first_seen && second_seen)) {
        first_seen = first_seen || health_on(*stub) == 1000000 + i;
        second_seen = second_seen || health_on(*second_stub) == 1000000 + i;
        if (Since(acked) > 10) {
          Die("a write was not visible on both replicas within 10 s");
        }
      }
      visible.push_back(Since(acked));
    }
    std::sort(visible.begin(), visible.end());
    std::cout << absl::StrFormat(
        "write -> visible without a token on two replicas (%d writes, one at a time): p50 %.2f "
        "ms, p99 %.2f ms, max %.2f ms\n",
        visible.size(), 1000 * visible[visible.size() / 2],
        1000 * visible[std::min(visible.size() - 1, visible.size() * 99 / 100)],
        1000 * visible.back());
    second_server->Shutdown();
  }
  server->Shutdown();

  // Phase 4: across the reform. The same 63 rollups of the old provinces serve both lists; the
  // re-expressed one combines them into the 34 new provinces at read time.
  {
    const std::string reform_period = absl::StrCat(reform_year);
    auto list = [&](v1::AggregationService::Stub& s, bool reexpressed) {
      v1::ListCoverageRequest request;
      request.set_parent_code("VN");
      request.set_period(reform_period);
      request.set_page_size(1000);
      if (reexpressed) {
        request.set_territory_date("2025-07-01");
      }
      v1::ListCoverageResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      MustOk(s.ListCoverage(&context, request, &response), "ListCoverage");
      return response;
    };
    auto health_of = [](const v1::ListCoverageResponse& response) {
      int64_t sum = 0;
      for (const auto& c : response.coverages()) {
        for (const auto& sc : c.schemes()) {
          if (sc.scheme() == v1::SCHEME_HEALTH) {
            sum += sc.participants();
          }
        }
      }
      return sum;
    };
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    // Cold: a fresh replica (and cache namespace) per list; its first call, loading the
    // hierarchy and the crosswalk, is not timed.
    std::vector<double> cold_reexpressed, cold_baseline;
    int new_count = 0, old_count = 0;
    int64_t new_health = 0, old_health = 0;
    for (int round = 0; round < absl::GetFlag(FLAGS_cold_rounds); ++round) {
      // Alternating which goes first, so that neither always meets a colder ingestion.
      for (bool reexpressed : {round % 2 == 0, round % 2 != 0}) {
        auto replica = start_aggregation(
            absl::StrCat(run_id, "-reform-cold-", round, reexpressed ? "-new" : "-old"));
        auto replica_server = Must(Server::Start(ServerOptions{}, {replica.get()}), "serve");
        auto s = v1::AggregationService::NewStub(
            grpc::CreateChannel(replica_server->address(), grpc::InsecureChannelCredentials()));
        {
          v1::GetCoverageRequest request;
          request.set_unit_code("VN");
          request.set_period("1999");
          request.set_previous_year_ends(1);
          v1::Coverage response;
          grpc::ClientContext context;
          MustOk(s->GetCoverage(&context, request, &response), "first call");
        }
        Clock::time_point t0 = Clock::now();
        const v1::ListCoverageResponse response = list(*s, reexpressed);
        (reexpressed ? cold_reexpressed : cold_baseline).push_back(Since(t0));
        (reexpressed ? new_count : old_count) = response.coverages_size();
        (reexpressed ? new_health : old_health) = health_of(response);
        replica_server->Shutdown();
      }
    }
    const double cold_new = median(cold_reexpressed);
    const double cold_old = median(cold_baseline);
    auto samples = [](const std::vector<double>& v) {
      std::string text;
      for (double x : v) {
        absl::StrAppend(&text, text.empty() ? "" : " ", absl::StrFormat("%.3f", x));
      }
      return text;
    };
    std::cout << absl::StrFormat(
        "reform, cold (median of %d fresh replicas each): %d provinces re-expressed for %s %.3f "
        "s (%s); %d provinces as they were %.3f s (%s); ratio %.2f (health participants %d vs "
        "%d)\n",
        cold_reexpressed.size(), new_count, reform_period, cold_new, samples(cold_reexpressed),
        old_count, cold_old, samples(cold_baseline), cold_new / cold_old, new_health, old_health);
    // Warm: one replica, both lists cached; rounds alternate.
    auto replica = start_aggregation(run_id + "-reform-warm");
    auto replica_server = Must(Server::Start(ServerOptions{}, {replica.get()}), "serve");
    auto s = v1::AggregationService::NewStub(
        grpc::CreateChannel(replica_server->address(), grpc::InsecureChannelCredentials()));
    list(*s, true);
    list(*s, false);
    for (int concurrency : concurrencies) {
      std::vector<double> ratios;
      for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
        double reexpressed = 0;
        double baseline = 0;
        for (bool first : {round % 2 == 0, round % 2 != 0}) {
          (first ? reexpressed : baseline) =
              Throughput(concurrency, seconds, [&] { list(*s, first); });
        }
        // Time per list: the re-expressed one over the baseline.
        ratios.push_back(baseline / reexpressed);
        std::cout << absl::StrFormat(
            "reform, warm, concurrency %d, round %d: 34 re-expressed %.0f lists/s; 63 as they "
            "were %.0f lists/s; time ratio %.2f\n",
            concurrency, round, reexpressed, baseline, baseline / reexpressed);
      }
      std::cout << absl::StrFormat(
          "reform, warm, concurrency %d: time ratio (re-expressed / as they were), median of %d "
          "rounds: %.2f\n",
          concurrency, ratios.size(), median(ratios));
    }
    replica_server->Shutdown();
  }
  ingestion_server->Shutdown();
  std::filesystem::remove_all(dir);
}

// The whole country over --country_months months ending December of --year (about 40,000
// records a month: 4.8 M for 120), plus every year's denominators, in a SQLite store kept at
// --country_store (generated once through ingestion, which takes minutes; reused while its
// ".complete" marker is there). A replica runs as a process of its own (--aggregation_binary),
// so that its memory is its own: the time from its start until health says SERVING (the
// snapshot loaded), its resident memory then (VmRSS, and the peak VmHWM), and the national
// rollups it has never been asked, cold: ListCoverage of every province and GetCoverage of the
// nation (five rollups: the year, the year before and three year ends); then both warm.
void RunCountry() {
  const int year = absl::GetFlag(FLAGS_year);
  const int months = absl::GetFlag(FLAGS_country_months);
  const std::string store = absl::GetFlag(FLAGS_country_store);
  const std::string binary = absl::GetFlag(FLAGS_aggregation_binary);
  if (store.empty() || binary.empty()) {
    Die("--country_months needs --country_store and --aggregation_binary");
  }
  const Month last{year, 12};
  Month first = last;
  for (int i = 1; i < months; ++i) {
    first = first.Previous();
  }
  const std::string marker = store + ".complete";
  const bool reuse = std::filesystem::exists(marker);
  if (!reuse) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(store + suffix);
    }
  }
  ingestion::IngestionOptions ingestion_options;
  ingestion_options.store_url = absl::StrCat("sqlite:", store);
  auto ingestion = Must(ingestion::IngestionServiceImpl::Create(ingestion_options), "ingestion");
  auto ingestion_server = Must(Server::Start(ServerOptions{}, {ingestion.get()}), "serve");
  if (!reuse) {
    Clock::time_point start = Clock::now();
    auto sample = Must(sampledata::SampleData::Load(), "sample data");
    auto ingest = ConnectAndImportCatalogue(*ingestion_server, *sample);
    int64_t written = 0;
    auto submit = [&](const std::string& id, const std::vector<v1::ParticipationRecord>& records,
                      const std::vector<v1::DenominatorRecord>& denominators) {
      grpc::ClientContext context;
      v1::StreamReportsResponse summary;
      auto writer = ingest->StreamReports(&context, &summary);
      constexpr size_t kBatch = 5000;
      for (size_t i = 0; i < denominators.size(); i += kBatch) {
        v1::SubmitReportRequest request;
        request.set_request_id(absl::StrCat(id, "-denominators-", i));
        request.set_source("bench");
        for (size_t j = i; j < std::min(denominators.size(), i + kBatch); ++j) {
          *request.add_denominators() = denominators[j];
        }
        writer->Write(request);
      }
      for (size_t i = 0; i < records.size(); i += kBatch) {
        v1::SubmitReportRequest request;
        request.set_request_id(absl::StrCat(id, "-", i));
        request.set_source("bench");
        for (size_t j = i; j < std::min(records.size(), i + kBatch); ++j) {
          *request.add_records() = records[j];
        }
        writer->Write(request);
      }
      writer->WritesDone();
      MustOk(writer->Finish(), "load " + id);
      written += static_cast<int64_t>(records.size() + denominators.size());
    };
    submit("country-denominators", {},
           Must(sample->Denominators({"VN"}, first.year, last.year), "denominators"));
    // A month at a time: 4.8 M records would not fit in memory as messages all at once.
    for (Month m = first; m <= last; m = m.Next()) {
      submit(absl::StrCat("country-", m.ToString()), Must(sample->Records({"VN"}, m, m), "records"),
             {});
      std::cout << absl::StrFormat("generated up to %s: %d rows in %.0f s\n", m.ToString(), written,
                                   Since(start))
                << std::flush;
    }
    std::ofstream(marker) << written << " rows, " << first.ToString() << ".." << last.ToString()
                          << "\n";
    std::cout << absl::StrFormat("data: %d rows generated into %s in %.0f s\n", written, store,
                                 Since(start));
  } else {
    std::cout << "data: reusing " << store << " (" << std::ifstream(marker).rdbuf() << ")\n";
  }

  // The replica, a process of its own on a port the kernel chose for a moment.
  int port = 0;
  {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      Die("cannot find a free port");
    }
    port = ntohs(address.sin_port);
    close(fd);
  }
  const std::string listen = absl::StrCat("127.0.0.1:", port);
  std::vector<std::string> args = {binary,
                                   "--listen=" + listen,
                                   "--ingestion_addr=" + ingestion_server->address(),
                                   "--export_deadline=600s",
                                   "--stats_log_interval=0s",
                                   "--log_level=warn"};
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const Clock::time_point spawned = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    Die("cannot start " + binary);
  }
  auto memory = [pid](const std::string& field) {
    std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
    for (std::string line; std::getline(status, line);) {
      if (absl::StartsWith(line, field + ":")) {
        int64_t kb = 0;
        std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
        if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) {
          return static_cast<double>(kb) / 1024;
        }
      }
    }
    return -1.0;
  };
  grpc::ChannelArguments client_args;
  client_args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(listen, grpc::InsecureChannelCredentials(), client_args);
  auto health = grpc::health::v1::Health::NewStub(channel);
  while (true) {
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    if (health->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      break;
    }
    if (Since(spawned) > 900 || waitpid(pid, nullptr, WNOHANG) == pid) {
      Die("the replica did not load its snapshot (or ended)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double load = Since(spawned);
  std::cout << absl::StrFormat(
      "country: a replica process started and loaded %d months in %.1f s; VmRSS %.0f MB, peak "
      "VmHWM %.0f MB\n",
      months, load, memory("VmRSS"), memory("VmHWM"));
  auto stub = v1::AggregationService::NewStub(channel);
  for (int round = 0; round < 2; ++round) {
    Clock::time_point t0 = Clock::now();
    v1::ListCoverageRequest request;
    request.set_parent_code("VN");
    request.set_level(v1::ADMIN_LEVEL_PROVINCE);
    request.set_period(absl::StrCat(year));
    request.set_page_size(1000);
    v1::ListCoverageResponse response;
    grpc::ClientContext context;
    MustOk(stub->ListCoverage(&context, request, &response), "national list");
    const double list = Since(t0);
    t0 = Clock::now();
    v1::GetCoverageRequest nation;
    nation.set_unit_code("VN");
    nation.set_period(absl::StrCat(year));
    v1::Coverage coverage;
    grpc::ClientContext context2;
    MustOk(stub->GetCoverage(&context2, nation, &coverage), "national coverage");
    std::cout << absl::StrFormat(
        "country, %s: ListCoverage of %d provinces for %d %.2f ms; GetCoverage(VN, %d) with its "
        "comparisons %.2f ms\n",
        round == 0 ? "cold" : "warm", response.coverages_size(), year, 1000 * list, year,
        1000 * Since(t0));
  }
  std::cout << absl::StrFormat("country: VmRSS %.0f MB after the reads\n", memory("VmRSS"));
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  ingestion_server->Shutdown();
}

// The memory a replica holds per measure key (one (measure, scheme, payer group) series) for the
// whole country: every commune of the pre-reform catalogue reporting it every month of
// --measure_months, added to CoverageData exactly as a snapshot load does, measured as the bytes
// of its vectors (CoverageData::MeasureBytes: the cells and per-unit series, not the allocator's
// overhead). Then the national rollup of that key for --year (LAST) against the national rollup
// of participants (one scheme reported by the same communes in the same months), side by side.
void RunMeasureMemory() {
  const int year = absl::GetFlag(FLAGS_year);
  const int months = absl::GetFlag(FLAGS_measure_months);
  auto sample = Must(sampledata::SampleData::Load(), "sample data");
  const Month last{year, 12};
  const std::vector<std::string> leaves = Must(sample->Leaves({"VN"}, last), "leaves");
  Month first = last;
  for (int i = 1; i < months; ++i) {
    first = first.Previous();
  }
  aggregation::CoverageData data;
  for (Month m = first; m <= last; m = m.Next()) {
    for (const std::string& code : leaves) {
      data.AddMeasure(
          MakeMeasureRecord(code, m.ToString(), v1::MEASURE_DISTINCT_PARTICIPANTS, 1000 + m.month));
      v1::ParticipationRecord r;
      r.set_unit_code(code);
      r.set_month(m.ToString());
      r.set_scheme(v1::SCHEME_HEALTH);
      r.set_participants(1000 + m.month);
      data.AddRecord(r);
    }
  }
  data.ShrinkToFit();
  const double bytes = static_cast<double>(data.MeasureBytes());
  std::cout << absl::StrFormat(
      "measure memory: one key, %d communes x %d months = %d values: %.1f MB (%.1f bytes a "
      "value); a measure with all 9 keys (new participants: 4 schemes + 5 health payer groups) "
      "%.0f MB\n",
      leaves.size(), months, leaves.size() * months, bytes / 1e6,
      bytes / static_cast<double>(leaves.size() * months), 9 * bytes / 1e6);
  auto hierarchy = std::make_shared<const Hierarchy>(sample->units());
  const aggregation::TreeIndex tree(hierarchy, sample->units());
  const Period period = Period::ForYear(year);
  std::vector<bool> wanted(aggregation::MeasureKeys().size(), false);
  wanted[aggregation::MeasureKeyIndex(v1::MEASURE_DISTINCT_PARTICIPANTS, v1::SCHEME_UNSPECIFIED,
                                      v1::PAYER_GROUP_UNSPECIFIED)] = true;
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    Clock::time_point t0 = Clock::now();
    Must(aggregation::RollupCoverage(tree, data, "VN", period), "participants rollup");
    const double participants_ms = 1000 * Since(t0);
    t0 = Clock::now();
    Must(aggregation::RollupMeasures(tree, data, "VN", period, wanted), "measure rollup");
    const double measure_ms = 1000 * Since(t0);
    std::cout << absl::StrFormat(
        "national rollup for %d, round %d: participants (4 schemes + social) %.1f ms, one "
        "measure key %.1f ms, ratio %.2f\n",
        year, round + 1, participants_ms, measure_ms, measure_ms / participants_ms);
  }
}

// The compute of a cold national list alone: the rollups of every province for --year, each
// with the memo a replica holds (empty at first, filled by the rollups before it), as
// Rollups computes them on a memo miss; no gRPC, cache or answer composition. Repeated
// --rollup_loops times with a fresh memo, to time and profile.
void RunRollupLoops() {
  const int year = absl::GetFlag(FLAGS_year);
  auto sample = Must(sampledata::SampleData::Load(), "sample data");
  aggregation::CoverageData data;
  for (const v1::ParticipationRecord& r :
       Must(sample->Records({"VN"}, Month{year, 1}, Month{year, 12}), "records")) {
    data.AddRecord(r);
  }
  for (int y = year - 3; y < year; ++y) {
    for (const v1::ParticipationRecord& r :
         Must(sample->Records({"VN"}, Month{y, 12}, Month{y, 12}), "records")) {
      data.AddRecord(r);
    }
  }
  for (const v1::DenominatorRecord& d :
       Must(sample->Denominators({"VN"}, year - 3, year), "denominators")) {
    data.AddDenominator(d);
  }
  data.ShrinkToFit();
  auto hierarchy = std::make_shared<const Hierarchy>(sample->units());
  const aggregation::TreeIndex tree(hierarchy, sample->units());
  const Period period = Period::ForYear(year);
  std::vector<std::string> provinces;
  for (const v1::AdminUnit* u : hierarchy->ChildrenAt("VN", period.last_month().LastDay())) {
    provinces.push_back(u->code());
  }
  std::vector<double> times;
  std::vector<double> cpu_times;
  int64_t health = 0;
  // Written before each loop: a replica's first rollups after loading its snapshot find none of
  // the figures in the processor's caches (the load went through hundreds of MB since).
  std::vector<char> evict(absl::GetFlag(FLAGS_rollup_evict_mb) << 20);
  for (int loop = 0; loop < absl::GetFlag(FLAGS_rollup_loops); ++loop) {
    for (size_t i = 0; i < evict.size(); i += 64) {
      evict[i] = static_cast<char>(loop + i);
    }
    aggregation::SummaryMemo memo(100000);
    health = 0;
    const Clock::time_point t0 = Clock::now();
    const double cpu0 = ThreadCpuSeconds();
    for (const std::string& code : provinces) {
      const v1::Coverage coverage =
          Must(aggregation::RollupCoverage(tree, data, code, period, &memo), "rollup " + code);
      health += coverage.schemes(v1::SCHEME_HEALTH - 1).participants();
    }
    cpu_times.push_back(ThreadCpuSeconds() - cpu0);
    times.push_back(Since(t0));
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  // The thread's processor time as well: on a shared machine, wall time also counts the
  // moments another process had the core.
  std::cout << absl::StrFormat(
      "rollups of the %d provinces for %d, empty memo, %d times: median %.2f ms (min %.2f, max "
      "%.2f); processor time median %.2f ms (min %.2f); national health participants %d\n",
      provinces.size(), year, times.size(), 1000 * times[times.size() / 2], 1000 * times.front(),
      1000 * times.back(), 1000 * cpu_times[cpu_times.size() / 2], 1000 * cpu_times.front(),
      health);
}

}  // namespace
}  // namespace covtrack

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: a global
  // lock-order graph updated on every lock, a few percent of a busy server's time.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::GetFlag(FLAGS_measure_months) > 0) {
    covtrack::RunMeasureMemory();
  } else if (absl::GetFlag(FLAGS_rollup_loops) > 0) {
    covtrack::RunRollupLoops();
  } else if (absl::GetFlag(FLAGS_country_months) > 0) {
    covtrack::RunCountry();
  } else {
    covtrack::Run();
  }
  return 0;
}
