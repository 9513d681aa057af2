// The real covtrack-ingestion binary: configured from the environment, it serves, and on
// SIGTERM it reports NOT_SERVING, lets an in-flight call finish, and exits 0.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Starts the binary with the store given only through COVTRACK_STORE (no --store flag).
pid_t StartIngestion(const std::string& listen, const std::string& store) {
  pid_t pid = fork();
  if (pid == 0) {
    setenv("COVTRACK_STORE", store.c_str(), 1);
    std::string listen_flag = "--listen=" + listen;
    execl(COVTRACK_INGESTION_BINARY, COVTRACK_INGESTION_BINARY, listen_flag.c_str(),
          "--shutdown_grace=10s", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Kills the child if a failed assertion left it running: an orphan would keep ctest's output
// pipe open.
struct Reaper {
  pid_t* pid;
  ~Reaper() {
    if (*pid > 0 && waitpid(*pid, nullptr, WNOHANG) == 0) {
      kill(*pid, SIGKILL);
      waitpid(*pid, nullptr, 0);
    }
  }
};

// A channel of its own (not sharing a connection with earlier channels to the same address,
// which may still point at a killed process), connected within 30 s.
std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  EXPECT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
  return channel;
}

TEST(IngestionProcessTest, TakesItsStoreFromTheEnvironmentAndShutsDownGracefully) {
  const std::string dir = testing::TempDir();
  const std::string listen = absl::StrCat("127.0.0.1:", FreePort());
  pid_t pid = StartIngestion(listen, absl::StrCat("sqlite:", dir, "/from-env/ingestion.db"));
  ASSERT_GT(pid, 0);
  Reaper reaper{&pid};
  auto channel = Connect(listen);
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto ingestion = v1::IngestionService::NewStub(channel);

  // A health watcher and an in-flight bulk upload, both open before SIGTERM.
  grpc::ClientContext watch_context;
  auto watch = health->Watch(&watch_context, HealthCheckRequest());
  HealthCheckResponse state;
  ASSERT_TRUE(watch->Read(&state));
  EXPECT_EQ(state.status(), HealthCheckResponse::SERVING);

  testing::ImportUnits(*ingestion,
                       {testing::Unit("14", v1::ADMIN_LEVEL_PROVINCE, ""),
                        testing::Unit("125", v1::ADMIN_LEVEL_DISTRICT, "14")},
                       "units");
  grpc::ClientContext upload_context;
  v1::StreamReportsResponse summary;
  auto upload = ingestion->StreamReports(&upload_context, &summary);
  auto message = [](const std::string& id, const std::string& month) {
    v1::SubmitReportRequest request;
    request.set_request_id(id);
    *request.add_records() =
        testing::Record("125", month, v1::SCHEME_COMPULSORY_SOCIAL, 11661, 6569);
    return request;
  };
  ASSERT_TRUE(upload->Write(message("before-sigterm", "2023-11")));
  // The upload is in flight once the server has committed its first message (the units were
  // change 1): only then is SIGTERM sent, so the drain, not a race, decides the outcome.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int64_t head = 0;
  while (head < 2 && std::chrono::steady_clock::now() < give_up) {
    v1::ChangeHead reply;
    grpc::ClientContext context;
    ASSERT_THAT(ingestion->GetChangeHead(&context, {}, &reply), IsOk());
    head = reply.seq();
  }
  ASSERT_EQ(head, 2) << "the first message of the upload was never committed";

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(watch->Read(&state));
  EXPECT_EQ(state.status(), HealthCheckResponse::NOT_SERVING);
  watch_context.TryCancel();

  // The upload that was in flight still completes and is committed.
  ASSERT_TRUE(upload->Write(message("after-sigterm", "2023-12")));
  upload->WritesDone();
  grpc::Status status = upload->Finish();
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(summary.messages_committed(), 2);

  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 0);

  // What was acknowledged is in the store the environment named: a new process on it has it.
  pid = StartIngestion(listen, absl::StrCat("sqlite:", dir, "/from-env/ingestion.db"));
  auto again = Connect(listen);
  v1::ListRevisionsRequest request;
  request.set_unit_code("125");
  v1::ListRevisionsResponse revisions;
  grpc::ClientContext context;
  ASSERT_THAT(v1::IngestionService::NewStub(again)->ListRevisions(&context, request, &revisions),
              IsOk());
  EXPECT_EQ(revisions.revisions_size(), 2);
  kill(pid, SIGTERM);
  waitpid(pid, &wait_status, 0);
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
}

TEST(IngestionProcessTest, AcknowledgedWritesSurviveAKill) {
  const std::string store = absl::StrCat("sqlite:", testing::TempDir(), "/ingestion.db");
  const std::string listen = absl::StrCat("127.0.0.1:", FreePort());
  pid_t pid = StartIngestion(listen, store);
  Reaper reaper{&pid};
  auto channel = Connect(listen);
  auto ingestion = v1::IngestionService::NewStub(channel);
  testing::ImportUnits(*ingestion,
                       {testing::Unit("14", v1::ADMIN_LEVEL_PROVINCE, ""),
                        testing::Unit("125", v1::ADMIN_LEVEL_DISTRICT, "14")},
                       "units");
  for (int month = 1; month <= 12; ++month) {
    testing::Submit(*ingestion,
                    {testing::Record("125", absl::StrCat("2023-", month < 10 ? "0" : "", month),
                                     v1::SCHEME_HEALTH, 150000 + month)},
                    {}, absl::StrCat("month-", month));
  }
  // No graceful shutdown: the process dies right after the last acknowledgement.
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);

  pid = StartIngestion(listen, store);
  auto again = Connect(listen);
  v1::ListRevisionsRequest request;
  request.set_unit_code("125");
  v1::ListRevisionsResponse revisions;
  grpc::ClientContext context;
  grpc::Status status =
      v1::IngestionService::NewStub(again)->ListRevisions(&context, request, &revisions);
  ASSERT_THAT(status, IsOk());
  ASSERT_EQ(revisions.revisions_size(), 12);
  EXPECT_EQ(revisions.revisions(11).participation().participants(), 150012);
  kill(pid, SIGTERM);
  waitpid(pid, &wait_status, 0);
}

TEST(IngestionProcessTest, BadConfigurationIsFatalWithAMessage) {
  pid_t pid = StartIngestion(absl::StrCat("127.0.0.1:", FreePort()), "mysql://nowhere");
  Reaper reaper{&pid};
  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 1);
}

}  // namespace
}  // namespace covtrack
