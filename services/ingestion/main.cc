// covtrack-ingestion: parses configuration and serves IngestionService until SIGTERM, or, with
// --migrate_only, brings the store's schema up to date and exits.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/server.h"
#include "common/server_flags.h"
#include "common/sql/database.h"
#include "services/ingestion/ingestion_service.h"
#include "services/ingestion/schema.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, store, "sqlite:var/ingestion.db",
          "where data is kept: sqlite:PATH or postgresql://USER@HOST:PORT/DB");
ABSL_FLAG(int, store_max_connections, covtrack::sql::StoreOptions().max_connections,
          "store connections this process opens at most (PostgreSQL: the pool; SQLite: "
          "readers); the default fits PostgreSQL's default max_connections across the prod "
          "overlay's replicas at their autoscaling maxima");
ABSL_FLAG(absl::Duration, store_connection_wait, covtrack::sql::StoreOptions().connection_wait,
          "how long a call waits for a free store connection before it is UNAVAILABLE");
ABSL_FLAG(bool, migrate_only, false,
          "apply the store's schema migrations (--store), print what was done, and exit 0 "
          "without serving: the step an upgrade runs once before the new release rolls out");
ABSL_FLAG(int, max_records_per_request, 100000,
          "records plus denominators in one report, or units in one import (a national month "
          "is about 40,000)");

namespace {

// --migrate_only: 0 when the schema is current (whether or not anything was applied).
int MigrateOnly(const std::string& url) {
  const std::string store = covtrack::sql::RedactedUrl(url);
  absl::StatusOr<std::unique_ptr<covtrack::sql::Database>> db = covtrack::sql::Database::Open(url);
  covtrack::sql::MigrationReport report;
  absl::Status status =
      db.ok() ? (*db)->Migrate("ingestion", covtrack::ingestion::IngestionMigrations(), &report)
              : db.status();
  if (!status.ok()) {
    covtrack::log::Error("migration failed",
                         {{"store", store}, {"error", std::string(status.message())}});
    std::cerr << "covtrack-ingestion --migrate_only: " << status.message() << "\n";
    return 1;
  }
  const std::string done = covtrack::sql::DescribeMigration("ingestion", store, report);
  covtrack::log::Info("migrated", {{"result", done}});
  std::cout << done << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  covtrack::ProcessConfig config = covtrack::InitServerProcess(argc, argv, "ingestion");
  config.server.listen = absl::GetFlag(FLAGS_listen);

  covtrack::sql::StoreOptions store_options;
  store_options.max_connections = absl::GetFlag(FLAGS_store_max_connections);
  store_options.connection_wait = absl::GetFlag(FLAGS_store_connection_wait);
  if (store_options.max_connections < 1 || store_options.connection_wait < absl::ZeroDuration()) {
    std::cerr << "covtrack-ingestion: --store_max_connections must be at least 1 and "
                 "--store_connection_wait not negative\n";
    return 2;
  }
  covtrack::sql::SetDefaultStoreOptions(store_options);
  if (absl::GetFlag(FLAGS_migrate_only)) {
    return MigrateOnly(absl::GetFlag(FLAGS_store));
  }

  covtrack::ingestion::IngestionOptions options;
  options.store_url = absl::GetFlag(FLAGS_store);
  options.limits.max_items_per_request = absl::GetFlag(FLAGS_max_records_per_request);
  options.access_policy = std::move(config.access_policy);
  auto service = covtrack::ingestion::IngestionServiceImpl::Create(options);
  if (!service.ok()) {
    covtrack::log::Error("cannot open the store",
                         {{"store", covtrack::sql::RedactedUrl(options.store_url)},
                          {"error", std::string(service.status().message())}});
    std::cerr << "covtrack-ingestion: " << service.status().message() << "\n";
    return 1;
  }
  auto server = covtrack::Server::Start(config.server, {service->get()});
  if (!server.ok()) {
    covtrack::log::Error("cannot start", {{"error", std::string(server.status().message())}});
    return 1;
  }
  // On SIGTERM uploads stop between messages, telling the client where to resume.
  (*server)->OnShutdown([&service](absl::Duration grace) { (*service)->BeginDrain(grace); });
  (*server)->RunUntilSignal();
  return 0;
}
