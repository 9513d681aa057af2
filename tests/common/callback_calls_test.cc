// CallbackCalls on its own, through a real server on loopback: a handler inline or on the
// object's threads sees its call (method, the caller's request id, cancellation) and the reply
// echoes the id; past max_concurrent_calls a call is refused at once with the retry delay and
// counted, as the synchronous server refuses; an unparsable request is INVALID_ARGUMENT, as on
// the synchronous server.
#include "common/callback_calls.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/call_context.h"
#include "common/server.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "tests/testing/raw_call.h"
#include "tests/testing/status_matchers.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;

// GetCoverage answers with what its handler saw of its call, in its period field:
// "<method>|<request id>|<whether on the test thread that served the previous call>".
// A request whose freshness names at_least_seq 1 runs on CallbackCalls' threads and, with unit
// code "hold", waits until released or cancelled (answering "cancelled" then).
class SeenService final : public v1::AggregationService::CallbackService {
 public:
  explicit SeenService(int max_concurrent_calls)
      : calls_(CallbackCallOptions{"covtrack.v1.AggregationService", max_concurrent_calls,
                                   absl::Milliseconds(750)}) {}

  grpc::ServerUnaryReactor* GetCoverage(grpc::CallbackServerContext* context,
                                        const v1::GetCoverageRequest* request,
                                        v1::Coverage* response) override {
    const bool may_wait = request->freshness().at_least_seq() == 1;
    return calls_.Serve(context, "GetCoverage", may_wait, [this, request, response] {
      const CallInfo* call = CurrentCall();
      if (call == nullptr) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "no current call");
      }
      response->set_period(absl::StrCat(call->method, "|", call->request_id));
      if (request->unit_code() == "hold") {
        absl::MutexLock lock(&mu_);
        ++entered_;
        while (!released_ && !CurrentCallCancelled()) {
          mu_.AwaitWithTimeout(absl::Condition(&released_), absl::Milliseconds(10));
        }
        if (!released_) {
          response->set_period("cancelled");
          cancelled_seen_ = true;
        }
      }
      return grpc::Status::OK;
    });
  }

  void WaitEntered(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entered_ >= n; };
    mu_.Await(absl::Condition(&reached));
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }
  bool cancelled_seen() {
    absl::MutexLock lock(&mu_);
    return cancelled_seen_;
  }
  int in_flight() const { return calls_.in_flight(); }

 private:
  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_seen_ ABSL_GUARDED_BY(mu_) = false;
  CallbackCalls calls_;  // last: its threads end before the rest
};

std::unique_ptr<Server> StartServer(SeenService* service) {
  ServerOptions options;
  options.metrics_listen = "127.0.0.1:0";
  options.shutdown_grace = absl::Seconds(1);
  return Server::Start(options, {service}).value();
}

grpc::Status Call(const Server& server, grpc::ClientContext& context, const std::string& unit,
                  bool may_wait, v1::Coverage* response) {
  auto stub = v1::AggregationService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  v1::GetCoverageRequest request;
  request.set_unit_code(unit);
  if (may_wait) {
    request.mutable_freshness()->set_at_least_seq(1);
  }
  if (context.deadline() == std::chrono::system_clock::time_point::max()) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  return stub->GetCoverage(&context, request, response);
}

std::string Echoed(const grpc::ClientContext& context) {
  auto it = context.GetServerInitialMetadata().find(kRequestIdHeader);
  return it == context.GetServerInitialMetadata().end()
             ? ""
             : std::string(it->second.data(), it->second.size());
}

TEST(CallbackCallsTest, TheHandlerSeesItsCallInlineAndOnItsOwnThread) {
  SeenService service(4);
  std::unique_ptr<Server> server = StartServer(&service);
  for (bool may_wait : {false, true}) {
    SCOPED_TRACE(may_wait ? "on CallbackCalls' thread" : "inline");
    grpc::ClientContext sent_id;
    sent_id.AddMetadata(kRequestIdHeader, "caller-id-1");
    v1::Coverage response;
    ASSERT_THAT(Call(*server, sent_id, "x", may_wait, &response), IsOk());
    EXPECT_EQ(response.period(), "/covtrack.v1.AggregationService/GetCoverage|caller-id-1");
    EXPECT_EQ(Echoed(sent_id), "caller-id-1");

    // No usable id sent: one is made up, and it is the one the reply names.
    grpc::ClientContext no_id;
    no_id.AddMetadata(kRequestIdHeader, "has spaces");
    ASSERT_THAT(Call(*server, no_id, "x", may_wait, &response), IsOk());
    const std::string made = Echoed(no_id);
    EXPECT_TRUE(IsUsableRequestId(made)) << made;
    EXPECT_NE(made, "has spaces");
    EXPECT_EQ(response.period(),
              absl::StrCat("/covtrack.v1.AggregationService/GetCoverage|", made));
  }
  // Outside a handler, the thread serves no call.
  EXPECT_EQ(CurrentCall(), nullptr);
}

TEST(CallbackCallsTest, AHandlerOnItsOwnThreadSeesItsCallCancelled) {
  SeenService service(4);
  std::unique_ptr<Server> server = StartServer(&service);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  v1::Coverage response;
  EXPECT_THAT(Call(*server, context, "hold", /*may_wait=*/true, &response),
              StatusIs(grpc::StatusCode::DEADLINE_EXCEEDED));
  for (int i = 0; i < 500 && !service.cancelled_seen(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(service.cancelled_seen());
}

// As ServerTest.PastTheLimitACallIsRefusedAtOnce for the synchronous server.
TEST(CallbackCallsTest, PastTheLimitACallIsRefusedAtOnce) {
  SeenService service(2);
  std::unique_ptr<Server> server = StartServer(&service);
  std::vector<grpc::Status> admitted(2);
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext context;
      v1::Coverage response;
      admitted[i] = Call(*server, context, "hold", /*may_wait=*/true, &response);
    });
    service.WaitEntered(i + 1);
  }
  for (bool may_wait : {false, true}) {
    grpc::ClientContext context;
    const absl::Time start = absl::Now();
    v1::Coverage response;
    const grpc::Status refused = Call(*server, context, "x", may_wait, &response);
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // the call's deadline is 10 s
    EXPECT_THAT(refused, StatusIs(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                  ::testing::HasSubstr("retry after 750 ms")));
    auto pushback = context.GetServerTrailingMetadata().find(kRetryPushbackHeader);
    ASSERT_NE(pushback, context.GetServerTrailingMetadata().end());
    EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()), "750");
  }
  EXPECT_EQ(service.in_flight(), 2);

  service.Release();
  for (std::thread& caller : callers) {
    caller.join();
  }
  for (const grpc::Status& status : admitted) {
    EXPECT_THAT(status, IsOk());
  }
  grpc::ClientContext context;
  v1::Coverage response;
  EXPECT_THAT(Call(*server, context, "x", false, &response), IsOk());

  httplib::Client client("127.0.0.1", server->metrics_port());
  httplib::Result result = client.Get("/metrics");
  ASSERT_TRUE(result);
  EXPECT_TRUE(absl::StrContains(
      result->body,
      "covtrack_rpc_rejected_total{method=\"/covtrack.v1.AggregationService/GetCoverage\"} 2"))
      << result->body;
}

// A call counts against the bound while its handler runs, not while gRPC finishes sending its
// answer: one caller calling again as soon as it has its answer is never refused, even with a
// bound of one (the bound had counted calls until gRPC's OnDone, which may come after the
// caller has its answer and has called again).
TEST(CallbackCallsTest, ACallerThatWaitsForEachAnswerIsNeverRefused) {
  SeenService service(1);
  std::unique_ptr<Server> server = StartServer(&service);
  auto stub = v1::AggregationService::NewStub(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetCoverageRequest request;
    request.set_unit_code("x");
    v1::Coverage response;
    const grpc::Status status = stub->GetCoverage(&context, request, &response);
    ASSERT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
    refused += status.ok() ? 0 : 1;
  }
  EXPECT_EQ(refused, 0);
}

// Protobuf refuses a string that is not UTF-8 before any handler runs; the callback API then
// answers UNIMPLEMENTED by itself. The caller is told what it did wrong instead.
TEST(CallbackCallsTest, AnUnparsableRequestIsInvalidArgument) {
  SeenService service(4);
  std::unique_ptr<Server> server = StartServer(&service);
  v1::GetCoverageRequest request;
  request.set_unit_code("QQ5");
  std::optional<std::string> bytes = testing::NotUtf8At(request.SerializeAsString(), "QQ5");
  ASSERT_TRUE(bytes.has_value());
  const grpc::Status status = testing::CallWithRequestBytes(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()),
      "/covtrack.v1.AggregationService/GetCoverage", *bytes);
  EXPECT_THAT(status, StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                               ::testing::HasSubstr("could not be parsed")));
}

}  // namespace
}  // namespace covtrack
