// covtrack-ingestion: parses configuration and serves IngestionService until SIGTERM.
#include <iostream>

#include "absl/flags/flag.h"
#include "common/log.h"
#include "common/server.h"
#include "services/ingestion/ingestion_service.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, store, "sqlite:var/ingestion.db",
          "where data is kept: sqlite:PATH or postgresql://USER@HOST:PORT/DB");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(20),
          "after SIGTERM, how long in-flight calls may run before they are cancelled");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM server certificate (enables TLS)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)");

int main(int argc, char** argv) {
  covtrack::ParseFlagsWithEnvironment(argc, argv);
  covtrack::log::Init("ingestion", absl::GetFlag(FLAGS_log_level));

  covtrack::ingestion::IngestionOptions options;
  options.store_url = absl::GetFlag(FLAGS_store);
  auto service = covtrack::ingestion::IngestionServiceImpl::Create(options);
  if (!service.ok()) {
    covtrack::log::Error("cannot open the store", {{"store", options.store_url},
                                                   {"error", std::string(service.status().message())}});
    return 1;
  }
  covtrack::ServerOptions server_options;
  server_options.service_name = "ingestion";
  server_options.listen = absl::GetFlag(FLAGS_listen);
  server_options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  server_options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  server_options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  server_options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  auto server = covtrack::Server::Start(server_options, {service->get()});
  if (!server.ok()) {
    covtrack::log::Error("cannot start", {{"error", std::string(server.status().message())}});
    return 1;
  }
  (*server)->RunUntilSignal();
  return 0;
}
