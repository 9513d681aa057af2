#pragma once

// Real processes for integration tests and the load benchmark: the three covtrack binaries, a
// PostgreSQL server and a Redis server of the caller's own, each on free loopback ports, each
// stoppable and restartable without touching any other test's servers.
//
// Every child is started with PR_SET_PDEATHSIG(SIGKILL) and killed by its owner's destructor, so
// neither a failed assertion nor a crashed test binary leaves a server running.

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace covtrack::testing {

// A TCP port on 127.0.0.1 that nothing listens on right now, below the kernel's ephemeral
// range where it can (so that no outgoing connection takes it before a service listens on it).
int FreeLoopbackPort();

// The value of one series ("name{labels}" exactly, or an unlabelled name) on the Prometheus page
// at http://127.0.0.1:port/metrics; 0 when the page lacks it (a series not reported yet), nullopt
// when the page is unreachable.
std::optional<double> MetricValue(int port, const std::string& series);

// One child process; its stdout and stderr are appended to a log file.
class ChildProcess {
 public:
  // argv[0] is the program's path. With as_postgres, the child drops to the `postgres` user
  // first when running as root (PostgreSQL refuses to run as root).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const std::string& log_path,
                                                             bool as_postgres = false);
  ~ChildProcess();  // SIGKILL and reap when still running

  pid_t pid() const { return pid_; }
  bool Signal(int signal);
  // Waits up to `timeout` for the child to exit; its wait status, or nullopt if it still runs.
  std::optional<int> Wait(absl::Duration timeout);
  // SIGKILL and reap.
  void Kill();
  bool exited() const { return pid_ < 0; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

// Runs a command to completion within `timeout` (killed after it); its output goes to log_path.
absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                        absl::Duration timeout, bool as_postgres = false);

// The newest /usr/lib/postgresql/*/bin, or nullopt when PostgreSQL is not installed.
std::optional<std::string> PostgresBinDir();
// redis-server: $COVTRACK_TEST_REDIS_SERVER, else one on PATH; nullopt when there is none.
std::optional<std::string> RedisServerBinary();

// A PostgreSQL server of its own: a fresh data folder under `dir`, on a free loopback port, no
// Unix socket, fsync off (tests and benchmarks only).
class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Create(const std::string& bin_dir,
                                                                const std::string& dir);
  ~PostgresServer();  // immediate stop

  int port() const { return port_; }
  // "postgresql://postgres@127.0.0.1:PORT/DATABASE".
  std::string Url(const std::string& database = "postgres") const;
  absl::Status CreateDatabase(const std::string& name);

  // Starts the server and waits (bounded) until it accepts connections.
  absl::Status Start();
  // `pg_ctl stop -m MODE` ("fast" or "immediate"), then reaps the server.
  absl::Status Stop(const std::string& mode);
  bool running() const { return process_ != nullptr; }

 private:
  PostgresServer(std::string bin_dir, std::string dir, int port)
      : bin_dir_(std::move(bin_dir)), dir_(std::move(dir)), port_(port) {}
  std::string bin_dir_;
  std::string dir_;
  int port_;
  std::unique_ptr<ChildProcess> process_;
};

// A redis-server of its own on a free loopback port, without persistence; with a password
// (requirepass) when one is given, which Command() then sends with AUTH.
class RedisServer {
 public:
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(const std::string& binary,
                                                            const std::string& dir,
                                                            const std::string& password = "");
  std::string address() const;
  // SIGKILL: the server is gone at once, with every connection and key.
  void Kill();
  // Starts it again on the same port and waits (bounded) until it answers PING.
  absl::Status Restart();
  // One command's reply as text (integers in decimal); nullopt when Redis cannot be reached.
  std::optional<std::string> Command(const std::string& command) const;
  // The same with each argument passed as is (binary-safe: SET of any bytes).
  std::optional<std::string> CommandArgv(const std::vector<std::string>& args) const;
  // A connection without the password: what a third party on the network gets.
  std::optional<std::string> CommandWithoutPassword(const std::string& command) const;
  // DBSIZE, or -1 when Redis cannot be reached.
  int64_t KeyCount() const;

 private:
  RedisServer(std::string binary, std::string dir, int port, std::string password)
      : binary_(std::move(binary)),
        dir_(std::move(dir)),
        port_(port),
        password_(std::move(password)) {}
  absl::Status Launch();
  std::optional<std::string> Run(const std::vector<std::string>& args, bool authenticate) const;
  std::string binary_;
  std::string dir_;
  int port_;
  std::string password_;
  std::unique_ptr<ChildProcess> process_;
};

// A channel that does not share connections with earlier channels to the same address (which
// may still point at a process that was killed).
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address);

// Bounds a test's call: its deadline `timeout` from now.
void SetDeadline(grpc::ClientContext* context, absl::Duration timeout = absl::Seconds(30));

// Polls grpc.health.v1.Health/Check on `address` until it answers SERVING, at most `timeout`.
bool WaitServing(const std::string& address, absl::Duration timeout);

// The three covtrack services as separate processes on loopback.
struct ServiceBinaries {
  std::string ingestion;
  std::string aggregation;
  std::string targets;
};

class CovtrackProcesses {
 public:
  struct Options {
    ServiceBinaries binaries;
    std::string dir;              // logs go here
    std::string ingestion_store;  // --store of ingestion
    std::string targets_store;    // --store of targets
    std::string redis;            // --redis of aggregation (empty: in-process cache)
    // With redis: written to files under `dir` for --redis_password_file (when not empty) and
    // --cache_key_file (aggregation refuses Redis without a cache key).
    std::string redis_password;
    std::string cache_key = "covtrack integration tests' cache key (not a secret)";
    std::string cache_namespace = "covtrack";
    std::string shutdown_grace = "5s";
    // More flags for one service ("--max_concurrent_calls=4"), after the ones above.
    std::vector<std::string> ingestion_flags;
    std::vector<std::string> aggregation_flags;
    std::vector<std::string> targets_flags;
  };
  // Picks free ports; starts nothing.
  explicit CovtrackProcesses(Options options);
  ~CovtrackProcesses();

  std::string ingestion_address() const { return ingestion_address_; }
  std::string aggregation_address() const { return aggregation_address_; }
  std::string targets_address() const { return targets_address_; }

  // Start one service (on the same port as before, if it ran already) and wait until SERVING.
  absl::Status StartIngestion();
  absl::Status StartAggregation();
  absl::Status StartTargets();
  absl::Status StartAll();

  // SIGTERM, then wait (bounded) for exit; OK only when the process exited 0.
  absl::Status StopIngestion(absl::Duration timeout = absl::Seconds(30));
  absl::Status StopAggregation(absl::Duration timeout = absl::Seconds(30));
  absl::Status StopTargets(absl::Duration timeout = absl::Seconds(30));
  ChildProcess* ingestion() { return ingestion_.get(); }
  ChildProcess* aggregation() { return aggregation_.get(); }
  ChildProcess* targets() { return targets_.get(); }

  // The last lines of every service's log, for failure messages.
  std::string LogTails() const;

 private:
  absl::Status StartService(const std::string& name, std::vector<std::string> argv,
                            const std::vector<std::string>& extra_flags, const std::string& address,
                            std::unique_ptr<ChildProcess>* process);
  static absl::Status StopService(const std::string& name, std::unique_ptr<ChildProcess>* process,
                                  absl::Duration timeout);

  Options options_;
  std::string ingestion_address_;
  std::string aggregation_address_;
  std::string targets_address_;
  std::unique_ptr<ChildProcess> ingestion_;
  std::unique_ptr<ChildProcess> aggregation_;
  std::unique_ptr<ChildProcess> targets_;
};

}  // namespace covtrack::testing
