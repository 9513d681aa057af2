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
ABSL_FLAG(int, max_records_per_request, 100000,
          "records plus denominators in one report, or units in one import (a national month "
          "is about 40,000)");

int main(int argc, char** argv) {
  covtrack::ProcessConfig config = covtrack::InitServerProcess(argc, argv, "ingestion");
  config.server.listen = absl::GetFlag(FLAGS_listen);

  covtrack::ingestion::IngestionOptions options;
  options.store_url = absl::GetFlag(FLAGS_store);
  options.limits.max_items_per_request = absl::GetFlag(FLAGS_max_records_per_request);
  options.access_policy = std::move(config.access_policy);
  auto service = covtrack::ingestion::IngestionServiceImpl::Create(options);
  if (!service.ok()) {
    covtrack::log::Error("cannot open the store",
                         {{"store", covtrack::sql::RedactedUrl(options.store_url)},
                          {"error", std::string(service.status().message())}});
    return 1;
  }
  auto server = covtrack::Server::Start(config.server, {service->get()});
  if (!server.ok()) {
    covtrack::log::Error("cannot start", {{"error", std::string(server.status().message())}});
    return 1;
  }
  (*server)->RunUntilSignal();
  return 0;
}
