// Faults injected into a running system: the three covtrack binaries, a PostgreSQL and a Redis
// of the test's own (free loopback ports, own data folder), so that stopping them disturbs no
// other test. Each case checks what a client would notice:
//   a. Redis killed under a read load: every answer correct, no error; Redis back: used again.
//   b. aggregation restarted: the first answers after the restart include data written while
//      it was down (through aggregation and through targets).
//   c. PostgreSQL stopped under writes: UNAVAILABLE (not INTERNAL, not a hang), nothing
//      acknowledged lost, writes succeed again once PostgreSQL is back, ingestion not restarted.
//   d. ingestion sent SIGTERM during a bulk upload: the upload resumes after the restart with
//      no message applied twice and none missing.
// Data: the real catalogue (data/vn-admin-units) for Tiền Giang (82) and Sơn La (14) before the
// 2025 reform, with generated figures (tools/sampledata) for July–December 2023.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tools/sampledata/sample_data.h"

namespace covtrack {
namespace {

using ::testing::AnyOf;
using testing::CovtrackProcesses;
using testing::Eventually;
using testing::FreshChannel;
using testing::IsOk;
using testing::SetDeadline;
using testing::StatusIs;

constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr absl::Duration kLoadDeadline = absl::Seconds(60);
constexpr absl::Duration kConditionTimeout = absl::Seconds(30);  // for Eventually

std::string RecordKey(const std::string& unit, const std::string& month, v1::Scheme scheme) {
  return absl::StrCat(unit, "|", month, "|", scheme);
}

// The units, generated figures and the expected rollups, kept up to date by the test as it
// writes corrections.
class Dataset {
 public:
  static constexpr int kYear = 2023;
  static constexpr int kFirstMonth = 7;  // July..December 2023

  explicit Dataset(const std::vector<std::string>& provinces) {
    auto sample = sampledata::SampleData::Load();
    if (!sample.ok()) {
      ADD_FAILURE() << "sample data: " << sample.status();
      return;
    }
    // The units valid before the reform, under the provinces (parents before children).
    std::map<std::string, std::string> parent_of;
    for (const v1::AdminUnit& u : (*sample)->units()) {
      if (u.valid_to() != sampledata::kReformDate) {
        continue;
      }
      parent_of[u.code()] = u.parent_code();
      std::string root = u.code();
      while (parent_of.count(root) && parent_of[root] != "VN" && !parent_of[root].empty()) {
        root = parent_of[root];
      }
      if (std::find(provinces.begin(), provinces.end(), root) != provinces.end()) {
        units_.push_back(u);
        if (u.level() == v1::ADMIN_LEVEL_DISTRICT) {
          districts_.push_back(u.code());
        }
      }
    }
    auto records = (*sample)->Records(provinces, Month{kYear, kFirstMonth}, Month{kYear, 12});
    auto denominators = (*sample)->Denominators(provinces, kYear, kYear);
    if (!records.ok() || !denominators.ok()) {
      ADD_FAILURE() << "sample data: " << records.status() << " " << denominators.status();
      return;
    }
    records_ = std::move(*records);
    denominators_ = std::move(*denominators);
    for (const v1::ParticipationRecord& r : records_) {
      participants_[RecordKey(r.unit_code(), r.month(), r.scheme())] = r.participants();
    }
    for (const v1::DenominatorRecord& d : denominators_) {
      denominator_[absl::StrCat(d.unit_code(), "|", d.kind())] = d.value();
    }
    // The units asked about: the provinces, every district, one commune per district.
    queried_ = provinces;
    for (const std::string& district : districts_) {
      queried_.push_back(district);
    }
    for (const std::string& code : queried_) {
      auto leaves = (*sample)->Leaves({code}, Month{kYear, 12});
      if (!leaves.ok()) {
        ADD_FAILURE() << code << ": " << leaves.status();
        return;
      }
      leaves_[code] = *leaves;
    }
    for (const std::string& district : districts_) {
      const std::string& commune = leaves_[district].front();
      leaves_[commune] = {commune};
      queried_.push_back(commune);
    }
  }

  const std::vector<v1::AdminUnit>& units() const { return units_; }
  const std::vector<v1::ParticipationRecord>& records() const { return records_; }
  const std::vector<v1::DenominatorRecord>& denominators() const { return denominators_; }
  const std::vector<std::string>& queried_units() const { return queried_; }
  const std::vector<std::string>& leaves(const std::string& code) const { return leaves_.at(code); }
  // Leaves of the whole data set (the first province's, then the next's).
  std::vector<std::string> all_leaves(const std::vector<std::string>& provinces) const {
    std::vector<std::string> all;
    for (const std::string& p : provinces) {
      all.insert(all.end(), leaves_.at(p).begin(), leaves_.at(p).end());
    }
    return all;
  }

  // Periods with data: the year, its second half, Q3 and Q4, and every month from July.
  static std::vector<std::string> Periods() {
    std::vector<std::string> periods = {"2023", "2023-H2", "2023-Q3", "2023-Q4"};
    for (int m = kFirstMonth; m <= 12; ++m) {
      periods.push_back(Month{kYear, m}.ToString());
    }
    return periods;
  }

  void SetParticipants(const std::string& unit, const std::string& month, v1::Scheme scheme,
                       int64_t participants) {
    std::lock_guard<std::mutex> lock(mu_);
    participants_[RecordKey(unit, month, scheme)] = participants;
  }
  int64_t Participants(const std::string& unit, const std::string& month, v1::Scheme scheme) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = participants_.find(RecordKey(unit, month, scheme));
    return it == participants_.end() ? 0 : it->second;
  }

  int64_t ExpectedParticipants(const std::string& code, const std::string& month,
                               v1::Scheme scheme) const {
    if (scheme == v1::SCHEME_SOCIAL) {
      return ExpectedParticipants(code, month, v1::SCHEME_COMPULSORY_SOCIAL) +
             ExpectedParticipants(code, month, v1::SCHEME_VOLUNTARY_SOCIAL);
    }
    int64_t sum = 0;
    for (const std::string& leaf : leaves_.at(code)) {
      sum += Participants(leaf, month, scheme);
    }
    return sum;
  }

  int64_t ExpectedPopulation(const std::string& code) const {
    int64_t sum = 0;
    for (const std::string& leaf : leaves_.at(code)) {
      auto it = denominator_.find(absl::StrCat(leaf, "|", v1::DENOMINATOR_KIND_POPULATION));
      sum += it == denominator_.end() ? 0 : it->second;
    }
    return sum;
  }

  // Empty when `coverage` is what the data says for (code, period); otherwise what differs.
  std::string Check(const v1::Coverage& coverage, const std::string& code,
                    const std::string& period_text) const {
    auto period = Period::Parse(period_text);
    const std::string month = period->last_month().ToString();
    std::string problems;
    if (coverage.unit().code() != code) {
      absl::StrAppend(&problems, "unit ", coverage.unit().code(), "; ");
    }
    if (coverage.as_of_month() != month) {
      absl::StrAppend(&problems, "as_of_month ", coverage.as_of_month(), " want ", month, "; ");
    }
    if (coverage.schemes_size() != 5) {
      absl::StrAppend(&problems, coverage.schemes_size(), " schemes; ");
    }
    for (const v1::SchemeCoverage& s : coverage.schemes()) {
      const int64_t want = ExpectedParticipants(code, month, s.scheme());
      if (s.participants() != want) {
        absl::StrAppend(&problems, v1::Scheme_Name(s.scheme()), " participants ", s.participants(),
                        " want ", want, "; ");
      }
      if (s.scheme() == v1::SCHEME_HEALTH && s.denominator() != ExpectedPopulation(code)) {
        absl::StrAppend(&problems, "population ", s.denominator(), " want ",
                        ExpectedPopulation(code), "; ");
      }
    }
    return problems.empty() ? "" : absl::StrCat(code, " ", period_text, ": ", problems);
  }

 private:
  std::vector<v1::AdminUnit> units_;
  std::vector<std::string> districts_;
  std::vector<v1::ParticipationRecord> records_;
  std::vector<v1::DenominatorRecord> denominators_;
  std::vector<std::string> queried_;
  std::map<std::string, std::vector<std::string>> leaves_;
  std::map<std::string, int64_t> denominator_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> participants_;
};

// The system under test, with its own PostgreSQL and Redis, torn down even on failure.
class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> pg_bin = testing::PostgresBinDir();
    std::optional<std::string> redis_bin = testing::RedisServerBinary();
    COVTRACK_REQUIRE_SERVER(pg_bin, "PostgreSQL (postgresql-15)");
    COVTRACK_REQUIRE_SERVER(redis_bin, "redis-server");
    dir_ = testing::TempDir();
    auto pg = testing::PostgresServer::Create(*pg_bin, dir_ + "/pg");
    ASSERT_THAT(pg, IsOk());
    pg_ = std::move(*pg);
    ASSERT_THAT(pg_->CreateDatabase("covtrack_targets"), IsOk());
    auto redis = testing::RedisServer::Start(*redis_bin, dir_ + "/redis");
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
  }

  // Starts the three services (ingestion and targets on PostgreSQL, aggregation on Redis).
  void StartServices(const std::string& shutdown_grace = "5s") {
    CovtrackProcesses::Options options;
    options.binaries = {COVTRACK_INGESTION_BINARY, COVTRACK_AGGREGATION_BINARY,
                        COVTRACK_TARGETS_BINARY};
    options.dir = dir_;
    options.ingestion_store = pg_->Url("postgres");
    options.targets_store = pg_->Url("covtrack_targets");
    options.redis = redis_->address();
    options.cache_namespace = absl::StrCat("faults-", getpid());
    options.shutdown_grace = shutdown_grace;
    system_ = std::make_unique<CovtrackProcesses>(options);
    absl::Status started = system_->StartAll();
    ASSERT_THAT(started, IsOk());
    ConnectClients();
  }

  void ConnectClients() {
    ingestion_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
    aggregation_ = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));
    targets_ = v1::TargetService::NewStub(FreshChannel(system_->targets_address()));
  }

  void TearDown() override {
    if (HasFailure() && system_ != nullptr) {
      std::cerr << system_->LogTails();
    }
    // Services first (they hold connections to the servers), then Redis and PostgreSQL.
    system_.reset();
    redis_.reset();
    pg_.reset();
  }

  void ImportUnits(const Dataset& data) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("catalogue-82-14");
    for (const v1::AdminUnit& u : data.units()) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kLoadDeadline);
    grpc::Status status = ingestion_->ImportAdminUnits(&context, request, &response);
    ASSERT_THAT(status, IsOk());
  }

  // The units, then every record (in reports of 2,000) and the denominators.
  void Load(const Dataset& data) {
    ImportUnits(data);
    constexpr size_t kBatch = 2000;
    const auto& records = data.records();
    for (size_t i = 0; i < records.size(); i += kBatch) {
      v1::SubmitReportRequest request;
      request.set_request_id(absl::StrCat("load-", i));
      request.set_source("BHXH (generated)");
      for (size_t j = i; j < std::min(records.size(), i + kBatch); ++j) {
        *request.add_records() = records[j];
      }
      v1::SubmitReportResponse response;
      grpc::ClientContext context;
      SetDeadline(&context, kLoadDeadline);
      grpc::Status status = ingestion_->SubmitReport(&context, request, &response);
      ASSERT_THAT(status, IsOk());
    }
    v1::SubmitReportRequest request;
    request.set_request_id("load-denominators");
    for (const auto& d : data.denominators()) {
      *request.add_denominators() = d;
    }
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kLoadDeadline);
    grpc::Status status = ingestion_->SubmitReport(&context, request, &response);
    ASSERT_THAT(status, IsOk());
  }

  grpc::Status GetCoverage(const std::string& code, const std::string& period,
                           v1::Coverage* coverage) {
    v1::GetCoverageRequest request;
    request.set_unit_code(code);
    request.set_period(period);
    request.set_previous_year_ends(1);
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    return aggregation_->GetCoverage(&context, request, coverage);
  }

  int64_t ChangeHead() {
    v1::ChangeHead head;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    grpc::Status status = ingestion_->GetChangeHead(&context, {}, &head);
    EXPECT_THAT(status, IsOk());
    return head.seq();
  }

  std::string dir_;
  std::unique_ptr<testing::PostgresServer> pg_;
  std::unique_ptr<testing::RedisServer> redis_;
  std::unique_ptr<CovtrackProcesses> system_;
  std::unique_ptr<v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::AggregationService::Stub> aggregation_;
  std::unique_ptr<v1::TargetService::Stub> targets_;
};

// Readers calling GetCoverage from several threads over a list of (unit, period) questions
// that the test can extend while they run; every answer is checked against the data.
class CoverageReaders {
 public:
  CoverageReaders(v1::AggregationService::Stub* stub, const Dataset* data, int threads)
      : stub_(stub), data_(data) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] { Run(t); });
    }
  }
  ~CoverageReaders() { Stop(); }

  // Questions asked from now on (in addition to the earlier ones), each at least once.
  void Ask(const std::vector<std::pair<std::string, std::string>>& questions) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& q : questions) {
      questions_.push_back(q);
      fresh_.push_back(q);
    }
  }
  int64_t answers() const { return answers_.load(); }
  bool all_asked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return fresh_.empty() && in_flight_fresh_ == 0;
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      t.join();
    }
    threads_.clear();
  }
  std::vector<std::string> problems() const {
    std::lock_guard<std::mutex> lock(mu_);
    return problems_;
  }

 private:
  void Run(int seed) {
    std::mt19937 random(seed);
    while (!stop_) {
      std::pair<std::string, std::string> q;
      bool fresh = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (questions_.empty()) {
          std::this_thread::yield();
          continue;
        }
        if (!fresh_.empty()) {
          q = fresh_.back();  // never asked: computed now, stored in the cache
          fresh_.pop_back();
          fresh = true;
          ++in_flight_fresh_;
        } else {
          q = questions_[random() % questions_.size()];
        }
      }
      v1::GetCoverageRequest request;
      request.set_unit_code(q.first);
      request.set_period(q.second);
      request.set_previous_year_ends(1);
      v1::Coverage coverage;
      grpc::ClientContext context;
      SetDeadline(&context, kCallDeadline);
      grpc::Status status = stub_->GetCoverage(&context, request, &coverage);
      std::string problem;
      if (!status.ok()) {
        problem = absl::StrCat(q.first, " ", q.second, ": status ", status.error_code(), " ",
                               status.error_message());
      } else {
        problem = data_->Check(coverage, q.first, q.second);
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (!problem.empty() && problems_.size() < 20) {
        problems_.push_back(problem);
      }
      if (fresh) {
        --in_flight_fresh_;
      }
      ++answers_;
    }
  }

  v1::AggregationService::Stub* stub_;
  const Dataset* data_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> answers_{0};
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> questions_;
  std::vector<std::pair<std::string, std::string>> fresh_;
  int in_flight_fresh_ = 0;
  std::vector<std::string> problems_;
};

// ---- a. Redis killed under a read load ----

TEST_F(FaultInjectionTest, RedisKilledUnderReadLoadAnswersStayCorrectAndTheCacheReturns) {
  StartServices();
  Dataset data({"82", "14"});
  ASSERT_NO_FATAL_FAILURE(Load(data));

  // Three disjoint sets of questions: before the kill, while Redis is down, after its restart.
  std::vector<std::pair<std::string, std::string>> questions;
  for (const std::string& code : data.queried_units()) {
    for (const std::string& period : Dataset::Periods()) {
      questions.push_back({code, period});
    }
  }
  std::shuffle(questions.begin(), questions.end(), std::mt19937(7));
  const size_t third = questions.size() / 3;
  std::vector<std::pair<std::string, std::string>> before(questions.begin(),
                                                          questions.begin() + third);
  std::vector<std::pair<std::string, std::string>> during(questions.begin() + third,
                                                          questions.begin() + 2 * third);
  std::vector<std::pair<std::string, std::string>> after(questions.begin() + 2 * third,
                                                         questions.end());

  CoverageReaders readers(aggregation_.get(), &data, /*threads=*/4);
  readers.Ask(before);
  ASSERT_TRUE(
      Eventually([&] { return readers.all_asked() && redis_->KeyCount() > 0; }, kConditionTimeout))
      << "the cache was never used before the fault";
  const int64_t keys_before = redis_->KeyCount();

  // SIGKILL while the readers run; questions never asked before must be computed without it.
  redis_->Kill();
  const int64_t answers_at_kill = readers.answers();
  readers.Ask(during);
  ASSERT_TRUE(Eventually([&] { return readers.all_asked(); }, kConditionTimeout))
      << "the readers stalled while Redis was down";
  ASSERT_TRUE(
      Eventually([&] { return readers.answers() >= answers_at_kill + 200; }, kConditionTimeout));
  EXPECT_TRUE(readers.problems().empty());

  // Redis back on the same port, empty (no persistence): every key it holds from now on was
  // written after the restart.
  ASSERT_THAT(redis_->Restart(), IsOk());
  readers.Ask(after);
  EXPECT_TRUE(
      Eventually([&] { return readers.all_asked() && redis_->KeyCount() > 0; }, kConditionTimeout))
      << "the aggregation service never used Redis again after its restart";
  const int64_t answers_at_restart = readers.answers();
  ASSERT_TRUE(
      Eventually([&] { return readers.answers() >= answers_at_restart + 200; }, kConditionTimeout));
  readers.Stop();

  for (const std::string& problem : readers.problems()) {
    ADD_FAILURE() << problem;
  }
  std::cout << "answers: " << readers.answers() << " (" << answers_at_kill << " before the kill, "
            << answers_at_restart - answers_at_kill << " while Redis was down); keys before the "
            << "kill " << keys_before << ", after the restart " << redis_->KeyCount() << "\n";
}

// ---- b. The aggregation service restarted while data changes ----

TEST_F(FaultInjectionTest, AggregationRestartedCatchesUpAndServesNoStaleAnswer) {
  StartServices();
  Dataset data({"82", "14"});
  ASSERT_NO_FATAL_FAILURE(Load(data));
  const std::string province = "82";
  std::string district;  // the first district of Tiền Giang
  for (const v1::AdminUnit& u : data.units()) {
    if (u.level() == v1::ADMIN_LEVEL_DISTRICT && u.parent_code() == province) {
      district = u.code();
      break;
    }
  }
  ASSERT_FALSE(district.empty());
  const std::string commune = data.leaves(district).front();

  // A health target for the province, then every answer once, cached in Redis.
  {
    v1::SetTargetRequest request;
    request.set_request_id("target-82-health-2023");
    v1::Target* target = request.mutable_target();
    target->set_unit_code(province);
    target->set_scheme(v1::SCHEME_HEALTH);
    target->set_year(2023);
    target->set_kind(v1::TARGET_KIND_PARTICIPANTS);
    target->set_value(1600000);
    target->set_assigned_by("UBND tỉnh Tiền Giang");
    v1::Target stored;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    grpc::Status status = targets_->SetTarget(&context, request, &stored);
    ASSERT_THAT(status, IsOk());
  }
  const std::vector<std::string> codes = {province, district, commune, "14"};
  const std::vector<std::string> periods = {"2023", "2023-Q4", "2023-12", "2023-H2"};
  for (const std::string& code : codes) {
    for (const std::string& period : periods) {
      v1::Coverage coverage;
      grpc::Status status = GetCoverage(code, period, &coverage);
      ASSERT_THAT(status, IsOk());
      ASSERT_EQ(data.Check(coverage, code, period), "");
    }
  }
  ASSERT_GT(redis_->KeyCount(), 0);

  auto achievement = [&](v1::Achievement* answer) {
    v1::GetAchievementRequest request;
    request.set_unit_code(province);
    request.set_period("2023");
    request.add_schemes(v1::SCHEME_HEALTH);
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    return targets_->GetAchievement(&context, request, answer);
  };
  v1::Achievement before;
  ASSERT_THAT(achievement(&before), IsOk());
  ASSERT_EQ(before.schemes(0).actual_participants(),
            data.ExpectedParticipants(province, "2023-12", v1::SCHEME_HEALTH));

  // Graceful stop.
  absl::Status stopped = system_->StopAggregation();
  ASSERT_THAT(stopped, IsOk());

  // While it is down, targets answers UNAVAILABLE, within the deadline.
  {
    v1::Achievement answer;
    grpc::Status status = achievement(&answer);
    EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAVAILABLE));
  }

  // A correction of the commune's December figures, acknowledged while aggregation is down.
  const int64_t health = data.Participants(commune, "2023-12", v1::SCHEME_HEALTH) + 1234;
  const int64_t compulsory =
      data.Participants(commune, "2023-12", v1::SCHEME_COMPULSORY_SOCIAL) + 321;
  {
    v1::SubmitReportRequest request;
    request.set_request_id("correction-while-aggregation-down");
    request.set_source("BHXH tỉnh Tiền Giang");
    auto add = [&](v1::Scheme scheme, int64_t participants) {
      v1::ParticipationRecord* r = request.add_records();
      r->set_unit_code(commune);
      r->set_month("2023-12");
      r->set_scheme(scheme);
      r->set_participants(participants);
    };
    add(v1::SCHEME_HEALTH, health);
    add(v1::SCHEME_COMPULSORY_SOCIAL, compulsory);
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    grpc::Status status = ingestion_->SubmitReport(&context, request, &response);
    ASSERT_THAT(status, IsOk());
    ASSERT_EQ(response.records_changed(), 2);
    data.SetParticipants(commune, "2023-12", v1::SCHEME_HEALTH, health);
    data.SetParticipants(commune, "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, compulsory);
  }

  // Started again on the same Redis, which still holds the old answers: the very first answers
  // include the correction.
  absl::Status started = system_->StartAggregation();
  ASSERT_THAT(started, IsOk());
  aggregation_ = v1::AggregationService::NewStub(FreshChannel(system_->aggregation_address()));
  for (const std::string& code : codes) {
    for (const std::string& period : periods) {
      v1::Coverage coverage;
      grpc::Status status = GetCoverage(code, period, &coverage);
      ASSERT_THAT(status, IsOk());
      EXPECT_EQ(data.Check(coverage, code, period), "");
    }
  }
  // Through targets: it reconnects to the new aggregation process by itself; every answer it
  // gives is the new one.
  v1::Achievement after;
  grpc::Status last;
  ASSERT_TRUE(Eventually(
      [&] {
        last = achievement(&after);
        EXPECT_THAT(last, AnyOf(IsOk(), StatusIs(grpc::StatusCode::UNAVAILABLE)));
        return last.ok();
      },
      kConditionTimeout))
      << "targets never answered after aggregation restarted: " << last.error_message();
  EXPECT_EQ(after.schemes(0).actual_participants(),
            data.ExpectedParticipants(province, "2023-12", v1::SCHEME_HEALTH));
  EXPECT_EQ(after.schemes(0).actual_participants(), before.schemes(0).actual_participants() + 1234);
}

// ---- c. PostgreSQL stopped under writes ----

// Small reports, each for one commune and month, four schemes, with a request id of its own.
class ReportWriters {
 public:
  struct Outcome {
    std::string request_id;
    grpc::Status status;
    absl::Time started;
  };

  ReportWriters(v1::IngestionService::Stub* stub, std::vector<std::string> communes, int threads)
      : stub_(stub), communes_(std::move(communes)) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this] { Run(); });
    }
  }
  ~ReportWriters() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      t.join();
    }
    threads_.clear();
  }

  // A report no one sent yet.
  v1::SubmitReportRequest NextReport() { return Report(next_++); }

  // Request number i: commune i mod n, month January 2020 + i / n, values from i.
  v1::SubmitReportRequest Report(int i) const {
    v1::SubmitReportRequest request;
    request.set_request_id(absl::StrCat("small-report-", i));
    request.set_source("BHXH tỉnh Tiền Giang");
    const std::string month =
        Month{2020, 1}.PlusMonths(i / static_cast<int>(communes_.size())).ToString();
    for (v1::Scheme scheme : {v1::SCHEME_COMPULSORY_SOCIAL, v1::SCHEME_VOLUNTARY_SOCIAL,
                              v1::SCHEME_HEALTH, v1::SCHEME_UNEMPLOYMENT}) {
      v1::ParticipationRecord* r = request.add_records();
      r->set_unit_code(communes_[i % communes_.size()]);
      r->set_month(month);
      r->set_scheme(scheme);
      r->set_participants(1000 + i * 10 + scheme);
    }
    return request;
  }

  grpc::Status Submit(const v1::SubmitReportRequest& request, v1::SubmitReportResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    return stub_->SubmitReport(&context, request, response);
  }

  int64_t count(grpc::StatusCode code, absl::Time started_after = absl::InfinitePast()) const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::count_if(outcomes_.begin(), outcomes_.end(), [&](const Outcome& o) {
      return o.status.error_code() == code && o.started >= started_after;
    });
  }
  std::vector<Outcome> outcomes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return outcomes_;
  }

 private:
  void Run() {
    while (!stop_) {
      v1::SubmitReportRequest request = NextReport();
      v1::SubmitReportResponse response;
      const absl::Time started = absl::Now();
      grpc::Status status = Submit(request, &response);
      std::lock_guard<std::mutex> lock(mu_);
      outcomes_.push_back({request.request_id(), status, started});
    }
  }

  v1::IngestionService::Stub* stub_;
  const std::vector<std::string> communes_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> next_{0};
  mutable std::mutex mu_;
  std::vector<Outcome> outcomes_;
};

// Every participation record ingestion holds, by RecordKey, from one consistent export.
std::map<std::string, int64_t> ExportAll(v1::IngestionService::Stub& stub) {
  v1::ExportDataRequest request;
  request.set_root_code("VN");
  request.set_from_month("2000-01");
  request.set_to_month("2030-12");
  grpc::ClientContext context;
  SetDeadline(&context, kLoadDeadline);
  auto reader = stub.ExportData(&context, request);
  std::map<std::string, int64_t> stored;
  v1::ExportDataResponse chunk;
  while (reader->Read(&chunk)) {
    for (const v1::ParticipationRecord& r : chunk.records()) {
      stored[RecordKey(r.unit_code(), r.month(), r.scheme())] = r.participants();
    }
  }
  grpc::Status status = reader->Finish();
  EXPECT_THAT(status, IsOk()) << "ExportData";
  return stored;
}

// Empty when every record of `request` is stored with its value.
std::string CheckStored(const std::map<std::string, int64_t>& stored,
                        const v1::SubmitReportRequest& request) {
  for (const v1::ParticipationRecord& r : request.records()) {
    auto it = stored.find(RecordKey(r.unit_code(), r.month(), r.scheme()));
    if (it == stored.end() || it->second != r.participants()) {
      return absl::StrCat(request.request_id(), ": ", r.unit_code(), " ", r.month(), " ",
                          v1::Scheme_Name(r.scheme()), " is ",
                          it == stored.end() ? "missing" : absl::StrCat(it->second), ", want ",
                          r.participants());
    }
  }
  return "";
}

TEST_F(FaultInjectionTest, PostgresStoppedUnderWritesAnswersUnavailableAndLosesNothing) {
  StartServices();
  Dataset data({"82", "14"});
  ASSERT_NO_FATAL_FAILURE(ImportUnits(data));
  // 2020-01 onwards, one month per round over ~380 communes: far from the 2025 reform.
  const std::vector<std::string> communes = data.all_leaves({"82", "14"});
  const int64_t head_before = ChangeHead();

  ReportWriters writers(ingestion_.get(), communes, /*threads=*/3);
  ASSERT_TRUE(
      Eventually([&] { return writers.count(grpc::StatusCode::OK) >= 30; }, kConditionTimeout));

  // Fast shutdown while reports arrive: the ones in flight and those after get UNAVAILABLE.
  absl::Status stopped = pg_->Stop("fast");
  ASSERT_THAT(stopped, IsOk());
  const absl::Time down = absl::Now();
  ASSERT_TRUE(Eventually([&] { return writers.count(grpc::StatusCode::UNAVAILABLE, down) >= 20; },
                         kConditionTimeout))
      << "writers got no UNAVAILABLE while PostgreSQL was down";

  // Back, on the same port; ingestion keeps running and writes succeed again.
  absl::Status restarted = pg_->Start();
  ASSERT_THAT(restarted, IsOk());
  const absl::Time up = absl::Now();
  EXPECT_TRUE(
      Eventually([&] { return writers.count(grpc::StatusCode::OK, up) >= 30; }, kConditionTimeout))
      << "no write succeeded after PostgreSQL came back";
  writers.Stop();

  // Every failure was UNAVAILABLE (no INTERNAL, no DEADLINE_EXCEEDED: nothing hung), and a
  // request started once PostgreSQL accepted connections again did not fail at all.
  const std::vector<ReportWriters::Outcome> outcomes = writers.outcomes();
  int acknowledged = 0;
  int unavailable = 0;
  int failed_after_restart = 0;
  for (const ReportWriters::Outcome& o : outcomes) {
    if (o.status.ok()) {
      ++acknowledged;
      continue;
    }
    ++unavailable;
    EXPECT_THAT(o.status, StatusIs(grpc::StatusCode::UNAVAILABLE)) << o.request_id;
    if (o.started >= up && ++failed_after_restart <= 5) {
      ADD_FAILURE() << o.request_id
                    << " failed after PostgreSQL was back: " << o.status.error_message();
    }
  }
  std::cout << "reports: " << acknowledged << " acknowledged, " << unavailable
            << " failed while PostgreSQL was down or restarting (" << failed_after_restart
            << " of them started after it was back)\n";

  // Nothing acknowledged was lost.
  auto request_of = [&](const ReportWriters::Outcome& o) {
    return writers.Report(std::stoi(o.request_id.substr(std::string("small-report-").size())));
  };
  std::map<std::string, int64_t> stored = ExportAll(*ingestion_);
  int lost = 0;
  for (const ReportWriters::Outcome& o : outcomes) {
    if (o.status.ok()) {
      const std::string problem = CheckStored(stored, request_of(o));
      if (!problem.empty() && ++lost <= 10) {
        ADD_FAILURE() << "acknowledged, then lost: " << problem;
      }
    }
  }
  // Each request that failed is committed by its retry, once: one change per request in all.
  for (const ReportWriters::Outcome& o : outcomes) {
    if (!o.status.ok()) {
      v1::SubmitReportResponse response;
      grpc::Status retried = writers.Submit(request_of(o), &response);
      ASSERT_THAT(retried, IsOk()) << o.request_id;
    }
  }
  stored = ExportAll(*ingestion_);
  for (const ReportWriters::Outcome& o : outcomes) {
    const std::string problem = CheckStored(stored, request_of(o));
    if (!problem.empty() && ++lost <= 10) {
      ADD_FAILURE() << problem;
    }
  }
  EXPECT_EQ(ChangeHead() - head_before, static_cast<int64_t>(outcomes.size()));

  // An immediate stop and restart while ingestion is idle: every connection it pooled is dead,
  // yet the first calls afterwards succeed.
  stopped = pg_->Stop("immediate");
  ASSERT_THAT(stopped, IsOk());
  restarted = pg_->Start();
  ASSERT_THAT(restarted, IsOk());
  {
    v1::ChangeHead head;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    grpc::Status status = ingestion_->GetChangeHead(&context, {}, &head);
    EXPECT_THAT(status, IsOk()) << "first read after an idle restart";
  }
  {
    const v1::SubmitReportRequest report = writers.NextReport();
    v1::SubmitReportResponse response;
    grpc::Status status = writers.Submit(report, &response);
    EXPECT_THAT(status, IsOk()) << "first write after an idle restart";
  }
}

// ---- d. SIGTERM to ingestion during a bulk upload ----

TEST_F(FaultInjectionTest, IngestionStoppedDuringBulkUploadResumesWithoutDuplicateOrGap) {
  // A short grace, so the upload (hundreds of messages, each a transaction) outlasts it.
  StartServices(/*shutdown_grace=*/"1s");
  Dataset data({"82", "14"});
  ASSERT_NO_FATAL_FAILURE(ImportUnits(data));

  // The national-style upload: every record of the data set, 20 records a message.
  std::vector<v1::SubmitReportRequest> messages;
  constexpr int kRecordsPerMessage = 20;
  const auto& records = data.records();
  for (size_t i = 0; i < records.size(); i += kRecordsPerMessage) {
    v1::SubmitReportRequest request;
    request.set_request_id(absl::StrCat("bulk-", messages.size()));
    request.set_source("BHXH (generated)");
    for (size_t j = i; j < std::min(records.size(), i + kRecordsPerMessage); ++j) {
      *request.add_records() = records[j];
    }
    messages.push_back(std::move(request));
  }
  const int total = static_cast<int>(messages.size());
  ASSERT_GT(total, 300);
  const int64_t head_before = ChangeHead();

  // The upload runs in its own thread. It sends the first half at once, then the rest only
  // once ingestion has gone (a client slower than the shutdown grace: reading a large file, a
  // slow link), so the interruption never depends on how fast the machine is. SIGTERM is sent
  // once some messages are committed.
  struct Attempt {
    grpc::Status status;
    v1::StreamReportsResponse summary;
    std::optional<int> committed_trailer;
  };
  std::atomic<bool> ingestion_gone{true};
  auto upload = [&](v1::IngestionService::Stub& stub, int from, int hold_at) {
    Attempt attempt;
    grpc::ClientContext context;
    SetDeadline(&context, kLoadDeadline);
    auto stream = stub.StreamReports(&context, &attempt.summary);
    for (int k = from; k < total; ++k) {
      if (k == hold_at && !Eventually([&] { return ingestion_gone.load(); }, kConditionTimeout)) {
        break;
      }
      if (!stream->Write(messages[k])) {
        break;  // the server ended the call; Finish says why
      }
    }
    stream->WritesDone();
    attempt.status = stream->Finish();
    auto trailers = context.GetServerTrailingMetadata();
    auto it = trailers.find("covtrack-committed-messages");
    if (it != trailers.end()) {
      attempt.committed_trailer = std::stoi(std::string(it->second.data(), it->second.size()));
    }
    return attempt;
  };
  Attempt first;
  ingestion_gone = false;
  std::thread uploader([&] { first = upload(*ingestion_, 0, total / 2); });
  const bool in_flight = Eventually(
      [&] {
        v1::ChangeHead head;
        grpc::ClientContext context;
        SetDeadline(&context, kCallDeadline);
        return ingestion_->GetChangeHead(&context, {}, &head).ok() && head.seq() >= head_before + 5;
      },
      kConditionTimeout);
  std::optional<int> exit_status;
  if (in_flight) {
    system_->ingestion()->Signal(SIGTERM);
    exit_status = system_->ingestion()->Wait(absl::Seconds(30));
  }
  ingestion_gone = true;
  uploader.join();
  ASSERT_TRUE(in_flight) << "the upload never started committing";
  ASSERT_TRUE(exit_status.has_value()) << "ingestion did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0) << *exit_status;
  ASSERT_FALSE(first.status.ok()) << "the upload was not interrupted";
  EXPECT_THAT(first.status, StatusIs(grpc::StatusCode::UNAVAILABLE));
  std::cout << "interrupted upload: status " << first.status.error_code() << " \""
            << first.status.error_message() << "\", trailer "
            << (first.committed_trailer ? absl::StrCat(*first.committed_trailer) : "absent")
            << "\n";

  // Restart on the same store; resume from what the server said it committed (from the start
  // when it said nothing).
  absl::Status started = system_->StartIngestion();
  ASSERT_THAT(started, IsOk());
  ingestion_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
  const int64_t committed_first = ChangeHead() - head_before;  // one change per message
  ASSERT_GT(committed_first, 0);
  ASSERT_LE(committed_first, total / 2);
  const int resume_from = first.committed_trailer.value_or(0);
  ASSERT_LE(resume_from, committed_first) << "the trailer claims more than was committed";

  Attempt resumed = upload(*ingestion_, resume_from, /*hold_at=*/-1);
  ASSERT_THAT(resumed.status, IsOk());
  EXPECT_EQ(resumed.summary.messages_committed(), total - resume_from);
  // Messages committed before the interruption are recognised, not applied again...
  EXPECT_EQ(resumed.summary.messages_replayed(), committed_first - resume_from);
  // ...and every other record is applied once.
  int64_t records_after = 0;
  for (int k = static_cast<int>(committed_first); k < total; ++k) {
    records_after += messages[k].records_size();
  }
  EXPECT_EQ(resumed.summary.records_changed(), records_after);
  EXPECT_EQ(resumed.summary.last_request_id(), messages.back().request_id());
  EXPECT_EQ(ChangeHead() - head_before, total) << "one change per message, no more, no less";

  // Through the API: every record once, written by its own message; and the rollups add up.
  std::map<std::string, std::string> writer_of;  // record key → request id
  for (const auto& m : messages) {
    for (const auto& r : m.records()) {
      writer_of[RecordKey(r.unit_code(), r.month(), r.scheme())] = m.request_id();
    }
  }
  int problems = 0;
  for (const std::string& leaf : data.all_leaves({"82", "14"})) {
    v1::ListRevisionsRequest request;
    request.set_unit_code(leaf);
    request.set_page_size(1000);
    v1::ListRevisionsResponse revisions;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    grpc::Status status = ingestion_->ListRevisions(&context, request, &revisions);
    ASSERT_THAT(status, IsOk());
    std::set<std::string> seen;
    for (const v1::Revision& rev : revisions.revisions()) {
      const auto& p = rev.participation();
      const std::string key = RecordKey(p.unit_code(), p.month(), p.scheme());
      const bool duplicate = !seen.insert(key).second;
      if ((duplicate || writer_of[key] != rev.request_id() ||
           p.participants() != data.Participants(leaf, p.month(), p.scheme())) &&
          ++problems <= 10) {
        ADD_FAILURE() << key << ": revision by " << rev.request_id()
                      << (duplicate ? " (a duplicate)" : "");
      }
    }
    if (seen.size() != 4u * (13 - Dataset::kFirstMonth) && ++problems <= 10) {
      ADD_FAILURE() << leaf << ": " << seen.size() << " records, want "
                    << 4 * (13 - Dataset::kFirstMonth);
    }
  }
  for (std::string code : {"82", "14"}) {
    v1::Coverage coverage;
    grpc::Status status = GetCoverage(code, "2023-H2", &coverage);
    ASSERT_THAT(status, IsOk());
    // No denominators in this upload: compare participants only.
    for (const v1::SchemeCoverage& s : coverage.schemes()) {
      EXPECT_EQ(s.participants(), data.ExpectedParticipants(code, "2023-12", s.scheme()))
          << code << " " << v1::Scheme_Name(s.scheme());
    }
  }
}

}  // namespace
}  // namespace covtrack
