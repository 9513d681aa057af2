// covtrack-targets: the target-tracking service. Parses configuration and starts the server (or,
// with --migrate_only, brings the store's schema up to date and exits); everything else is in
// the covtrack_targets library.

#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/server.h"
#include "common/server_flags.h"
#include "common/sql/database.h"
#include "common/sql/store_flags.h"
#include "services/targets/target_service.h"
#include "services/targets/target_store.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50053", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, store, "sqlite:var/targets.db",
          "where targets are kept: sqlite:PATH or postgresql://USER@HOST:PORT/DB");
ABSL_FLAG(std::string, aggregation_addr, "127.0.0.1:50052",
          "HOST:PORT of the aggregation service (actual figures)");
ABSL_FLAG(absl::Duration, aggregation_deadline, absl::Seconds(5),
          "deadline of each call to the aggregation service (and to ingestion)");
ABSL_FLAG(std::string, ingestion_addr, "127.0.0.1:50051",
          "HOST:PORT of the ingestion service; asked which unit a code names when "
          "(Target.unit_as_of), for the crosswalk (targets re-expressed from predecessors) and "
          "where units lie for the access policy's jurisdiction checks");

int main(int argc, char** argv) {
  covtrack::ProcessConfig config = covtrack::InitServerProcess(argc, argv, "targets");
  config.server.listen = absl::GetFlag(FLAGS_listen);

  covtrack::sql::ApplyStoreFlags("targets");
  const std::string store_url = absl::GetFlag(FLAGS_store);
  if (std::optional<int> exit_code = covtrack::sql::MigrateOnlyIfAsked(
          "targets", "targets", store_url,
          [&] { return covtrack::targets::TargetStore::Migrate(store_url); })) {
    return *exit_code;
  }

  covtrack::targets::TargetOptions options;
  options.store_url = store_url;
  options.aggregation_addr = absl::GetFlag(FLAGS_aggregation_addr);
  options.aggregation_deadline = absl::GetFlag(FLAGS_aggregation_deadline);
  options.ingestion_addr = absl::GetFlag(FLAGS_ingestion_addr);
  options.upstream_channel = config.upstream;
  options.access_policy = std::move(config.access_policy);
  auto service = covtrack::targets::TargetServiceImpl::Create(options);
  if (!service.ok()) {
    std::cerr << "covtrack-targets: " << service.status().message()
              << " (check --store, --aggregation_addr and --ingestion_addr)\n";
    return 1;
  }
  auto server = covtrack::Server::Start(config.server, {service->get()});
  if (!server.ok()) {
    std::cerr << "covtrack-targets: cannot serve on " << config.server.listen << ": "
              << server.status().message() << " (check --listen)\n";
    return 1;
  }
  (*server)->RunUntilSignal();
  return 0;
}
