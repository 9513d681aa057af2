// Who may do what, end to end: the three real services in-process on loopback, with mTLS and
// an access policy, called by clients holding different certificates. Also checks that every
// RPC of every service is guarded, that denials are counted on /metrics, and that the audit
// trail records the certificate's name.

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <functional>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/access/access_policy.h"
#include "common/metrics/metrics.h"
#include "common/server.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "services/aggregation/aggregation_service.h"
#include "services/ingestion/ingestion_service.h"
#include "services/targets/target_service.h"
#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tls.h"

namespace covtrack {
namespace {

using ::covtrack::testing::CertificateFiles;
using ::covtrack::testing::ClientCredentials;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::Record;
using ::covtrack::testing::StatusIs;
using ::covtrack::testing::TestCa;
using ::covtrack::testing::Unit;

constexpr char kPolicy[] = R"(principals:
  - name: aggregation
    roles: [reader]
  - name: targets
    roles: [reader]
  - name: covtrack-admin
    roles: [admin, reader]
  - name: bhxh-tien-giang
    roles: [reader, reporter, planner]
    jurisdiction: ["82"]
  - name: auditor
    roles: [reader]
)";

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(testing::TempDir(), "/", name);
  std::ofstream(path) << text;
  return path;
}

// One of the three services with its server, TLS and policy.
struct Running {
  std::unique_ptr<grpc::Service> service;
  std::unique_ptr<Server> server;
};

class AccessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCa("covtrack-test-ca");
    other_ca_ = new TestCa("other-ca");
    policy_file_ = new std::string(WriteFile("policy.yaml", kPolicy));
  }

  void SetUp() override {
    absl::StatusOr<access::AccessPolicy> policy = access::AccessPolicy::Load(*policy_file_);
    ASSERT_THAT(policy, IsOk());

    ingestion::IngestionOptions ingestion_options;
    ingestion_options.store_url = testing::SqliteStoreUrl();
    ingestion_options.access_policy = *policy;
    auto ingestion = ingestion::IngestionServiceImpl::Create(ingestion_options);
    ASSERT_THAT(ingestion, IsOk());
    ingestion_ = Serve("ingestion", std::move(*ingestion));

    aggregation::AggregationOptions aggregation_options;
    aggregation_options.ingestion_addr = ingestion_.server->address();
    aggregation_options.ingestion_channel = Upstream("aggregation");
    aggregation_options.access_policy = *policy;
    aggregation_options.stats_log_interval = absl::ZeroDuration();
    // The tests write and then read without a token: FULL keeps read-your-writes (and waits for
    // the replica's load).
    aggregation_options.default_consistency = v1::CONSISTENCY_FULL;
    auto aggregation = aggregation::AggregationServiceImpl::Create(aggregation_options);
    ASSERT_THAT(aggregation, IsOk());
    aggregation_ = Serve("aggregation", std::move(*aggregation));

    targets::TargetOptions target_options;
    target_options.store_url = testing::SqliteStoreUrl();
    target_options.aggregation_addr = aggregation_.server->address();
    target_options.ingestion_addr = ingestion_.server->address();
    target_options.upstream_channel = Upstream("targets");
    target_options.access_policy = *policy;
    auto targets = targets::TargetServiceImpl::Create(target_options);
    ASSERT_THAT(targets, IsOk());
    targets_ = Serve("targets", std::move(*targets));

    // Tiền Giang (82) and Sơn La (14), each with a district and a commune.
    v1::ImportAdminUnitsRequest import;
    import.set_request_id("units");
    for (const v1::AdminUnit& unit :
         {Unit("82", v1::ADMIN_LEVEL_PROVINCE, "VN"), Unit("815", v1::ADMIN_LEVEL_DISTRICT, "82"),
          Unit("28240", v1::ADMIN_LEVEL_COMMUNE, "815"), Unit("14", v1::ADMIN_LEVEL_PROVINCE, "VN"),
          Unit("125", v1::ADMIN_LEVEL_DISTRICT, "14"),
          Unit("04048", v1::ADMIN_LEVEL_COMMUNE, "125")}) {
      *import.add_units() = unit;
    }
    v1::ImportAdminUnitsResponse imported;
    grpc::ClientContext context;
    grpc::Status status =
        Ingestion("covtrack-admin")->ImportAdminUnits(&context, import, &imported);
    ASSERT_THAT(status, IsOk());
  }

  template <typename Service>
  Running Serve(const std::string& name, std::unique_ptr<Service> service) {
    CertificateFiles cert = ca_->Issue(name);
    ServerOptions options;
    options.service_name = name;
    options.tls_cert = cert.cert;
    options.tls_key = cert.key;
    options.tls_client_ca = ca_->cert_file();
    options.metrics_listen = "127.0.0.1:0";
    options.shutdown_grace = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, {service.get()});
    EXPECT_THAT(server, IsOk());
    return Running{std::move(service), server.ok() ? std::move(*server) : nullptr};
  }

  ChannelOptions Upstream(const std::string& name) {
    CertificateFiles cert = ca_->Issue(name);
    return ChannelOptions{ca_->cert_file(), cert.cert, cert.key};
  }

  // A channel to `running` presenting a certificate for `identity` from `ca` (none when
  // `identity` is empty).
  std::shared_ptr<grpc::Channel> Channel(const Running& running, const std::string& identity,
                                         TestCa* ca = nullptr) {
    CertificateFiles cert =
        identity.empty() ? CertificateFiles{} : (ca ? ca : ca_)->Issue(identity);
    // The server's certificate is always checked against the real CA.
    return grpc::CreateChannel(running.server->address(), ClientCredentials(*ca_, cert));
  }
  std::unique_ptr<v1::IngestionService::Stub> Ingestion(const std::string& identity) {
    return v1::IngestionService::NewStub(Channel(ingestion_, identity));
  }
  std::unique_ptr<v1::TargetService::Stub> Targets(const std::string& identity) {
    return v1::TargetService::NewStub(Channel(targets_, identity));
  }

  static grpc::Status Submit(v1::IngestionService::Stub& stub, const std::string& unit,
                             const std::string& request_id) {
    v1::SubmitReportRequest request;
    request.set_request_id(request_id);
    *request.add_records() = Record(unit, "2024-12", v1::SCHEME_HEALTH, 1000);
    v1::SubmitReportResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub.SubmitReport(&context, request, &response);
  }

  static grpc::Status SetTarget(v1::TargetService::Stub& stub, const std::string& unit) {
    v1::SetTargetRequest request;
    request.set_request_id(absl::StrCat("target-", unit));
    v1::Target& target = *request.mutable_target();
    target.set_unit_code(unit);
    target.set_scheme(v1::SCHEME_HEALTH);
    target.set_year(2024);
    target.set_kind(v1::TARGET_KIND_PARTICIPANTS);
    target.set_value(1200);
    target.set_assigned_by("UBND tỉnh");
    v1::Target response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub.SetTarget(&context, request, &response);
  }

  int RevisionCount(const std::string& unit) {
    v1::ListRevisionsRequest request;
    request.set_unit_code(unit);
    v1::ListRevisionsResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(Ingestion("auditor")->ListRevisions(&context, request, &response), IsOk());
    return response.revisions_size();
  }

  static std::string Scrape(const Running& running) {
    httplib::Client client("127.0.0.1", running.server->metrics_port());
    httplib::Result result = client.Get("/metrics");
    EXPECT_TRUE(result) << "no answer from /metrics";
    return result ? result->body : "";
  }

  static TestCa* ca_;
  static TestCa* other_ca_;
  static std::string* policy_file_;
  Running ingestion_, aggregation_, targets_;
};

TestCa* AccessTest::ca_ = nullptr;
TestCa* AccessTest::other_ca_ = nullptr;
std::string* AccessTest::policy_file_ = nullptr;

TEST_F(AccessTest, AClientWithoutACertificateCannotConnect) {
  grpc::Status status = Submit(*Ingestion(""), "28240", "no-cert");
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(RevisionCount("28240"), 0);
}

TEST_F(AccessTest, ACertificateFromAnotherCaCannotConnect) {
  // The right name, the wrong issuer.
  auto stub = v1::IngestionService::NewStub(Channel(ingestion_, "bhxh-tien-giang", other_ca_));
  grpc::Status status = Submit(*stub, "28240", "other-ca");
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(RevisionCount("28240"), 0);
}

TEST_F(AccessTest, AProvinceOfficeWritesInsideItsProvinceOnly) {
  auto office = Ingestion("bhxh-tien-giang");
  ASSERT_THAT(Submit(*office, "28240", "tg-1"), IsOk());

  // The audit trail names the certificate, not an address.
  v1::ListRevisionsRequest request;
  request.set_unit_code("28240");
  v1::ListRevisionsResponse revisions;
  grpc::ClientContext context;
  ASSERT_THAT(office->ListRevisions(&context, request, &revisions), IsOk());
  ASSERT_EQ(revisions.revisions_size(), 1);
  EXPECT_EQ(revisions.revisions(0).peer(), "bhxh-tien-giang");

  const double denied_before =
      metrics::Registry::Global()
          .AddCounter("covtrack_access_denied_total", "", {"method", "role"})
          .Value({"/covtrack.v1.IngestionService/SubmitReport", "reporter"});
  grpc::Status outside = Submit(*office, "04048", "tg-2");
  EXPECT_THAT(outside, StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_TRUE(absl::StrContains(outside.error_message(), "\"bhxh-tien-giang\""))
      << outside.error_message();
  EXPECT_TRUE(absl::StrContains(outside.error_message(), "\"04048\"")) << outside.error_message();
  EXPECT_EQ(RevisionCount("04048"), 0);  // nothing written

  // A report mixing a unit inside and one outside is refused whole.
  v1::SubmitReportRequest mixed;
  mixed.set_request_id("tg-3");
  *mixed.add_records() = Record("28240", "2025-01", v1::SCHEME_HEALTH, 1);
  *mixed.add_records() = Record("125", "2025-01", v1::SCHEME_HEALTH, 1);
  v1::SubmitReportResponse response;
  grpc::ClientContext mixed_context;
  EXPECT_THAT(office->SubmitReport(&mixed_context, mixed, &response),
              StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(RevisionCount("28240"), 1);

  // Denials are counted, and /metrics shows them.
  const double denied_after =
      metrics::Registry::Global()
          .AddCounter("covtrack_access_denied_total", "", {"method", "role"})
          .Value({"/covtrack.v1.IngestionService/SubmitReport", "reporter"});
  EXPECT_EQ(denied_after - denied_before, 2);
  const std::string scraped = Scrape(ingestion_);
  EXPECT_TRUE(
      absl::StrContains(scraped,
                        "covtrack_access_denied_total{method=\"/covtrack.v1.IngestionService/"
                        "SubmitReport\",role=\"reporter\"}"))
      << scraped;
  EXPECT_TRUE(absl::StrContains(scraped, "code=\"PERMISSION_DENIED\"")) << scraped;
}

TEST_F(AccessTest, ReadersReadButDoNotWrite) {
  auto auditor = Ingestion("auditor");
  grpc::Status status = Submit(*auditor, "28240", "auditor-1");
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_TRUE(absl::StrContains(status.error_message(), "\"auditor\"")) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "reporter")) << status.error_message();

  v1::ImportAdminUnitsRequest import;
  import.set_request_id("office-import");
  *import.add_units() = Unit("83", v1::ADMIN_LEVEL_PROVINCE, "VN");
  v1::ImportAdminUnitsResponse imported;
  grpc::ClientContext context;
  EXPECT_THAT(Ingestion("bhxh-tien-giang")->ImportAdminUnits(&context, import, &imported),
              StatusIs(grpc::StatusCode::PERMISSION_DENIED));

  // The crosswalk is national reference data, like the catalogue: a province office with every
  // other role may not write it.
  v1::ImportCrosswalkRequest crosswalk;
  crosswalk.set_request_id("office-crosswalk");
  v1::CrosswalkLink* link = crosswalk.add_links();
  link->set_from_code("87");
  link->set_to_code("82");
  link->set_effective_date("2025-07-01");
  link->set_population_share(1);
  v1::ImportCrosswalkResponse crosswalk_imported;
  grpc::ClientContext crosswalk_context;
  EXPECT_THAT(Ingestion("bhxh-tien-giang")
                  ->ImportCrosswalk(&crosswalk_context, crosswalk, &crosswalk_imported),
              StatusIs(grpc::StatusCode::PERMISSION_DENIED));
}

TEST_F(AccessTest, TargetsAreSetInsideTheJurisdictionOnly) {
  auto office = Targets("bhxh-tien-giang");
  // Placing the unit asks ingestion, over mTLS, as "targets" (a reader).
  grpc::Status inside = SetTarget(*office, "815");
  EXPECT_THAT(inside, IsOk());
  grpc::Status outside = SetTarget(*office, "125");
  EXPECT_THAT(outside, StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_TRUE(absl::StrContains(outside.error_message(), "\"125\"")) << outside.error_message();
  grpc::Status reader = SetTarget(*Targets("auditor"), "815");
  EXPECT_THAT(reader, StatusIs(grpc::StatusCode::PERMISSION_DENIED));
}

TEST_F(AccessTest, AnIdentityOutsideThePolicyIsRefusedEverywhere) {
  auto status = Submit(*Ingestion("stranger"), "28240", "stranger");
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_TRUE(absl::StrContains(status.error_message(), "\"stranger\" is not in the access policy"))
      << status.error_message();
}

// Each RPC of each service, called by an identity the policy does not know. The lists are
// checked against the services' descriptors, so a new RPC without a check fails here.
TEST_F(AccessTest, EveryRpcIsChecked) {
  auto deadline = [](grpc::ClientContext& c) {
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  };
  auto ingestion = Ingestion("stranger");
  auto aggregation = v1::AggregationService::NewStub(Channel(aggregation_, "stranger"));
  auto targets = Targets("stranger");
  using Call = std::function<grpc::Status(grpc::ClientContext&)>;
  std::map<std::string, Call> calls = {
      {"IngestionService.ImportAdminUnits",
       [&](auto& c) {
         v1::ImportAdminUnitsResponse r;
         return ingestion->ImportAdminUnits(&c, {}, &r);
       }},
      {"IngestionService.ListAdminUnits",
       [&](auto& c) {
         v1::ListAdminUnitsResponse r;
         return ingestion->ListAdminUnits(&c, {}, &r);
       }},
      {"IngestionService.SubmitReport",
       [&](auto& c) {
         v1::SubmitReportResponse r;
         return ingestion->SubmitReport(&c, {}, &r);
       }},
      {"IngestionService.StreamReports",
       [&](auto& c) {
         v1::StreamReportsResponse r;
         auto writer = ingestion->StreamReports(&c, &r);
         writer->Write(v1::SubmitReportRequest());
         writer->WritesDone();
         return writer->Finish();
       }},
      {"IngestionService.ListRevisions",
       [&](auto& c) {
         v1::ListRevisionsResponse r;
         return ingestion->ListRevisions(&c, {}, &r);
       }},
      {"IngestionService.GetChangeHead",
       [&](auto& c) {
         v1::ChangeHead r;
         return ingestion->GetChangeHead(&c, {}, &r);
       }},
      {"IngestionService.ListChanges",
       [&](auto& c) {
         v1::ListChangesResponse r;
         return ingestion->ListChanges(&c, {}, &r);
       }},
      {"IngestionService.WatchChanges",
       [&](auto& c) {
         auto reader = ingestion->WatchChanges(&c, {});
         v1::Change change;
         while (reader->Read(&change)) {
         }
         return reader->Finish();
       }},
      {"IngestionService.ExportData",
       [&](auto& c) {
         auto reader = ingestion->ExportData(&c, {});
         v1::ExportDataResponse chunk;
         while (reader->Read(&chunk)) {
         }
         return reader->Finish();
       }},
      {"IngestionService.ImportCrosswalk",
       [&](auto& c) {
         v1::ImportCrosswalkResponse r;
         return ingestion->ImportCrosswalk(&c, {}, &r);
       }},
      {"IngestionService.ListCrosswalk",
       [&](auto& c) {
         v1::ListCrosswalkResponse r;
         return ingestion->ListCrosswalk(&c, {}, &r);
       }},
      {"AggregationService.GetCoverage",
       [&](auto& c) {
         v1::Coverage r;
         return aggregation->GetCoverage(&c, {}, &r);
       }},
      {"AggregationService.ListCoverage",
       [&](auto& c) {
         v1::ListCoverageResponse r;
         return aggregation->ListCoverage(&c, {}, &r);
       }},
      {"AggregationService.GetCoverageSeries",
       [&](auto& c) {
         v1::CoverageSeries r;
         return aggregation->GetCoverageSeries(&c, {}, &r);
       }},
      {"AggregationService.GetMeasures",
       [&](auto& c) {
         v1::MeasureSummary r;
         return aggregation->GetMeasures(&c, {}, &r);
       }},
      {"AggregationService.ListMeasures",
       [&](auto& c) {
         v1::ListMeasuresResponse r;
         return aggregation->ListMeasures(&c, {}, &r);
       }},
      {"TargetService.SetTarget",
       [&](auto& c) {
         v1::Target r;
         return targets->SetTarget(&c, {}, &r);
       }},
      {"TargetService.ListTargets",
       [&](auto& c) {
         v1::ListTargetsResponse r;
         return targets->ListTargets(&c, {}, &r);
       }},
      {"TargetService.GetAchievement",
       [&](auto& c) {
         v1::Achievement r;
         return targets->GetAchievement(&c, {}, &r);
       }},
      {"TargetService.ListLaggingUnits",
       [&](auto& c) {
         v1::ListLaggingUnitsResponse r;
         return targets->ListLaggingUnits(&c, {}, &r);
       }},
      {"TargetService.AllocateTarget",
       [&](auto& c) {
         v1::AllocateTargetResponse r;
         return targets->AllocateTarget(&c, {}, &r);
       }},
      {"TargetService.ValidateAllocation",
       [&](auto& c) {
         v1::ValidateAllocationResponse r;
         return targets->ValidateAllocation(&c, {}, &r);
       }},
      {"TargetService.GetReport",
       [&](auto& c) {
         v1::Report r;
         return targets->GetReport(&c, {}, &r);
       }},
  };
  int methods = 0;
  for (const char* service_name :
       {v1::IngestionService::service_full_name(), v1::AggregationService::service_full_name(),
        v1::TargetService::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_name);
    ASSERT_NE(service, nullptr) << service_name;
    for (int i = 0; i < service->method_count(); ++i, ++methods) {
      const std::string name = absl::StrCat(service->name(), ".", service->method(i)->name());
      ASSERT_TRUE(calls.count(name)) << name << " has no access check in this test";
      grpc::ClientContext context;
      deadline(context);
      grpc::Status status = calls[name](context);
      EXPECT_THAT(status, StatusIs(grpc::StatusCode::PERMISSION_DENIED)) << name;
    }
  }
  EXPECT_EQ(methods, static_cast<int>(calls.size()));
}

}  // namespace
}  // namespace covtrack
