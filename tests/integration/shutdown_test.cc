// The real covtrack-ingestion binary: configured from the environment, it serves, and on
// SIGTERM it reports NOT_SERVING, lets an in-flight call finish, and exits 0; an upload still
// running half the grace after SIGTERM stops between messages and says where to resume, and
// covctl resumes there; a request that cannot be parsed is INVALID_ARGUMENT.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/raw_call.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/tools/covctl_runner.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using ::testing::Not;

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
pid_t StartIngestion(const std::string& listen, const std::string& store,
                     const std::string& grace = "10s") {
  pid_t pid = fork();
  if (pid == 0) {
    setenv("COVTRACK_STORE", store.c_str(), 1);
    std::string listen_flag = "--listen=" + listen;
    std::string grace_flag = "--shutdown_grace=" + grace;
    execl(COVTRACK_INGESTION_BINARY, COVTRACK_INGESTION_BINARY, listen_flag.c_str(),
          grace_flag.c_str(), static_cast<char*>(nullptr));
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

int64_t ChangeHead(v1::IngestionService::Stub& stub) {
  v1::ChangeHead reply;
  grpc::ClientContext context;
  EXPECT_THAT(stub.GetChangeHead(&context, {}, &reply), IsOk());
  return reply.seq();
}

// Waits (bounded) until the store's change head reaches `seq`.
bool WaitForHead(v1::IngestionService::Stub& stub, int64_t seq) {
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    if (ChangeHead(stub) >= seq) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

int ExitCode(pid_t pid) {
  int wait_status = 0;
  if (waitpid(pid, &wait_status, 0) != pid || !WIFEXITED(wait_status)) {
    return -1;
  }
  return WEXITSTATUS(wait_status);
}

// SIGTERM in the middle of a long upload: the messages sent before half the grace are committed,
// the next one is refused UNAVAILABLE with the committed count (message and trailer), and a
// client that sends the rest from there to the restarted process ends with every message stored
// once. Without the drain wired to SIGTERM the late message is committed (or the call cancelled
// at the grace deadline) and the client cannot tell where to resume.
TEST(IngestionProcessTest, SigtermStopsAnUploadBetweenMessagesAndItResumesThere) {
  const std::string store = absl::StrCat("sqlite:", testing::TempDir(), "/drain/ingestion.db");
  const std::string listen = absl::StrCat("127.0.0.1:", FreePort());
  // Uploads stop taking messages 4 s after SIGTERM; calls are cancelled at 8 s.
  pid_t pid = StartIngestion(listen, store, "8s");
  ASSERT_GT(pid, 0);
  Reaper reaper{&pid};
  auto channel = Connect(listen);
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto ingestion = v1::IngestionService::NewStub(channel);
  testing::ImportUnits(*ingestion,
                       {testing::Unit("14", v1::ADMIN_LEVEL_PROVINCE, ""),
                        testing::Unit("125", v1::ADMIN_LEVEL_DISTRICT, "14")},
                       "units");
  constexpr int kMessages = 40;
  auto message = [](int i) {
    v1::SubmitReportRequest request;
    request.set_request_id(absl::StrCat("drain-", i));
    *request.add_records() = testing::Record(
        "125", absl::StrFormat("%d-%02d", 2020 + i / 12, i % 12 + 1), v1::SCHEME_HEALTH, 1000 + i);
    return request;
  };
  grpc::ClientContext watch_context;
  auto watch = health->Watch(&watch_context, HealthCheckRequest());
  HealthCheckResponse state;
  ASSERT_TRUE(watch->Read(&state));
  ASSERT_EQ(state.status(), HealthCheckResponse::SERVING);

  grpc::ClientContext upload_context;
  v1::StreamReportsResponse summary;
  auto upload = ingestion->StreamReports(&upload_context, &summary);
  constexpr int kBeforeSigterm = 10;
  for (int i = 0; i < kBeforeSigterm; ++i) {
    ASSERT_TRUE(upload->Write(message(i)));
  }
  ASSERT_TRUE(WaitForHead(*ingestion, 1 + kBeforeSigterm));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(watch->Read(&state));
  EXPECT_EQ(state.status(), HealthCheckResponse::NOT_SERVING);
  watch_context.TryCancel();
  // Past half the grace (4 s) and well before its end (8 s): the upload has stopped taking
  // messages, and the next one is refused rather than committed. One message only: a client
  // still writing when the drained server closes its connection may see the reset ("Broken
  // pipe") before the status (covctl resumes either way, see the next test).
  absl::SleepFor(absl::Seconds(5));
  ASSERT_TRUE(upload->Write(message(kBeforeSigterm)));
  upload->WritesDone();
  grpc::Status status = upload->Finish();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("send the rest again from message ", kBeforeSigterm)));
  const auto& trailers = upload_context.GetServerTrailingMetadata();
  auto committed = trailers.find("covtrack-committed-messages");
  ASSERT_NE(committed, trailers.end());
  const int resume_from =
      std::stoi(std::string(committed->second.data(), committed->second.size()));
  EXPECT_EQ(resume_from, kBeforeSigterm);
  EXPECT_EQ(ExitCode(pid), 0);

  // A new process on the same store; the client sends the rest from where it was told. One
  // message before it is sent again too, as a client unsure of its count would: it is replayed.
  pid = StartIngestion(listen, store);
  auto again = v1::IngestionService::NewStub(Connect(listen));
  grpc::ClientContext resume_context;
  v1::StreamReportsResponse resumed;
  auto rest = again->StreamReports(&resume_context, &resumed);
  for (int i = resume_from - 1; i < kMessages; ++i) {
    ASSERT_TRUE(rest->Write(message(i)));
  }
  rest->WritesDone();
  ASSERT_THAT(rest->Finish(), IsOk());
  EXPECT_EQ(resumed.messages_committed(), kMessages - resume_from + 1);
  EXPECT_EQ(resumed.messages_replayed(), 1);

  // Every message stored once: one change each after the units' import, one revision a month.
  EXPECT_EQ(ChangeHead(*again), 1 + kMessages);
  v1::ListRevisionsRequest request;
  request.set_unit_code("125");
  v1::ListRevisionsResponse revisions;
  grpc::ClientContext context;
  ASSERT_THAT(again->ListRevisions(&context, request, &revisions), IsOk());
  ASSERT_EQ(revisions.revisions_size(), kMessages);
  std::set<std::string> months;
  for (const auto& revision : revisions.revisions()) {
    months.insert(revision.participation().month());
  }
  EXPECT_EQ(months.size(), static_cast<size_t>(kMessages));
  kill(pid, SIGTERM);
  EXPECT_EQ(ExitCode(pid), 0);
}

// covctl against a real ingestion that is SIGTERMed and restarted in the middle of an upload:
// it says where the upload stopped, resumes from there once the service is back, and every row
// is stored once.
TEST(IngestionProcessTest, CovctlResumesAnUploadAcrossARestart) {
  const std::string store = absl::StrCat("sqlite:", testing::TempDir(), "/covctl/ingestion.db");
  const std::string listen = absl::StrCat("127.0.0.1:", FreePort());
  // Uploads stop taking messages 0.2 s after SIGTERM: the stream commits the messages that
  // arrive together in one transaction, so a whole upload can finish within a longer drain.
  pid_t pid = StartIngestion(listen, store, "400ms");
  ASSERT_GT(pid, 0);
  Reaper reaper{&pid};
  auto ingestion = v1::IngestionService::NewStub(Connect(listen));
  // 60 districts × 120 months, one row a batch: an upload that outlasts the drain (about 1 s
  // on an idle machine).
  constexpr int kUnits = 60;
  constexpr int kMonths = 120;
  std::vector<v1::AdminUnit> units = {testing::Unit("14", v1::ADMIN_LEVEL_PROVINCE, "")};
  std::string csv = "unit_code,month,scheme,participants\n";
  for (int u = 0; u < kUnits; ++u) {
    units.push_back(testing::Unit(absl::StrCat(200 + u), v1::ADMIN_LEVEL_DISTRICT, "14"));
    for (int m = 0; m < kMonths; ++m) {
      absl::StrAppend(&csv, 200 + u, ",", absl::StrFormat("%d-%02d", 2014 + m / 12, m % 12 + 1),
                      ",health,", 1000 + m, "\n");
    }
  }
  testing::ImportUnits(*ingestion, units, "units");
  const std::string path = testing::WriteFile("resume.csv", csv);

  testing::CovctlRun run;
  std::thread covctl([&] {
    run = testing::RunCovctl(
        {"ingest", path, "--batch_size=1", "--format=json", "--server=" + listen, "--timeout=30s"});
  });
  const bool started = WaitForHead(*ingestion, 200);
  EXPECT_EQ(kill(pid, SIGTERM), 0);  // no ASSERT before the join
  const int exit_code = ExitCode(pid);
  pid = StartIngestion(listen, store);
  covctl.join();
  ASSERT_TRUE(started) << "the upload never started";
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr(" batches are committed. Resuming from batch "));
  EXPECT_THAT(run.err, Not(HasSubstr("Run the same command again")));

  auto again = v1::IngestionService::NewStub(Connect(listen));
  EXPECT_EQ(ChangeHead(*again), 1 + kUnits * kMonths);
  for (int u = 0; u < kUnits; u += 17) {
    v1::ListRevisionsRequest request;
    request.set_unit_code(absl::StrCat(200 + u));
    request.set_page_size(kMonths);
    v1::ListRevisionsResponse revisions;
    grpc::ClientContext context;
    ASSERT_THAT(again->ListRevisions(&context, request, &revisions), IsOk());
    EXPECT_EQ(revisions.revisions_size(), kMonths) << "unit " << 200 + u;
  }
  kill(pid, SIGTERM);
  EXPECT_EQ(ExitCode(pid), 0);
}

// A SubmitReport whose unit code is not valid UTF-8 cannot be parsed (proto3 strings): the
// caller is told INVALID_ARGUMENT and why, not INTERNAL with an empty message, and nothing is
// stored.
TEST(IngestionProcessTest, AnUnparsableRequestIsInvalidArgument) {
  const std::string store = absl::StrCat("sqlite:", testing::TempDir(), "/utf8/ingestion.db");
  const std::string listen = absl::StrCat("127.0.0.1:", FreePort());
  pid_t pid = StartIngestion(listen, store);
  ASSERT_GT(pid, 0);
  Reaper reaper{&pid};
  auto channel = Connect(listen);
  auto ingestion = v1::IngestionService::NewStub(channel);
  testing::ImportUnits(*ingestion,
                       {testing::Unit("14", v1::ADMIN_LEVEL_PROVINCE, ""),
                        testing::Unit("125", v1::ADMIN_LEVEL_DISTRICT, "14")},
                       "units");
  v1::SubmitReportRequest request;
  request.set_request_id("not-utf8");
  *request.add_records() =
      testing::Record("QQ5", "2023-11", v1::SCHEME_COMPULSORY_SOCIAL, 11661, 6569);
  std::optional<std::string> bytes = testing::NotUtf8At(request.SerializeAsString(), "QQ5");
  ASSERT_TRUE(bytes.has_value());  // the code's bytes, now not UTF-8
  const grpc::Status status =
      testing::CallWithRequestBytes(channel, "/covtrack.v1.IngestionService/SubmitReport", *bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("could not be parsed"));
  EXPECT_THAT(status.error_message(), HasSubstr("not valid UTF-8"));
  EXPECT_EQ(ChangeHead(*ingestion), 1);  // the units only
  kill(pid, SIGTERM);
  EXPECT_EQ(ExitCode(pid), 0);
}

}  // namespace
}  // namespace covtrack
