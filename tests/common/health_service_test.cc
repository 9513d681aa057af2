// HealthService on a real gRPC server over loopback: the protocol's answers, and NOT_SERVING
// until told otherwise (gRPC's default service says SERVING from the start).
#include "common/health_service.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/testing/status_matchers.h"

namespace covtrack {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::IsOk;
using testing::StatusIs;

constexpr char kService[] = "covtrack.v1.IngestionService";

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
    builder.RegisterService(health_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
  }

  HealthCheckResponse::ServingStatus Check(const std::string& service, grpc::Status* status) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    *status = stub_->Check(&context, request, &response);
    return response.status();
  }

  std::unique_ptr<HealthService> health_ = std::make_unique<HealthService>();
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
};

TEST_F(HealthServiceTest, NotServingUntilToldOtherwiseAndUnknownServicesAreNotFound) {
  grpc::Status status;
  EXPECT_EQ(Check("", &status), HealthCheckResponse::NOT_SERVING);
  EXPECT_THAT(status, IsOk());
  Check(kService, &status);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::NOT_FOUND));  // not named yet

  health_->SetServiceNames({kService});
  EXPECT_EQ(Check(kService, &status), HealthCheckResponse::NOT_SERVING);
  EXPECT_THAT(status, IsOk());
  health_->SetServing(true);
  EXPECT_EQ(Check("", &status), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check(kService, &status), HealthCheckResponse::SERVING);
  Check("covtrack.v1.NoSuchService", &status);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(status.error_message().find("NoSuchService"), std::string::npos)
      << "the caller's name is not echoed";
  health_->SetServing(false);
  EXPECT_EQ(Check("", &status), HealthCheckResponse::NOT_SERVING);
}

// A watcher is sent the state at once, then each change; Shutdown sends NOT_SERVING and ends the
// stream with OK (not cancelled at the server's deadline), and no change follows it.
TEST_F(HealthServiceTest, WatchSendsEachChangeAndEndsOnShutdown) {
  health_->SetServiceNames({kService});
  grpc::ClientContext context;
  // Bounds a Read that waits for a status never sent (a failure, not a hang).
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  HealthCheckRequest request;
  request.set_service(kService);
  auto watch = stub_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  health_->SetServing(true);
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  health_->Shutdown();
  health_->SetServing(true);  // ignored once shut down
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&response));
  EXPECT_THAT(watch->Finish(), IsOk());
  grpc::Status status;
  EXPECT_EQ(Check("", &status), HealthCheckResponse::NOT_SERVING);
}

TEST_F(HealthServiceTest, AWatchOfAnUnknownServiceFollowsItOnceNamed) {
  grpc::ClientContext context;
  // Bounds a Read that waits for a status never sent (a failure, not a hang).
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  HealthCheckRequest request;
  request.set_service(kService);
  auto watch = stub_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  health_->SetServiceNames({kService});
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  context.TryCancel();
  while (watch->Read(&response)) {
  }
  EXPECT_THAT(watch->Finish(), StatusIs(grpc::StatusCode::CANCELLED));
}

}  // namespace
}  // namespace covtrack
