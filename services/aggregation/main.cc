// covtrack-aggregation: coverage by administrative level. Parses configuration and starts the
// server; everything else is in the covtrack_aggregation library.

#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "common/client.h"
#include "common/log.h"
#include "common/server.h"
#include "common/server_flags.h"
#include "services/aggregation/aggregation_service.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50052", "HOST:PORT to serve gRPC on");
ABSL_FLAG(std::string, ingestion_addr, "127.0.0.1:50051",
          "HOST:PORT of the ingestion service (the only source of data)");
ABSL_FLAG(std::string, redis, "",
          "HOST:PORT of the Redis cache shared by replicas; empty: an in-process cache");
ABSL_FLAG(std::string, redis_password_file, "",
          "file holding the password Redis requires (AUTH; e.g. a Secret mounted as a file); "
          "empty: no AUTH. hiredis has no TLS: keep Redis on a private network");
ABSL_FLAG(std::string, cache_key_file, "",
          "file holding the secret (>= 32 bytes) every replica shares to sign Redis entries; "
          "required with --redis (an entry that fails its check is never served)");
ABSL_FLAG(std::string, cache_namespace, "covtrack",
          "prefix of cache keys; replicas of one deployment share it");
ABSL_FLAG(absl::Duration, ingestion_deadline, absl::Seconds(5),
          "deadline of each unary call to ingestion");
ABSL_FLAG(absl::Duration, export_deadline, absl::Seconds(120),
          "deadline of the snapshot export a replica loads at start (the whole country)");
ABSL_FLAG(std::string, default_consistency, "applied",
          "what a read without Freshness.consistency gets: applied (at once, from the changes "
          "this replica has applied) or full (every change acknowledged before the call)");
ABSL_FLAG(absl::Duration, freshness_wait, absl::Seconds(10),
          "the longest a read waits for this replica to apply the seq it needs (within the "
          "call's deadline); then UNAVAILABLE");
ABSL_FLAG(absl::Duration, redis_timeout, absl::Milliseconds(200),
          "timeout of each Redis command; a slower Redis is treated as down");
ABSL_FLAG(absl::Duration, cache_ttl, absl::Hours(24), "how long a cached rollup is kept");
ABSL_FLAG(absl::Duration, stats_log_interval, absl::Seconds(60),
          "how often cache counters are logged (when they changed); 0 = never");

int main(int argc, char** argv) {
  covtrack::ProcessConfig config = covtrack::InitServerProcess(argc, argv, "aggregation");
  config.server.listen = absl::GetFlag(FLAGS_listen);

  covtrack::aggregation::AggregationOptions options;
  options.ingestion_addr = absl::GetFlag(FLAGS_ingestion_addr);
  options.ingestion_channel = config.upstream;
  options.access_policy = std::move(config.access_policy);
  options.redis_addr = absl::GetFlag(FLAGS_redis);
  // Secrets come from files (Kubernetes Secrets mounted read-only), never from the command line
  // where `ps` shows them. A trailing newline (as `echo` or an editor leaves) is not part of it.
  auto read_secret = [](const std::string& flag, const std::string& path) -> std::string {
    absl::StatusOr<std::string> text = covtrack::ReadFileToString(path);
    if (!text.ok()) {
      std::cerr << "covtrack-aggregation: --" << flag << ": " << text.status().message() << "\n";
      std::exit(1);
    }
    return std::string(absl::StripTrailingAsciiWhitespace(*text));
  };
  if (!absl::GetFlag(FLAGS_redis_password_file).empty()) {
    options.redis_password =
        read_secret("redis_password_file", absl::GetFlag(FLAGS_redis_password_file));
  }
  if (!absl::GetFlag(FLAGS_cache_key_file).empty()) {
    options.cache_key = read_secret("cache_key_file", absl::GetFlag(FLAGS_cache_key_file));
  }
  options.cache_namespace = absl::GetFlag(FLAGS_cache_namespace);
  options.ingestion_deadline = absl::GetFlag(FLAGS_ingestion_deadline);
  options.export_deadline = absl::GetFlag(FLAGS_export_deadline);
  const std::string consistency = absl::GetFlag(FLAGS_default_consistency);
  if (consistency == "applied") {
    options.default_consistency = covtrack::v1::CONSISTENCY_APPLIED;
  } else if (consistency == "full") {
    options.default_consistency = covtrack::v1::CONSISTENCY_FULL;
  } else {
    std::cerr << "covtrack-aggregation: --default_consistency: want applied or full\n";
    return 1;
  }
  options.freshness_wait = absl::GetFlag(FLAGS_freshness_wait);
  if (options.freshness_wait <= absl::ZeroDuration()) {
    std::cerr << "covtrack-aggregation: --freshness_wait: must be positive\n";
    return 1;
  }
  options.redis_timeout = absl::GetFlag(FLAGS_redis_timeout);
  options.cache_ttl = absl::GetFlag(FLAGS_cache_ttl);
  options.stats_log_interval = absl::GetFlag(FLAGS_stats_log_interval);
  options.max_concurrent_calls = config.server.max_concurrent_calls;
  options.overload_retry_after = config.server.overload_retry_after;
  auto service = covtrack::aggregation::AggregationServiceImpl::Create(options);
  if (!service.ok()) {
    std::cerr << "covtrack-aggregation: " << service.status().message() << "\n";
    return 1;
  }
  // NOT_SERVING on health until the snapshot is loaded (reads answer UNAVAILABLE meanwhile).
  config.server.serving_at_start = false;
  auto server = covtrack::Server::Start(config.server, {service->get()});
  if (!server.ok()) {
    std::cerr << "covtrack-aggregation: cannot serve on " << config.server.listen << ": "
              << server.status().message() << " (check --listen)\n";
    return 1;
  }
  covtrack::Server* serving = server->get();
  (*service)->OnLoaded([serving] { serving->SetServing(true); });
  (*server)->RunUntilSignal();
  return 0;
}
