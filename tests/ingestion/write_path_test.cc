// The bulk write path of reports (issue 15), on SQLite and PostgreSQL, where it takes shortcuts
// for speed: a report of keys the store does not hold yet is inserted without the upsert (a
// probe of the month-first key decides), and health totals are compared with their stored payer
// groups by one subquery per total, the totals whose groups fit kept out of the check's maps.
// Each shortcut must answer as the general path does: the same counts, the same feed, the same
// refusals naming the same record, whether the groups were stored in an earlier transaction or
// earlier in the same one (StreamReports' group commit).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/measures.h"
#include "common/sql/database.h"
#include "services/ingestion/batched_sql.h"
#include "services/ingestion/ingestion_store.h"
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

INSTANTIATE_TEST_SUITE_P(Stores, WritePathTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace covtrack
