// Findings of the adversarial probe (issue 13) that live in ingestion, over real gRPC on SQLite
// and on PostgreSQL: counts bounded to what a country holds, a hierarchy valid on every date
// (no cycle later, no parent that ends under its children), every string bounded and free of
// NUL bytes (refused the same way on both stores), errors that quote only a short
// prefix of what was sent, and StreamReports' drain on shutdown.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/domain.h"
#include "common/server.h"
#include "services/ingestion/ingestion_service.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using ::testing::AllOf;
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

constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;

// What a status may carry: a short message (gRPC's metadata is 8 KB by default; a whole input
// echoed made the client fail instead).
constexpr size_t kShortMessage = 1000;

class HardeningTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    url_ = *url;
    harness_ = IngestionHarness::Start(*url);
    testing::ImportUnits(stub(),
                         {Unit("82", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "", "Tỉnh Tiền Giang"),
                          Unit("815", ADMIN_LEVEL_DISTRICT, "82", "2020-01-01", "", "Mỹ Tho"),
                          Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "", "Phường 5"),
                          Unit("28252", ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "", "Phường 4")},
                         "units-setup");
  }

  v1::IngestionService::Stub& stub() { return harness_->stub(); }

  grpc::Status Submit(const v1::SubmitReportRequest& request) {
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    return stub().SubmitReport(&context, request, &response);
  }

  grpc::Status Import(const std::vector<v1::AdminUnit>& units, const std::string& request_id) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id(request_id);
    for (const v1::AdminUnit& u : units) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    return stub().ImportAdminUnits(&context, request, &response);
  }

  static v1::SubmitReportRequest Report(const std::string& request_id,
                                        std::vector<v1::ParticipationRecord> records,
                                        std::vector<v1::DenominatorRecord> denominators = {}) {
    v1::SubmitReportRequest request;
    request.set_request_id(request_id);
    for (auto& r : records) {
      *request.add_records() = r;
    }
    for (auto& d : denominators) {
      *request.add_denominators() = d;
    }
    return request;
  }

  int64_t Head() {
    v1::ChangeHead head;
    grpc::ClientContext context;
    EXPECT_THAT(stub().GetChangeHead(&context, {}, &head), IsOk());
    return head.seq();
  }

  std::string url_;
  std::unique_ptr<IngestionHarness> harness_;
};

TEST_P(HardeningTest, CountsAndDenominatorsAreBoundedToWhatACountryHolds) {
  const int64_t head = Head();
  EXPECT_THAT(
      Submit(Report("big-1", {Record("28249", "2024-01", v1::SCHEME_HEALTH,
                                     std::numeric_limits<int64_t>::max())})),
      StatusIs(kInvalid, HasSubstr("records[0].participants: must be at most 200000000 people "
                                   "(got 9223372036854775807)")));
  EXPECT_THAT(
      Submit(Report("big-2", {Record("28249", "2024-01", v1::SCHEME_HEALTH, kMaxPeople),
                              Record("28252", "2024-01", v1::SCHEME_HEALTH, kMaxPeople + 1, 0)})),
      StatusIs(kInvalid, HasSubstr("records[1].participants: must be at most")));
  EXPECT_THAT(
      Submit(Report("big-3", {},
                    {Denominator("815", 2024, v1::DENOMINATOR_KIND_POPULATION, kMaxPeople + 1)})),
      StatusIs(kInvalid, HasSubstr("denominators[0].value: must be at most 200000000 people")));
  EXPECT_EQ(Head(), head) << "a refused report wrote something";
  // The bound itself is a count a unit may hold.
  EXPECT_THAT(
      Submit(Report("at-bound", {Record("28249", "2024-01", v1::SCHEME_HEALTH, kMaxPeople)},
                    {Denominator("815", 2024, v1::DENOMINATOR_KIND_POPULATION, kMaxPeople)})),
      IsOk());
}

TEST_P(HardeningTest, AHierarchyThatBecomesACycleLaterIsRefused) {
  // 815 ends in 2030 and comes back as a commune under its own commune 28249: on 2030-01-01
  // 28249 → 815 → 28249. Its first day (2020) is fine, so a check on that day alone passed.
  EXPECT_THAT(Import({Unit("815", ADMIN_LEVEL_DISTRICT, "82", "2020-01-01", "2030-01-01", "Mỹ Tho"),
                      Unit("815", ADMIN_LEVEL_COMMUNE, "28249", "2030-01-01", "", "Mỹ Tho")},
                     "cycle-2030"),
              StatusIs(kInvalid, HasSubstr("on 2030-01-01")));
  // A code that changes level in 2030 under units that still name it.
  EXPECT_THAT(
      Import({Unit("815", ADMIN_LEVEL_DISTRICT, "82", "2020-01-01", "2030-01-01", "Mỹ Tho"),
              Unit("815", ADMIN_LEVEL_COMMUNE, "82", "2030-01-01", "", "Mỹ Tho")},
             "level-2030"),
      StatusIs(kInvalid, AllOf(HasSubstr("\"815\" would not be a higher level than its child on "
                                         "2030-01-01"),
                               HasSubstr("\"28249\""))));
  // An imported unit whose parent changes level later.
  EXPECT_THAT(
      Import({Unit("816", ADMIN_LEVEL_DISTRICT, "82", "2020-01-01", "2030-01-01", "X"),
              Unit("816", ADMIN_LEVEL_COMMUNE, "82", "2030-01-01", "", "X"),
              Unit("29000", ADMIN_LEVEL_COMMUNE, "816", "2020-01-01", "", "Y")},
             "child-of-816"),
      StatusIs(kInvalid, HasSubstr("units[2].parent_code: parent \"816\" is not a higher level "
                                   "than \"29000\" on 2030-01-01")));
}

TEST_P(HardeningTest, AParentCannotStopExistingUnderItsChildren) {
  // Shortening 82 to 2026 while 815 (and beneath it 28249, 28252) name it from 2020 on.
  EXPECT_THAT(
      Import({Unit("82", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "2026-01-01", "Tỉnh Tiền Giang")},
             "shorten-82"),
      StatusIs(kInvalid,
               AllOf(HasSubstr("units[0].valid_to: \"82\" would not exist on 2026-01-01"),
                     HasSubstr("\"815\" (valid [2020-01-01, …)) names it as its parent"))));
  // Ending the children first, then the parent, is the way.
  EXPECT_THAT(Import({Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "2026-01-01", "P5"),
                      Unit("28252", ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "2026-01-01", "P4"),
                      Unit("815", ADMIN_LEVEL_DISTRICT, "82", "2020-01-01", "2026-01-01", "MT"),
                      Unit("82", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "2026-01-01", "TG")},
                     "end-all"),
              IsOk());
  // A gap in the middle: a parent replaced by a later version that starts too late.
  EXPECT_THAT(Import({Unit("83", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "2022-01-01", "A"),
                      Unit("83", ADMIN_LEVEL_PROVINCE, "", "2023-01-01", "", "A"),
                      Unit("830", ADMIN_LEVEL_DISTRICT, "83", "2020-01-01", "", "B")},
                     "gap"),
              StatusIs(kInvalid, HasSubstr("units[2].parent_code: parent \"83\" of \"830\" does "
                                           "not exist on 2022-01-01")));
}

TEST_P(HardeningTest, EveryStringIsBoundedAndTheErrorQuotesOnlyAPrefix) {
  const std::string huge(10 << 20, 'x');
  const int64_t head = Head();
  struct Case {
    std::string name;
    grpc::Status status;
    std::string message;
  };
  auto with_source = [&](std::string source) {
    v1::SubmitReportRequest r = Report("s-1", {Record("28249", "2024-02", v1::SCHEME_HEALTH, 1)});
    r.set_source(std::move(source));
    return r;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"name",
       Import({Unit("28253", ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "", huge)}, "long-name"),
       "units[0].name: longer than 200 bytes (got 10485760)"});
  cases.push_back({"source", Submit(with_source(std::string(60 << 20 >> 2, 's'))),
                   "source: longer than 500 bytes"});
  cases.push_back({"request id",
                   Submit(Report(huge, {Record("28249", "2024-02", v1::SCHEME_HEALTH, 1)})),
                   "request_id: longer than 128 bytes"});
  cases.push_back({"code", Submit(Report("c-1", {Record(huge, "2024-02", v1::SCHEME_HEALTH, 1)})),
                   "records[0].unit_code: must be 1–16 characters without spaces"});
  cases.push_back({"month", Submit(Report("m-1", {Record("28249", huge, v1::SCHEME_HEALTH, 1)})),
                   "records[0].month: malformed month \"xxxx"});
  cases.push_back({"type",
                   [&] {
                     v1::AdminUnit u =
                         Unit("28253", ADMIN_LEVEL_COMMUNE, "815", "2020-01-01", "", "Phường 6");
                     u.set_type(huge);
                     return Import({u}, "long-type");
                   }(),
                   "units[0].type: longer than 200 bytes"});
  {
    v1::ImportCrosswalkRequest request;
    request.set_request_id("cw-1");
    request.set_source(huge);
    v1::CrosswalkLink* link = request.add_links();
    link->set_from_code("28249");
    link->set_to_code("28252");
    link->set_effective_date("2030-01-01");
    v1::ImportCrosswalkResponse response;
    grpc::ClientContext context;
    cases.push_back({"crosswalk source", stub().ImportCrosswalk(&context, request, &response),
                     "source: longer than 500 bytes"});
  }
  {
    v1::ExportDataRequest request;
    request.set_root_code(huge);
    request.set_as_of("2024-01-01");
    grpc::ClientContext context;
    auto reader = stub().ExportData(&context, request);
    v1::ExportDataResponse chunk;
    while (reader->Read(&chunk)) {
    }
    cases.push_back({"export root", reader->Finish(), "root_code: must be 1–16"});
  }
  {
    v1::ListRevisionsRequest request;
    request.set_unit_code("28249");
    request.set_month(huge);
    v1::ListRevisionsResponse response;
    grpc::ClientContext context;
    cases.push_back({"revisions month", stub().ListRevisions(&context, request, &response),
                     "month: malformed month"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(c.status, StatusIs(kInvalid, HasSubstr(c.message)));
    EXPECT_LT(c.status.error_message().size(), kShortMessage);
  }
  EXPECT_EQ(Head(), head) << "a refused request wrote something";
}

// Invalid UTF-8 never reaches a handler over gRPC: protobuf refuses a proto3 string that is not
// UTF-8 while parsing the request (request_validation_test covers the check itself).
TEST_P(HardeningTest, NulBytesAreRefusedAlikeOnBothStores) {
  const int64_t head = Head();
  const std::string nul_a("X\0A", 3);
  const std::string nul_b("X\0B", 3);
  EXPECT_THAT(Submit(Report(nul_a, {Record("28249", "2024-03", v1::SCHEME_HEALTH, 1)})),
              StatusIs(kInvalid, HasSubstr("request_id: contains a NUL byte at byte 1")));
  EXPECT_THAT(Submit(Report(nul_b, {Record("28249", "2024-03", v1::SCHEME_HEALTH, 2)})),
              StatusIs(kInvalid, HasSubstr("request_id: contains a NUL byte at byte 1")));
  EXPECT_THAT(
      Submit(
          Report("nul-code", {Record(std::string("28252\0", 6), "2024-03", v1::SCHEME_HEALTH, 1)})),
      StatusIs(kInvalid, HasSubstr("records[0].unit_code: must be printable UTF-8 without NUL "
                                   "or control bytes (got \"28252\\x00\")")));
  v1::SubmitReportRequest with_source =
      Report("nul-source", {Record("28249", "2024-03", v1::SCHEME_HEALTH, 1)});
  with_source.set_source(std::string("BHXH\0tail", 9));
  EXPECT_THAT(Submit(with_source),
              StatusIs(kInvalid, HasSubstr("source: contains a NUL byte at byte 4")));
  EXPECT_EQ(Head(), head) << "a refused request wrote something";
}

TEST_P(HardeningTest, AStreamErrorQuotesOnlyAPrefixOfWhatWasSent) {
  v1::StreamReportsResponse summary;
  grpc::ClientContext context;
  auto stream = stub().StreamReports(&context, &summary);
  const std::string huge(1 << 20, '9');
  stream->Write(Report("ok-1", {Record("28249", "2024-04", v1::SCHEME_HEALTH, 1)}));
  stream->Write(Report(std::string(100, 'r'), {Record("28249", huge, v1::SCHEME_HEALTH, 1)}));
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  EXPECT_THAT(status, StatusIs(kInvalid, AllOf(HasSubstr("message 1 (request_id \"rrrr"),
                                               HasSubstr("records[0].month: malformed month "
                                                         "\"9999"),
                                               HasSubstr("1 earlier messages were committed"))));
  EXPECT_LT(status.error_message().size(), kShortMessage);
}

INSTANTIATE_TEST_SUITE_P(Stores, HardeningTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// The drain of an upload on shutdown, with the service and server in this process: BeginDrain
// (what main does on SIGTERM before the server's Shutdown) stops the upload between messages
// before the grace ends, and the answer says how many messages were committed.
TEST(StreamReportsDrainTest, StopsBetweenMessagesAndSaysWhereToResume) {
  ingestion::IngestionOptions options;
  options.store_url = testing::SqliteStoreUrl();
  auto service = ingestion::IngestionServiceImpl::Create(options);
  ASSERT_THAT(service.status(), IsOk());
  ServerOptions server_options;
  server_options.service_name = "ingestion-drain-test";
  server_options.shutdown_grace = absl::Seconds(30);
  auto server = Server::Start(server_options, {service->get()});
  ASSERT_THAT(server.status(), IsOk());
  auto stub = v1::IngestionService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  testing::ImportUnits(*stub, {Unit("82", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "", "TG")},
                       "units");

  auto message = [](int k) {
    v1::SubmitReportRequest request;
    request.set_request_id(absl::StrCat("m-", k));
    *request.add_records() =
        Record("82", absl::StrCat(2020 + k / 12, "-", absl::StrFormat("%02d", k % 12 + 1)),
               v1::SCHEME_HEALTH, k + 1);
    return request;
  };
  grpc::ClientContext context;
  v1::StreamReportsResponse summary;
  auto stream = stub->StreamReports(&context, &summary);
  ASSERT_TRUE(stream->Write(message(0)));
  ASSERT_TRUE(stream->Write(message(1)));
  // Both are committed once the head has moved past them (the units were change 1).
  for (int tries = 0; tries < 3000; ++tries) {
    v1::ChangeHead head;
    grpc::ClientContext c;
    ASSERT_THAT(stub->GetChangeHead(&c, {}, &head), IsOk());
    if (head.seq() >= 3) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // A zero grace: uploads stop at once, between messages; the next message is not committed.
  (*service)->BeginDrain(absl::ZeroDuration());
  std::thread shutdown([&] { (*server)->Shutdown(); });
  stream->Write(message(2));
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  shutdown.join();
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAVAILABLE,
                               HasSubstr("2 messages of this stream were committed; send the "
                                         "rest again from message 2")));
  auto trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find("covtrack-committed-messages");
  ASSERT_NE(it, trailers.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "2");
}

}  // namespace
}  // namespace covtrack
