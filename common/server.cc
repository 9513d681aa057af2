#include "common/server.h"

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace covtrack {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read \"", path, "\""));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) {
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  absl::StatusOr<std::string> cert = ReadFile(o.tls_cert_file);
  absl::StatusOr<std::string> key = ReadFile(o.tls_key_file);
  if (!cert.ok() || !key.ok()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file must both be readable");
  }
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(o.tls_client_ca_file);
    if (!ca.ok()) {
      return ca.status();
    }
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
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
  grpc::ServerBuilder builder;
  int port = 0;
  // A second server on a port already in use must fail, not silently share it (gRPC's
  // default is SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // Keepalive: ping idle connections every 60 s so that load balancers and NAT do not drop
  // them silently, and close a connection whose ping is not answered within 20 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // Accept client keepalive pings as often as every 10 s, even without calls in flight
  // (long-lived WatchChanges streams idle for hours).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on \"", options.listen,
                                               "\": is the address valid and the port free?"));
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  log::Info("serving", {{"listen", options.listen}, {"port", std::to_string(port)}});
  return std::unique_ptr<Server>(new Server(options, std::move(server), port));
}

Server::Server(ServerOptions options, std::unique_ptr<grpc::Server> server, int port)
    : options_(std::move(options)), server_(std::move(server)), port_(port) {}

Server::~Server() { Shutdown(); }

std::string Server::address() const { return absl::StrCat("127.0.0.1:", port_); }

void Server::Shutdown() {
  if (shut_down_.exchange(true)) {
    return;
  }
  log::Info("shutting down", {{"grace", absl::FormatDuration(options_.shutdown_grace)}});
  // Health first, so load balancers stop sending new calls while in-flight ones finish.
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoSeconds(options_.shutdown_grace));
  server_->Wait();
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

std::string PeerIdentity(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& name : auth->GetPeerIdentity()) {
      return std::string(name.data(), name.size());
    }
  }
  return context.peer();
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
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
