// Issue 13's finding against AllocateTarget, across the 2025 reform, through the real services
// (ingestion and aggregation in-process on loopback; targets with TLS and an access policy):
// a writer whose jurisdiction is 87 was refused SetTarget on a 2025 commune whose code a new
// commune of 82 reuses, yet AllocateTarget(87, 2025, communes) stored a part under that code and
// overwrote the other office's revision. Now every part is for the unit of the base year (named
// with unit_as_of where its code names another unit at the year's end) and passes the check
// SetTarget applies; the other office's target is untouched.

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/access/access_policy.h"
#include "common/server.h"
#include "gmock/gmock.h"
#include "services/targets/target_service.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/testing/builders.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tls.h"

namespace covtrack::targets {
namespace {

using ::covtrack::testing::AggregationHarness;
using ::covtrack::testing::CertificateFiles;
using ::covtrack::testing::ClientCredentials;
using ::covtrack::testing::Denominator;
using ::covtrack::testing::IngestionHarness;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::TestCa;
using ::covtrack::testing::Unit;

constexpr char kPolicy[] = R"(principals:
  - name: bhxh-dong-thap-cu
    roles: [reader, planner]
    jurisdiction: ["87"]
  - name: bhxh-dong-thap
    roles: [reader, planner]
    jurisdiction: ["82"]
)";

class TargetsAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingestion_ = IngestionHarness::Start();
    // Old 87 with a district and two communes until 2025-07-01; from then the new 82, whose
    // commune reuses the code 30001.
    covtrack::testing::ImportUnits(
        ingestion_->stub(),
        {Unit("87", v1::ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01", "Tỉnh Đồng Tháp"),
         Unit("871", v1::ADMIN_LEVEL_DISTRICT, "87", "", "2025-07-01", "Huyện Một"),
         Unit("30001", v1::ADMIN_LEVEL_COMMUNE, "871", "", "2025-07-01", "Xã Một"),
         Unit("30002", v1::ADMIN_LEVEL_COMMUNE, "871", "", "2025-07-01", "Xã Hai"),
         Unit("82", v1::ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01", "", "Tỉnh Đồng Tháp"),
         Unit("30001", v1::ADMIN_LEVEL_COMMUNE, "82", "2025-07-01", "", "Xã Mới")},
        "units");
    covtrack::testing::Submit(
        ingestion_->stub(),
        {covtrack::testing::Record("30001", "2024-12", v1::SCHEME_HEALTH, 900),
         covtrack::testing::Record("30002", "2024-12", v1::SCHEME_HEALTH, 2700)},
        {Denominator("30001", 2024, v1::DENOMINATOR_KIND_POPULATION, 1000),
         Denominator("30002", 2024, v1::DENOMINATOR_KIND_POPULATION, 3000)},
        "figures");
    aggregation_ = AggregationHarness::Start(ingestion_->address());

    ca_ = std::make_unique<TestCa>("targets-access-ca");
    const std::string policy_file = absl::StrCat(covtrack::testing::TempDir(), "/policy.yaml");
    std::ofstream(policy_file) << kPolicy;
    absl::StatusOr<access::AccessPolicy> policy = access::AccessPolicy::Load(policy_file);
    ASSERT_THAT(policy, IsOk());
    TargetOptions options;
    options.store_url = covtrack::testing::SqliteStoreUrl();
    options.aggregation_addr = aggregation_->address();
    options.ingestion_addr = ingestion_->address();
    options.aggregation_deadline = absl::Seconds(10);
    options.access_policy = *policy;
    absl::StatusOr<std::unique_ptr<TargetServiceImpl>> service = TargetServiceImpl::Create(options);
    ASSERT_THAT(service, IsOk());
    service_ = std::move(*service);
    const CertificateFiles cert = ca_->Issue("targets");
    ServerOptions server_options;
    server_options.service_name = "targets";
    server_options.tls_cert = cert.cert;
    server_options.tls_key = cert.key;
    server_options.tls_client_ca = ca_->cert_file();
    server_options.shutdown_grace = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(server_options, {service_.get()});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown();
    }
  }

  std::unique_ptr<v1::TargetService::Stub> As(const std::string& identity) {
    return v1::TargetService::NewStub(
        grpc::CreateChannel(server_->address(), ClientCredentials(*ca_, ca_->Issue(identity))));
  }

  static grpc::Status SetTarget(v1::TargetService::Stub& stub, const std::string& code,
                                double value, const std::string& request_id) {
    v1::SetTargetRequest request;
    request.set_request_id(request_id);
    v1::Target* t = request.mutable_target();
    t->set_unit_code(code);
    t->set_scheme(v1::SCHEME_HEALTH);
    t->set_year(2025);
    t->set_kind(v1::TARGET_KIND_PARTICIPANTS);
    t->set_value(value);
    v1::Target stored;
    grpc::ClientContext context;
    return stub.SetTarget(&context, request, &stored);
  }

  std::unique_ptr<IngestionHarness> ingestion_;
  std::unique_ptr<AggregationHarness> aggregation_;
  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<TargetServiceImpl> service_;
  std::unique_ptr<Server> server_;
};

TEST_F(TargetsAccessTest, AllocationPartsStayInsideTheWritersJurisdiction) {
  auto old_office = As("bhxh-dong-thap-cu");
  auto new_office = As("bhxh-dong-thap");
  // 30001 names the new commune of 82 at the end of 2025: its office may set its target, the
  // old 87's may not.
  ASSERT_THAT(SetTarget(*new_office, "30001", 1100, "new-30001"), IsOk());
  EXPECT_EQ(SetTarget(*old_office, "30001", 1, "old-30001").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_THAT(SetTarget(*old_office, "87", 4000, "old-87"), IsOk());

  v1::AllocateTargetRequest request;
  request.set_parent_code("87");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_year(2025);
  request.set_level(v1::ADMIN_LEVEL_COMMUNE);
  request.set_method(v1::ALLOCATION_METHOD_POPULATION);
  request.set_request_id("allocate-87");
  v1::AllocateTargetResponse response;
  {
    grpc::ClientContext context;
    ASSERT_THAT(old_office->AllocateTarget(&context, request, &response), IsOk());
  }
  ASSERT_EQ(response.parts_size(), 2);
  // The old commune 30001, named on its last day; 30002, never reused, holds its code's 2025
  // figures.
  EXPECT_EQ(response.parts(0).target().unit_code(), "30001");
  EXPECT_EQ(response.parts(0).target().unit_as_of(), "2025-06-30");
  EXPECT_EQ(response.parts(0).target().value(), 1000);
  EXPECT_EQ(response.parts(1).target().unit_as_of(), "");
  EXPECT_EQ(response.parts(1).target().value(), 3000);

  // The new commune's target is still its office's, revision 1.
  v1::ListTargetsRequest list;
  list.set_unit_code("30001");
  list.set_year(2025);
  v1::ListTargetsResponse listed;
  grpc::ClientContext context;
  ASSERT_THAT(new_office->ListTargets(&context, list, &listed), IsOk());
  ASSERT_EQ(listed.targets_size(), 2);
  EXPECT_EQ(listed.targets(0).unit_as_of(), "");
  EXPECT_EQ(listed.targets(0).value(), 1100);
  EXPECT_EQ(listed.targets(0).revision(), 1);
  EXPECT_EQ(listed.targets(1).unit_as_of(), "2025-06-30");
  EXPECT_EQ(listed.targets(1).value(), 1000);
}

}  // namespace
}  // namespace covtrack::targets
