// The load benchmark: the whole system under a realistic mix of calls, against the cost of an
// empty RPC on the same servers.
//
// It starts the three services as real processes on loopback (as deployed: each its own gRPC
// stack and threads; the client shares only the machine), with a Redis of its own and the
// store chosen by --store (SQLite files in a temp folder, or a PostgreSQL of its own). It loads
// the real catalogue (data/vn-admin-units) and generated figures (tools/sampledata) for the
// provinces of --provinces: every leaf unit, four schemes, every month of 2023 and December
// 2022, population and labour force for 2022–2023; and targets for the provinces and districts.
//
// Then N client threads (--concurrency) share a fixed number of requests (--requests), each
// drawn from a deterministic mix (--mix): aggregation GetCoverage of varied units (the nation,
// provinces, districts, communes) and periods (year, half, quarter, month); targets
// GetAchievement; and a steady stream of ingestion SubmitReport (one commune's month, four
// schemes, a new request id each: corrections that invalidate cached rollups, as in real use).
// The baseline is the same mix, the same threads and the same number of calls, each call
// replaced by grpc.health.v1.Health/Check on the server that call would have gone to.
// System and baseline rounds alternate (--rounds); the figure is the median ratio of their
// throughputs. Every call has a deadline; any error is counted, and the exit status is 1 if
// there was one.
//
//   build/bench/load/load_bench [--requests=6000] [--concurrency=16] [--rounds=3]
//       [--store=sqlite|postgresql] [--provinces=01,79,82,14,92] [--mix=65,30,5]
//       [--consistency=applied|full] [--short]
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tools/sampledata/sample_data.h"

ABSL_FLAG(int, requests, 6000, "calls per measured round (system and baseline each)");
ABSL_FLAG(int, concurrency, 16, "client threads, each with one call in flight");
ABSL_FLAG(int, rounds, 3, "measured rounds; system and baseline alternate");
ABSL_FLAG(std::string, store, "sqlite", "store of ingestion and targets: sqlite or postgresql");
ABSL_FLAG(std::string, provinces, "01,79,82,14,92",
          "provinces (pre-2025 codes) whose units get generated figures and are asked about");
ABSL_FLAG(std::string, mix, "65,30,5",
          "percent of GetCoverage, GetAchievement and SubmitReport calls");
ABSL_FLAG(std::string, consistency, "applied",
          "aggregation's --default_consistency: applied (the services' default: reads answer at "
          "once from what the replica applied) or full (each read first asks ingestion's head)");
ABSL_FLAG(bool, short, false,
          "small counts for CI: one province (82), 600 requests, concurrency 4, one round");

namespace covtrack {
namespace {

using Clock = std::chrono::steady_clock;

constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr absl::Duration kLoadDeadline = absl::Seconds(120);

enum Method { kCoverage = 0, kAchievement = 1, kSubmit = 2, kMethods = 3 };
constexpr const char* kMethodNames[kMethods] = {"aggregation GetCoverage", "targets GetAchievement",
                                                "ingestion SubmitReport"};

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "load_bench: " << what << "\n";
  std::exit(2);
}

void MustOk(const absl::Status& status, const std::string& what) {
  if (!status.ok()) {
    Die(absl::StrCat(what, ": ", status.ToString()));
  }
}

void MustOk(const grpc::Status& status, const std::string& what) {
  if (!status.ok()) {
    Die(absl::StrCat(what, ": ", status.error_message()));
  }
}

void SetDeadline(grpc::ClientContext* context, absl::Duration d) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

// What the clients ask about.
struct Workload {
  std::vector<std::string> provinces;
  std::vector<std::string> districts;
  std::vector<std::string> communes;
  std::vector<std::string> periods;
  std::vector<std::string> recent_periods;
  // Original figures, for corrections that stay plausible: (commune, month, scheme) → count.
  std::map<std::tuple<std::string, std::string, int>, int64_t> figures;
};

// One call of the mix, decided by its index alone (so system and baseline see the same mix).
struct Call {
  Method method;
  std::string unit;
  std::string period;  // a period for reads; a month for SubmitReport
};

Call DrawCall(const Workload& w, const std::array<int, kMethods>& mix, uint64_t seed) {
  std::mt19937_64 random(seed);
  Call call;
  const int roll = static_cast<int>(random() % 100);
  call.method = roll < mix[0] ? kCoverage : roll < mix[0] + mix[1] ? kAchievement : kSubmit;
  auto pick = [&](const std::vector<std::string>& v) { return v[random() % v.size()]; };
  if (call.method == kSubmit) {
    call.unit = pick(w.communes);
    call.period = Month{2023, static_cast<int>(random() % 12) + 1}.ToString();
    return call;
  }
  // The level first (a national office asks about the nation and provinces, a province office
  // about its districts, a district office about its communes), then a unit of that level:
  // 5 % the nation, 35 % a province, 40 % a district, 20 % a commune.
  const int level = static_cast<int>(random() % 20);
  call.unit = level == 0   ? "VN"
              : level < 8  ? pick(w.provinces)
              : level < 16 ? pick(w.districts)
                           : pick(w.communes);
  // Mostly the latest figures (the year, its second half, last quarter, December), otherwise
  // any period of the two years.
  call.period = random() % 10 < 6 ? pick(w.recent_periods) : pick(w.periods);
  return call;
}

struct MethodStats {
  std::vector<double> latencies_ms;
  int64_t errors = 0;
  std::vector<std::string> first_errors;
};

struct RoundResult {
  double seconds = 0;
  std::array<MethodStats, kMethods> methods;
  double throughput() const {
    size_t calls = 0;
    for (const auto& m : methods) {
      calls += m.latencies_ms.size();
    }
    return calls / seconds;
  }
  int64_t errors() const {
    int64_t n = 0;
    for (const auto& m : methods) {
      n += m.errors;
    }
    return n;
  }
};

class LoadClient {
 public:
  LoadClient(const testing::CovtrackProcesses& system, const Workload& workload,
             std::array<int, kMethods> mix)
      : workload_(workload), mix_(mix) {
    auto ingestion = testing::FreshChannel(system.ingestion_address());
    auto aggregation = testing::FreshChannel(system.aggregation_address());
    auto targets = testing::FreshChannel(system.targets_address());
    ingestion_ = v1::IngestionService::NewStub(ingestion);
    aggregation_ = v1::AggregationService::NewStub(aggregation);
    targets_ = v1::TargetService::NewStub(targets);
    health_[kCoverage] = grpc::health::v1::Health::NewStub(aggregation);
    health_[kAchievement] = grpc::health::v1::Health::NewStub(targets);
    health_[kSubmit] = grpc::health::v1::Health::NewStub(ingestion);
  }

  // `requests` calls from `threads` threads; calls are numbered from `first` (seeds and
  // request ids). baseline: Health/Check in place of each call.
  RoundResult Run(int requests, int threads, uint64_t first, bool baseline) {
    std::atomic<int> next{0};
    std::vector<RoundResult> per_thread(threads);
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        RoundResult& mine = per_thread[t];
        for (int i = next++; i < requests; i = next++) {
          const uint64_t index = first + i;
          const Call call = DrawCall(workload_, mix_, index * 0x9E3779B97F4A7C15ull);
          const Clock::time_point began = Clock::now();
          grpc::Status status = baseline ? Ping(call.method) : Issue(call, index);
          MethodStats& stats = mine.methods[call.method];
          stats.latencies_ms.push_back(Since(began) * 1000);
          if (!status.ok()) {
            ++stats.errors;
            if (stats.first_errors.size() < 3) {
              stats.first_errors.push_back(absl::StrCat(call.unit, " ", call.period, ": ",
                                                        status.error_code(), " ",
                                                        status.error_message()));
            }
          }
        }
      });
    }
    for (auto& w : workers) {
      w.join();
    }
    RoundResult result;
    result.seconds = Since(start);
    for (const RoundResult& r : per_thread) {
      for (int m = 0; m < kMethods; ++m) {
        auto& to = result.methods[m];
        const auto& from = r.methods[m];
        to.latencies_ms.insert(to.latencies_ms.end(), from.latencies_ms.begin(),
                               from.latencies_ms.end());
        to.errors += from.errors;
        for (const auto& e : from.first_errors) {
          if (to.first_errors.size() < 3) {
            to.first_errors.push_back(e);
          }
        }
      }
    }
    return result;
  }

 private:
  grpc::Status Issue(const Call& call, uint64_t index) {
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    switch (call.method) {
      case kCoverage: {
        v1::GetCoverageRequest request;
        request.set_unit_code(call.unit);
        request.set_period(call.period);
        v1::Coverage response;
        grpc::Status status = aggregation_->GetCoverage(&context, request, &response);
        if (status.ok() && response.schemes_size() != 5) {
          return grpc::Status(grpc::StatusCode::INTERNAL, "an answer without five schemes");
        }
        return status;
      }
      case kAchievement: {
        v1::GetAchievementRequest request;
        request.set_unit_code(call.unit);
        request.set_period(call.period);
        v1::Achievement response;
        return targets_->GetAchievement(&context, request, &response);
      }
      default: {
        // A correction of one commune's month: every scheme moves by a few people.
        v1::SubmitReportRequest request;
        request.set_request_id(absl::StrCat("load-", getpid(), "-", index));
        request.set_source("BHXH (load benchmark)");
        const int64_t delta = static_cast<int64_t>(index % 21) - 10;
        for (int scheme = v1::SCHEME_COMPULSORY_SOCIAL; scheme <= v1::SCHEME_UNEMPLOYMENT;
             ++scheme) {
          auto it = workload_.figures.find({call.unit, call.period, scheme});
          v1::ParticipationRecord* r = request.add_records();
          r->set_unit_code(call.unit);
          r->set_month(call.period);
          r->set_scheme(static_cast<v1::Scheme>(scheme));
          r->set_participants(
              std::max<int64_t>(0, (it == workload_.figures.end() ? 1000 : it->second) + delta));
        }
        v1::SubmitReportResponse response;
        return ingestion_->SubmitReport(&context, request, &response);
      }
    }
  }

  grpc::Status Ping(Method method) {
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    grpc::health::v1::HealthCheckResponse response;
    return health_[method]->Check(&context, {}, &response);
  }

  const Workload& workload_;
  const std::array<int, kMethods> mix_;
  std::unique_ptr<v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::AggregationService::Stub> aggregation_;
  std::unique_ptr<v1::TargetService::Stub> targets_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_[kMethods];
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  const size_t rank = static_cast<size_t>(p * (sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

void PrintLatencies(const std::string& title, const std::vector<RoundResult>& rounds) {
  std::cout << title << "\n"
            << absl::StrFormat("  %-26s %8s %8s %9s %9s %9s %9s %7s\n", "method", "calls",
                               "calls/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors");
  double seconds = 0;
  for (const RoundResult& r : rounds) {
    seconds += r.seconds;
  }
  std::vector<double> all;
  int64_t all_errors = 0;
  auto row = [&](const std::string& name, std::vector<double> v, int64_t errors) {
    std::sort(v.begin(), v.end());
    std::cout << absl::StrFormat("  %-26s %8d %8.0f %9.2f %9.2f %9.2f %9.2f %7d\n", name, v.size(),
                                 v.size() / seconds, Percentile(v, 0.50), Percentile(v, 0.95),
                                 Percentile(v, 0.99), v.empty() ? 0.0 : v.back(), errors);
  };
  for (int m = 0; m < kMethods; ++m) {
    std::vector<double> v;
    int64_t errors = 0;
    for (const RoundResult& r : rounds) {
      v.insert(v.end(), r.methods[m].latencies_ms.begin(), r.methods[m].latencies_ms.end());
      errors += r.methods[m].errors;
    }
    all.insert(all.end(), v.begin(), v.end());
    all_errors += errors;
    row(kMethodNames[m], std::move(v), errors);
  }
  row("overall", std::move(all), all_errors);
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    parts.emplace_back(p);
  }
  return parts;
}

int Run() {
  const bool short_mode = absl::GetFlag(FLAGS_short);
  const int requests = short_mode ? 600 : absl::GetFlag(FLAGS_requests);
  const int concurrency = short_mode ? 4 : absl::GetFlag(FLAGS_concurrency);
  const int rounds = short_mode ? 1 : absl::GetFlag(FLAGS_rounds);
  const std::vector<std::string> provinces =
      short_mode ? std::vector<std::string>{"82"} : SplitList(absl::GetFlag(FLAGS_provinces));
  const std::string store = absl::GetFlag(FLAGS_store);
  std::array<int, kMethods> mix{};
  {
    std::vector<std::string> parts = SplitList(absl::GetFlag(FLAGS_mix));
    int sum = 0;
    for (size_t i = 0; i < parts.size() && i < kMethods; ++i) {
      if (!absl::SimpleAtoi(parts[i], &mix[i]) || mix[i] < 0) {
        Die("--mix: want three percentages, e.g. 60,30,10");
      }
      sum += mix[i];
    }
    if (parts.size() != kMethods || sum != 100) {
      Die("--mix: want three percentages that add up to 100, e.g. 60,30,10");
    }
  }
  if (requests <= 0 || concurrency <= 0 || rounds <= 0 || provinces.empty()) {
    Die("--requests, --concurrency, --rounds and --provinces must be positive / non-empty");
  }
  if (store != "sqlite" && store != "postgresql") {
    Die("--store: sqlite or postgresql");
  }
  const std::string consistency = absl::GetFlag(FLAGS_consistency);
  if (consistency != "applied" && consistency != "full") {
    Die("--consistency: applied or full");
  }

  // ---- The system: a Redis, maybe a PostgreSQL, and the three services ----
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("covtrack-load-", getpid())).string();
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(
      dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
               std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
               std::filesystem::perms::others_exec);
  std::optional<std::string> redis_binary = testing::RedisServerBinary();
  if (!redis_binary.has_value()) {
    Die("redis-server not found (install redis-server or set COVTRACK_TEST_REDIS_SERVER)");
  }
  auto redis = testing::RedisServer::Start(*redis_binary, dir + "/redis");
  MustOk(redis.status(), "redis");
  std::unique_ptr<testing::PostgresServer> postgres;
  testing::CovtrackProcesses::Options options;
  options.binaries = {COVTRACK_INGESTION_BINARY, COVTRACK_AGGREGATION_BINARY,
                      COVTRACK_TARGETS_BINARY};
  options.dir = dir;
  options.redis = (*redis)->address();
  // The harness starts replicas fully consistent (for tests that write, then read without a
  // token); the load is measured as deployed unless --consistency says otherwise.
  options.aggregation_flags = {"--default_consistency=" + consistency};
  if (store == "postgresql") {
    std::optional<std::string> bin = testing::PostgresBinDir();
    if (!bin.has_value()) {
      Die("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)");
    }
    auto pg = testing::PostgresServer::Create(*bin, dir + "/pg");
    MustOk(pg.status(), "postgresql");
    postgres = std::move(*pg);
    MustOk(postgres->CreateDatabase("covtrack_targets"), "create the targets database");
    options.ingestion_store = postgres->Url("postgres");
    options.targets_store = postgres->Url("covtrack_targets");
  } else {
    options.ingestion_store = absl::StrCat("sqlite:", dir, "/ingestion.db");
    options.targets_store = absl::StrCat("sqlite:", dir, "/targets.db");
  }
  testing::CovtrackProcesses system(options);
  MustOk(system.StartAll(), "start the services");
  std::cout << absl::StrFormat(
      "system: ingestion, aggregation and targets as processes on loopback; store %s; Redis %s; "
      "reads %s\n",
      store, (*redis)->address(), consistency);

  // ---- Data ----
  Clock::time_point start = Clock::now();
  auto sample = sampledata::SampleData::Load();
  MustOk(sample.status(), "sample data");
  auto ingestion = v1::IngestionService::NewStub(testing::FreshChannel(system.ingestion_address()));
  {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("catalogue");
    for (const v1::AdminUnit& u : (*sample)->units()) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kLoadDeadline);
    MustOk(ingestion->ImportAdminUnits(&context, request, &response), "import units");
  }
  Workload workload;
  workload.provinces = provinces;
  for (const v1::AdminUnit& u : (*sample)->units()) {
    if (u.level() == v1::ADMIN_LEVEL_DISTRICT && u.valid_to() == sampledata::kReformDate &&
        std::find(provinces.begin(), provinces.end(), u.parent_code()) != provinces.end()) {
      workload.districts.push_back(u.code());
    }
  }
  auto leaves = (*sample)->Leaves(provinces, Month{2023, 12});
  MustOk(leaves.status(), "--provinces");
  workload.communes = *leaves;
  workload.periods = {"2023",    "2022",    "2023-H1", "2023-H2",
                      "2023-Q1", "2023-Q2", "2023-Q3", "2023-Q4"};
  for (int m = 1; m <= 12; ++m) {
    workload.periods.push_back(Month{2023, m}.ToString());
  }
  workload.recent_periods = {"2023", "2023-H2", "2023-Q4", "2023-12"};
  auto records = (*sample)->Records(provinces, Month{2023, 1}, Month{2023, 12});
  MustOk(records.status(), "records");
  auto december = (*sample)->Records(provinces, Month{2022, 12}, Month{2022, 12});
  MustOk(december.status(), "records");
  records->insert(records->end(), december->begin(), december->end());
  auto denominators = (*sample)->Denominators(provinces, 2022, 2023);
  MustOk(denominators.status(), "denominators");
  for (const auto& r : *records) {
    workload.figures[{r.unit_code(), r.month(), r.scheme()}] = r.participants();
  }
  int64_t loaded_seq = 0;  // the token of the data: targets are set from figures reflecting it
  {
    grpc::ClientContext context;
    SetDeadline(&context, kLoadDeadline);
    v1::StreamReportsResponse summary;
    auto writer = ingestion->StreamReports(&context, &summary);
    constexpr size_t kBatch = 5000;
    for (size_t i = 0; i < records->size(); i += kBatch) {
      v1::SubmitReportRequest request;
      request.set_request_id(absl::StrCat("data-", i));
      request.set_source("BHXH (generated)");
      for (size_t j = i; j < std::min(records->size(), i + kBatch); ++j) {
        *request.add_records() = (*records)[j];
      }
      if (i == 0) {
        for (const auto& d : *denominators) {
          *request.add_denominators() = d;
        }
      }
      if (!writer->Write(request)) {
        break;
      }
    }
    writer->WritesDone();
    MustOk(writer->Finish(), "load records");
    loaded_seq = summary.last_change_seq();
  }
  // Targets: health coverage and compulsory social insurance participants, for 2023, for every
  // province and district asked about (a little above the generated figures of 2022).
  auto targets = v1::TargetService::NewStub(testing::FreshChannel(system.targets_address()));
  auto aggregation =
      v1::AggregationService::NewStub(testing::FreshChannel(system.aggregation_address()));
  int targets_set = 0;
  std::vector<std::string> with_targets = provinces;
  with_targets.insert(with_targets.end(), workload.districts.begin(), workload.districts.end());
  for (const std::string& unit : with_targets) {
    v1::GetCoverageRequest ask;
    ask.set_unit_code(unit);
    ask.set_period("2022");
    ask.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
    ask.add_schemes(v1::SCHEME_HEALTH);
    ask.mutable_freshness()->set_at_least_seq(loaded_seq);
    v1::Coverage last_year;
    grpc::ClientContext context;
    SetDeadline(&context, kLoadDeadline);
    MustOk(aggregation->GetCoverage(&context, ask, &last_year), "coverage of 2022");
    for (const v1::SchemeCoverage& s : last_year.schemes()) {
      v1::SetTargetRequest request;
      request.set_request_id(absl::StrCat("target-", unit, "-", s.scheme()));
      v1::Target* target = request.mutable_target();
      target->set_unit_code(unit);
      target->set_scheme(s.scheme());
      target->set_year(2023);
      target->set_assigned_by("UBND tỉnh");
      if (s.scheme() == v1::SCHEME_HEALTH) {
        target->set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
        target->set_value(std::min(100.0, s.coverage_percent() + 1.0));
      } else {
        target->set_kind(v1::TARGET_KIND_PARTICIPANTS);
        target->set_value(static_cast<double>(s.participants() * 105 / 100));
      }
      v1::Target stored;
      grpc::ClientContext set_context;
      SetDeadline(&set_context, kCallDeadline);
      MustOk(targets->SetTarget(&set_context, request, &stored), "set a target");
      ++targets_set;
    }
  }
  std::cout << absl::StrFormat(
      "data: %d unit versions; provinces %s: %d districts, %d communes; %d participation "
      "records, %d denominators, %d targets; loaded in %.1f s\n",
      (*sample)->units().size(), absl::StrJoin(provinces, ","), workload.districts.size(),
      workload.communes.size(), records->size(), denominators->size(), targets_set, Since(start));
  records->clear();

  // ---- The load ----
  LoadClient client(system, workload, mix);
  std::cout << absl::StrFormat(
      "load: %d requests per round, %d client threads, mix %d%% GetCoverage / %d%% "
      "GetAchievement / %d%% SubmitReport, %d round(s) of system and baseline\n",
      requests, concurrency, mix[0], mix[1], mix[2], rounds);
  // Warm-up (not measured): the first answer of each (unit, period) is a rollup computed cold.
  const int warmup = std::max(requests / 5, 100);
  start = Clock::now();
  RoundResult warm = client.Run(warmup, concurrency, /*first=*/0, /*baseline=*/false);
  std::cout << absl::StrFormat("warm-up: %d calls in %.1f s, %d errors\n", warmup, Since(start),
                               warm.errors());
  std::vector<RoundResult> system_rounds;
  std::vector<RoundResult> baseline_rounds;
  std::vector<double> ratios;
  for (int round = 0; round < rounds; ++round) {
    // Each round its own calls (new request ids), the baseline the same mix as its system round.
    const uint64_t first = static_cast<uint64_t>(round + 1) * 10000000;
    RoundResult s = client.Run(requests, concurrency, first, /*baseline=*/false);
    RoundResult b = client.Run(requests, concurrency, first, /*baseline=*/true);
    ratios.push_back(s.throughput() / b.throughput());
    std::cout << absl::StrFormat(
        "round %d: system %.0f calls/s (%.2f s), baseline %.0f calls/s (%.2f s), ratio %.3f\n",
        round + 1, s.throughput(), s.seconds, b.throughput(), b.seconds, ratios.back());
    system_rounds.push_back(std::move(s));
    baseline_rounds.push_back(std::move(b));
  }
  PrintLatencies("system (all rounds):", system_rounds);
  PrintLatencies("baseline, grpc.health.v1.Health/Check on the same servers (all rounds):",
                 baseline_rounds);
  std::vector<double> sorted = ratios;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  int64_t errors = warm.errors();
  for (const auto* set : {&system_rounds, &baseline_rounds}) {
    for (const RoundResult& r : *set) {
      errors += r.errors();
      for (int m = 0; m < kMethods; ++m) {
        for (const std::string& e : r.methods[m].first_errors) {
          std::cout << "error: " << kMethodNames[m] << " " << e << "\n";
        }
      }
    }
  }
  for (int m = 0; m < kMethods; ++m) {
    for (const std::string& e : warm.methods[m].first_errors) {
      std::cout << "error (warm-up): " << kMethodNames[m] << " " << e << "\n";
    }
  }
  std::cout << absl::StrFormat(
      "system/baseline throughput ratio: %.3f (median of %d round(s): %s); errors: %d\n", median,
      rounds,
      absl::StrJoin(
          ratios, ", ",
          [](std::string* out, double r) { absl::StrAppend(out, absl::StrFormat("%.3f", r)); }),
      errors);

  // Where the aggregation time went: its own counters (logged every second), for reading the
  // figures; informational only.
  {
    std::ifstream log(dir + "/aggregation.log");
    std::string line;
    std::string last;
    while (std::getline(log, line)) {
      if (line.find("aggregation stats") != std::string::npos) {
        last = line;
      }
    }
    if (!last.empty()) {
      std::cout << "aggregation's last stats line: " << last << "\n";
    }
  }

  // Graceful stop: a service that does not exit 0 on SIGTERM is an error too.
  for (absl::Status stopped :
       {system.StopTargets(), system.StopAggregation(), system.StopIngestion()}) {
    if (!stopped.ok()) {
      std::cout << "error: " << stopped << "\n";
      ++errors;
    }
  }
  redis->reset();
  postgres.reset();
  std::filesystem::remove_all(dir);
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace covtrack

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return covtrack::Run();
}
