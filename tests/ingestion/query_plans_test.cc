// Every statement the ingestion store runs for its hot operations uses an index on the tables
// that grow with history (issue 15, part 2): the store runs through a Database that asks the
// engine for each statement's plan first (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN with
// sequential scans disabled, so that a sequential scan in the plan means no index fits), and
// the test fails on any full scan of such a table. The plans are read from the real statements
// as the store sends them, so the check follows the code without a copy of its SQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/paging/paging.h"
#include "common/sql/database.h"
#include "common/status/status.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/schema.h"
#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::Denominator;
using testing::IsOk;
using testing::Record;
using testing::Unit;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

// The tables that grow with every write (a row per changed figure, per change or per request).
const std::set<std::string>& BigTables() {
  static const std::set<std::string> kTables = {"participation", "participation_revisions",
                                                "denominators",  "denominator_revisions",
                                                "change_items",  "changes",
                                                "requests",      "crosswalk_revisions"};
  return kTables;
}

// participation is keyed by (month, unit_code, scheme) (schema.h, migration 4): a probe of it
// bound by the month alone reads a whole national month (~40,000 rows). Only the enumeration of
// its months (kParticipationMonths) may do that, and it reads the key alone (a covering index,
// one entry per month); every read of its rows must bound the unit too. Checked on SQLite only:
// its plans follow the indexes' shape, where PostgreSQL's follow the statistics, and on the
// test's few rows a probe by month alone costs it no more than one by month and unit (it chose
// either, run to run); at ten years of history its plans were checked by hand (bench/ingestion).

// A full scan of a big table in one statement's plan: what the plan says, and the statement.
struct FullScan {
  std::string plan_line;
  std::string sql;
};

class ExplainingSession : public sql::Session {
 public:
  ExplainingSession(sql::Session& inner, bool postgres, std::vector<FullScan>& found)
      : inner_(inner), postgres_(postgres), found_(found) {}

  absl::StatusOr<std::vector<sql::Row>> Query(absl::string_view sql,
                                              const sql::Params& params) override {
    RETURN_IF_ERROR(Explain(sql, params));
    return inner_.Query(sql, params);
  }
  absl::StatusOr<int64_t> Execute(absl::string_view sql, const sql::Params& params) override {
    RETURN_IF_ERROR(Explain(sql, params));
    return inner_.Execute(sql, params);
  }
  absl::string_view ForUpdate() const override { return inner_.ForUpdate(); }

 private:
  absl::Status Explain(absl::string_view sql, const sql::Params& params) {
    if (postgres_) {
      if (!seqscan_off_) {
        // Only in this transaction: a sequential scan is then chosen only where no index can
        // serve, whatever the (empty) tables' statistics say.
        RETURN_IF_ERROR(inner_.Execute("SET LOCAL enable_seqscan = off", {}).status());
        seqscan_off_ = true;
      }
      ASSIGN_OR_RETURN(const std::vector<sql::Row> plan,
                       inner_.Query(absl::StrCat("EXPLAIN ", sql), params));
      FindPostgresScans(plan, sql);
    } else {
      ASSIGN_OR_RETURN(const std::vector<sql::Row> plan,
                       inner_.Query(absl::StrCat("EXPLAIN QUERY PLAN ", sql), params));
      FindSqliteScans(plan, sql);
    }
    return absl::OkStatus();
  }

  // "Seq Scan on t", or an index scan of t without an Index Cond (a full index scan). An Index
  // Cond on a non-leading column of an index is not told apart (the plan does not name the
  // index's columns); SQLite's plan, checked on the same statements, does show it as a SCAN.
  void FindPostgresScans(const std::vector<sql::Row>& plan, absl::string_view sql) {
    static const std::regex kNode(R"((Seq Scan|Index Scan|Index Only Scan)\b.*? on (\w+))");
    for (size_t i = 0; i < plan.size(); ++i) {
      const std::string line = plan[i].Text(0);
      std::smatch node;
      if (!std::regex_search(line, node, kNode) || BigTables().count(node[2]) == 0) {
        continue;
      }
      bool bounded = false;
      if (node[1] != "Seq Scan") {
        for (size_t j = i + 1; j < plan.size() && !absl::StrContains(plan[j].Text(0), "->"); ++j) {
          bounded = bounded || absl::StrContains(plan[j].Text(0), "Index Cond:");
        }
      }
      if (!bounded) {
        found_.push_back({line, std::string(sql)});
      }
    }
  }

  // "SCAN x" (SQLite names a table by its alias when it has one), or rows of participation
  // searched without a bound on the unit (above).
  void FindSqliteScans(const std::vector<sql::Row>& plan, absl::string_view sql) {
    std::map<std::string, std::string> table_of;
    static const std::regex kTable(R"((?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?)",
                                   std::regex::icase);
    const std::string text(sql);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kTable);
         it != std::sregex_iterator(); ++it) {
      table_of[(*it)[1]] = (*it)[1];
      if ((*it)[2].matched) {
        table_of[(*it)[2]] = (*it)[1];
      }
    }
    static const std::regex kScan(R"(^SCAN (\w+))");
    // Rows read through participation's key (named by the index: aliases repeat in a UNION),
    // and what bounds the search.
    static const std::regex kByMonthSearch(
        R"(^SEARCH \w+ USING INDEX sqlite_autoindex_participation_\d+ \((.*)\))");
    auto name_of = [&table_of](const std::string& alias) {
      auto table = table_of.find(alias);
      return table == table_of.end() ? alias : table->second;
    };
    for (const sql::Row& row : plan) {
      const std::string detail = row.Text(3);
      std::smatch match;
      if (std::regex_search(detail, match, kScan)) {
        if (BigTables().count(name_of(match[1])) > 0) {
          found_.push_back({detail, text});
        }
      } else if (std::regex_search(detail, match, kByMonthSearch) &&
                 !absl::StrContains(match[1].str(), "unit_code")) {
        found_.push_back({detail, text});
      }
    }
  }

  sql::Session& inner_;
  const bool postgres_;
  std::vector<FullScan>& found_;
  bool seqscan_off_ = false;
};

class ExplainingDatabase : public sql::Database {
 public:
  ExplainingDatabase(std::unique_ptr<sql::Database> inner, bool postgres)
      : inner_(std::move(inner)), postgres_(postgres) {}

  absl::Status Write(const std::function<absl::Status(sql::Session&)>& fn) override {
    return inner_->Write([&](sql::Session& s) {
      ExplainingSession explaining(s, postgres_, found_);
      return fn(explaining);
    });
  }
  absl::Status Read(const std::function<absl::Status(sql::Session&)>& fn) override {
    return inner_->Read([&](sql::Session& s) {
      ExplainingSession explaining(s, postgres_, found_);
      return fn(explaining);
    });
  }
  absl::Status Migrate(absl::string_view component, const std::vector<sql::Migration>& migrations,
                       sql::MigrationReport* report) override {
    return inner_->Migrate(component, migrations, report);
  }

  const std::vector<FullScan>& found() const { return found_; }

 private:
  std::unique_ptr<sql::Database> inner_;
  const bool postgres_;
  std::vector<FullScan> found_;
};

class QueryPlansTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    auto db = sql::Database::Open(*url);
    ASSERT_THAT(db.status(), IsOk());
    db_ = std::make_unique<ExplainingDatabase>(std::move(*db), GetParam() == "postgresql");
    // Pruning on every write, so that its statements are checked too.
    auto store = ingestion::IngestionStore::Create(
        db_.get(), ingestion::FeedRetention{absl::ZeroDuration(), 1});
    ASSERT_THAT(store.status(), IsOk());
    store_ = std::move(*store);
  }

  std::unique_ptr<ExplainingDatabase> db_;
  std::unique_ptr<ingestion::IngestionStore> store_;
};

TEST_P(QueryPlansTest, HotOperationsScanNoBigTable) {
  const ingestion::Sender sender{"peer", "test"};
  v1::ImportAdminUnitsRequest units;
  units.set_request_id("units");
  for (const v1::AdminUnit& u :
       {Unit("82", ADMIN_LEVEL_PROVINCE, ""), Unit("815", ADMIN_LEVEL_DISTRICT, "82"),
        Unit("28249", ADMIN_LEVEL_COMMUNE, "815"), Unit("28252", ADMIN_LEVEL_COMMUNE, "815")}) {
    *units.add_units() = u;
  }
  ASSERT_THAT(store_->ImportAdminUnits(units, sender).status(), IsOk());
  for (int n = 1; n <= 4; ++n) {
    v1::SubmitReportRequest report;
    report.set_request_id(absl::StrCat("report-", n));
    for (const char* code : {"28249", "28252"}) {
      *report.add_records() =
          Record(code, absl::StrFormat("2024-%02d", n), v1::SCHEME_HEALTH, 100 + n, 90);
    }
    *report.add_denominators() =
        Denominator("28249", 2024, v1::DENOMINATOR_KIND_POPULATION, 5000 + n);
    ASSERT_THAT(store_->SubmitReport(report, sender).status(), IsOk());
    ASSERT_THAT(store_->SubmitReport(report, sender).status(), IsOk());  // a replay
  }
  for (const auto& [month, scheme] :
       std::vector<std::pair<std::string, v1::Scheme>>{{"", v1::SCHEME_UNSPECIFIED},
                                                       {"2024-02", v1::SCHEME_UNSPECIFIED},
                                                       {"", v1::SCHEME_HEALTH}}) {
    v1::ListRevisionsRequest request;
    request.set_unit_code("28249");
    request.set_month(month);
    request.set_scheme(scheme);
    auto page = PageRequest::Read(request, {100, 1000});
    ASSERT_THAT(page.status(), IsOk());
    ASSERT_THAT(store_->ListRevisions(request, *page).status(), IsOk());
  }
  ASSERT_THAT(store_->ListChanges(0, 100).status(), IsOk());
  ASSERT_THAT(store_->ListChanges(3, 1).status(), IsOk());
  ASSERT_THAT(store_->ChangeHead().status(), IsOk());
  ASSERT_THAT(store_->UnitVersions("28249").status(), IsOk());
  for (const std::string root : {"", "VN", "815"}) {
    v1::ExportDataRequest request;
    request.set_root_code(root);
    request.set_as_of(root.empty() ? "" : "2024-06-30");
    request.set_from_month("2024-01");
    request.set_to_month("2024-12");
    request.set_from_year(2024);
    request.set_to_year(2024);
    int64_t records = 0;
    ASSERT_THAT(store_->ExportData(request,
                                   [&](const v1::ExportDataResponse& chunk) {
                                     records += chunk.records_size();
                                     return true;
                                   }),
                IsOk());
    EXPECT_EQ(records, 8);
  }
  for (const FullScan& scan : db_->found()) {
    ADD_FAILURE() << "full scan of a big table: " << scan.plan_line << "\n  in: " << scan.sql;
  }
}

// Migration 4 (schema.h) rebuilds participation keyed by month first: a store written under the
// unit-first key keeps every row (values, NULLs, change_seq), and its reads, checked for their
// plans as above, answer as before. Run again, the migrations apply nothing.
TEST_P(QueryPlansTest, MigrationToTheMonthFirstKeyKeepsEveryRow) {
  std::optional<std::string> url = testing::SqliteStoreUrl();
  if (GetParam() == "postgresql") {
    url = testing::NewPostgresDatabase();  // SetUp has checked that the server is there
  }
  auto opened = sql::Database::Open(*url);
  ASSERT_THAT(opened.status(), IsOk());
  ExplainingDatabase db(std::move(*opened), GetParam() == "postgresql");
  const std::vector<sql::Migration>& migrations = ingestion::IngestionMigrations();
  ASSERT_GE(migrations.size(), 4u);
  ASSERT_EQ(migrations[3].version, 4);
  ASSERT_THAT(db.Migrate("ingestion", {migrations.begin(), migrations.begin() + 3}, nullptr),
              IsOk());
  ASSERT_THAT(db.Write([](sql::Session& s) -> absl::Status {
    RETURN_IF_ERROR(s.Execute("UPDATE change_counter SET last_seq = 2", {}).status());
    RETURN_IF_ERROR(s.Execute("INSERT INTO changes (seq, request_id, source, peer, "
                              "commit_time_us) VALUES (1, 'units', 't', 'p', 0), "
                              "(2, 'figures', 't', 'p', 0)",
                              {})
                        .status());
    RETURN_IF_ERROR(s.Execute("INSERT INTO admin_units (code, valid_from, valid_to, name, level, "
                              "type, parent_code, change_seq) VALUES "
                              "('82', '', '9999-12-31', 'P', 2, 'tinh', '', 1), "
                              "('815', '', '9999-12-31', 'D', 3, 'huyen', '82', 1), "
                              "('28249', '', '9999-12-31', 'A', 4, 'xa', '815', 1), "
                              "('28252', '', '9999-12-31', 'B', 4, 'xa', '815', 1)",
                              {})
                        .status());
    for (const char* code : {"28252", "28249"}) {
      for (const char* month : {"2024-03", "2023-12", "2024-01"}) {
        RETURN_IF_ERROR(
            s.Execute("INSERT INTO participation (unit_code, month, scheme, participants, "
                      "in_province, change_seq) VALUES ($1, $2, 1, 100, NULL, 2), "
                      "($1, $2, 3, 200, 150, 2)",
                      {std::string(code), std::string(month)})
                .status());
      }
    }
    return absl::OkStatus();
  }),
              IsOk());
  for (int run = 0; run < 2; ++run) {
    auto store = ingestion::IngestionStore::Create(&db);
    ASSERT_THAT(store.status(), IsOk());
    v1::ExportDataRequest request;
    request.set_from_month("2023-01");
    request.set_to_month("2024-12");
    std::vector<std::string> exported;
    ASSERT_THAT((*store)->ExportData(request,
                                     [&](const v1::ExportDataResponse& chunk) {
                                       for (const v1::ParticipationRecord& r : chunk.records()) {
                                         exported.push_back(absl::StrCat(
                                             r.unit_code(), " ", r.month(), " ", r.scheme(), " ",
                                             r.participants(), " ",
                                             r.has_in_province_participants()
                                                 ? absl::StrCat(r.in_province_participants())
                                                 : "-"));
                                       }
                                       return true;
                                     }),
                IsOk());
    EXPECT_THAT(exported,
                ::testing::ElementsAre(
                    "28249 2023-12 1 100 -", "28249 2023-12 3 200 150", "28249 2024-01 1 100 -",
                    "28249 2024-01 3 200 150", "28249 2024-03 1 100 -", "28249 2024-03 3 200 150",
                    "28252 2023-12 1 100 -", "28252 2023-12 3 200 150", "28252 2024-01 1 100 -",
                    "28252 2024-01 3 200 150", "28252 2024-03 1 100 -", "28252 2024-03 3 200 150"));
    v1::ListRevisionsRequest list;
    list.set_unit_code("28252");
    auto page = PageRequest::Read(list, {100, 1000});
    ASSERT_THAT(page.status(), IsOk());
    auto revisions = (*store)->ListRevisions(list, *page);
    ASSERT_THAT(revisions.status(), IsOk());
    ASSERT_EQ(revisions->revisions_size(), 6);
    EXPECT_EQ(revisions->revisions(0).participation().month(), "2023-12");
    EXPECT_EQ(revisions->revisions(5).participation().month(), "2024-03");
    EXPECT_EQ(revisions->revisions(5).change_seq(), 2);
    EXPECT_EQ(revisions->revisions(5).request_id(), "figures");
  }
  for (const FullScan& scan : db.found()) {
    ADD_FAILURE() << "full scan of a big table: " << scan.plan_line << "\n  in: " << scan.sql;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, QueryPlansTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace covtrack
