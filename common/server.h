#pragma once

// The server bootstrap every covtrack service uses: one place for the listening address,
// health service, reflection, keepalive, message-size limits and graceful shutdown.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/health_service.h"
#include "common/status/status.h"

namespace covtrack {
namespace metrics {
class MetricsHttpServer;
}
class CallRegistry;  // server.cc

struct ServerOptions {
  std::string service_name;            // for logs, e.g. "ingestion"
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 picks a free port (tests)
  // Optional plaintext port serving only grpc.health.v1.Health, for Kubernetes' gRPC probes
  // (which cannot speak TLS). Empty: none.
  std::string health_listen;
  // Optional HTTP port serving Prometheus metrics at /metrics. Empty: none.
  std::string metrics_listen;
  // Largest request or response. A national month of counts is about 2 MB; 64 MiB leaves
  // room for bulk exports without letting one caller exhaust memory.
  int max_message_bytes = 64 << 20;
  // Calls one client connection may have in flight at once; a caller that opens more waits.
  int max_concurrent_streams = 100;
  // Calls handled at once over all connections, a stream counting for its whole life: the
  // synchronous server holds one thread per call, so this bounds the server's threads too.
  // Past it a new call is refused at once with RESOURCE_EXHAUSTED, "retry after N ms" and the
  // grpc-retry-pushback-ms trailer, and counted in covtrack_rpc_rejected_total; the calls
  // already admitted run on. grpc.health.v1 is served apart (gRPC's callback API) and is never
  // refused, so probes keep answering under overload. Methods a service serves on the callback
  // API escape this thread quota: the service bounds them itself (common/callback_calls.h).
  int max_concurrent_calls = 64;
  // The retry delay a refused caller is given.
  absl::Duration overload_retry_after = absl::Seconds(1);
  // Memory gRPC may hold for its buffers (a ResourceQuota); near it gRPC reads more slowly
  // from connections and then refuses new streams. Half the 1 GiB the Kubernetes manifests
  // allow a container: the rest is the service's own (caches, the hierarchy). 0: no bound.
  int64_t max_grpc_memory_bytes = int64_t{512} << 20;
  // How long in-flight calls may run after SIGTERM before they are cancelled. Kubernetes
  // waits terminationGracePeriodSeconds (30 s by default) before SIGKILL; stay below it.
  absl::Duration shutdown_grace = absl::Seconds(20);
  // A handler that ignores cancellation would hold the drain open for ever: when calls still
  // run this long after the grace, Shutdown() logs them and ends the process (exit code 1).
  // Keep shutdown_grace + shutdown_backstop below terminationGracePeriodSeconds.
  absl::Duration shutdown_backstop = absl::Seconds(5);
  // Optional TLS: PEM files. With tls_client_ca set, clients must present a certificate it
  // signed (mTLS), and the certificate's common name is the caller's identity (audit trail,
  // access policy).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Whether health answers SERVING once the server starts. A service that must load before it
  // can answer (the aggregation replica's snapshot) starts with false and calls SetServing(true)
  // when ready, so a probe never sees SERVING before then.
  bool serving_at_start = true;
};

class Server {
 public:
  // Builds and starts the server with the given services (not owned; they must outlive it).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       const std::vector<grpc::Service*>& services);
  ~Server();

  int port() const { return port_; }
  std::string address() const;                      // "127.0.0.1:PORT", for clients in tests
  int health_port() const { return health_port_; }  // 0 without one
  int metrics_port() const;                         // 0 without one

  // Called by Shutdown() with the grace, after health reports NOT_SERVING and before gRPC stops
  // taking calls: a service's chance to end long calls in a way its callers can act on (the
  // ingestion service ends WatchChanges streams and stops uploads between messages, saying
  // where to resume). Register before RunUntilSignal(); called in the order registered.
  void OnShutdown(std::function<void(absl::Duration grace)> callback);

  // Health for "" and every service name, on the service port and --health_listen. Ignored
  // once Shutdown() has begun (a draining server never reports SERVING again).
  void SetServing(bool serving);

  // Graceful shutdown: health reports NOT_SERVING (for "" and every service name), the
  // OnShutdown callbacks run, new calls are refused, in-flight calls get until the grace
  // deadline to finish, then are cancelled.
  // Handlers still running shutdown_backstop after that end the process (std::_Exit(1)), after
  // a log line naming them. Idempotent.
  void Shutdown();

  // The names health answers for besides "": each registered service's full name
  // ("covtrack.v1.IngestionService"), as gRPC derived it from the service's methods.
  const std::vector<std::string>& health_service_names() const { return health_names_; }
  // Blocks until SIGTERM or SIGINT, then calls Shutdown(). For main().
  void RunUntilSignal();

 private:
  Server(ServerOptions options, std::unique_ptr<HealthService> health,
         std::unique_ptr<grpc::Server> server, int port);
  void SetHealthLocked(bool serving);  // both servers; health_mu_ held (or not yet shared)
  ServerOptions options_;
  // grpc.health.v1 of the service port and of --health_listen (one each: a callback service
  // belongs to one server). Declared before the servers, so that they outlive them.
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<HealthService> health_only_;  // null without --health_listen
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;                 // --health_listen
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server_;  // --metrics_listen
  int port_;
  int health_port_ = 0;
  std::vector<std::string> health_names_;
  std::shared_ptr<CallRegistry> calls_;  // in flight, for the backstop's log line
  std::atomic<bool> shut_down_{false};
  absl::Mutex health_mu_;  // SetServing against Shutdown
  std::vector<std::function<void(absl::Duration)>> on_shutdown_;
};

// The peer identity of a call, as the audit trail records it: the client certificate's common
// name under mTLS, otherwise the address gRPC reports ("ipv4:127.0.0.1:53412").
std::string PeerIdentity(const grpc::ServerContextBase& context);
// The common name of the caller's verified client certificate, or empty.
std::string AuthenticatedName(const grpc::ServerContextBase& context);

// Logs a failure of the environment (UNAVAILABLE, INTERNAL); bad input is the caller's, not
// worth a log line.
void LogIfBroken(const absl::Status& status);

// The usual end of a handler: the result into *response, or its status (logged when broken).
template <typename T>
grpc::Status Answer(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) {
    LogIfBroken(result.status());
    return ToGrpcStatus(result.status());
  }
  *response = std::move(*result);
  return grpc::Status::OK;
}

// Parses absl flags from argv, after first taking each flag's value from the environment
// variable COVTRACK_<FLAG NAME IN UPPER CASE> where one is set (command line wins). Bad values
// are fatal with a message that names the flag or variable.
void ParseFlagsWithEnvironment(int argc, char** argv);

}  // namespace covtrack
