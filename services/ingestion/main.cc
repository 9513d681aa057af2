// covtrack-ingestion: parses configuration and serves IngestionService until SIGTERM.
#include <iostream>

#include "absl/flags/flag.h"
#include "common/log.h"
#include "common/server.h"
#include "common/server_flags.h"
#include "services/ingestion/ingestion_service.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, store, "sqlite:var/ingestion.db",
          "where data is kept: sqlite:PATH or postgresql://USER@HOST:PORT/DB");

int main(int argc, char** argv) {
  covtrack::ServerOptions server_options =
      covtrack::InitServerProcess(argc, argv, "ingestion");
  server_options.listen = absl::GetFlag(FLAGS_listen);

  covtrack::ingestion::IngestionOptions options;
  options.store_url = absl::GetFlag(FLAGS_store);
  auto service = covtrack::ingestion::IngestionServiceImpl::Create(options);
  if (!service.ok()) {
    covtrack::log::Error("cannot open the store", {{"store", covtrack::sql::RedactedUrl(options.store_url)},
                                                   {"error", std::string(service.status().message())}});
    return 1;
  }
  auto server = covtrack::Server::Start(server_options, {service->get()});
  if (!server.ok()) {
    covtrack::log::Error("cannot start", {{"error", std::string(server.status().message())}});
    return 1;
  }
  (*server)->RunUntilSignal();
  return 0;
}
