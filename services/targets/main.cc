// covtrack-targets: the target-tracking service. Parses configuration and starts the server;
// everything else is in the covtrack_targets library.

#include <filesystem>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/server.h"
#include "services/targets/target_service.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50053", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, store, "sqlite:var/targets.db",
          "where targets are kept: sqlite:PATH or postgresql://USER@HOST:PORT/DB");
ABSL_FLAG(std::string, aggregation_addr, "127.0.0.1:50052",
          "HOST:PORT of the aggregation service (actual figures)");
ABSL_FLAG(absl::Duration, aggregation_deadline, absl::Seconds(5),
          "deadline of each call to the aggregation service");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn or error");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate; with --tls_key_file enables TLS");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA; when set, clients must present a certificate");

int main(int argc, char** argv) {
  covtrack::ParseFlagsWithEnvironment(argc, argv);
  covtrack::log::Init("targets", absl::GetFlag(FLAGS_log_level));

  covtrack::targets::TargetOptions options;
  options.store_url = absl::GetFlag(FLAGS_store);
  options.aggregation_addr = absl::GetFlag(FLAGS_aggregation_addr);
  options.aggregation_deadline = absl::GetFlag(FLAGS_aggregation_deadline);
  if (absl::StartsWith(options.store_url, "sqlite:")) {
    // The default store lives under var/; create its folder so a fresh checkout just runs.
    const std::filesystem::path path(options.store_url.substr(7));
    if (path.has_parent_path() && path != ":memory:") {
      std::error_code ignored;
      std::filesystem::create_directories(path.parent_path(), ignored);
    }
  }
  auto service = covtrack::targets::TargetServiceImpl::Create(options);
  if (!service.ok()) {
    std::cerr << "covtrack-targets: " << service.status().message()
              << " (check --store and --aggregation_addr)\n";
    return 1;
  }
  covtrack::ServerOptions server_options;
  server_options.service_name = "targets";
  server_options.listen = absl::GetFlag(FLAGS_listen);
  server_options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  server_options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  server_options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  auto server = covtrack::Server::Start(server_options, {service->get()});
  if (!server.ok()) {
    std::cerr << "covtrack-targets: cannot serve on " << server_options.listen << ": "
              << server.status().message() << " (check --listen)\n";
    return 1;
  }
  covtrack::log::Info("serving", {{"listen", server_options.listen},
                                  {"port", std::to_string((*server)->port())},
                                  {"store", options.store_url},
                                  {"aggregation_addr", options.aggregation_addr}});
  (*server)->RunUntilSignal();
  return 0;
}
