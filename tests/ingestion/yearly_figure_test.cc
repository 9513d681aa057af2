// The yearly-figure rule through ingestion (common/hierarchy: a yearly figure belongs to the
// unit holding its code on 31 December, else to the last unit that held it during the year),
// where the 2025 reform reuses a commune code within the year. Ingestion checks a denominator
// against that holder and places it in the hierarchy there for the reporter's jurisdiction,
// as aggregation gives it its figure: a district office that reported the code's month-end
// figures until June may not write the code's 2025 population, which belongs to the new
// commune in the new province.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/access/access_policy.h"
#include "common/server.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "services/ingestion/ingestion_service.h"
#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tls.h"

namespace covtrack {
namespace {

using ::covtrack::testing::CertificateFiles;
using ::covtrack::testing::Denominator;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::Record;
using ::covtrack::testing::StatusIs;
using ::covtrack::testing::TestCa;
using ::covtrack::testing::Unit;
using ::testing::AllOf;
using ::testing::HasSubstr;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

constexpr char kPolicy[] = R"(principals:
  - name: covtrack-admin
    roles: [admin, reader]
  - name: bhxh-my-tho
    roles: [reader, reporter]
    jurisdiction: ["815"]
  - name: bhxh-dong-thap
    roles: [reader, reporter]
    jurisdiction: ["82"]
  - name: bhxh-viet-nam
    roles: [reader, reporter]
    jurisdiction: ["VN"]
)";

class YearlyFigureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ca_ = new TestCa("covtrack-test-ca"); }

  void SetUp() override {
    absl::StatusOr<access::AccessPolicy> policy = access::AccessPolicy::Parse(kPolicy, "test");
    ASSERT_THAT(policy, IsOk());
    ingestion::IngestionOptions options;
    options.store_url = testing::SqliteStoreUrl();
    options.access_policy = *policy;
    absl::StatusOr<std::unique_ptr<ingestion::IngestionServiceImpl>> service =
        ingestion::IngestionServiceImpl::Create(options);
    ASSERT_THAT(service, IsOk());
    service_ = std::move(*service);
    const CertificateFiles cert = ca_->Issue("ingestion");
    ServerOptions server_options;
    server_options.service_name = "ingestion";
    server_options.tls_cert = cert.cert;
    server_options.tls_key = cert.key;
    server_options.tls_client_ca = ca_->cert_file();
    server_options.shutdown_grace = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(server_options, {service_.get()});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);

    // Mỹ Tho (815) in old Tiền Giang (82) until the reform. Commune code 28252 is Phường 4 of
    // Mỹ Tho until 30 June 2025, then a commune of the new province 82 (Đồng Tháp); 28249
    // (Phường 5) ends with the reform and its code is not reused.
    v1::ImportAdminUnitsRequest import;
    import.set_request_id("units");
    for (const v1::AdminUnit& u :
         {Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01", "Tỉnh Tiền Giang"),
          Unit("82", ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01", "", "Tỉnh Đồng Tháp"),
          Unit("815", ADMIN_LEVEL_DISTRICT, "82", "", "2025-07-01", "Thành phố Mỹ Tho"),
          Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "", "2025-07-01", "Phường 5"),
          Unit("28252", ADMIN_LEVEL_COMMUNE, "815", "", "2025-07-01", "Phường 4"),
          Unit("28252", ADMIN_LEVEL_COMMUNE, "82", "2025-07-01", "", "Phường Đạo Thạnh")}) {
      *import.add_units() = u;
    }
    v1::ImportAdminUnitsResponse imported;
    grpc::ClientContext context;
    ASSERT_THAT(Stub("covtrack-admin")->ImportAdminUnits(&context, import, &imported), IsOk());
  }

  std::unique_ptr<v1::IngestionService::Stub> Stub(const std::string& identity) {
    return v1::IngestionService::NewStub(grpc::CreateChannel(
        server_->address(), testing::ClientCredentials(*ca_, ca_->Issue(identity))));
  }

  grpc::Status Submit(const std::string& identity, const std::string& request_id,
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
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    return Stub(identity)->SubmitReport(&context, request, &response);
  }

  int Revisions(const std::string& unit) {
    v1::ListRevisionsRequest request;
    request.set_unit_code(unit);
    v1::ListRevisionsResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(Stub("covtrack-admin")->ListRevisions(&context, request, &response), IsOk());
    return response.revisions_size();
  }

  static TestCa* ca_;
  std::unique_ptr<ingestion::IngestionServiceImpl> service_;
  std::unique_ptr<Server> server_;
};

TestCa* YearlyFigureTest::ca_ = nullptr;

TEST_F(YearlyFigureTest, AReusedCodesYearlyFigureBelongsToItsHolderOn31December) {
  // June 2025 is still Phường 4's, inside Mỹ Tho; so is the whole of 2024.
  EXPECT_THAT(Submit("bhxh-my-tho", "june", {Record("28252", "2025-06", v1::SCHEME_HEALTH, 9000)},
                     {Denominator("28252", 2024, v1::DENOMINATOR_KIND_POPULATION, 10000)}),
              IsOk());
  // 2025's population of 28252 is the new commune's (it holds the code on 31 December), which
  // lies in the new province, outside Mỹ Tho.
  EXPECT_THAT(Submit("bhxh-my-tho", "population-2025", {},
                     {Denominator("28252", 2025, v1::DENOMINATOR_KIND_POPULATION, 10100)}),
              StatusIs(grpc::StatusCode::PERMISSION_DENIED,
                       AllOf(HasSubstr("bhxh-my-tho"), HasSubstr("\"28252\" (Phường Đạo Thạnh)"))));
  EXPECT_EQ(Revisions("28252"), 2);  // the refused figure was not written
  EXPECT_THAT(Submit("bhxh-dong-thap", "population-2025", {},
                     {Denominator("28252", 2025, v1::DENOMINATOR_KIND_POPULATION, 10100)}),
              IsOk());
  EXPECT_EQ(Revisions("28252"), 3);
}

TEST_F(YearlyFigureTest, ACodeNoUnitHoldsOn31DecemberBelongsToItsLastHolder) {
  // No unit holds 28249 on 31 December 2025: Phường 5 held it last, inside Mỹ Tho.
  EXPECT_THAT(Submit("bhxh-my-tho", "population-2025", {},
                     {Denominator("28249", 2025, v1::DENOMINATOR_KIND_POPULATION, 8000)}),
              IsOk());
  // And in 2026 nobody holds it at all.
  EXPECT_THAT(Submit("bhxh-dong-thap", "population-2026", {},
                     {Denominator("28249", 2026, v1::DENOMINATOR_KIND_POPULATION, 8000)}),
              StatusIs(grpc::StatusCode::PERMISSION_DENIED, HasSubstr("no unit holds that code")));
  // A national reporter passes every jurisdiction; the report's check refuses the year.
  EXPECT_THAT(Submit("bhxh-viet-nam", "population-2026", {},
                     {Denominator("28249", 2026, v1::DENOMINATOR_KIND_POPULATION, 8000)}),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                       HasSubstr("denominators[0].year: unit \"28249\" does not exist in 2026")));
}

}  // namespace
}  // namespace covtrack
