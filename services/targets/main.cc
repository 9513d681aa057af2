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
#include "services/targets/target_service.h"
#include "services/targets/target_store.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50053", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, store, "sqlite:var/targets.db",
          "where targets are kept: sqlite:PATH or postgresql://USER@HOST:PORT/DB");
ABSL_FLAG(int, store_max_connections, covtrack::sql::StoreOptions().max_connections,
          "store connections this process opens at most (PostgreSQL: the pool; SQLite: "
          "readers); the default fits PostgreSQL's default max_connections across the prod "
          "overlay's replicas at their autoscaling maxima");
ABSL_FLAG(absl::Duration, store_connection_wait, covtrack::sql::StoreOptions().connection_wait,
          "how long a call waits for a free store connection before it is UNAVAILABLE");
ABSL_FLAG(bool, migrate_only, false,
          "apply the store's schema migrations (--store), print what was done, and exit 0 "
          "without serving: the step an upgrade runs once before the new release rolls out");
ABSL_FLAG(std::string, aggregation_addr, "127.0.0.1:50052",
          "HOST:PORT of the aggregation service (actual figures)");
ABSL_FLAG(absl::Duration, aggregation_deadline, absl::Seconds(5),
          "deadline of each call to the aggregation service (and to ingestion)");
ABSL_FLAG(std::string, ingestion_addr, "127.0.0.1:50051",
          "HOST:PORT of the ingestion service; asked which unit a code names when "
          "(Target.unit_as_of), for the crosswalk (targets re-expressed from predecessors) and "
          "where units lie for the access policy's jurisdiction checks");

namespace {

// --migrate_only: 0 when the schema is current (whether or not anything was applied).
int MigrateOnly(const std::string& url) {
  const std::string store = covtrack::sql::RedactedUrl(url);
  absl::StatusOr<covtrack::sql::MigrationReport> report =
      covtrack::targets::TargetStore::Migrate(url);
  if (!report.ok()) {
    covtrack::log::Error("migration failed",
                         {{"store", store}, {"error", std::string(report.status().message())}});
    std::cerr << "covtrack-targets --migrate_only: " << report.status().message() << "\n";
    return 1;
  }
  const std::string done = covtrack::sql::DescribeMigration("targets", store, *report);
  covtrack::log::Info("migrated", {{"result", done}});
  std::cout << done << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  covtrack::ProcessConfig config = covtrack::InitServerProcess(argc, argv, "targets");
  config.server.listen = absl::GetFlag(FLAGS_listen);

  covtrack::sql::StoreOptions store_options;
  store_options.max_connections = absl::GetFlag(FLAGS_store_max_connections);
  store_options.connection_wait = absl::GetFlag(FLAGS_store_connection_wait);
  if (store_options.max_connections < 1 || store_options.connection_wait < absl::ZeroDuration()) {
    std::cerr << "covtrack-targets: --store_max_connections must be at least 1 and "
                 "--store_connection_wait not negative\n";
    return 2;
  }
  covtrack::sql::SetDefaultStoreOptions(store_options);
  if (absl::GetFlag(FLAGS_migrate_only)) {
    return MigrateOnly(absl::GetFlag(FLAGS_store));
  }

  covtrack::targets::TargetOptions options;
  options.store_url = absl::GetFlag(FLAGS_store);
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
