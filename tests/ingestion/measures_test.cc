// Measures (issue 11) through the ingestion service over real gRPC, on SQLite and PostgreSQL:
// each bad input of the issue refused whole with the record and field named and nothing stored;
// a retried request_id counted once; the values on the change feed, in ExportData and in
// ListRevisions.
#include "common/measures.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using ::testing::HasSubstr;
using testing::IngestionHarness;
using testing::IsOk;
using testing::Record;
using testing::StatusIs;
using testing::Unit;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

constexpr char kReformDate[] = "2025-07-01";

class MeasuresTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    harness_ = IngestionHarness::Start(*url);
    testing::ImportUnits(stub(),
                         {Unit("82", ADMIN_LEVEL_PROVINCE, "", "", kReformDate, "Tỉnh Tiền Giang"),
                          Unit("815", ADMIN_LEVEL_DISTRICT, "82", "", kReformDate, "TP Mỹ Tho"),
                          Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "", kReformDate, "Phường 5"),
                          Unit("28252", ADMIN_LEVEL_COMMUNE, "815", "", kReformDate, "Phường 4")},
                         "units-1");
  }

  v1::IngestionService::Stub& stub() { return harness_->stub(); }

  grpc::Status Submit(const std::string& request_id, const std::vector<v1::MeasureRecord>& measures,
                      const std::vector<v1::ParticipationRecord>& records = {},
                      v1::SubmitReportResponse* response = nullptr) {
    v1::SubmitReportRequest request;
    request.set_request_id(request_id);
    request.set_source("BHXH tỉnh Tiền Giang");
    for (const v1::MeasureRecord& m : measures) {
      *request.add_measures() = m;
    }
    for (const v1::ParticipationRecord& r : records) {
      *request.add_records() = r;
    }
    v1::SubmitReportResponse ignored;
    grpc::ClientContext context;
    return stub().SubmitReport(&context, request, response == nullptr ? &ignored : response);
  }

  // Every stored measure, by key, read through ExportData.
  std::map<std::string, int64_t> Exported(const std::string& root = "",
                                          const std::string& as_of = "") {
    v1::ExportDataRequest request;
    request.set_root_code(root);
    request.set_as_of(as_of);
    request.set_from_month("2000-01");
    request.set_to_month("2099-12");
    request.set_include_measures(true);
    grpc::ClientContext context;
    auto reader = stub().ExportData(&context, request);
    std::map<std::string, int64_t> values;
    v1::ExportDataResponse chunk;
    while (reader->Read(&chunk)) {
      for (const v1::MeasureRecord& m : chunk.measures()) {
        values[Key(m)] = m.value();
      }
    }
    EXPECT_THAT(reader->Finish(), IsOk());
    return values;
  }

  static std::string Key(const v1::MeasureRecord& m) {
    return m.unit_code() + "/" + m.month() + "/" + MeasureName(m.measure()) + "/" +
           std::to_string(m.scheme()) + "/" + PayerGroupName(m.payer_group());
  }

  std::unique_ptr<IngestionHarness> harness_;
};

TEST_P(MeasuresTest, StoresEveryReportedMeasureAndExportsIt) {
  const std::vector<v1::MeasureRecord> measures = {
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, 9100),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 120, v1::SCHEME_HEALTH),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 80, v1::SCHEME_HEALTH,
                        v1::PAYER_GROUP_HOUSEHOLD),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_LOST_PARTICIPANTS, 40,
                        v1::SCHEME_COMPULSORY_SOCIAL),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 3000, v1::SCHEME_HEALTH,
                        v1::PAYER_GROUP_STATE_BUDGET),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 5'000'000'000),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OVERDUE_3M_VND, 1'200'000'000),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_EMPLOYERS_OWING, 17),
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_CONTRIBUTIONS_DUE_VND, kMaxVnd),
      MakeMeasureRecord("28252", "2024-11", v1::MEASURE_DISTINCT_PARTICIPANTS, 7000)};
  v1::SubmitReportResponse response;
  ASSERT_THAT(
      Submit("m-1", measures, {Record("28249", "2024-12", v1::SCHEME_HEALTH, 8000)}, &response),
      IsOk());
  EXPECT_EQ(response.measures_accepted(), 10);
  EXPECT_EQ(response.measures_changed(), 10);
  std::map<std::string, int64_t> expected;
  for (const v1::MeasureRecord& m : measures) {
    expected[Key(m)] = m.value();
  }
  EXPECT_EQ(Exported(), expected);
  // A subtree's export holds its own units' measures only.
  v1::MeasureRecord other = measures.back();
  EXPECT_EQ(Exported("28252", "2024-11-30"), (std::map<std::string, int64_t>{{Key(other), 7000}}));
}

TEST_P(MeasuresTest, ARetryCountsOnceAndARepeatedValueChangesNothing) {
  const std::vector<v1::MeasureRecord> measures = {
      MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 120, v1::SCHEME_HEALTH)};
  v1::SubmitReportResponse first;
  ASSERT_THAT(Submit("m-1", measures, {}, &first), IsOk());
  v1::SubmitReportResponse retry;
  ASSERT_THAT(Submit("m-1", measures, {}, &retry), IsOk());
  EXPECT_TRUE(retry.replayed());
  EXPECT_EQ(retry.change_seq(), first.change_seq());
  // The same id with other content is another request.
  EXPECT_THAT(Submit("m-1", {MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS,
                                               121, v1::SCHEME_HEALTH)}),
              StatusIs(grpc::StatusCode::ALREADY_EXISTS));
  v1::SubmitReportResponse again;
  ASSERT_THAT(Submit("m-2", measures, {}, &again), IsOk());
  EXPECT_EQ(again.measures_changed(), 0);
  EXPECT_EQ(again.change_seq(), first.change_seq());
  // One revision: the value once.
  v1::ListRevisionsRequest request;
  request.set_unit_code("28249");
  request.set_month("2024-12");
  request.set_measure(v1::MEASURE_NEW_PARTICIPANTS);
  v1::ListRevisionsResponse revisions;
  grpc::ClientContext context;
  ASSERT_THAT(stub().ListRevisions(&context, request, &revisions), IsOk());
  EXPECT_EQ(revisions.revisions_size(), 1);
}

struct BadInput {
  std::string name;
  std::vector<v1::MeasureRecord> measures;
  std::vector<v1::ParticipationRecord> records;
  std::string where;  // "measures[1].value"
  grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
};

TEST_P(MeasuresTest, RefusesBadInputWholeNamingRecordAndField) {
  const v1::MeasureRecord good =
      MakeMeasureRecord("28252", "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, 5000);
  const std::string huge(100000, 'x');
  const std::vector<BadInput> cases = {
      {"payer groups above the health total in the request",
       {good,
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 600, v1::SCHEME_HEALTH,
                          v1::PAYER_GROUP_HOUSEHOLD),
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 500, v1::SCHEME_HEALTH,
                          v1::PAYER_GROUP_STATE_BUDGET)},
       {Record("28249", "2024-12", v1::SCHEME_HEALTH, 1000)},
       "records[0].participants"},
      {"flow payer groups above the flow's total",
       {good,
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 10, v1::SCHEME_HEALTH),
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 11, v1::SCHEME_HEALTH,
                          v1::PAYER_GROUP_HOUSEHOLD)},
       {},
       "measures[1].value"},
      {"negative flow",
       {good, MakeMeasureRecord("28249", "2024-12", v1::MEASURE_LOST_PARTICIPANTS, -3,
                                v1::SCHEME_HEALTH)},
       {},
       "measures[1].value"},
      {"overdue above owed",
       {good, MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 100),
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OVERDUE_3M_VND, 101)},
       {},
       "measures[1].value"},
      {"VND beyond the bound",
       {good,
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_CONTRIBUTIONS_DUE_VND, kMaxVnd + 1)},
       {},
       "measures[1].value"},
      {"people beyond the bound",
       {good,
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, kMaxPeople + 1)},
       {},
       "measures[1].value"},
      {"unit not existing at the month (after the reform)",
       {good, MakeMeasureRecord("28249", "2025-08", v1::MEASURE_DISTINCT_PARTICIPANTS, 1)},
       {},
       "measures[1].month"},
      {"unknown unit",
       {good, MakeMeasureRecord("99999", "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, 1)},
       {},
       "measures[1].unit_code",
       grpc::StatusCode::NOT_FOUND},
      {"scheme missing",
       {good, MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 1)},
       {},
       "measures[1].scheme"},
      {"scheme where the measure has none",
       {good, MakeMeasureRecord("28249", "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, 1,
                                v1::SCHEME_HEALTH)},
       {},
       "measures[1].scheme"},
      {"derived scheme",
       {good,
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 1, v1::SCHEME_SOCIAL)},
       {},
       "measures[1].scheme"},
      {"payer group on a non-health scheme",
       {good, MakeMeasureRecord("28249", "2024-12", v1::MEASURE_NEW_PARTICIPANTS, 1,
                                v1::SCHEME_UNEMPLOYMENT, v1::PAYER_GROUP_HOUSEHOLD)},
       {},
       "measures[1].payer_group"},
      {"payer group missing for health by payer",
       {good,
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 1, v1::SCHEME_HEALTH)},
       {},
       "measures[1].payer_group"},
      {"participants sent as a measure",
       {good,
        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_PARTICIPANTS, 1, v1::SCHEME_HEALTH)},
       {},
       "measures[1].measure"},
      {"derived measure",
       {good, MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_RATIO, 2)},
       {},
       "measures[1].measure"},
      {"duplicate", {good, good}, {}, "measures[1].measure"},
      {"huge unit code",
       {good, MakeMeasureRecord(huge, "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, 1)},
       {},
       "measures[1].unit_code"},
  };
  int k = 0;
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.name);
    v1::SubmitReportResponse response;
    const grpc::Status status = Submit(absl::StrCat("bad-", k++), c.measures, c.records, &response);
    EXPECT_THAT(status, StatusIs(c.code, HasSubstr(c.where)));
    EXPECT_LT(status.error_message().size(), 400u) << "never echoes huge input";
  }
  // All or nothing: not even the good record of any of them was stored.
  EXPECT_TRUE(Exported().empty());
}

TEST_P(MeasuresTest, WholesAreCheckedAgainstWhatIsStored) {
  ASSERT_THAT(Submit("total", {}, {Record("28249", "2024-12", v1::SCHEME_HEALTH, 1000)}), IsOk());
  ASSERT_THAT(
      Submit("groups", {MakeMeasureRecord("28249", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 600,
                                          v1::SCHEME_HEALTH, v1::PAYER_GROUP_HOUSEHOLD),
                        MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 1000)}),
      IsOk());
  // A stored group plus a new one above the stored total.
  EXPECT_THAT(
      Submit("more", {MakeMeasureRecord("28249", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 401,
                                        v1::SCHEME_HEALTH, v1::PAYER_GROUP_STATE_BUDGET)}),
      StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("measures[0].value")));
  // A total lowered below the stored groups.
  EXPECT_THAT(Submit("lower", {}, {Record("28249", "2024-12", v1::SCHEME_HEALTH, 599)}),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("records[0].participants")));
  // Overdue above the stored amount owed.
  EXPECT_THAT(Submit("overdue", {MakeMeasureRecord("28249", "2024-12",
                                                   v1::MEASURE_ARREARS_OVERDUE_3M_VND, 1001)}),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("measures[0].value")));
  // Within the whole: accepted.
  EXPECT_THAT(
      Submit("fits", {MakeMeasureRecord("28249", "2024-12", v1::MEASURE_HEALTH_BY_PAYER, 400,
                                        v1::SCHEME_HEALTH, v1::PAYER_GROUP_STATE_BUDGET)}),
      IsOk());
}

TEST_P(MeasuresTest, FeedAndRevisionsCarryTheValues) {
  ASSERT_THAT(
      Submit("a", {MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 1000),
                   MakeMeasureRecord("28249", "2024-12", v1::MEASURE_EMPLOYERS_OWING, 3)}),
      IsOk());
  v1::SubmitReportResponse second;
  ASSERT_THAT(
      Submit("b", {MakeMeasureRecord("28249", "2024-12", v1::MEASURE_ARREARS_OWED_VND, 1500)}, {},
             &second),
      IsOk());
  EXPECT_EQ(second.measures_changed(), 1);

  v1::ListChangesRequest list;
  v1::ListChangesResponse page;
  grpc::ClientContext context;
  ASSERT_THAT(stub().ListChanges(&context, list, &page), IsOk());
  ASSERT_GE(page.changes_size(), 3);  // the units, then the two reports
  const v1::Change& first_change = page.changes(page.changes_size() - 2);
  const v1::Change& second_change = page.changes(page.changes_size() - 1);
  ASSERT_EQ(first_change.measure_months_size(), 1);
  EXPECT_EQ(first_change.measure_months(0).unit_code(), "28249");
  EXPECT_EQ(first_change.measure_months(0).month(), "2024-12");
  // Each change carries the values it stored, the first one's even though overwritten since.
  std::map<std::string, int64_t> first_values;
  for (const v1::MeasureRecord& m : first_change.measure_values()) {
    first_values[MeasureName(m.measure())] = m.value();
  }
  EXPECT_EQ(first_values,
            (std::map<std::string, int64_t>{{"arrears_owed_vnd", 1000}, {"employers_owing", 3}}));
  ASSERT_EQ(second_change.measure_values_size(), 1);
  EXPECT_EQ(second_change.measure_values(0).value(), 1500);
  EXPECT_EQ(second_change.seq(), second.change_seq());

  v1::ListRevisionsRequest request;
  request.set_unit_code("28249");
  request.set_month("2024-12");
  request.set_measure(v1::MEASURE_ARREARS_OWED_VND);
  v1::ListRevisionsResponse revisions;
  grpc::ClientContext revisions_context;
  ASSERT_THAT(stub().ListRevisions(&revisions_context, request, &revisions), IsOk());
  ASSERT_EQ(revisions.revisions_size(), 2);
  EXPECT_EQ(revisions.revisions(0).measure().value(), 1000);
  EXPECT_EQ(revisions.revisions(0).request_id(), "a");
  EXPECT_EQ(revisions.revisions(0).source(), "BHXH tỉnh Tiền Giang");
  EXPECT_EQ(revisions.revisions(1).measure().value(), 1500);
  EXPECT_EQ(revisions.revisions(1).change_seq(), second.change_seq());

  // A measure's revisions are found through their month.
  request.clear_month();
  grpc::ClientContext no_month;
  EXPECT_THAT(stub().ListRevisions(&no_month, request, &revisions),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("month")));
}

INSTANTIATE_TEST_SUITE_P(Stores, MeasuresTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace covtrack
