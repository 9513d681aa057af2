// The server bootstrap on its own: a free port is read back, a port in use is refused rather
// than shared, the health-only port answers probes, and /metrics counts RPCs.
#include "common/server.h"

#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;

TEST(ServerTest, ASecondServerOnAPortInUseFailsToStart) {
  absl::StatusOr<std::unique_ptr<Server>> first = Server::Start(ServerOptions{}, {});
  ASSERT_THAT(first, IsOk());
  ASSERT_GT((*first)->port(), 0);

  ServerOptions same_port;
  same_port.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(same_port, {});
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_NE(second.status().message().find("port free"), absl::string_view::npos)
      << second.status();
}

}  // namespace
}  // namespace covtrack

namespace covtrack {
namespace {

grpc::health::v1::HealthCheckResponse::ServingStatus Health(int port, grpc::Status* status) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  *status = stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  return response.status();
}

// Kubernetes' gRPC probes speak plaintext: the health-only port answers them even when the
// service port requires mTLS, and offers nothing but health.
TEST(ServerTest, TheHealthPortServesHealthOnly) {
  testing::TestCa ca("health-ca");
  testing::CertificateFiles cert = ca.Issue("ingestion");
  ServerOptions options;
  options.tls_cert = cert.cert;
  options.tls_key = cert.key;
  options.tls_client_ca = ca.cert_file();
  options.health_listen = "127.0.0.1:0";
  options.shutdown_grace = absl::Seconds(1);
  v1::IngestionService::Service service;  // every method UNIMPLEMENTED
  std::unique_ptr<Server> server = Server::Start(options, {&service}).value();
  ASSERT_GT(server->health_port(), 0);

  grpc::Status status;
  EXPECT_EQ(Health(server->health_port(), &status), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_THAT(status, IsOk());
  // The service port wants a client certificate: plaintext fails there.
  Health(server->port(), &status);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::UNAVAILABLE));
  // The health port does not offer the service.
  auto stub = v1::IngestionService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server->health_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ChangeHead head;
  EXPECT_THAT(stub->GetChangeHead(&context, {}, &head), StatusIs(grpc::StatusCode::UNIMPLEMENTED));

  server->Shutdown();
  Health(server->health_port(), &status);
  EXPECT_FALSE(status.ok());  // stopped with the server
}

TEST(ServerTest, TheMetricsPortCountsRpcs) {
  ServerOptions options;
  options.metrics_listen = "127.0.0.1:0";
  options.shutdown_grace = absl::Seconds(1);
  std::unique_ptr<Server> server = Server::Start(options, {}).value();
  ASSERT_GT(server->metrics_port(), 0);
  grpc::Status status;
  Health(server->port(), &status);
  ASSERT_THAT(status, IsOk());

  httplib::Client client("127.0.0.1", server->metrics_port());
  httplib::Result result = client.Get("/metrics");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_TRUE(absl::StrContains(result->body,
                                "covtrack_rpc_requests_total{method=\"/grpc.health.v1.Health/"
                                "Check\",code=\"OK\"}"))
      << result->body;
}

TEST(ServerTest, AMetricsPortInUseFailsToStart) {
  ServerOptions options;
  options.metrics_listen = "127.0.0.1:0";
  std::unique_ptr<Server> first = Server::Start(options, {}).value();
  options.metrics_listen = absl::StrCat("127.0.0.1:", first->metrics_port());
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(options, {});
  EXPECT_FALSE(second.ok());
  EXPECT_TRUE(absl::StrContains(second.status().message(), "--metrics_listen")) << second.status();
}

}  // namespace
}  // namespace covtrack
