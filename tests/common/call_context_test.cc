// The request id travels: a server keeps the caller's x-request-id (or makes one), shows it to
// its handler and its log lines, echoes it to the caller, and passes it on to the services the
// handler calls. Real gRPC servers on loopback; the services are stand-ins that record what
// they received, since the mechanism is what is tested here.
// Deadlines travel too: a handler sees its call's deadline and whether the call was cancelled,
// and a call it makes through SetCallDeadline never gets more time than its caller has left.

#include "common/call_context.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/client.h"
#include "common/log.h"
#include "common/server.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;

std::string Header(const grpc::ServerContext& context) {
  auto it = context.client_metadata().find(kRequestIdHeader);
  return it == context.client_metadata().end() ? ""
                                               : std::string(it->second.data(), it->second.size());
}

// The last hop: records the header it got and the id its handler saw.
class Recorder final : public v1::IngestionService::Service {
 public:
  grpc::Status GetChangeHead(grpc::ServerContext* context, const v1::GetChangeHeadRequest*,
                             v1::ChangeHead*) override {
    absl::MutexLock lock(&mu_);
    header_ = Header(*context);
    seen_ = CurrentCall() != nullptr ? CurrentCall()->request_id : "(none)";
    log::Info("recorder handled a call");
    return grpc::Status::OK;
  }
  std::string header() {
    absl::MutexLock lock(&mu_);
    return header_;
  }
  std::string seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  absl::Mutex mu_;
  std::string header_, seen_;
};

// The first hop: calls the recorder through a covtrack channel.
class Relay final : public v1::IngestionService::Service {
 public:
  explicit Relay(const std::string& next)
      : stub_(v1::IngestionService::NewStub(NewChannel(next, ChannelOptions{}).value())) {}
  grpc::Status GetChangeHead(grpc::ServerContext*, const v1::GetChangeHeadRequest* request,
                             v1::ChangeHead* response) override {
    seen_ = CurrentCall() != nullptr ? CurrentCall()->request_id : "(none)";
    grpc::ClientContext context;
    return stub_->GetChangeHead(&context, *request, response);
  }
  std::string seen_;

 private:
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

class CallContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.shutdown_grace = absl::Seconds(1);
    last_ = Server::Start(options, {&recorder_}).value();
    relay_ = std::make_unique<Relay>(last_->address());
    first_ = Server::Start(options, {relay_.get()}).value();
  }

  // Calls the relay with `header` (none when empty); returns the id echoed in the reply.
  std::string Call(const std::string& header) {
    auto stub = v1::IngestionService::NewStub(
        grpc::CreateChannel(first_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    if (!header.empty()) {
      context.AddMetadata(kRequestIdHeader, header);
    }
    v1::ChangeHead head;
    grpc::Status status = stub->GetChangeHead(&context, {}, &head);
    EXPECT_THAT(status, IsOk());
    auto it = context.GetServerInitialMetadata().find(kRequestIdHeader);
    return it == context.GetServerInitialMetadata().end()
               ? ""
               : std::string(it->second.data(), it->second.size());
  }

  Recorder recorder_;
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<Server> last_, first_;
};

TEST_F(CallContextTest, TheCallersIdTravelsToEveryHop) {
  EXPECT_EQ(Call("trace-123"), "trace-123");
  EXPECT_EQ(relay_->seen_, "trace-123");
  EXPECT_EQ(recorder_.header(), "trace-123");
  EXPECT_EQ(recorder_.seen(), "trace-123");
}

TEST_F(CallContextTest, AnIdIsMadeWhenTheCallerSentNone) {
  const std::string echoed = Call("");
  EXPECT_EQ(echoed.size(), 16u) << echoed;
  EXPECT_EQ(relay_->seen_, echoed);
  EXPECT_EQ(recorder_.header(), echoed);
  // Each call gets its own.
  EXPECT_NE(Call(""), echoed);
}

TEST_F(CallContextTest, AnUnusableIdIsReplaced) {
  const std::string echoed = Call("two words");
  EXPECT_NE(echoed, "two words");
  EXPECT_TRUE(IsUsableRequestId(echoed)) << echoed;
  EXPECT_EQ(recorder_.header(), echoed);
  EXPECT_FALSE(IsUsableRequestId(std::string(129, 'a')));
  EXPECT_TRUE(IsUsableRequestId(std::string(128, 'a')));
}

TEST_F(CallContextTest, LogLinesWrittenForACallCarryItsId) {
  // Log lines go to stderr: point it at a file for the length of the call.
  const std::string path = testing::TempDir() + "/stderr.log";
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  FILE* file = fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  dup2(fileno(file), STDERR_FILENO);
  Call("trace-log-7");
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  fclose(file);
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_TRUE(
      absl::StrContains(text.str(), "msg=\"recorder handled a call\" x_request_id=trace-log-7"))
      << text.str();
}

TEST(CallContextScopeTest, OutsideACallThereIsNone) {
  EXPECT_EQ(CurrentCall(), nullptr);
  {
    ScopedCall outer({"outer", "a"});
    {
      ScopedCall inner({"inner", "b"});
      EXPECT_EQ(CurrentCall()->request_id, "b");
    }
    EXPECT_EQ(CurrentCall()->request_id, "a");
  }
  EXPECT_EQ(CurrentCall(), nullptr);
}

// The last hop of a deadline chain: records the deadline its call arrived with, as gRPC and
// as CurrentCallDeadline() see it.
class DeadlineRecorder final : public v1::IngestionService::Service {
 public:
  grpc::Status GetChangeHead(grpc::ServerContext* context, const v1::GetChangeHeadRequest*,
                             v1::ChangeHead*) override {
    absl::MutexLock lock(&mu_);
    deadline_ = absl::FromChrono(context->deadline());
    current_ = CurrentCallDeadline();
    return grpc::Status::OK;
  }
  absl::Time deadline() {
    absl::MutexLock lock(&mu_);
    return deadline_;
  }
  absl::Time current() {
    absl::MutexLock lock(&mu_);
    return current_;
  }

 private:
  absl::Mutex mu_;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_);
  absl::Time current_ ABSL_GUARDED_BY(mu_);
};

// Calls the next hop with SetCallDeadline(budget).
class BudgetRelay final : public v1::IngestionService::Service {
 public:
  BudgetRelay(const std::string& next, absl::Duration budget)
      : stub_(v1::IngestionService::NewStub(NewChannel(next, ChannelOptions{}).value())),
        budget_(budget) {}
  grpc::Status GetChangeHead(grpc::ServerContext*, const v1::GetChangeHeadRequest* request,
                             v1::ChangeHead* response) override {
    grpc::ClientContext context;
    SetCallDeadline(context, budget_);
    return stub_->GetChangeHead(&context, *request, response);
  }

 private:
  std::unique_ptr<v1::IngestionService::Stub> stub_;
  const absl::Duration budget_;
};

// Works until CurrentCallCancelled() says its caller has gone (at most 20 s), as long work
// should, and records whether it saw it.
class CancellationWatcher final : public v1::IngestionService::Service {
 public:
  grpc::Status GetChangeHead(grpc::ServerContext*, const v1::GetChangeHeadRequest*,
                             v1::ChangeHead*) override {
    entered_.Notify();
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (!CurrentCallCancelled() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    saw_cancellation_ = CurrentCallCancelled();
    done_.Notify();
    return grpc::Status(grpc::StatusCode::CANCELLED, "stopped: the caller has gone");
  }
  absl::Notification entered_;
  absl::Notification done_;
  bool saw_cancellation_ = false;  // read after done_
};

class DeadlineTest : public ::testing::Test {
 protected:
  // caller -> relay (SetCallDeadline(budget)) -> recorder; returns the caller's deadline.
  absl::Time CallThroughRelay(absl::Duration caller_timeout, absl::Duration budget) {
    ServerOptions options;
    options.shutdown_grace = absl::Seconds(1);
    last_ = Server::Start(options, {&recorder_}).value();
    relay_ = std::make_unique<BudgetRelay>(last_->address(), budget);
    first_ = Server::Start(options, {relay_.get()}).value();
    auto stub = v1::IngestionService::NewStub(
        grpc::CreateChannel(first_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    const absl::Time deadline = absl::Now() + caller_timeout;
    context.set_deadline(absl::ToChronoTime(deadline));
    v1::ChangeHead head;
    EXPECT_THAT(stub->GetChangeHead(&context, {}, &head), IsOk());
    return deadline;
  }

  DeadlineRecorder recorder_;
  std::unique_ptr<BudgetRelay> relay_;
  std::unique_ptr<Server> last_, first_;
};

// gRPC sends a deadline as a timeout rounded up to its unit; a few ms of slack cover that.
constexpr absl::Duration kWireSlack = absl::Milliseconds(50);

TEST_F(DeadlineTest, ACallOnGetsNoMoreThanItsCallerHasLeft) {
  const absl::Time before = absl::Now();
  const absl::Time caller = CallThroughRelay(absl::Seconds(3), absl::Hours(1));
  EXPECT_LE(recorder_.deadline(), caller + kWireSlack);
  EXPECT_GT(recorder_.deadline(), before);
  // The handler reads the same deadline through the call context (each read converts gRPC's
  // clock anew, so to within a millisecond).
  EXPECT_LE(absl::AbsDuration(recorder_.current() - recorder_.deadline()), absl::Milliseconds(1));
}

TEST_F(DeadlineTest, ABudgetShorterThanTheCallersIsKept) {
  const absl::Time before = absl::Now();
  const absl::Time caller = CallThroughRelay(absl::Minutes(10), absl::Seconds(2));
  EXPECT_LE(recorder_.deadline(), absl::Now() + absl::Seconds(2) + kWireSlack);
  EXPECT_GE(recorder_.deadline(), before + absl::Seconds(2) - kWireSlack);
  EXPECT_LT(recorder_.deadline(), caller - absl::Minutes(5));
}

TEST(CallDeadlineTest, OutsideACallTheBudgetIsKept) {
  EXPECT_EQ(CurrentCallDeadline(), absl::InfiniteFuture());
  EXPECT_FALSE(CurrentCallCancelled());
  grpc::ClientContext context;
  const absl::Time before = absl::Now();
  SetCallDeadline(context, absl::Seconds(7));
  EXPECT_GE(absl::FromChrono(context.deadline()), before + absl::Seconds(7));
  EXPECT_LE(absl::FromChrono(context.deadline()), absl::Now() + absl::Seconds(7));
}

TEST(CallCancelledTest, AHandlerSeesItsCallerGiveUp) {
  for (const bool by_deadline : {false, true}) {
    CancellationWatcher watcher;
    ServerOptions options;
    options.shutdown_grace = absl::Seconds(1);
    std::unique_ptr<Server> server = Server::Start(options, {&watcher}).value();
    auto stub = v1::IngestionService::NewStub(
        grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(
        absl::Now() + (by_deadline ? absl::Milliseconds(300) : absl::Seconds(30))));
    std::thread canceller([&] {
      watcher.entered_.WaitForNotificationWithTimeout(absl::Seconds(10));
      if (!by_deadline) {
        context.TryCancel();
      }
    });
    v1::ChangeHead head;
    const grpc::Status status = stub->GetChangeHead(&context, {}, &head);
    canceller.join();
    EXPECT_THAT(status, testing::StatusIs(by_deadline ? grpc::StatusCode::DEADLINE_EXCEEDED
                                                      : grpc::StatusCode::CANCELLED));
    ASSERT_TRUE(watcher.done_.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_TRUE(watcher.saw_cancellation_) << "by deadline: " << by_deadline;
  }
}

}  // namespace
}  // namespace covtrack
