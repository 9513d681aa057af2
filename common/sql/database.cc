#include "common/sql/database.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/call_context.h"
#include "common/metrics/metrics.h"
#include "common/sql/internal.h"
#include "common/sql/postgres_database.h"
#include "common/sql/sqlite_database.h"
#include "common/text.h"

namespace covtrack::sql {
namespace {

absl::Mutex default_options_mu(absl::kConstInit);
StoreOptions* default_options ABSL_GUARDED_BY(default_options_mu) = nullptr;

}  // namespace

void SetDefaultStoreOptions(const StoreOptions& options) {
  absl::MutexLock lock(&default_options_mu);
  delete default_options;
  default_options = new StoreOptions(options);
}

StoreOptions DefaultStoreOptions() {
  absl::MutexLock lock(&default_options_mu);
  return default_options == nullptr ? StoreOptions() : *default_options;
}

namespace internal {

absl::Status StoreError(absl::StatusCode code, absl::string_view words,
                        const log::Fields& details) {
  log::Fields fields = details;
  fields.emplace_back("code", absl::StatusCodeToString(code));
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kAborted ||
      code == absl::StatusCode::kInvalidArgument) {
    log::Warn(words, fields);
  } else {
    log::Error(words, fields);
  }
  const CallInfo* call = CurrentCall();
  if (call == nullptr || call->request_id.empty()) {
    return absl::Status(code, absl::StrCat(words, " (details in the server log)"));
  }
  return absl::Status(code, absl::StrCat(words, " (details in the server log under x-request-id ",
                                         QuoteInput(call->request_id, kMaxRequestIdBytes), ")"));
}

absl::Status CheckTextParameters(const Params& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string* text = std::get_if<std::string>(&params[i]);
    if (text == nullptr) {
      continue;
    }
    std::string problem = TextProblem(*text, std::numeric_limits<size_t>::max());
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("a text value given to the store (parameter $", i + 1, ") ", problem,
                       ": the store keeps text exactly as sent or not at all"));
    }
  }
  return absl::OkStatus();
}

int NewestVersion(const std::vector<Migration>& migrations) {
  int newest = 0;
  for (const Migration& m : migrations) {
    newest = std::max(newest, m.version);
  }
  return newest;
}

absl::Status CheckSchemaNotNewer(absl::string_view component, int found_version,
                                 const std::vector<Migration>& migrations) {
  const int known = NewestVersion(migrations);
  if (found_version <= known) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the ", component, " store's schema is at version ", found_version,
      ", newer than this binary knows (version ", known,
      "): a newer release has migrated it, and this one would misread what it does not know. "
      "Run that newer release (roll forward), or restore the backup taken before the upgrade "
      "to run this one (deploy/README.md, \"Upgrades and rollbacks\")"));
}

namespace {

struct PoolMetrics {
  metrics::Counter& exhausted;
  metrics::Gauge& open;
  metrics::Gauge& in_use;
};

PoolMetrics& Metrics() {
  static PoolMetrics* metrics = new PoolMetrics{
      metrics::Registry::Global().AddCounter(
          "covtrack_store_pool_exhausted_total",
          "Transactions refused UNAVAILABLE because no store connection came free within "
          "--store_connection_wait (the pool holds --store_max_connections)",
          {"store"}),
      metrics::Registry::Global().AddGauge(
          "covtrack_store_connections_open",
          "Store connections open now (PostgreSQL: the pool; SQLite: the readers)", {"store"}),
      metrics::Registry::Global().AddGauge(
          "covtrack_store_connections_in_use",
          "Store connections held by a transaction now (PostgreSQL: the pool; SQLite: the "
          "readers)",
          {"store"}),
  };
  return *metrics;
}

}  // namespace

void CountPoolExhausted(absl::string_view store) { Metrics().exhausted.Add({std::string(store)}); }
void AddOpenConnections(absl::string_view store, int delta) {
  Metrics().open.Add({std::string(store)}, delta);
}
void AddConnectionsInUse(absl::string_view store, int delta) {
  Metrics().in_use.Add({std::string(store)}, delta);
}

absl::Status PoolExhausted(absl::string_view store, absl::string_view kind,
                           const StoreOptions& options, bool waited_for_call) {
  CountPoolExhausted(store);
  const std::string within =
      waited_for_call ? std::string("before the call's deadline")
                      : absl::StrCat("within ", absl::FormatDuration(options.connection_wait));
  return absl::UnavailableError(absl::StrCat("no ", kind, " connection free in the pool of ",
                                             options.max_connections, " ", within,
                                             " (--store_max_connections, "
                                             "--store_connection_wait); retry later"));
}

absl::Time ConnectionWaitDeadline(const StoreOptions& options, bool* for_call) {
  const absl::Time configured = absl::Now() + options.connection_wait;
  const absl::Time call = CurrentCallDeadline();
  *for_call = call < configured;
  return std::min(configured, call);
}

}  // namespace internal

bool Row::IsNull(size_t i) const { return std::holds_alternative<std::monostate>(cells_.at(i)); }

int64_t Row::Int(size_t i) const {
  const Value& v = cells_.at(i);
  if (const int64_t* n = std::get_if<int64_t>(&v)) {
    return *n;
  }
  if (const std::string* s = std::get_if<std::string>(&v)) {
    int64_t n = 0;
    return absl::SimpleAtoi(*s, &n) ? n : 0;
  }
  if (const double* d = std::get_if<double>(&v)) {
    return static_cast<int64_t>(*d);
  }
  return 0;
}

double Row::Double(size_t i) const {
  const Value& v = cells_.at(i);
  if (const double* d = std::get_if<double>(&v)) {
    return *d;
  }
  if (const int64_t* n = std::get_if<int64_t>(&v)) {
    return static_cast<double>(*n);
  }
  if (const std::string* s = std::get_if<std::string>(&v)) {
    return std::strtod(s->c_str(), nullptr);
  }
  return 0;
}

std::string Row::Text(size_t i) const {
  const Value& v = cells_.at(i);
  if (const std::string* s = std::get_if<std::string>(&v)) {
    return *s;
  }
  if (const int64_t* n = std::get_if<int64_t>(&v)) {
    return std::to_string(*n);
  }
  if (const double* d = std::get_if<double>(&v)) {
    return absl::StrFormat("%.17g", *d);
  }
  return "";
}

std::string RedactedUrl(absl::string_view url) {
  // scheme://user:password@host/... → scheme://user:***@host/...
  size_t scheme_end = url.find("://");
  size_t at = url.find('@');
  if (scheme_end == absl::string_view::npos || at == absl::string_view::npos || at < scheme_end) {
    return std::string(url);
  }
  size_t colon = url.find(':', scheme_end + 3);
  if (colon == absl::string_view::npos || colon > at) {
    return std::string(url);
  }
  return absl::StrCat(url.substr(0, colon + 1), "***", url.substr(at));
}

std::string DescribeMigration(absl::string_view component, absl::string_view store,
                              const MigrationReport& report) {
  if (report.applied.empty()) {
    return absl::StrCat("the ", component, " store ", store, " is at schema version ",
                        report.version, ", the newest this binary knows: nothing to apply");
  }
  return absl::StrCat("the ", component, " store ", store, " was at schema version ",
                      report.found_version, report.found_version == 0 ? " (new)" : "",
                      "; applied migration", report.applied.size() == 1 ? " " : "s ",
                      absl::StrJoin(report.applied, ", "), "; now at version ", report.version);
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(absl::string_view url) {
  return Open(url, DefaultStoreOptions());
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(absl::string_view url,
                                                         const StoreOptions& options) {
  if (options.max_connections < 1 || options.connection_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--store_max_connections must be at least 1 and --store_connection_wait not negative");
  }
  if (absl::StartsWith(url, "sqlite:")) {
    return SqliteDatabase::Open(url.substr(7), options);
  }
  if (absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://")) {
    return PostgresDatabase::Open(url, options);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported store URL \"", RedactedUrl(url),
                   "\": want sqlite:PATH or postgresql://USER@HOST:PORT/DB"));
}

}  // namespace covtrack::sql
