// The bulk write path of reports (issue 15), on SQLite and PostgreSQL, where it takes shortcuts
// for speed: a report of keys the store does not hold yet is inserted without the upsert (a
// probe of the month-first key decides), and health totals are compared with the stored sums of
// their payer groups (health_part_sums, which every write of a group keeps and migration 7
// fills), the totals whose groups fit kept out of the check's maps.
// Each shortcut must answer as the general path does: the same counts, the same feed, the same
// refusals naming the same record, whether the groups were stored in an earlier transaction or
// earlier in the same one (StreamReports' group commit).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/measures.h"
#include "common/sql/database.h"
#include "services/ingestion/batched_sql.h"
#include "services/ingestion/ingestion_store.h"
#include "services/ingestion/measure_table.h"
#include "services/ingestion/schema.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using ingestion::IngestionStore;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::Record;
using testing::StatusIs;
using testing::Unit;
using ::testing::UnorderedElementsAre;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

const ingestion::Sender kSender{"test-peer", "test"};

// "unit/month" -> the sum of its health total's stored parts: as health_part_sums holds it
// (schema.h, migration 7) when `kept`, else summed from measure_values.
std::map<std::string, int64_t> PartSums(sql::Database& db, bool kept) {
  const std::string query =
      kept ? "SELECT unit_code, month, parts FROM health_part_sums"
           : absl::StrCat(
                 "SELECT m.unit_code, m.month, CAST(SUM(m.value) AS BIGINT) FROM "
                 "measure_values m WHERE ",
                 ingestion::PartOfHealthTotal(), " GROUP BY m.unit_code, m.month");
  std::map<std::string, int64_t> sums;
  EXPECT_THAT(db.Read([&](sql::Session& s) -> absl::Status {
    absl::StatusOr<std::vector<sql::Row>> rows = s.Query(query, {});
    if (!rows.ok()) {
      return rows.status();
    }
    for (const sql::Row& row : *rows) {
      sums[absl::StrCat(row.Text(0), "/", row.Text(1))] = row.Int(2);
    }
    return absl::OkStatus();
  }),
              IsOk());
  return sums;
}

v1::MeasureRecord PayerGroup(const std::string& unit, const std::string& month, int64_t value,
                             v1::PayerGroup group) {
  return MakeMeasureRecord(unit, month, v1::MEASURE_HEALTH_BY_PAYER, value, v1::SCHEME_HEALTH,
                           group);
}

v1::SubmitReportRequest Report(const std::string& id,
                               const std::vector<v1::ParticipationRecord>& records,
                               const std::vector<v1::MeasureRecord>& measures = {}) {
  v1::SubmitReportRequest request;
  request.set_request_id(id);
  for (const v1::ParticipationRecord& r : records) {
    *request.add_records() = r;
  }
  for (const v1::MeasureRecord& m : measures) {
    *request.add_measures() = m;
  }
  return request;
}

class WritePathTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    absl::StatusOr<testing::StoreWithUnits> opened = testing::OpenStoreWithUnits(
        *url, {Unit("82", ADMIN_LEVEL_PROVINCE, ""), Unit("815", ADMIN_LEVEL_DISTRICT, "82"),
               Unit("28240", ADMIN_LEVEL_COMMUNE, "815"), Unit("28249", ADMIN_LEVEL_COMMUNE, "815"),
               Unit("28252", ADMIN_LEVEL_COMMUNE, "815"), Unit("28255", ADMIN_LEVEL_COMMUNE, "815"),
               Unit("28258", ADMIN_LEVEL_COMMUNE, "815", "", "2024-12-31")});
    ASSERT_THAT(opened.status(), IsOk());
    db_ = std::move(opened->db);
    store_ = std::move(opened->store);
  }

  absl::StatusOr<v1::SubmitReportResponse> Submit(const v1::SubmitReportRequest& request) {
    return store_->SubmitReport(request, kSender);
  }

  // "unit/month" of each participation item of the change at `seq`, with its records' count.
  std::vector<std::string> ChangedUnitMonths(int64_t seq) {
    auto page = store_->ListChanges(seq - 1, 1);
    EXPECT_THAT(page.status(), IsOk());
    std::vector<std::string> touched;
    if (page.ok() && page->changes_size() == 1 && page->changes(0).seq() == seq) {
      for (const v1::Change::UnitMonth& m : page->changes(0).participation()) {
        int records = 0;
        for (const v1::ParticipationRecord& r : page->changes(0).records()) {
          records += r.unit_code() == m.unit_code() && r.month() == m.month();
        }
        touched.push_back(absl::StrCat(m.unit_code(), "/", m.month(), " x", records));
      }
    }
    return touched;
  }

  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<IngestionStore> store_;
};

// New keys, in a month whose stored rows lie outside the report's codes (the probe finds
// none: plain inserts) and then inside them (the probe finds some: the upsert): both count
// every new record as changed, publish each unit-month once, and a repeat changes nothing.
TEST_P(WritePathTest, NewKeysCountAndPublishAlikeWhicheverWayTheyAreWritten) {
  auto outside = Submit(Report("outside", {Record("28240", "2024-11", v1::SCHEME_HEALTH, 10)}));
  ASSERT_THAT(outside.status(), IsOk());
  // 28249..28252: nothing stored between them in 2024-11 (28240 is before).
  auto fresh = Submit(Report("fresh", {Record("28249", "2024-11", v1::SCHEME_HEALTH, 20),
                                       Record("28249", "2024-11", v1::SCHEME_UNEMPLOYMENT, 21),
                                       Record("28252", "2024-11", v1::SCHEME_HEALTH, 22, 5)}));
  ASSERT_THAT(fresh.status(), IsOk());
  EXPECT_EQ(fresh->records_changed(), 3);
  EXPECT_THAT(ChangedUnitMonths(fresh->change_seq()),
              UnorderedElementsAre("28249/2024-11 x2", "28252/2024-11 x1"));
  // 28240..28255 holds 28240, 28249 and 28252 now: the upsert, two of three keys new.
  auto mixed = Submit(Report("mixed", {Record("28240", "2024-11", v1::SCHEME_UNEMPLOYMENT, 30),
                                       Record("28249", "2024-11", v1::SCHEME_HEALTH, 20),
                                       Record("28255", "2024-11", v1::SCHEME_HEALTH, 31)}));
  ASSERT_THAT(mixed.status(), IsOk());
  EXPECT_EQ(mixed->records_changed(), 2);  // 28249's health value is the stored one
  EXPECT_THAT(ChangedUnitMonths(mixed->change_seq()),
              UnorderedElementsAre("28240/2024-11 x1", "28255/2024-11 x1"));
  // The same figures again under another request_id: nothing changes, nothing is published.
  auto again = Submit(Report("again", {Record("28249", "2024-11", v1::SCHEME_HEALTH, 20),
                                       Record("28252", "2024-11", v1::SCHEME_HEALTH, 22, 5)}));
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(again->records_changed(), 0);
  EXPECT_EQ(again->change_seq(), mixed->change_seq());
}

// A health total below the payer groups stored for its unit-month is refused, naming the
// record, with groups stored by an earlier transaction; a total equal to its groups' sum, and
// one whose unit-month has groups only in another month, are accepted.
TEST_P(WritePathTest, AHealthTotalBelowItsStoredPayerGroupsIsRefused) {
  ASSERT_THAT(Submit(Report("groups", {},
                            {PayerGroup("28249", "2024-12", 600, v1::PAYER_GROUP_HOUSEHOLD),
                             PayerGroup("28249", "2024-12", 300, v1::PAYER_GROUP_STATE_BUDGET),
                             PayerGroup("28252", "2024-12", 100, v1::PAYER_GROUP_HOUSEHOLD),
                             PayerGroup("28255", "2024-11", 500, v1::PAYER_GROUP_HOUSEHOLD)}))
                  .status(),
              IsOk());
  // records[2] is 28252's total, one below its group; the others fit.
  EXPECT_THAT(Submit(Report("below", {Record("28240", "2024-12", v1::SCHEME_HEALTH, 1),
                                      Record("28249", "2024-12", v1::SCHEME_HEALTH, 900),
                                      Record("28252", "2024-12", v1::SCHEME_HEALTH, 99),
                                      Record("28255", "2024-12", v1::SCHEME_HEALTH, 1)}))
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("records[2].participants: the payer groups of health_by_payer "
                                 "of unit \"28252\" in 2024-12 add up to 100")));
  // Nothing of the refused report was written.
  auto fits = Submit(Report("fits", {Record("28240", "2024-12", v1::SCHEME_HEALTH, 1),
                                     Record("28249", "2024-12", v1::SCHEME_HEALTH, 900),
                                     Record("28252", "2024-12", v1::SCHEME_HEALTH, 100),
                                     Record("28255", "2024-12", v1::SCHEME_HEALTH, 1)}));
  ASSERT_THAT(fits.status(), IsOk());
  EXPECT_EQ(fits->records_changed(), 4);
  // Lowering a stored total below its groups is refused too (the upsert's path).
  EXPECT_THAT(
      Submit(Report("lower", {Record("28249", "2024-12", v1::SCHEME_HEALTH, 899)})).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("records[0].participants")));
}

// The same check sees payer groups stored earlier in the same transaction (StreamReports'
// group commit), and a refused report in the group leaves the others written.
TEST_P(WritePathTest, PayerGroupsStoredEarlierInTheSameTransactionAreChecked) {
  std::vector<absl::StatusOr<v1::SubmitReportResponse>> answers;
  ASSERT_THAT(store_->SubmitReports([&](const IngestionStore::SubmitInGroup& submit) {
    answers.push_back(submit(
        Report("groups", {}, {PayerGroup("28249", "2025-01", 700, v1::PAYER_GROUP_HOUSEHOLD)}),
        kSender));
    answers.push_back(submit(Report("below", {Record("28240", "2025-01", v1::SCHEME_HEALTH, 5),
                                              Record("28249", "2025-01", v1::SCHEME_HEALTH, 699)}),
                             kSender));
    answers.push_back(
        submit(Report("fits", {Record("28249", "2025-01", v1::SCHEME_HEALTH, 700)}), kSender));
    return absl::OkStatus();
  }),
              IsOk());
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_THAT(answers[0].status(), IsOk());
  EXPECT_THAT(answers[1].status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("records[1].participants")));
  ASSERT_THAT(answers[2].status(), IsOk());
  EXPECT_EQ(answers[2]->records_changed(), 1);
  // 28240's record went with its refused report.
  auto resent = Submit(Report("resent", {Record("28240", "2025-01", v1::SCHEME_HEALTH, 5)}));
  ASSERT_THAT(resent.status(), IsOk());
  EXPECT_EQ(resent->records_changed(), 1);
}

// Every unit-month of a report is checked against the units, also where one unit's records
// follow one another: a later month of the same unit after its end is refused by its index.
TEST_P(WritePathTest, EachUnitMonthIsCheckedWhenAUnitRepeats) {
  EXPECT_THAT(Submit(Report("late", {Record("28258", "2024-11", v1::SCHEME_HEALTH, 1),
                                     Record("28258", "2024-11", v1::SCHEME_UNEMPLOYMENT, 1),
                                     Record("28258", "2024-12", v1::SCHEME_HEALTH, 1)}))
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("records[2].month: unit \"28258\" does not exist at the end of "
                                 "2024-12 (valid […, 2024-12-31))")));
}

// A report's check reads the units from bounds kept since an earlier transaction
// (UnitBoundsCache): a unit imported or changed since, by this store or by another on the same
// database (a second replica), is seen by the next report, whichever way the change goes.
TEST_P(WritePathTest, AReportSeesTheUnitsAsTheyAreWhenItIsWritten) {
  ASSERT_THAT(Submit(Report("first", {Record("28240", "2024-11", v1::SCHEME_HEALTH, 1)})).status(),
              IsOk());
  const v1::SubmitReportRequest unknown =
      Report("unknown", {Record("28261", "2024-11", v1::SCHEME_HEALTH, 1)});
  const v1::SubmitReportRequest after_end =
      Report("after end", {Record("28258", "2025-01", v1::SCHEME_HEALTH, 1)});
  const v1::SubmitReportRequest shortened =
      Report("shortened", {Record("28255", "2024-11", v1::SCHEME_HEALTH, 1)});
  EXPECT_THAT(Submit(unknown).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown unit \"28261\"")));
  EXPECT_THAT(Submit(after_end).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not exist at the end of 2025-01")));
  // Another store on the same database adds a commune and a version of 28258 from its end on.
  auto other = IngestionStore::Create(db_.get());
  ASSERT_THAT(other.status(), IsOk());
  v1::ImportAdminUnitsRequest added;
  added.set_request_id("added");
  *added.add_units() = Unit("28261", ADMIN_LEVEL_COMMUNE, "815");
  *added.add_units() = Unit("28258", ADMIN_LEVEL_COMMUNE, "815", "2024-12-31");
  ASSERT_THAT((*other)->ImportAdminUnits(added, kSender).status(), IsOk());
  EXPECT_THAT(Submit(unknown).status(), IsOk());
  EXPECT_THAT(Submit(after_end).status(), IsOk());
  // This store ends 28255 on 2024-06-30 (a stored version changed, not added): its record of
  // 2024-11, accepted by the bounds kept before, is refused now.
  ASSERT_THAT(
      Submit(Report("fits before", {Record("28255", "2024-10", v1::SCHEME_HEALTH, 1)})).status(),
      IsOk());
  v1::ImportAdminUnitsRequest ended;
  ended.set_request_id("ended");
  *ended.add_units() = Unit("28255", ADMIN_LEVEL_COMMUNE, "815", "", "2024-06-30");
  ASSERT_THAT(store_->ImportAdminUnits(ended, kSender).status(), IsOk());
  EXPECT_THAT(Submit(shortened).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("records[0].month: unit \"28255\" does not exist at the end of "
                                 "2024-11")));
}

// InsertInBatches, which every bulk write goes through: whatever the number of rows and of
// columns, and whether the caller's values are copied or moved into the batches, each row is
// written once with its own values. Tables of 2 and 3 columns take the same row counts one
// after the other, so that a statement text reused for the wrong shape shows.
TEST_P(WritePathTest, BatchedInsertsWriteEveryRowOnceWithItsValues) {
  ASSERT_THAT(db_->Write([](sql::Session& s) -> absl::Status {
    for (const char* create : {"CREATE TABLE batch_pairs (k BIGINT PRIMARY KEY, v TEXT NOT NULL)",
                               "CREATE TABLE batch_triples (k BIGINT PRIMARY KEY, v TEXT NOT "
                               "NULL, w BIGINT NOT NULL)"}) {
      if (absl::Status status = s.Execute(create, {}).status(); !status.ok()) {
        return status;
      }
    }
    int64_t next = 0;
    for (const size_t rows : {size_t{1}, size_t{3}, size_t{128}, size_t{131}, size_t{300}}) {
      for (const bool moved : {false, true}) {
        for (const size_t columns : {size_t{3}, size_t{2}}) {
          const int64_t first = next;
          sql::Params values;
          for (size_t r = 0; r < rows; ++r, ++next) {
            values.push_back(next);
            values.push_back(absl::StrCat("v", next));
            if (columns == 3) {
              values.push_back(-next);
            }
          }
          const std::string table = columns == 3 ? "batch_triples" : "batch_pairs";
          const std::string head =
              absl::StrCat("INSERT INTO ", table, columns == 3 ? " (k, v, w)" : " (k, v)");
          const std::string tail = columns == 3 ? " RETURNING k, v, w" : " RETURNING k, v";
          absl::StatusOr<std::vector<sql::Row>> written =
              moved ? ingestion::InsertInBatches(s, head, tail, columns, std::move(values))
                    : ingestion::InsertInBatches(s, head, tail, columns, values);
          if (!written.ok()) {
            return written.status();
          }
          std::vector<int64_t> keys;
          for (const sql::Row& row : *written) {
            keys.push_back(row.Int(0));
            EXPECT_EQ(row.Text(1), absl::StrCat("v", row.Int(0)));
            if (columns == 3) {
              EXPECT_EQ(row.Int(2), -row.Int(0));
            }
          }
          std::sort(keys.begin(), keys.end());
          std::vector<int64_t> expected(rows);
          std::iota(expected.begin(), expected.end(), first);
          EXPECT_EQ(keys, expected)
              << rows << " rows of " << columns << " columns" << (moved ? ", moved" : ", copied");
        }
      }
    }
    return absl::OkStatus();
  }),
              IsOk());
}

// health_part_sums (migration 7), which the check of health totals reads instead of the payer
// groups themselves, follows every write of a group: raised, lowered, new, beside measures that
// are not parts, and not at all where the report is refused, alone or in a group commit. After
// each step it holds what summing the stored groups gives, and the check answers by it.
TEST_P(WritePathTest, StoredSumsOfPayerGroupsFollowEveryWrite) {
  auto sums_agree = [&] { EXPECT_EQ(PartSums(*db_, true), PartSums(*db_, false)); };
  ASSERT_THAT(
      Submit(Report("groups", {},
                    {PayerGroup("28249", "2024-12", 600, v1::PAYER_GROUP_HOUSEHOLD),
                     PayerGroup("28249", "2024-12", 300, v1::PAYER_GROUP_STATE_BUDGET),
                     PayerGroup("28249", "2024-11", 50, v1::PAYER_GROUP_HOUSEHOLD),
                     PayerGroup("28252", "2024-12", 100, v1::PAYER_GROUP_HOUSEHOLD),
                     MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 5000)}))
          .status(),
      IsOk());
  EXPECT_EQ(PartSums(*db_, true),
            (std::map<std::string, int64_t>{
                {"28249/2024-11", 50}, {"28249/2024-12", 900}, {"28252/2024-12", 100}}));
  sums_agree();

  // A group lowered: 28249's total may now be as low as 400, not lower.
  ASSERT_THAT(Submit(Report("lower-group", {},
                            {PayerGroup("28249", "2024-12", 100, v1::PAYER_GROUP_HOUSEHOLD)}))
                  .status(),
              IsOk());
  sums_agree();
  EXPECT_THAT(
      Submit(Report("total-400", {Record("28249", "2024-12", v1::SCHEME_HEALTH, 400)})).status(),
      IsOk());
  EXPECT_THAT(
      Submit(Report("total-399", {Record("28249", "2024-12", v1::SCHEME_HEALTH, 399)})).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("records[0].participants")));

  // A group raised where no total is stored: a total below the new sum is refused.
  ASSERT_THAT(Submit(Report("raise-group", {},
                            {PayerGroup("28252", "2024-12", 700, v1::PAYER_GROUP_HOUSEHOLD)}))
                  .status(),
              IsOk());
  sums_agree();
  EXPECT_THAT(
      Submit(Report("total-600", {Record("28252", "2024-12", v1::SCHEME_HEALTH, 600)})).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("the payer groups of health_by_payer of unit \"28252\" in 2024-12 "
                         "add up to 700")));

  // A refused report's groups leave the sums as they were.
  const std::map<std::string, int64_t> before = PartSums(*db_, true);
  EXPECT_THAT(Submit(Report("refused", {Record("28249", "2024-12", v1::SCHEME_HEALTH, 1)},
                            {PayerGroup("28252", "2024-12", 50, v1::PAYER_GROUP_HOUSEHOLD)}))
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(PartSums(*db_, true), before);

  // In a group commit, the refused message's group goes with it; the one before it stays.
  std::vector<absl::StatusOr<v1::SubmitReportResponse>> answers;
  ASSERT_THAT(store_->SubmitReports([&](const IngestionStore::SubmitInGroup& submit) {
    answers.push_back(
        submit(Report("kept", {}, {PayerGroup("28255", "2025-01", 70, v1::PAYER_GROUP_HOUSEHOLD)}),
               kSender));
    answers.push_back(
        submit(Report("dropped", {Record("28255", "2025-01", v1::SCHEME_HEALTH, 80)},
                      {PayerGroup("28255", "2025-01", 30, v1::PAYER_GROUP_STATE_BUDGET),
                       PayerGroup("28255", "2025-01", 60, v1::PAYER_GROUP_EMPLOYER_EMPLOYEE)}),
               kSender));
    return absl::OkStatus();
  }),
              IsOk());
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_THAT(answers[0].status(), IsOk());
  EXPECT_THAT(answers[1].status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(PartSums(*db_, true).at("28255/2025-01"), 70);
  sums_agree();
}

// During a rolling upgrade a process of the release before migration 7 writes payer groups
// without their sums (here its statements, straight into measure_values under the next seq);
// the next report sums their unit-months again before it checks a total against them.
TEST_P(WritePathTest, PayerGroupsWrittenByAnEarlierReleaseAreSummedBeforeTheCheck) {
  ASSERT_THAT(
      Submit(Report("groups", {}, {PayerGroup("28249", "2024-12", 300, v1::PAYER_GROUP_HOUSEHOLD)}))
          .status(),
      IsOk());
  ASSERT_THAT(db_->Write([](sql::Session& s) -> absl::Status {
    absl::StatusOr<std::vector<sql::Row>> head = s.Query(
        absl::StrCat("SELECT last_seq FROM change_counter WHERE id = 1", s.ForUpdate()), {});
    if (!head.ok()) {
      return head.status();
    }
    const int64_t seq = (*head)[0].Int(0) + 1;
    for (const char* sql :
         {"UPDATE measure_values SET value = 800, change_seq = $1 WHERE unit_code = '28249' "
          "AND month = '2024-12'",
          "INSERT INTO measure_values (month, unit_code, measure, scheme, payer_group, value, "
          "change_seq) VALUES ('2024-12', '28252', 5, 3, 5, 500, $1)",
          "UPDATE change_counter SET last_seq = $1 WHERE id = 1"}) {
      if (absl::Status status = s.Execute(sql, {seq}).status(); !status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_THAT(
      Submit(Report("below", {Record("28249", "2024-12", v1::SCHEME_HEALTH, 799)})).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("unit \"28249\" in 2024-12 add up to 800")));
  EXPECT_THAT(
      Submit(Report("below-2", {Record("28252", "2024-12", v1::SCHEME_HEALTH, 499)})).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("unit \"28252\" in 2024-12 add up to 500")));
  // A refused report's catching up went with it; the next committed one keeps it.
  ASSERT_THAT(Submit(Report("fits", {Record("28249", "2024-12", v1::SCHEME_HEALTH, 800),
                                     Record("28252", "2024-12", v1::SCHEME_HEALTH, 500)}))
                  .status(),
              IsOk());
  EXPECT_EQ(PartSums(*db_, true),
            (std::map<std::string, int64_t>{{"28249/2024-12", 800}, {"28252/2024-12", 500}}));
}

// Migration 7 sums the payer groups a store held before it, and only them; its condition is
// the one the store writes the sums by (PartOfHealthTotal).
TEST_P(WritePathTest, TheMigrationSumsThePayerGroupsStoredBeforeIt) {
  const std::vector<sql::Migration>& migrations = ingestion::IngestionMigrations();
  ASSERT_GE(migrations.size(), 7u);
  ASSERT_EQ(migrations[6].version, 7);
  EXPECT_THAT(migrations[6].sql, HasSubstr(ingestion::PartOfHealthTotal()));

  std::optional<std::string> url = testing::NewStoreUrl(GetParam());
  ASSERT_TRUE(url.has_value());
  auto opened = sql::Database::Open(*url);
  ASSERT_THAT(opened.status(), IsOk());
  sql::Database& db = **opened;
  ASSERT_THAT(db.Migrate("ingestion", {migrations.begin(), migrations.begin() + 6}), IsOk());
  // (unit, month, measure, scheme, payer group, value): two months' groups, the health total's
  // own row and a measure that is no part of it.
  ASSERT_THAT(db.Write([](sql::Session& s) {
    return s
        .Execute(absl::StrCat(
                     "INSERT INTO measure_values (unit_code, month, measure, scheme, payer_group, "
                     "value, change_seq) VALUES "
                     "('28249', '2024-12', ",
                     int{v1::MEASURE_HEALTH_BY_PAYER}, ", 3, 1, 600, 1), ('28249', '2024-12', ",
                     int{v1::MEASURE_HEALTH_BY_PAYER}, ", 3, 2, 300, 1), ('28249', '2024-12', ",
                     int{v1::MEASURE_ARREARS_OWED_VND}, ", 0, 0, 9000, 1), ('28252', '2024-11', ",
                     int{v1::MEASURE_HEALTH_BY_PAYER}, ", 3, 1, 40, 1)"),
                 {})
        .status();
  }),
              IsOk());
  ASSERT_THAT(db.Write([](sql::Session& s) {
    return s.Execute("UPDATE change_counter SET last_seq = 1 WHERE id = 1", {}).status();
  }),
              IsOk());
  ASSERT_THAT(db.Migrate("ingestion", migrations), IsOk());
  // The sums hold every change up to the migration's.
  ASSERT_THAT(db.Read([](sql::Session& s) -> absl::Status {
    absl::StatusOr<std::vector<sql::Row>> through =
        s.Query("SELECT seq FROM health_part_sums_through WHERE id = 1", {});
    if (!through.ok()) {
      return through.status();
    }
    EXPECT_EQ(through->size(), 1u);
    EXPECT_EQ(through->empty() ? -1 : (*through)[0].Int(0), 1);
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(PartSums(db, true),
            (std::map<std::string, int64_t>{{"28249/2024-12", 900}, {"28252/2024-11", 40}}));
  EXPECT_EQ(PartSums(db, true), PartSums(db, false));
}

INSTANTIATE_TEST_SUITE_P(Stores, WritePathTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace covtrack
