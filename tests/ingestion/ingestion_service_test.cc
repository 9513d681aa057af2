// The ingestion service's behaviour over real gRPC, against SQLite and against PostgreSQL:
// the same suite runs on both stores.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::Denominator;
using ::testing::HasSubstr;
using testing::IngestionHarness;
using testing::IsOk;
using testing::Record;
using testing::StatusIs;
using testing::Unit;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

class IngestionServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    harness_ = IngestionHarness::Start(*url);
    // Tiền Giang before the 2025 reform, with Mỹ Tho (815) and two of its communes; Đồng Tháp
    // (new 82) after it, with a new commune.
    testing::ImportUnits(
        stub(),
        {Unit("82", ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01", "Tỉnh Tiền Giang"),
         Unit("815", ADMIN_LEVEL_DISTRICT, "82", "", "2025-07-01", "Thành phố Mỹ Tho"),
         Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "", "2025-07-01", "Phường 5"),
         Unit("28252", ADMIN_LEVEL_COMMUNE, "815", "", "2025-07-01", "Phường 4"),
         Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01", "", "Tỉnh Đồng Tháp"),
         Unit("28261", ADMIN_LEVEL_COMMUNE, "82", "2025-07-01", "", "Phường Mỹ Tho")},
        "units-1");
  }

  v1::IngestionService::Stub& stub() { return harness_->stub(); }

  grpc::Status Submit(const v1::SubmitReportRequest& request,
                      v1::SubmitReportResponse* response = nullptr) {
    v1::SubmitReportResponse ignored;
    grpc::ClientContext context;
    return stub().SubmitReport(&context, request, response ? response : &ignored);
  }

  int64_t Head() {
    v1::ChangeHead head;
    grpc::ClientContext context;
    EXPECT_THAT(stub().GetChangeHead(&context, {}, &head), IsOk());
    return head.seq();
  }

  std::vector<v1::Revision> Revisions(const std::string& unit, const std::string& month = "") {
    v1::ListRevisionsRequest request;
    request.set_unit_code(unit);
    request.set_month(month);
    v1::ListRevisionsResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(stub().ListRevisions(&context, request, &response), IsOk());
    return {response.revisions().begin(), response.revisions().end()};
  }

  std::vector<v1::AdminUnit> Units(v1::ListAdminUnitsRequest request) {
    std::vector<v1::AdminUnit> units;
    do {
      v1::ListAdminUnitsResponse response;
      grpc::ClientContext context;
      EXPECT_THAT(stub().ListAdminUnits(&context, request, &response), IsOk());
      units.insert(units.end(), response.units().begin(), response.units().end());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return units;
  }

  std::unique_ptr<IngestionHarness> harness_;
};

v1::SubmitReportRequest Report(const std::string& request_id,
                               std::vector<v1::ParticipationRecord> records,
                               std::vector<v1::DenominatorRecord> denominators = {}) {
  v1::SubmitReportRequest request;
  request.set_request_id(request_id);
  request.set_source("BHXH tỉnh Tiền Giang");
  for (auto& r : records) {
    *request.add_records() = r;
  }
  for (auto& d : denominators) {
    *request.add_denominators() = d;
  }
  return request;
}

TEST_P(IngestionServiceTest, StoresAReportAndCountsWhatChanged) {
  v1::SubmitReportResponse response;
  ASSERT_THAT(Submit(Report("r1",
                            {Record("28249", "2023-12", v1::SCHEME_HEALTH, 15000, 14000),
                             Record("28252", "2023-12", v1::SCHEME_HEALTH, 12000)},
                            {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 16800)}),
                     &response),
              IsOk());
  EXPECT_EQ(response.records_accepted(), 2);
  EXPECT_EQ(response.records_changed(), 2);
  EXPECT_EQ(response.denominators_changed(), 1);
  EXPECT_EQ(response.change_seq(), Head());
  EXPECT_FALSE(response.replayed());

  // The same values again under a new id: accepted, nothing changed, no new change in the feed.
  int64_t head = Head();
  ASSERT_THAT(Submit(Report("r2", {Record("28249", "2023-12", v1::SCHEME_HEALTH, 15000, 14000)}),
                     &response),
              IsOk());
  EXPECT_EQ(response.records_accepted(), 1);
  EXPECT_EQ(response.records_changed(), 0);
  EXPECT_EQ(response.change_seq(), head);
  EXPECT_EQ(Head(), head);
}

TEST_P(IngestionServiceTest, RetryWithTheSameRequestIdReturnsTheFirstAnswerAndChangesNothing) {
  v1::SubmitReportRequest request =
      Report("retry-1", {Record("28249", "2023-12", v1::SCHEME_HEALTH, 15000)});
  v1::SubmitReportResponse first, second;
  ASSERT_THAT(Submit(request, &first), IsOk());
  int64_t head = Head();
  ASSERT_THAT(Submit(request, &second), IsOk());
  EXPECT_TRUE(second.replayed());
  EXPECT_EQ(second.records_changed(), first.records_changed());
  EXPECT_EQ(second.change_seq(), first.change_seq());
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(Revisions("28249").size(), 1u);

  // The same id with different content is refused.
  request.mutable_records(0)->set_participants(15001);
  EXPECT_THAT(Submit(request), StatusIs(grpc::StatusCode::ALREADY_EXISTS, HasSubstr("retry-1")));
  EXPECT_EQ(Revisions("28249").size(), 1u);
}

TEST_P(IngestionServiceTest, ACorrectionReplacesTheValueAndKeepsTheAuditTrail) {
  ASSERT_THAT(Submit(Report("first", {Record("28249", "2023-12", v1::SCHEME_HEALTH, 15000)})),
              IsOk());
  v1::SubmitReportRequest correction =
      Report("correction", {Record("28249", "2023-12", v1::SCHEME_HEALTH, 15120, 14500)});
  correction.set_source("BHXH thành phố Mỹ Tho");
  ASSERT_THAT(Submit(correction), IsOk());

  std::vector<v1::Revision> revisions = Revisions("28249", "2023-12");
  ASSERT_EQ(revisions.size(), 2u);
  EXPECT_EQ(revisions[0].participation().participants(), 15000);
  EXPECT_FALSE(revisions[0].participation().has_in_province_participants());
  EXPECT_EQ(revisions[0].request_id(), "first");
  EXPECT_EQ(revisions[0].source(), "BHXH tỉnh Tiền Giang");
  EXPECT_EQ(revisions[1].participation().participants(), 15120);
  EXPECT_EQ(revisions[1].participation().in_province_participants(), 14500);
  EXPECT_EQ(revisions[1].request_id(), "correction");
  EXPECT_EQ(revisions[1].source(), "BHXH thành phố Mỹ Tho");
  EXPECT_NE(revisions[1].peer().find("127.0.0.1"), std::string::npos) << revisions[1].peer();
  EXPECT_GT(revisions[1].change_seq(), revisions[0].change_seq());
  EXPECT_GT(revisions[1].commit_time().seconds(), 1700000000);

  // The current value is the correction.
  v1::ExportDataRequest export_request;
  export_request.set_root_code("815");
  export_request.set_as_of("2023-12-31");
  export_request.set_from_month("2023-12");
  export_request.set_to_month("2023-12");
  grpc::ClientContext context;
  auto reader = stub().ExportData(&context, export_request);
  v1::ExportDataResponse chunk;
  std::vector<v1::ParticipationRecord> records;
  while (reader->Read(&chunk)) {
    records.insert(records.end(), chunk.records().begin(), chunk.records().end());
  }
  ASSERT_THAT(reader->Finish(), IsOk());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].participants(), 15120);
}

// A report of new keys skips the revision statement when the store holds nothing in the range of
// its codes (submit_report.cc): one that also corrects a stored key keeps the replaced value.
TEST_P(IngestionServiceTest, ACorrectionAmongNewKeysKeepsTheReplacedValue) {
  ASSERT_THAT(Submit(Report("first", {Record("28252", "2023-12", v1::SCHEME_HEALTH, 900)})),
              IsOk());
  v1::SubmitReportResponse response;
  ASSERT_THAT(Submit(Report("mixed", {Record("28249", "2023-12", v1::SCHEME_HEALTH, 1000),
                                      Record("28252", "2023-12", v1::SCHEME_HEALTH, 950),
                                      Record("28252", "2023-12", v1::SCHEME_UNEMPLOYMENT, 400)}),
                     &response),
              IsOk());
  EXPECT_EQ(response.records_changed(), 3);
  std::vector<v1::Revision> revisions = Revisions("28252", "2023-12");
  ASSERT_EQ(revisions.size(), 3u);
  std::vector<std::pair<int, int64_t>> values;  // (scheme, participants) in the order listed
  for (const v1::Revision& r : revisions) {
    values.emplace_back(r.participation().scheme(), r.participation().participants());
  }
  EXPECT_THAT(values, ::testing::UnorderedElementsAre(std::pair<int, int64_t>{3, 900},
                                                      std::pair<int, int64_t>{3, 950},
                                                      std::pair<int, int64_t>{4, 400}));
  EXPECT_EQ(Revisions("28249", "2023-12").size(), 1u);
}

struct Rejection {
  std::string name;
  v1::SubmitReportRequest request;
  grpc::StatusCode code;
  std::string message;  // must appear in the error
};

TEST_P(IngestionServiceTest, EveryRejectionNamesTheRecordAndFieldAndStoresNothing) {
  auto good = [] { return Record("28249", "2023-12", v1::SCHEME_HEALTH, 100); };
  auto with = [&](std::function<void(v1::ParticipationRecord&)> edit) {
    v1::ParticipationRecord bad = good();
    edit(bad);
    // The bad record is the second: the first, valid one must not be stored either.
    return Report("bad", {good(), bad});
  };
  v1::SubmitReportRequest oversize;
  oversize.set_request_id("big");
  for (int i = 0; i < 100001; ++i) {
    *oversize.add_records() = good();
  }
  std::vector<Rejection> cases = {
      {"unknown unit", with([](auto& r) { r.set_unit_code("99999"); }), grpc::StatusCode::NOT_FOUND,
       "records[1].unit_code: unknown unit \"99999\""},
      {"unit not valid that month", with([](auto& r) { r.set_month("2025-08"); }),
       grpc::StatusCode::INVALID_ARGUMENT,
       "records[1].month: unit \"28249\" does not exist at the end of 2025-08"},
      {"malformed month", with([](auto& r) { r.set_month("2023-13"); }),
       grpc::StatusCode::INVALID_ARGUMENT, "records[1].month: malformed month \"2023-13\""},
      {"month without zero", with([](auto& r) { r.set_month("2023-1"); }),
       grpc::StatusCode::INVALID_ARGUMENT, "records[1].month"},
      {"negative count", with([](auto& r) { r.set_participants(-1); }),
       grpc::StatusCode::INVALID_ARGUMENT, "records[1].participants: must not be negative"},
      {"in-province above total", with([](auto& r) { r.set_in_province_participants(101); }),
       grpc::StatusCode::INVALID_ARGUMENT,
       "records[1].in_province_participants: exceeds participants"},
      {"derived scheme", with([](auto& r) { r.set_scheme(v1::SCHEME_SOCIAL); }),
       grpc::StatusCode::INVALID_ARGUMENT, "records[1].scheme: SCHEME_SOCIAL is derived"},
      {"unspecified scheme", with([](auto& r) { r.set_scheme(v1::SCHEME_UNSPECIFIED); }),
       grpc::StatusCode::INVALID_ARGUMENT, "records[1].scheme"},
      {"duplicate key", with([](auto& r) {}), grpc::StatusCode::INVALID_ARGUMENT,
       "records[1].unit_code: duplicates records[0]"},
      {"zero denominator",
       Report("bad", {good()}, {Denominator("28249", 2023, v1::DENOMINATOR_KIND_POPULATION, 0)}),
       grpc::StatusCode::INVALID_ARGUMENT, "denominators[0].value: must be greater than zero"},
      {"negative denominator",
       Report("bad", {good()}, {Denominator("28249", 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, -5)}),
       grpc::StatusCode::INVALID_ARGUMENT, "denominators[0].value"},
      {"denominator of a unit that did not exist that year",
       Report("bad", {good()}, {Denominator("28261", 2023, v1::DENOMINATOR_KIND_POPULATION, 5)}),
       grpc::StatusCode::INVALID_ARGUMENT,
       "denominators[0].year: unit \"28261\" does not exist in 2023"},
      {"denominator of unknown kind",
       Report("bad", {good()}, {Denominator("28249", 2023, v1::DENOMINATOR_KIND_UNSPECIFIED, 5)}),
       grpc::StatusCode::INVALID_ARGUMENT, "denominators[0].kind"},
      {"missing request id", Report("", {good()}), grpc::StatusCode::INVALID_ARGUMENT,
       "request_id: required"},
      {"oversize request", oversize, grpc::StatusCode::INVALID_ARGUMENT, "request too large"},
  };
  int64_t head = Head();
  for (const Rejection& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(Submit(c.request), StatusIs(c.code, HasSubstr(c.message)));
  }
  EXPECT_EQ(Head(), head);
  EXPECT_TRUE(Revisions("28249").empty());
  // A rejected request id is not burnt: the corrected request goes through under it.
  EXPECT_THAT(Submit(Report("bad", {good()})), IsOk());
  EXPECT_EQ(Revisions("28249").size(), 1u);
}

TEST_P(IngestionServiceTest, ACodeReusedAcrossTheReformIsReadAsOfItsDate) {
  v1::ListAdminUnitsRequest request;
  request.set_code("82");
  request.set_as_of("2024-12-31");
  std::vector<v1::AdminUnit> before = Units(request);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].name(), "Tỉnh Tiền Giang");
  EXPECT_EQ(before[0].valid_to(), "2025-07-01");

  request.set_as_of("2025-08-01");
  std::vector<v1::AdminUnit> after = Units(request);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].name(), "Tỉnh Đồng Tháp");
  EXPECT_EQ(after[0].valid_from(), "2025-07-01");
  EXPECT_EQ(after[0].valid_to(), "");

  request.clear_as_of();  // the full history: both units that held the code
  EXPECT_EQ(Units(request).size(), 2u);

  // The children of 82 differ by date.
  v1::ListAdminUnitsRequest children;
  children.set_parent_code("82");
  children.set_as_of("2023-06-30");
  std::vector<v1::AdminUnit> old_children = Units(children);
  ASSERT_EQ(old_children.size(), 1u);
  EXPECT_EQ(old_children[0].code(), "815");
  children.set_as_of("2025-07-01");
  std::vector<v1::AdminUnit> new_children = Units(children);
  ASSERT_EQ(new_children.size(), 1u);
  EXPECT_EQ(new_children[0].code(), "28261");

  // Data goes to the unit valid in its month: the old commune takes June 2025, not July.
  EXPECT_THAT(Submit(Report("june", {Record("28249", "2025-06", v1::SCHEME_HEALTH, 1)})), IsOk());
  EXPECT_THAT(Submit(Report("july", {Record("28249", "2025-07", v1::SCHEME_HEALTH, 1)})),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(Submit(Report("july-new", {Record("28261", "2025-07", v1::SCHEME_HEALTH, 1)})),
              IsOk());
}

TEST_P(IngestionServiceTest, ImportAdminUnitsRejectsAMissingParentAndOverlaps) {
  auto import = [&](std::vector<v1::AdminUnit> units) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id(absl::StrCat("import-", units.size(), "-", units[0].code()));
    for (auto& u : units) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    return stub().ImportAdminUnits(&context, request, &response);
  };
  // District 900 exists from 2024: a commune under it cannot start in 2023.
  grpc::Status status =
      import({Unit("900", ADMIN_LEVEL_DISTRICT, "82", "2024-01-01", "2025-07-01"),
              Unit("29000", ADMIN_LEVEL_COMMUNE, "900", "2023-01-01", "2025-07-01")});
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                               HasSubstr("units[1].parent_code: parent \"900\" of \"29000\" "
                                         "does not exist on 2023-01-01")));
  // The parent at the child's valid_from: old 82 until 2025-07-01, new 82 after, both fine.
  EXPECT_THAT(import({Unit("29001", ADMIN_LEVEL_COMMUNE, "815", "2024-01-01", "2025-07-01")}),
              IsOk());
  EXPECT_THAT(import({Unit("29002", ADMIN_LEVEL_COMMUNE, "404", "2024-01-01", "")}),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("parent \"404\"")));
  // A second interval of 82 overlapping the first.
  EXPECT_THAT(import({Unit("82", ADMIN_LEVEL_PROVINCE, "", "2025-01-01", "2025-09-01")}),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("overlaps")));
  // A parent must be a higher level.
  EXPECT_THAT(import({Unit("29003", ADMIN_LEVEL_DISTRICT, "28249", "2024-01-01", "2025-01-01")}),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("not a higher level")));
  // Nothing from the refused imports was stored.
  v1::ListAdminUnitsRequest all;
  EXPECT_EQ(Units(all).size(), 7u);  // the six of SetUp and 29001
}

TEST_P(IngestionServiceTest, ListAdminUnitsPages) {
  std::vector<v1::AdminUnit> communes;
  for (int i = 0; i < 25; ++i) {
    communes.push_back(Unit(absl::StrCat(30000 + i), ADMIN_LEVEL_COMMUNE, "815", "", "2025-07-01"));
  }
  testing::ImportUnits(stub(), communes, "communes");
  v1::ListAdminUnitsRequest request;
  request.set_parent_code("815");
  request.set_page_size(10);
  std::vector<v1::AdminUnit> all = Units(request);
  ASSERT_EQ(all.size(), 27u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(all[i - 1].code(), all[i].code());
  }
  request.set_page_token("not a token!");
  v1::ListAdminUnitsResponse response;
  grpc::ClientContext context;
  EXPECT_THAT(stub().ListAdminUnits(&context, request, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
}

// AIP-158, through ListAdminUnits: a negative page_size is INVALID_ARGUMENT, and a page token
// is bound to the filters of the request that made it.
TEST_P(IngestionServiceTest, ListAdminUnitsRefusesANegativePageSizeAndATokenForOtherFilters) {
  auto list = [&](const v1::ListAdminUnitsRequest& request, v1::ListAdminUnitsResponse* response) {
    grpc::ClientContext context;
    return stub().ListAdminUnits(&context, request, response);
  };
  v1::ListAdminUnitsRequest request;
  request.set_parent_code("815");
  request.set_page_size(-1);
  v1::ListAdminUnitsResponse response;
  EXPECT_THAT(list(request, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_size")));

  request.set_page_size(1);
  ASSERT_THAT(list(request, &response), IsOk());
  ASSERT_EQ(response.units_size(), 1);
  EXPECT_EQ(response.units(0).code(), "28249");
  ASSERT_FALSE(response.next_page_token().empty());
  request.set_page_token(response.next_page_token());

  // The same token with another parent, level or date would page through another list.
  v1::ListAdminUnitsRequest other = request;
  other.set_parent_code("82");
  EXPECT_THAT(list(other, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token")));
  other = request;
  other.set_as_of("2024-12-31");
  EXPECT_THAT(list(other, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token")));
  other = request;
  other.set_level(ADMIN_LEVEL_COMMUNE);
  EXPECT_THAT(list(other, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token")));

  // With the same filters the next page follows; page_size may change between pages.
  request.set_page_size(10);
  ASSERT_THAT(list(request, &response), IsOk());
  ASSERT_EQ(response.units_size(), 1);
  EXPECT_EQ(response.units(0).code(), "28252");
  EXPECT_TRUE(response.next_page_token().empty());
}

TEST_P(IngestionServiceTest,
       ListRevisionsPagesAndRefusesANegativePageSizeAndATokenForOtherFilters) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(Submit(Report(absl::StrCat("v", i),
                              {Record("28249", "2023-12", v1::SCHEME_HEALTH, 100 + i),
                               Record("28252", "2023-12", v1::SCHEME_HEALTH, 200 + i)})),
                IsOk());
  }
  auto list = [&](const v1::ListRevisionsRequest& request, v1::ListRevisionsResponse* response) {
    grpc::ClientContext context;
    return stub().ListRevisions(&context, request, response);
  };
  v1::ListRevisionsRequest request;
  request.set_unit_code("28249");
  request.set_page_size(-5);
  v1::ListRevisionsResponse response;
  EXPECT_THAT(list(request, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_size")));

  request.set_page_size(2);
  ASSERT_THAT(list(request, &response), IsOk());
  ASSERT_EQ(response.revisions_size(), 2);
  EXPECT_EQ(response.revisions(0).participation().participants(), 100);
  EXPECT_EQ(response.revisions(1).participation().participants(), 101);
  ASSERT_FALSE(response.next_page_token().empty());
  request.set_page_token(response.next_page_token());

  // Another unit's revisions, or only one month's, are another list.
  v1::ListRevisionsRequest other = request;
  other.set_unit_code("28252");
  EXPECT_THAT(list(other, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token")));
  other = request;
  other.set_month("2023-12");
  EXPECT_THAT(list(other, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token")));

  ASSERT_THAT(list(request, &response), IsOk());
  ASSERT_EQ(response.revisions_size(), 1);
  EXPECT_EQ(response.revisions(0).participation().participants(), 102);
  EXPECT_TRUE(response.next_page_token().empty());
}

TEST_P(IngestionServiceTest, ListChangesRefusesANegativePageSize) {
  ASSERT_THAT(Submit(Report("c1", {Record("28249", "2023-12", v1::SCHEME_HEALTH, 5)})), IsOk());
  v1::ListChangesRequest request;
  request.set_page_size(-1);
  v1::ListChangesResponse response;
  grpc::ClientContext refused;
  EXPECT_THAT(stub().ListChanges(&refused, request, &response),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_size")));
  request.set_page_size(1);
  grpc::ClientContext context;
  ASSERT_THAT(stub().ListChanges(&context, request, &response), IsOk());
  EXPECT_EQ(response.changes_size(), 1);
  EXPECT_EQ(response.head_seq(), Head());
}

TEST_P(IngestionServiceTest, StreamReportsCommitsEachMessageAndResumesAfterAFailure) {
  std::vector<v1::SubmitReportRequest> messages = {
      Report("s-0", {Record("28249", "2023-10", v1::SCHEME_HEALTH, 10)}),
      Report("s-1", {Record("28249", "2023-11", v1::SCHEME_HEALTH, 11)}),
      Report("s-2", {Record("28249", "2023-12", v1::SCHEME_HEALTH, -12)}),  // bad
      Report("s-3", {Record("28249", "2024-01", v1::SCHEME_HEALTH, 13)}),
  };
  auto upload = [&](v1::StreamReportsResponse* response, std::string* committed) {
    grpc::ClientContext context;
    auto writer = stub().StreamReports(&context, response);
    for (const auto& m : messages) {
      if (!writer->Write(m)) {
        break;
      }
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    auto it = context.GetServerTrailingMetadata().find("covtrack-committed-messages");
    if (it != context.GetServerTrailingMetadata().end()) {
      *committed = std::string(it->second.data(), it->second.size());
    }
    return status;
  };
  v1::StreamReportsResponse response;
  std::string committed;
  grpc::Status status = upload(&response, &committed);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                               ::testing::AllOf(HasSubstr("message 2 (request_id \"s-2\")"),
                                                HasSubstr("records[0].participants"))));
  EXPECT_EQ(committed, "2");
  EXPECT_EQ(Revisions("28249").size(), 2u);

  // Fix the bad message and send everything again: the first two are recognised.
  messages[2] = Report("s-2", {Record("28249", "2023-12", v1::SCHEME_HEALTH, 12)});
  ASSERT_THAT(upload(&response, &committed), IsOk());
  EXPECT_EQ(response.messages_committed(), 4);
  EXPECT_EQ(response.messages_replayed(), 2);  // s-0 and s-1 were recognised
  EXPECT_EQ(response.records_accepted(), 4);
  EXPECT_EQ(response.records_changed(), 2);  // only s-2 and s-3 were new
  EXPECT_EQ(response.last_request_id(), "s-3");
  EXPECT_EQ(response.last_change_seq(), Head());
  EXPECT_EQ(Revisions("28249").size(), 4u);
}

TEST_P(IngestionServiceTest, TheChangeFeedListsWhatEachWriteTouched) {
  int64_t start = Head();
  ASSERT_THAT(Submit(Report("c1",
                            {Record("28249", "2023-12", v1::SCHEME_HEALTH, 5),
                             Record("28249", "2023-12", v1::SCHEME_UNEMPLOYMENT, 2),
                             Record("28252", "2023-11", v1::SCHEME_HEALTH, 3)},
                            {Denominator("28252", 2023, v1::DENOMINATOR_KIND_LABOR_FORCE, 9)})),
              IsOk());
  v1::ListChangesRequest request;
  request.set_after_seq(start);
  v1::ListChangesResponse response;
  grpc::ClientContext context;
  ASSERT_THAT(stub().ListChanges(&context, request, &response), IsOk());
  ASSERT_EQ(response.changes_size(), 1);
  const v1::Change& change = response.changes(0);
  EXPECT_EQ(change.seq(), start + 1);
  EXPECT_EQ(response.head_seq(), start + 1);
  EXPECT_EQ(change.request_id(), "c1");
  EXPECT_EQ(change.participation_size(), 2);  // (28249, 2023-12) once, (28252, 2023-11)
  ASSERT_EQ(change.denominators_size(), 1);
  EXPECT_EQ(change.denominators(0).unit_code(), "28252");
  EXPECT_EQ(change.denominators(0).year(), 2023);

  // A watcher from the current head receives the next change as it is committed.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::WatchChangesRequest watch;
  watch.set_after_seq(Head());
  auto stream = stub().WatchChanges(&watch_context, watch);
  ASSERT_THAT(Submit(Report("c2", {Record("28249", "2023-09", v1::SCHEME_HEALTH, 1)})), IsOk());
  v1::Change next;
  ASSERT_TRUE(stream->Read(&next));
  EXPECT_EQ(next.request_id(), "c2");
  EXPECT_EQ(next.seq(), start + 2);
  watch_context.TryCancel();
}

TEST_P(IngestionServiceTest, ExportDataReadsTheSubtreeAsOfADate) {
  ASSERT_THAT(Submit(Report("e1",
                            {Record("28249", "2025-06", v1::SCHEME_HEALTH, 7),
                             Record("815", "2025-06", v1::SCHEME_HEALTH, 20),
                             Record("28261", "2025-07", v1::SCHEME_HEALTH, 30)},
                            {Denominator("28249", 2025, v1::DENOMINATOR_KIND_POPULATION, 70)})),
              IsOk());
  auto export_codes = [&](const std::string& as_of) {
    v1::ExportDataRequest request;
    request.set_root_code("82");
    request.set_as_of(as_of);
    request.set_from_month("2025-01");
    request.set_to_month("2025-12");
    request.set_from_year(2025);
    request.set_to_year(2025);
    grpc::ClientContext context;
    auto reader = stub().ExportData(&context, request);
    std::vector<std::string> codes, denominator_codes;
    v1::ExportDataResponse chunk;
    int64_t snapshot = -1;
    while (reader->Read(&chunk)) {
      for (const auto& r : chunk.records()) {
        codes.push_back(r.unit_code());
      }
      for (const auto& d : chunk.denominators()) {
        denominator_codes.push_back("denominator:" + d.unit_code());
      }
      snapshot = chunk.snapshot_seq();
    }
    codes.insert(codes.end(), denominator_codes.begin(), denominator_codes.end());
    EXPECT_THAT(reader->Finish(), IsOk());
    EXPECT_EQ(snapshot, Head());
    return codes;
  };
  EXPECT_EQ(export_codes("2025-06-30"),
            (std::vector<std::string>{"28249", "815", "denominator:28249"}));
  EXPECT_EQ(export_codes("2025-07-31"), (std::vector<std::string>{"28261"}));
}

INSTANTIATE_TEST_SUITE_P(Stores, IngestionServiceTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack
