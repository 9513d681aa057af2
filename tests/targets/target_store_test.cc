// The target store's behaviour, on SQLite and on PostgreSQL (the same suite on both).

#include "services/targets/target_store.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/test_env.h"

namespace covtrack::targets {
namespace {

using ::covtrack::testing::NewStoreUrl;

v1::Target MakeTarget(const std::string& unit, v1::Scheme scheme, int year, double value) {
  v1::Target t;
  t.set_unit_code(unit);
  t.set_scheme(scheme);
  t.set_year(year);
  t.set_kind(v1::TARGET_KIND_PARTICIPANTS);
  t.set_value(value);
  t.set_basis(v1::TARGET_BASIS_ALL_PARTICIPANTS);
  t.set_assigned_by("UBND tỉnh Sơn La");
  t.set_decision_ref("Quyết định số 123/QĐ-UBND");
  return t;
}

// The targets schema of migration 1, as released (target_store.cc).
constexpr char kMigration1[] =
    "CREATE TABLE target_revisions ("
    "  unit_code TEXT NOT NULL,"
    "  scheme INTEGER NOT NULL,"
    "  year INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  value TEXT NOT NULL,"
    "  basis INTEGER NOT NULL,"
    "  assigned_by TEXT NOT NULL,"
    "  decision_ref TEXT NOT NULL,"
    "  update_time_micros BIGINT NOT NULL,"
    "  PRIMARY KEY (unit_code, year, scheme, revision));"
    "CREATE TABLE target_heads ("
    "  unit_code TEXT NOT NULL,"
    "  scheme INTEGER NOT NULL,"
    "  year INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  PRIMARY KEY (unit_code, year, scheme));"
    "CREATE TABLE target_requests ("
    "  request_id TEXT PRIMARY KEY,"
    "  content TEXT NOT NULL,"
    "  response TEXT NOT NULL);";

class TargetStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    absl::StatusOr<std::unique_ptr<TargetStore>> store =
        TargetStore::Open(*url, [this] { return now_; });
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  absl::StatusOr<v1::Target> Set(const std::string& request_id, const v1::Target& target) {
    absl::StatusOr<TargetStore::WriteResult> r =
        store_->WriteOnce(request_id, target.SerializeAsString(),
                          [&](sql::Session& s) -> absl::StatusOr<std::string> {
                            absl::StatusOr<v1::Target> stored = store_->InsertRevision(s, target);
                            if (!stored.ok()) {
                              return stored.status();
                            }
                            return stored->SerializeAsString();
                          });
    if (!r.ok()) {
      return r.status();
    }
    v1::Target out;
    out.ParseFromString(r->response);
    return out;
  }

  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::unique_ptr<TargetStore> store_;
};

TEST_P(TargetStoreTest, RevisionsAreNumberedAndEarlierOnesStayReadable) {
  absl::StatusOr<v1::Target> first = Set("r1", MakeTarget("125", v1::SCHEME_HEALTH, 2023, 147000));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->revision(), 1);
  EXPECT_EQ(first->update_time().seconds(), 1700000000);
  now_ += absl::Hours(1);
  absl::StatusOr<v1::Target> second = Set("r2", MakeTarget("125", v1::SCHEME_HEALTH, 2023, 147821));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->revision(), 2);
  EXPECT_EQ(second->update_time().seconds(), 1700003600);

  absl::StatusOr<std::vector<v1::Target>> current = store_->CurrentTargets("125", 2023);
  ASSERT_TRUE(current.ok()) << current.status();
  ASSERT_EQ(current->size(), 1u);
  EXPECT_EQ((*current)[0].scheme(), v1::SCHEME_HEALTH);
  EXPECT_EQ((*current)[0].value(), 147821);
  EXPECT_EQ((*current)[0].revision(), 2);

  TargetQuery all;
  all.unit_code = "125";
  all.include_revisions = true;
  absl::StatusOr<std::vector<v1::Target>> revisions = store_->List(all);
  ASSERT_TRUE(revisions.ok()) << revisions.status();
  ASSERT_EQ(revisions->size(), 2u);
  EXPECT_EQ((*revisions)[0].value(), 147000);
  EXPECT_EQ((*revisions)[0].assigned_by(), "UBND tỉnh Sơn La");
  EXPECT_EQ((*revisions)[0].decision_ref(), "Quyết định số 123/QĐ-UBND");
  EXPECT_EQ((*revisions)[1].value(), 147821);
}

TEST_P(TargetStoreTest, ValuesRoundTripExactly) {
  v1::Target big = MakeTarget("01", v1::SCHEME_HEALTH, 2025, 987654321);
  ASSERT_TRUE(Set("big", big).ok());
  v1::Target rate = MakeTarget("01", v1::SCHEME_SOCIAL, 2025, 28.9);
  rate.set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  ASSERT_TRUE(Set("rate", rate).ok());
  absl::StatusOr<std::vector<v1::Target>> current = store_->CurrentTargets("01", 2025);
  ASSERT_TRUE(current.ok());
  ASSERT_EQ(current->size(), 2u);  // by scheme: health (3), then social (5)
  EXPECT_EQ((*current)[0].value(), 987654321.0);
  EXPECT_EQ((*current)[1].scheme(), v1::SCHEME_SOCIAL);
  EXPECT_EQ((*current)[1].value(), 28.9);
  EXPECT_EQ((*current)[1].kind(), v1::TARGET_KIND_COVERAGE_PERCENT);
}

TEST_P(TargetStoreTest, SameRequestIdReplaysDifferentContentIsAlreadyExists) {
  v1::Target t = MakeTarget("125", v1::SCHEME_COMPULSORY_SOCIAL, 2023, 11136);
  absl::StatusOr<v1::Target> first = Set("same", t);
  ASSERT_TRUE(first.ok());
  now_ += absl::Hours(5);
  absl::StatusOr<v1::Target> again = Set("same", t);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->revision(), 1);
  EXPECT_EQ(again->update_time().seconds(), first->update_time().seconds());
  absl::StatusOr<std::optional<std::string>> found =
      store_->FindResponse("same", t.SerializeAsString());
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->has_value());

  t.set_value(11137);
  absl::StatusOr<v1::Target> different = Set("same", t);
  EXPECT_EQ(different.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->FindResponse("same", t.SerializeAsString()).status().code(),
            absl::StatusCode::kAlreadyExists);
  TargetQuery all;
  all.include_revisions = true;
  EXPECT_EQ(store_->List(all)->size(), 1u);
}

TEST_P(TargetStoreTest, FailedWriteStoresNothingAndFreesTheRequestId) {
  absl::StatusOr<TargetStore::WriteResult> r =
      store_->WriteOnce("doomed", "x", [&](sql::Session& s) -> absl::StatusOr<std::string> {
        absl::StatusOr<v1::Target> t =
            store_->InsertRevision(s, MakeTarget("125", v1::SCHEME_HEALTH, 2023, 1));
        EXPECT_TRUE(t.ok());
        return absl::FailedPreconditionError("second part failed");
      });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  TargetQuery all;
  all.include_revisions = true;
  EXPECT_TRUE(store_->List(all)->empty());
  EXPECT_FALSE(store_->FindResponse("doomed", "x")->has_value());
  // The next revision after a rolled-back one is still 1.
  EXPECT_EQ(Set("next", MakeTarget("125", v1::SCHEME_HEALTH, 2023, 2))->revision(), 1);
}

// A store written before the request ledger was shared (common/sql/request_ledger.h) kept each
// request's content itself; a retry of such a request is still recognised after the upgrade.
TEST_P(TargetStoreTest, ARequestAnsweredBeforeTheSharedLedgerIsStillReplayed) {
  std::optional<std::string> store_url = NewStoreUrl(GetParam());
  COVTRACK_REQUIRE_SERVER(store_url, "PostgreSQL");
  const std::string url = *store_url;
  const v1::Target target = MakeTarget("125", v1::SCHEME_HEALTH, 2023, 147000);
  v1::Target answered = target;
  answered.set_revision(1);
  {
    // The targets schema as migration 1 left it, with one answered request.
    absl::StatusOr<std::unique_ptr<sql::Database>> db = sql::Database::Open(url);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Migrate("targets", {{1, kMigration1}}).ok());
    ASSERT_TRUE((*db)
                    ->Write([&](sql::Session& s) {
                      return s
                          .Execute(
                              "INSERT INTO target_requests (request_id, content, response) "
                              "VALUES ($1, $2, $3)",
                              {std::string("before"),
                               absl::Base64Escape(target.SerializeAsString()),
                               absl::Base64Escape(answered.SerializeAsString())})
                          .status();
                    })
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<TargetStore>> store =
      TargetStore::Open(url, [this] { return now_; });
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::optional<std::string>> found =
      (*store)->FindResponse("before", target.SerializeAsString());
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, answered.SerializeAsString());
  v1::Target other = target;
  other.set_value(1);
  EXPECT_EQ((*store)->FindResponse("before", other.SerializeAsString()).status().code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<TargetStore::WriteResult> retry = (*store)->WriteOnce(
      "before", target.SerializeAsString(),
      [](sql::Session&) -> absl::StatusOr<std::string> { return absl::InternalError("ran"); });
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(retry->response, answered.SerializeAsString());
}

// Issue 9: migration 3 adds unit_as_of to a target's identity. The targets stored before get
// "" (the code's holder of the year): they read as before and their next revision follows on;
// a target of the same code, scheme and year for an earlier unit (unit_as_of) is another target.
TEST_P(TargetStoreTest, TargetsStoredBeforeUnitAsOfKeepTheirIdentity) {
  std::optional<std::string> store_url = NewStoreUrl(GetParam());
  COVTRACK_REQUIRE_SERVER(store_url, "PostgreSQL");
  const std::string url = *store_url;
  {
    absl::StatusOr<std::unique_ptr<sql::Database>> db = sql::Database::Open(url);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Migrate("targets", {{1, kMigration1}}).ok());
    ASSERT_TRUE((*db)
                    ->Write([&](sql::Session& s) -> absl::Status {
                      for (int revision : {1, 2}) {
                        absl::Status st =
                            s.Execute(
                                 "INSERT INTO target_revisions (unit_code, scheme, year, "
                                 "revision, kind, value, basis, assigned_by, decision_ref, "
                                 "update_time_micros) VALUES ('82', 3, 2025, $1, 1, $2, 1, "
                                 "'UBND tỉnh Tiền Giang', 'QĐ 1', 1)",
                                 {static_cast<int64_t>(revision), absl::StrCat(1000 * revision)})
                                .status();
                        if (!st.ok()) {
                          return st;
                        }
                      }
                      return s
                          .Execute(
                              "INSERT INTO target_heads (unit_code, scheme, year, revision) "
                              "VALUES ('82', 3, 2025, 2)",
                              {})
                          .status();
                    })
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<TargetStore>> store =
      TargetStore::Open(url, [this] { return now_; });
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<v1::Target>> current = (*store)->CurrentTargets("82", 2025);
  ASSERT_TRUE(current.ok()) << current.status();
  ASSERT_EQ(current->size(), 1u);
  EXPECT_EQ((*current)[0].unit_as_of(), "");
  EXPECT_EQ((*current)[0].revision(), 2);
  EXPECT_EQ((*current)[0].value(), 2000);
  EXPECT_EQ((*current)[0].assigned_by(), "UBND tỉnh Tiền Giang");

  store_ = std::move(*store);
  v1::Target next = MakeTarget("82", v1::SCHEME_HEALTH, 2025, 3000);
  absl::StatusOr<v1::Target> stored = Set("next", next);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->revision(), 3);
  v1::Target earlier_unit = MakeTarget("82", v1::SCHEME_HEALTH, 2025, 500);
  earlier_unit.set_unit_as_of("2025-06-30");
  stored = Set("earlier", earlier_unit);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->revision(), 1);
  EXPECT_EQ(stored->unit_as_of(), "2025-06-30");
  current = store_->CurrentTargets("82", 2025);
  ASSERT_TRUE(current.ok()) << current.status();
  ASSERT_EQ(current->size(), 2u);
  EXPECT_EQ((*current)[0].value(), 3000);
  EXPECT_EQ((*current)[1].value(), 500);
  EXPECT_EQ((*current)[1].unit_as_of(), "2025-06-30");
  TargetQuery all;
  all.include_revisions = true;
  absl::StatusOr<std::vector<v1::Target>> revisions = store_->List(all);
  ASSERT_TRUE(revisions.ok()) << revisions.status();
  EXPECT_EQ(revisions->size(), 4u);
}

// Issue 11: the measure and payer group join a target's identity (migration 4). A target on
// a measure is another target than the participants one of the same unit, scheme and year,
// with revisions of its own; readers of participants targets see none of them.
TEST_P(TargetStoreTest, MeasureTargetsAreTargetsOfTheirOwn) {
  ASSERT_TRUE(Set("p", MakeTarget("815", v1::SCHEME_HEALTH, 2024, 150000)).ok());
  v1::Target joined = MakeTarget("815", v1::SCHEME_HEALTH, 2024, 12000);
  joined.set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  joined.clear_kind();
  joined.clear_basis();
  v1::Target households = joined;
  households.set_payer_group(v1::PAYER_GROUP_HOUSEHOLD);
  households.set_value(9000);
  v1::Target ceiling = MakeTarget("815", v1::SCHEME_UNSPECIFIED, 2024, 2.1);
  ceiling.set_measure(v1::MEASURE_ARREARS_RATIO);
  ceiling.clear_kind();
  ceiling.clear_basis();
  for (const auto& [id, t] : std::vector<std::pair<std::string, v1::Target>>{
           {"j1", joined}, {"h1", households}, {"c1", ceiling}, {"c2", ceiling}}) {
    absl::StatusOr<v1::Target> stored = Set(id, t);
    ASSERT_TRUE(stored.ok()) << stored.status();
  }
  absl::StatusOr<std::vector<v1::Target>> participants = store_->CurrentTargets("815", 2024);
  ASSERT_TRUE(participants.ok()) << participants.status();
  ASSERT_EQ(participants->size(), 1u);
  EXPECT_EQ((*participants)[0].value(), 150000);
  EXPECT_EQ((*participants)[0].revision(), 1);

  absl::StatusOr<std::vector<v1::Target>> all = store_->CurrentTargets("815", 2024, std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 4u);
  // Ordered by measure, scheme, payer group; each read back exactly as written.
  EXPECT_EQ((*all)[1].measure(), v1::MEASURE_NEW_PARTICIPANTS);
  EXPECT_EQ((*all)[1].payer_group(), v1::PAYER_GROUP_UNSPECIFIED);
  EXPECT_EQ((*all)[2].payer_group(), v1::PAYER_GROUP_HOUSEHOLD);
  EXPECT_EQ((*all)[2].value(), 9000);
  EXPECT_EQ((*all)[3].measure(), v1::MEASURE_ARREARS_RATIO);
  EXPECT_EQ((*all)[3].revision(), 2);
  EXPECT_EQ((*all)[3].value(), 2.1);

  absl::StatusOr<std::vector<v1::Target>> ratio =
      store_->CurrentTargets("815", 2024, v1::MEASURE_ARREARS_RATIO);
  ASSERT_TRUE(ratio.ok());
  ASSERT_EQ(ratio->size(), 1u);

  // Paging one at a time through every measure's revisions meets each once.
  TargetQuery page;
  page.measure = std::nullopt;
  page.include_revisions = true;
  page.limit = 1;
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<std::vector<v1::Target>> got = store_->List(page);
    ASSERT_TRUE(got.ok()) << got.status();
    if (got->empty()) {
      break;
    }
    const v1::Target& t = got->front();
    seen.insert(absl::StrCat(t.measure(), "/", t.payer_group(), "/", t.revision()));
    page.after = TargetKey{t.unit_code(),
                           t.year(),
                           static_cast<int>(t.measure()),
                           static_cast<int>(t.scheme()),
                           static_cast<int>(t.payer_group()),
                           t.unit_as_of(),
                           t.revision()};
  }
  EXPECT_EQ(seen, std::set<std::string>({"0/0/1", "3/0/1", "3/5/1", "10/0/1", "10/0/2"}));
}

TEST_P(TargetStoreTest, ListFiltersAndPagesByKey) {
  int n = 0;
  for (const char* unit : {"14", "125", "815", "82"}) {
    for (v1::Scheme scheme : {v1::SCHEME_HEALTH, v1::SCHEME_COMPULSORY_SOCIAL}) {
      for (int year : {2023, 2024}) {
        const std::string id = absl::StrCat("id", n);
        ++n;
        ASSERT_TRUE(Set(id, MakeTarget(unit, scheme, year, 100 + n)).ok());
      }
    }
  }
  // A second revision of one target: only the current one is listed.
  ASSERT_TRUE(Set("rev", MakeTarget("815", v1::SCHEME_HEALTH, 2023, 999)).ok());

  TargetQuery health_2023;
  health_2023.year = 2023;
  health_2023.scheme = v1::SCHEME_HEALTH;
  absl::StatusOr<std::vector<v1::Target>> listed = store_->List(health_2023);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 4u);
  EXPECT_EQ((*listed)[0].unit_code(), "125");  // ordered by code as text
  EXPECT_EQ((*listed)[2].unit_code(), "815");
  EXPECT_EQ((*listed)[2].value(), 999);

  // Page through everything two at a time: 16 current targets, each once.
  TargetQuery page;
  page.limit = 2;
  std::vector<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::vector<v1::Target>> got = store_->List(page);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const v1::Target& t : *got) {
      seen.push_back(absl::StrCat(t.unit_code(), "/", t.year(), "/", t.scheme()));
    }
    if (got->size() < 2) {
      break;
    }
    const v1::Target& last = got->back();
    page.after = TargetKey{last.unit_code(),
                           last.year(),
                           static_cast<int>(last.measure()),
                           static_cast<int>(last.scheme()),
                           static_cast<int>(last.payer_group()),
                           last.unit_as_of(),
                           last.revision()};
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 16u);
}

TEST_P(TargetStoreTest, ConcurrentWritersGetDistinctRevisionsAndOneAnswerPerRequestId) {
  constexpr int kWriters = 8;
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<v1::Target>> distinct(kWriters, absl::UnknownError("not run"));
  std::vector<absl::StatusOr<v1::Target>> same(kWriters, absl::UnknownError("not run"));
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      distinct[i] =
          Set(absl::StrCat("writer-", i), MakeTarget("815", v1::SCHEME_HEALTH, 2023, 1000 + i));
      same[i] = Set("one-id", MakeTarget("815", v1::SCHEME_SOCIAL, 2023, 28.9));
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  std::set<int> revisions;
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_TRUE(distinct[i].ok()) << distinct[i].status();
    revisions.insert(distinct[i]->revision());
    ASSERT_TRUE(same[i].ok()) << same[i].status();
    EXPECT_EQ(same[i]->revision(), 1);
  }
  EXPECT_EQ(revisions.size(), static_cast<size_t>(kWriters));
  EXPECT_EQ(*revisions.begin(), 1);
  EXPECT_EQ(*revisions.rbegin(), kWriters);
  TargetQuery social;
  social.scheme = v1::SCHEME_SOCIAL;
  social.include_revisions = true;
  EXPECT_EQ(store_->List(social)->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, TargetStoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace covtrack::targets
