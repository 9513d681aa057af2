// covtrack-ingestion: parses configuration and serves IngestionService until SIGTERM, or, with
// --migrate_only, brings the store's schema up to date and exits.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/server.h"
#include "common/server_flags.h"
#include "common/sql/database.h"
#include "common/sql/store_flags.h"
#include "common/status/status.h"
#include "services/ingestion/ingestion_service.h"
#include "services/ingestion/schema.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, store, "sqlite:var/ingestion.db",
          "where data is kept: sqlite:PATH or postgresql://USER@HOST:PORT/DB");
ABSL_FLAG(int, max_records_per_request, 100000,
          "records plus denominators in one report, or units in one import (a national month "
          "is about 40,000)");

ABSL_FLAG(absl::Duration, feed_retention, absl::Hours(24 * 30),
          "how long the change feed keeps each change whole (what it touched), e.g. 720h; a "
          "follower behind the retained window reloads its snapshot; inf keeps everything");
ABSL_FLAG(int64_t, feed_retention_min_changes, 10000,
          "the newest changes the feed keeps whatever their age (at least 1)");

int main(int argc, char** argv) {
  covtrack::ProcessConfig config = covtrack::InitServerProcess(argc, argv, "ingestion");
  config.server.listen = absl::GetFlag(FLAGS_listen);

  covtrack::sql::ApplyStoreFlags("ingestion");
  const std::string store_url = absl::GetFlag(FLAGS_store);
  if (std::optional<int> exit_code = covtrack::sql::MigrateOnlyIfAsked(
          "ingestion", "ingestion", store_url,
          [&]() -> absl::StatusOr<covtrack::sql::MigrationReport> {
            ASSIGN_OR_RETURN(std::unique_ptr<covtrack::sql::Database> db,
                             covtrack::sql::Database::Open(store_url));
            covtrack::sql::MigrationReport report;
            RETURN_IF_ERROR(
                db->Migrate("ingestion", covtrack::ingestion::IngestionMigrations(), &report));
            return report;
          })) {
    return *exit_code;
  }

  covtrack::ingestion::IngestionOptions options;
  options.store_url = store_url;
  options.limits.max_items_per_request = absl::GetFlag(FLAGS_max_records_per_request);
  options.access_policy = std::move(config.access_policy);
  options.feed_retention.keep_for = absl::GetFlag(FLAGS_feed_retention);
  options.feed_retention.keep_newest = absl::GetFlag(FLAGS_feed_retention_min_changes);
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
