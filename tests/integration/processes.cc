#include "tests/integration/processes.h"

#include <fcntl.h>
#include <grp.h>
#include <hiredis/hiredis.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace covtrack::testing {
namespace {

// Polling interval while waiting for a condition with a deadline.
constexpr auto kPoll = std::chrono::milliseconds(20);

std::optional<passwd> PostgresUser() {
  passwd* user = getpwnam("postgres");
  if (user == nullptr) {
    return std::nullopt;
  }
  return *user;
}

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void ExecChild(const std::vector<const char*>& argv, int log_fd, bool as_postgres,
                            uid_t uid, gid_t gid) {
  setpgid(0, 0);  // a terminal's Ctrl-C reaches the test, not its servers
  if (log_fd >= 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
  }
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
  }
  if (as_postgres && getuid() == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      _exit(126);
    }
  }
  // After any change of user, which clears it: the child dies with its parent.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) {
    _exit(125);  // the parent died before prctl
  }
  execv(argv[0], const_cast<char* const*>(argv.data()));
  _exit(127);
}

std::string Tail(const std::string& path, size_t max_lines) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  const size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  std::vector<std::string> tail(lines.begin() + from, lines.end());
  return absl::StrJoin(tail, "\n");
}

}  // namespace

namespace {

// Binds a socket to 127.0.0.1:port (0: any port the kernel picks), closes it, and answers the
// port bound, or 0 when it could not bind.
int BindAndRelease(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  int bound = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    bound = ntohs(address.sin_port);
  }
  close(fd);
  return bound;
}

}  // namespace

int FreeLoopbackPort() {
  // Below the kernel's ephemeral range: a port the kernel picks (bind to port 0) lies inside
  // it, where any outgoing connection of any process, these tests' own included, may take it
  // before the service listens or while it restarts ("No address added", seen under load).
  int ephemeral_low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> ephemeral_low;
  constexpr int kFirst = 10000;
  static absl::Mutex random_mu(absl::kConstInit);
  static std::mt19937 random(std::random_device{}());
  for (int attempt = 0; attempt < 1000 && ephemeral_low > kFirst; ++attempt) {
    int port;
    {
      absl::MutexLock lock(&random_mu);
      port = kFirst + static_cast<int>(random() % (ephemeral_low - kFirst));
    }
    if (BindAndRelease(port) == port) {
      return port;
    }
  }
  return BindAndRelease(0);  // no room below the range: the kernel's pick
}

std::optional<double> MetricValue(int port, const std::string& series) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  httplib::Result result = client.Get("/metrics");
  if (!result || result->status != 200) {
    return std::nullopt;
  }
  for (absl::string_view line : absl::StrSplit(result->body, '\n')) {
    if (line.size() > series.size() + 1 && line.substr(0, series.size()) == series &&
        line[series.size()] == ' ') {
      double value = 0;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) {
        return value;
      }
    }
  }
  return 0;  // a labelled gauge not reported yet
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path, bool as_postgres) {
  uid_t uid = 0;
  gid_t gid = 0;
  if (as_postgres && getuid() == 0) {
    std::optional<passwd> user = PostgresUser();
    if (!user.has_value()) {
      return absl::FailedPreconditionError("running as root and there is no `postgres` user");
    }
    uid = user->pw_uid;
    gid = user->pw_gid;
  }
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", log_path));
  }
  std::vector<const char*> args;
  for (const std::string& a : argv) {
    args.push_back(a.c_str());
  }
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    ExecChild(args, log_fd, as_postgres, uid, gid);
  }
  close(log_fd);
  if (pid < 0) {
    return absl::InternalError("fork failed");
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

ChildProcess::~ChildProcess() { Kill(); }

bool ChildProcess::Signal(int signal) { return pid_ > 0 && kill(pid_, signal) == 0; }

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  if (pid_ < 0) {
    return std::nullopt;
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return status;
    }
    if (absl::Now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

void ChildProcess::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                        absl::Duration timeout, bool as_postgres) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start(argv, log_path, as_postgres);
  if (!child.ok()) {
    return child.status();
  }
  std::optional<int> status = (*child)->Wait(timeout);
  if (!status.has_value()) {
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " did not finish within ", absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " failed (status ", *status,
                                            "): ", Tail(log_path, 10)));
  }
  return absl::OkStatus();
}

std::optional<std::string> PostgresBinDir() {
  std::vector<std::string> dirs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
    if (std::filesystem::exists(entry.path() / "bin" / "postgres")) {
      dirs.push_back((entry.path() / "bin").string());
    }
  }
  if (dirs.empty()) {
    return std::nullopt;
  }
  // Versions are whole numbers ("15", "16"): the longest, then the greatest, is the newest.
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return dirs.back();
}

std::optional<std::string> RedisServerBinary() {
  const char* configured = std::getenv("COVTRACK_TEST_REDIS_SERVER");
  if (configured != nullptr && *configured != '\0') {
    return std::string(configured);
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path == nullptr ? "/usr/bin" : path, ':')) {
    std::string candidate = absl::StrCat(dir, "/redis-server");
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

// ---- PostgreSQL ----

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Create(const std::string& bin_dir,
                                                                       const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string data = dir + "/data";
  std::filesystem::create_directories(data);
  chmod(data.c_str(), 0700);
  if (getuid() == 0) {
    std::optional<passwd> user = PostgresUser();
    if (!user.has_value()) {
      return absl::FailedPreconditionError("running as root and there is no `postgres` user");
    }
    if (chown(data.c_str(), user->pw_uid, user->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("cannot give ", data, " to postgres"));
    }
  }
  absl::Status initdb = RunCommand({bin_dir + "/initdb", "-D", data, "-A", "trust", "-U",
                                    "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"},
                                   dir + "/initdb.log", absl::Seconds(60), /*as_postgres=*/true);
  if (!initdb.ok()) {
    return initdb;
  }
  auto server =
      std::unique_ptr<PostgresServer>(new PostgresServer(bin_dir, dir, FreeLoopbackPort()));
  if (absl::Status started = server->Start(); !started.ok()) {
    return started;
  }
  return server;
}

PostgresServer::~PostgresServer() {
  if (process_ != nullptr) {
    process_->Signal(SIGQUIT);  // immediate shutdown: backends exit too
    if (!process_->Wait(absl::Seconds(10)).has_value()) {
      process_->Kill();
    }
  }
}

std::string PostgresServer::Url(const std::string& database) const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/", database);
}

absl::Status PostgresServer::CreateDatabase(const std::string& name) {
  PGconn* conn = PQconnectdb(absl::StrCat(Url(), "?connect_timeout=10").c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(PQerrorMessage(conn));
  } else {
    PGresult* result = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      status = absl::InternalError(PQerrorMessage(conn));
    }
    PQclear(result);
  }
  PQfinish(conn);
  return status;
}

absl::Status PostgresServer::Start() {
  if (process_ != nullptr) {
    return absl::FailedPreconditionError("PostgreSQL is already running");
  }
  // The postmaster itself is our child (not daemonised by pg_ctl), so it dies with us.
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(
      {bin_dir_ + "/postgres", "-D", dir_ + "/data", "-p", absl::StrCat(port_), "-c",
       "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c",
       "max_connections=100"},
      dir_ + "/postgres.log", /*as_postgres=*/true);
  if (!process.ok()) {
    return process.status();
  }
  process_ = std::move(*process);
  const std::string conninfo = absl::StrCat("host=127.0.0.1 port=", port_,
                                            " user=postgres dbname=postgres connect_timeout=2");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) {
      return absl::OkStatus();
    }
    if (process_->Wait(absl::ZeroDuration()).has_value()) {
      process_.reset();
      return absl::InternalError(
          absl::StrCat("postgres exited at start: ", Tail(dir_ + "/postgres.log", 10)));
    }
    std::this_thread::sleep_for(kPoll);
  }
  return absl::DeadlineExceededError("PostgreSQL did not accept connections within 30 s");
}

absl::Status PostgresServer::Stop(const std::string& mode) {
  if (process_ == nullptr) {
    return absl::FailedPreconditionError("PostgreSQL is not running");
  }
  absl::Status stopped =
      RunCommand({bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", mode, "-w", "-t", "30", "stop"},
                 dir_ + "/pg_ctl.log", absl::Seconds(40), /*as_postgres=*/true);
  if (!process_->Wait(absl::Seconds(10)).has_value()) {
    process_->Kill();
    stopped.Update(absl::InternalError("postgres did not exit after pg_ctl stop"));
  }
  process_.reset();
  return stopped;
}

// ---- Redis ----

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(const std::string& binary,
                                                                const std::string& dir,
                                                                const std::string& password) {
  std::filesystem::create_directories(dir);
  auto server =
      std::unique_ptr<RedisServer>(new RedisServer(binary, dir, FreeLoopbackPort(), password));
  if (absl::Status launched = server->Launch(); !launched.ok()) {
    return launched;
  }
  return server;
}

std::string RedisServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::Status RedisServer::Launch() {
  std::vector<std::string> argv = {binary_,  "--port",       absl::StrCat(port_),
                                   "--bind", "127.0.0.1",    "--save",
                                   "",       "--appendonly", "no",
                                   "--dir",  dir_,           "--loglevel",
                                   "warning"};
  if (!password_.empty()) {
    argv.push_back("--requirepass");
    argv.push_back(password_);
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> process =
      ChildProcess::Start(argv, dir_ + "/redis.log");
  if (!process.ok()) {
    return process.status();
  }
  process_ = std::move(*process);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (Command("PING") == std::optional<std::string>("PONG")) {
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(kPoll);
  }
  return absl::DeadlineExceededError(
      absl::StrCat("redis-server did not answer PING within 10 s: ", Tail(dir_ + "/redis.log", 5)));
}

void RedisServer::Kill() {
  if (process_ != nullptr) {
    process_->Kill();
    process_.reset();
  }
}

absl::Status RedisServer::Restart() {
  Kill();
  return Launch();
}

std::optional<std::string> RedisServer::Command(const std::string& command) const {
  return Run(absl::StrSplit(command, ' ', absl::SkipEmpty()), /*authenticate=*/true);
}

std::optional<std::string> RedisServer::CommandArgv(const std::vector<std::string>& args) const {
  return Run(args, /*authenticate=*/true);
}

std::optional<std::string> RedisServer::CommandWithoutPassword(const std::string& command) const {
  return Run(absl::StrSplit(command, ' ', absl::SkipEmpty()), /*authenticate=*/false);
}

std::optional<std::string> RedisServer::Run(const std::vector<std::string>& args,
                                            bool authenticate) const {
  timeval timeout{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) {
      redisFree(c);
    }
    return std::nullopt;
  }
  redisSetTimeout(c, timeout);
  auto send = [c](const std::vector<std::string>& argv) {
    std::vector<const char*> data;
    std::vector<size_t> lens;
    for (const std::string& a : argv) {
      data.push_back(a.data());
      lens.push_back(a.size());
    }
    return static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), data.data(), lens.data()));
  };
  if (authenticate && !password_.empty()) {
    redisReply* auth = send({"AUTH", password_});
    if (auth != nullptr) {
      freeReplyObject(auth);
    }
  }
  redisReply* reply = send(args);
  std::optional<std::string> text;
  if (reply != nullptr) {
    if (reply->type == REDIS_REPLY_INTEGER) {
      text = absl::StrCat(reply->integer);
    } else if (reply->str != nullptr) {
      text = std::string(reply->str, reply->len);
    } else {
      text = "";
    }
    freeReplyObject(reply);
  }
  redisFree(c);
  return text;
}

int64_t RedisServer::KeyCount() const {
  std::optional<std::string> reply = Command("DBSIZE");
  int64_t n = -1;
  if (!reply.has_value() || !absl::SimpleAtoi(*reply, &n)) {
    return -1;
  }
  return n;
}

// ---- gRPC helpers ----

std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

bool WaitServing(const std::string& address, absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(FreshChannel(address));
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
    context.set_wait_for_ready(true);
    grpc::health::v1::HealthCheckResponse response;
    if (stub->Check(&context, {}, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return true;
    }
    std::this_thread::sleep_for(kPoll);
  }
  return false;
}

// ---- The covtrack services ----

CovtrackProcesses::CovtrackProcesses(Options options) : options_(std::move(options)) {
  ingestion_address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  aggregation_address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  targets_address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
}

CovtrackProcesses::~CovtrackProcesses() = default;  // each ChildProcess kills its own

absl::Status CovtrackProcesses::StartService(const std::string& name, std::vector<std::string> argv,
                                             const std::vector<std::string>& extra_flags,
                                             const std::string& address,
                                             std::unique_ptr<ChildProcess>* process) {
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  if (*process != nullptr && !(*process)->exited()) {
    return absl::FailedPreconditionError(absl::StrCat(name, " is already running"));
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> started =
      ChildProcess::Start(argv, absl::StrCat(options_.dir, "/", name, ".log"));
  if (!started.ok()) {
    return started.status();
  }
  *process = std::move(*started);
  if (!WaitServing(address, absl::Seconds(30))) {
    return absl::DeadlineExceededError(
        absl::StrCat(name, " is not SERVING on ", address, " after 30 s:\n", LogTails()));
  }
  return absl::OkStatus();
}

absl::Status CovtrackProcesses::StartIngestion() {
  return StartService(
      "ingestion",
      {options_.binaries.ingestion, "--listen=" + ingestion_address_,
       "--store=" + options_.ingestion_store, "--shutdown_grace=" + options_.shutdown_grace},
      options_.ingestion_flags, ingestion_address_, &ingestion_);
}

absl::Status CovtrackProcesses::StartAggregation() {
  std::vector<std::string> argv = {
      options_.binaries.aggregation, "--listen=" + aggregation_address_,
      "--ingestion_addr=" + ingestion_address_, "--redis=" + options_.redis,
      "--cache_namespace=" + options_.cache_namespace,
      "--shutdown_grace=" + options_.shutdown_grace, "--stats_log_interval=1s",
      // Tests written before tokens write, then read without one:
      // read-your-writes. A test of APPLIED reads passes
      // --default_consistency=applied in aggregation_flags
      // (given after these: the last one counts).
      "--default_consistency=full"};
  // Secrets reach aggregation as files (as from a Kubernetes Secret), never on the command line.
  auto write = [&](const std::string& name, const std::string& content) -> absl::Status {
    const std::string path = absl::StrCat(options_.dir, "/", name);
    std::ofstream out(path, std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
    return absl::OkStatus();
  };
  if (!options_.redis.empty()) {
    if (absl::Status s = write("cache.key", options_.cache_key); !s.ok()) {
      return s;
    }
    argv.push_back(absl::StrCat("--cache_key_file=", options_.dir, "/cache.key"));
    if (!options_.redis_password.empty()) {
      if (absl::Status s = write("redis.password", options_.redis_password + "\n"); !s.ok()) {
        return s;
      }
      argv.push_back(absl::StrCat("--redis_password_file=", options_.dir, "/redis.password"));
    }
  }
  return StartService("aggregation", std::move(argv), options_.aggregation_flags,
                      aggregation_address_, &aggregation_);
}

absl::Status CovtrackProcesses::StartTargets() {
  return StartService(
      "targets",
      {options_.binaries.targets, "--listen=" + targets_address_,
       "--store=" + options_.targets_store, "--aggregation_addr=" + aggregation_address_,
       "--ingestion_addr=" + ingestion_address_, "--shutdown_grace=" + options_.shutdown_grace},
      options_.targets_flags, targets_address_, &targets_);
}

absl::Status CovtrackProcesses::StartAll() {
  absl::Status status = StartIngestion();
  if (status.ok()) {
    status = StartAggregation();
  }
  if (status.ok()) {
    status = StartTargets();
  }
  return status;
}

absl::Status CovtrackProcesses::StopService(const std::string& name,
                                            std::unique_ptr<ChildProcess>* process,
                                            absl::Duration timeout) {
  if (*process == nullptr || (*process)->exited()) {
    return absl::FailedPreconditionError(absl::StrCat(name, " is not running"));
  }
  (*process)->Signal(SIGTERM);
  std::optional<int> status = (*process)->Wait(timeout);
  if (!status.has_value()) {
    (*process)->Kill();
    return absl::DeadlineExceededError(
        absl::StrCat(name, " did not exit within ", absl::FormatDuration(timeout), " of SIGTERM"));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat(name, " exited with wait status ", *status));
  }
  return absl::OkStatus();
}

absl::Status CovtrackProcesses::StopIngestion(absl::Duration timeout) {
  return StopService("ingestion", &ingestion_, timeout);
}
absl::Status CovtrackProcesses::StopAggregation(absl::Duration timeout) {
  return StopService("aggregation", &aggregation_, timeout);
}
absl::Status CovtrackProcesses::StopTargets(absl::Duration timeout) {
  return StopService("targets", &targets_, timeout);
}

std::string CovtrackProcesses::LogTails() const {
  std::string out;
  for (const char* name : {"ingestion", "aggregation", "targets"}) {
    absl::StrAppend(&out, "---- ", name, ".log (last lines)\n",
                    Tail(absl::StrCat(options_.dir, "/", name, ".log"), 15), "\n");
  }
  return out;
}

}  // namespace covtrack::testing
