#pragma once

// What the two store implementations share (defined in database.cc): the errors callers see,
// the text every binding accepts, the refusal of a schema newer than the binary, the metrics.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/log.h"
#include "common/sql/database.h"

namespace covtrack::sql::internal {

// The error a caller sees: `words` say what failed ("the store lost its connection"), with the
// served call's x-request-id, so that an operator finds the log line. `details` (the driver's
// message, the SQL, the store's address) go to that log line only, never to the caller.
absl::Status StoreError(absl::StatusCode code, absl::string_view words, const log::Fields& details);

// INVALID_ARGUMENT naming the parameter ($1, $2, ...) when a text parameter holds a NUL byte or
// invalid UTF-8; OK otherwise.
absl::Status CheckTextParameters(const Params& params);

// FAILED_PRECONDITION when the store holds a schema version of `component` newer than the
// newest of `migrations`, with both versions and what to do; OK otherwise.
absl::Status CheckSchemaNotNewer(absl::string_view component, int found_version,
                                 const std::vector<Migration>& migrations);

// The newest version in `migrations` (0 when there is none).
int NewestVersion(const std::vector<Migration>& migrations);

// The pool's metrics, labelled store="postgresql" or "sqlite".
void CountPoolExhausted(absl::string_view store);
void AddOpenConnections(absl::string_view store, int delta);
void AddConnectionsInUse(absl::string_view store, int delta);

// "no PostgreSQL connection free in the pool of 6 within 5s (--store_max_connections,
// --store_connection_wait)", UNAVAILABLE, counted. `waited_for_call`: the served call's
// deadline came before the configured wait.
absl::Status PoolExhausted(absl::string_view store, absl::string_view kind,
                           const StoreOptions& options, bool waited_for_call);

// The time a transaction may wait for a connection: the configured wait, at most until the
// served call's deadline. *for_call says which came first.
absl::Time ConnectionWaitDeadline(const StoreOptions& options, bool* for_call);

}  // namespace covtrack::sql::internal
