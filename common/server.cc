#include "common/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/call_context.h"
#include "common/client.h"
#include "common/log.h"
#include "common/metrics/grpc_metrics.h"
#include "common/metrics/http_exporter.h"
#include "common/metrics/metrics.h"

namespace covtrack {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o) {
  if (o.tls_cert.empty() && o.tls_key.empty()) {
    log::Warn(
        "PLAINTEXT: no TLS. Anyone who can reach this port may call every RPC, "
        "unidentified. For local runs only; in production set --tls_cert, --tls_key, "
        "--tls_client_ca and --access_policy.",
        {{"listen", o.listen}});
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  absl::StatusOr<std::string> cert = ReadFileToString(o.tls_cert);
  absl::StatusOr<std::string> key = ReadFileToString(o.tls_key);
  if (!cert.ok() || !key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert and --tls_key must both be readable: ",
                     (cert.ok() ? key : cert).status().message()));
  }
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (o.tls_client_ca.empty()) {
    log::Warn(
        "TLS without client certificates (no --tls_client_ca): callers are not "
        "identified and every caller may call every RPC");
  } else {
    absl::StatusOr<std::string> ca = ReadFileToString(o.tls_client_ca);
    if (!ca.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--tls_client_ca: ", ca.status().message()));
    }
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// The plaintext health-only server of --health_listen.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(const std::string& listen,
                                                                int* port) {
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on \"", listen, "\" (--health_listen): is the port free?"));
  }
  return server;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials(options);
  if (!credentials.ok()) {
    return credentials.status();
  }
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server;
  if (!options.metrics_listen.empty()) {
    auto started =
        metrics::MetricsHttpServer::Start(options.metrics_listen, &metrics::Registry::Global());
    if (!started.ok()) {
      return absl::Status(started.status().code(),
                          absl::StrCat("--metrics_listen: ", started.status().message()));
    }
    metrics_server = *std::move(started);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  // A second server on a port already in use must fail, not silently share it (gRPC's
  // default is SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  // Keepalive: ping idle connections every 60 s so that load balancers and NAT do not drop
  // them silently, and close a connection whose ping is not answered within 20 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // Accept client keepalive pings as often as every 10 s, even without calls in flight
  // (long-lived WatchChanges streams idle for hours).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // The request context first, so that everything after it (metrics, handlers) logs under
  // the request id.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewRequestContextInterceptorFactory());
  interceptors.push_back(metrics::NewRpcMetricsInterceptorFactory(&metrics::Registry::Global()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on \"", options.listen,
                                               "\": is the address valid and the port free?"));
  }
  std::unique_ptr<Server> result(new Server(options, std::move(server), port));
  result->metrics_server_ = std::move(metrics_server);
  if (!options.health_listen.empty()) {
    auto health = StartHealthServer(options.health_listen, &result->health_port_);
    if (!health.ok()) {
      return health.status();
    }
    result->health_server_ = *std::move(health);
    result->health_server_->GetHealthCheckService()->SetServingStatus(true);
  }
  result->server_->GetHealthCheckService()->SetServingStatus(true);
  log::Info("serving", {{"listen", options.listen},
                        {"port", std::to_string(port)},
                        {"health_port", std::to_string(result->health_port_)},
                        {"metrics_port", std::to_string(result->metrics_port())}});
  return result;
}

Server::Server(ServerOptions options, std::unique_ptr<grpc::Server> server, int port)
    : options_(std::move(options)), server_(std::move(server)), port_(port) {}

Server::~Server() { Shutdown(); }

std::string Server::address() const { return absl::StrCat("127.0.0.1:", port_); }

int Server::metrics_port() const {
  return metrics_server_ == nullptr ? 0 : metrics_server_->port();
}

void Server::Shutdown() {
  if (shut_down_.exchange(true)) {
    return;
  }
  log::Info("shutting down", {{"grace", absl::FormatDuration(options_.shutdown_grace)}});
  // Health first, so load balancers stop sending new calls while in-flight ones finish.
  server_->GetHealthCheckService()->SetServingStatus(false);
  if (health_server_ != nullptr) {
    health_server_->GetHealthCheckService()->SetServingStatus(false);
  }
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  server_->Wait();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
  }
  metrics_server_.reset();
  log::Info("stopped");
}

void Server::RunUntilSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // Other threads inherit the mask set in main before the server started (see
  // BlockShutdownSignals); here we simply wait for one of them.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int signal = 0;
  sigwait(&signals, &signal);
  log::Info("signal received", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  Shutdown();
}

std::string AuthenticatedName(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& name : auth->FindPropertyValues("x509_common_name")) {
      return std::string(name.data(), name.size());
    }
  }
  return "";
}

std::string PeerIdentity(const grpc::ServerContext& context) {
  std::string name = AuthenticatedName(context);
  return name.empty() ? context.peer() : name;
}

void LogIfBroken(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kInternal) {
    log::Warn("request failed", {{"error", status.ToString()}});
  }
}

void ParseFlagsWithEnvironment(int argc, char** argv) {
  // Block the shutdown signals before any thread exists, so that every thread inherits the
  // mask and only Server::RunUntilSignal receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  for (const auto& [name, flag] : absl::GetAllFlags()) {
    std::string variable = absl::StrCat("COVTRACK_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) {
      continue;
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::cerr << "bad value in environment variable " << variable << ": " << error << "\n";
      std::exit(2);
    }
  }
  absl::ParseCommandLine(argc, argv);
}

}  // namespace covtrack
