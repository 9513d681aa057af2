#pragma once

// The flags of a program that owns a store (covtrack-ingestion, covtrack-targets), defined once:
// --store_max_connections and --store_connection_wait (the pool), and --migrate_only.
// Each program keeps its own --store, whose default names its file.

#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sql/database.h"

namespace covtrack::sql {

// Makes the pool flags the options of every store the process opens (SetDefaultStoreOptions).
// Out of range: a message naming the flags on stderr, and the process exits 2.
void ApplyStoreFlags(absl::string_view program);

// With --migrate_only: runs `migrate` (the program's migrations on the store at `url`), prints
// and logs what it applied, and returns the process's exit code (0: the schema is current; 1: it
// failed, said on stderr). Without it: nullopt, and the program serves.
std::optional<int> MigrateOnlyIfAsked(absl::string_view program, absl::string_view component,
                                      const std::string& url,
                                      absl::FunctionRef<absl::StatusOr<MigrationReport>()> migrate);

}  // namespace covtrack::sql
