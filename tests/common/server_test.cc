// The server bootstrap on its own: a free port is read back, a port in use is refused rather
// than shared, the health-only port answers probes (for "" and each service's name), /metrics
// counts RPCs, calls past --max_concurrent_calls are refused at once while health keeps
// answering, shutdown callbacks run before the drain waits, and a drain ends within grace +
// backstop whatever a handler does.
#include "common/server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/eventually.h"
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

grpc::health::v1::HealthCheckResponse::ServingStatus Health(int port, grpc::Status* status,
                                                            const std::string& service = "") {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  *status = stub->Check(&context, request, &response);
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

// An IngestionService whose GetChangeHead holds its thread until released, as a slow call or a
// long stream does; with ignore_cancellation it does not return even when its call is
// cancelled (the probe's finding: handlers that kept SIGTERM from ending the process).
class HeldService final : public v1::IngestionService::Service {
 public:
  explicit HeldService(bool ignore_cancellation = false)
      : ignore_cancellation_(ignore_cancellation) {}

  grpc::Status GetChangeHead(grpc::ServerContext* context, const v1::GetChangeHeadRequest*,
                             v1::ChangeHead*) override {
    absl::MutexLock lock(&mu_);
    ++entered_;
    auto done = [&] { return released_ || (!ignore_cancellation_ && context->IsCancelled()); };
    while (!done()) {
      mu_.AwaitWithTimeout(absl::Condition(&released_), absl::Milliseconds(20));
    }
    return grpc::Status::OK;
  }
  void WaitEntered(int calls) {
    absl::MutexLock lock(&mu_);
    auto entered = [&] { return entered_ >= calls; };
    mu_.AwaitWithTimeout(absl::Condition(&entered), absl::Seconds(10));
  }
  int entered() {
    absl::MutexLock lock(&mu_);
    return entered_;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }

 private:
  const bool ignore_cancellation_;
  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::Status CallHead(const std::string& address, grpc::ClientContext& context) {
  auto stub = v1::IngestionService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::ChangeHead head;
  return stub->GetChangeHead(&context, {}, &head);
}

// Health answers for every registered service by its full name, on both ports, and each says
// NOT_SERVING from the moment the drain starts while calls still finish.
TEST(ServerTest, HealthAnswersForEachServiceByName) {
  HeldService ingestion;
  v1::AggregationService::Service aggregation;
  ServerOptions options;
  options.health_listen = "127.0.0.1:0";
  options.shutdown_grace = absl::Seconds(10);
  std::unique_ptr<Server> server = Server::Start(options, {&ingestion, &aggregation}).value();
  const std::vector<std::string> names = {v1::IngestionService::service_full_name(),
                                          v1::AggregationService::service_full_name()};
  EXPECT_THAT(server->health_service_names(), ::testing::UnorderedElementsAreArray(names));
  grpc::Status status;
  for (int port : {server->port(), server->health_port()}) {
    for (const std::string& name : {std::string(""), names[0], names[1]}) {
      EXPECT_EQ(Health(port, &status, name), grpc::health::v1::HealthCheckResponse::SERVING)
          << port << " " << name;
      EXPECT_THAT(status, IsOk());
    }
    Health(port, &status, "covtrack.v1.NoSuchService");
    EXPECT_THAT(status, StatusIs(grpc::StatusCode::NOT_FOUND));
  }

  // A call in flight keeps the drain open; meanwhile the health port says NOT_SERVING for all.
  grpc::Status held;
  std::thread caller([&] {
    grpc::ClientContext context;
    held = CallHead(server->address(), context);
  });
  ingestion.WaitEntered(1);
  std::thread stopper([&] { server->Shutdown(); });
  for (const std::string& name : {std::string(""), names[0], names[1]}) {
    EXPECT_TRUE(testing::Eventually([&] {
      return Health(server->health_port(), &status, name) ==
             grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    })) << name;
  }
  ingestion.Release();
  caller.join();
  stopper.join();
  EXPECT_THAT(held, IsOk());  // the call admitted before the drain finished
}

// Shutdown runs the OnShutdown callbacks with the grace once health says NOT_SERVING and before
// it waits for the calls in flight, so that a service can end its long calls (ingestion's
// BeginDrain); here the callback releases the held call and the drain ends with it.
TEST(ServerTest, ShutdownCallbacksRunAfterHealthAndBeforeTheDrain) {
  HeldService ingestion;
  ServerOptions options;
  options.shutdown_grace = absl::Seconds(30);
  std::unique_ptr<Server> server = Server::Start(options, {&ingestion}).value();
  absl::Duration grace;
  grpc::health::v1::HealthCheckResponse::ServingStatus health_then =
      grpc::health::v1::HealthCheckResponse::UNKNOWN;
  server->OnShutdown([&](absl::Duration given) {
    grace = given;
    grpc::Status status;
    health_then = Health(server->port(), &status, v1::IngestionService::service_full_name());
    ingestion.Release();
  });
  grpc::Status held;
  std::thread caller([&] {
    grpc::ClientContext context;
    held = CallHead(server->address(), context);
  });
  ingestion.WaitEntered(1);
  server->Shutdown();
  caller.join();
  EXPECT_EQ(grace, absl::Seconds(30));
  EXPECT_EQ(health_then, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_THAT(held, IsOk());  // released by the callback, not cancelled at the grace deadline
}

// Past --max_concurrent_calls a call is refused at once, with a retry delay and a count, while
// the admitted calls run on and health keeps answering; once they finish, calls are admitted.
TEST(ServerTest, PastTheLimitACallIsRefusedAtOnce) {
  HeldService service;
  ServerOptions options;
  options.max_concurrent_calls = 2;
  options.overload_retry_after = absl::Milliseconds(750);
  options.metrics_listen = "127.0.0.1:0";
  options.shutdown_grace = absl::Seconds(1);
  std::unique_ptr<Server> server = Server::Start(options, {&service}).value();

  std::vector<grpc::Status> admitted(2);
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext context;
      admitted[i] = CallHead(server->address(), context);
    });
    service.WaitEntered(i + 1);
  }
  ASSERT_EQ(service.entered(), 2);

  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext context;
    // Generous: a refusal that waited for a thread would take the whole 10 s.
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const absl::Time start = absl::Now();
    const grpc::Status refused = CallHead(server->address(), context);
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
    EXPECT_THAT(refused, StatusIs(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                  ::testing::HasSubstr("retry after 750 ms")));
    auto pushback = context.GetServerTrailingMetadata().find("grpc-retry-pushback-ms");
    ASSERT_NE(pushback, context.GetServerTrailingMetadata().end());
    EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()), "750");
    grpc::Status status;
    EXPECT_EQ(Health(server->port(), &status), grpc::health::v1::HealthCheckResponse::SERVING);
    EXPECT_THAT(status, IsOk());
  }
  EXPECT_EQ(service.entered(), 2);  // no refused call reached the handler

  service.Release();
  for (std::thread& caller : callers) {
    caller.join();
  }
  for (const grpc::Status& status : admitted) {
    EXPECT_THAT(status, IsOk());
  }
  grpc::ClientContext context;
  EXPECT_THAT(CallHead(server->address(), context), IsOk());

  httplib::Client client("127.0.0.1", server->metrics_port());
  httplib::Result result = client.Get("/metrics");
  ASSERT_TRUE(result);
  EXPECT_TRUE(absl::StrContains(
      result->body,
      "covtrack_rpc_rejected_total{method=\"/covtrack.v1.IngestionService/GetChangeHead\"}"))
      << result->body;
}

// The probe's finding: with handlers that kept running, a server was alive 300 s after SIGTERM
// with a 20 s grace. Whatever a handler does, the drain ends the process within grace +
// backstop (exit 1, naming what still ran). In a child process, which it ends.
TEST(ServerDeathTest, ADrainEndsWithinGracePlusBackstopWhateverHandlersDo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const absl::Time start = absl::Now();
  EXPECT_EXIT(
      {
        // The bound on the wait: without the backstop the child would never exit; SIGALRM
        // ends it after 30 s (generous; grace + backstop is 2 s), failing ExitedWithCode(1).
        alarm(30);
        HeldService service(/*ignore_cancellation=*/true);
        ServerOptions options;
        options.shutdown_grace = absl::Seconds(1);
        options.shutdown_backstop = absl::Seconds(1);
        std::unique_ptr<Server> server = Server::Start(options, {&service}).value();
        std::thread caller([&] {
          grpc::ClientContext context;
          CallHead(server->address(), context);
        });
        service.WaitEntered(1);
        server->Shutdown();  // does not return: the backstop ends the process
        caller.join();
        std::exit(0);
      },
      ::testing::ExitedWithCode(1), "still running.*GetChangeHead");
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

}  // namespace
}  // namespace covtrack
