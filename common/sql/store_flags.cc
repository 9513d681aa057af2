#include "common/sql/store_flags.h"

#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/log.h"

ABSL_FLAG(int, store_max_connections, covtrack::sql::StoreOptions().max_connections,
          "store connections this process opens at most (PostgreSQL: the pool; SQLite: "
          "readers); the default fits PostgreSQL's default max_connections across the prod "
          "overlay's replicas at their autoscaling maxima");
ABSL_FLAG(absl::Duration, store_connection_wait, covtrack::sql::StoreOptions().connection_wait,
          "how long a call waits for a free store connection before it is UNAVAILABLE");
ABSL_FLAG(bool, migrate_only, false,
          "apply the store's schema migrations (--store), print what was done, and exit 0 "
          "without serving: the step an upgrade runs once before the new release rolls out");

namespace covtrack::sql {

void ApplyStoreFlags(absl::string_view program) {
  StoreOptions options;
  options.max_connections = absl::GetFlag(FLAGS_store_max_connections);
  options.connection_wait = absl::GetFlag(FLAGS_store_connection_wait);
  if (options.max_connections < 1 || options.connection_wait < absl::ZeroDuration()) {
    std::cerr << "covtrack-" << program
              << ": --store_max_connections must be at least 1 and --store_connection_wait "
                 "not negative\n";
    std::exit(2);
  }
  SetDefaultStoreOptions(options);
}

std::optional<int> MigrateOnlyIfAsked(
    absl::string_view program, absl::string_view component, const std::string& url,
    absl::FunctionRef<absl::StatusOr<MigrationReport>()> migrate) {
  if (!absl::GetFlag(FLAGS_migrate_only)) {
    return std::nullopt;
  }
  const std::string store = RedactedUrl(url);
  absl::StatusOr<MigrationReport> report = migrate();
  if (!report.ok()) {
    log::Error("migration failed",
               {{"store", store}, {"error", std::string(report.status().message())}});
    std::cerr << "covtrack-" << program << " --migrate_only: " << report.status().message() << "\n";
    return 1;
  }
  const std::string done = DescribeMigration(component, store, *report);
  log::Info("migrated", {{"result", done}});
  std::cout << done << "\n";
  return 0;
}

}  // namespace covtrack::sql
