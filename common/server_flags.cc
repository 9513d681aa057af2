#include "common/server_flags.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log.h"

ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn or error");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(20),
          "after SIGTERM, how long in-flight calls may run before they are cancelled");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate of this service (with --tls_key: TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate it signed (mTLS) and "
          "the certificate's common name is their identity");
ABSL_FLAG(std::string, tls_server_ca, "",
          "PEM CA bundle that verifies the services this one calls (default: --tls_client_ca); "
          "with it, calls to them use TLS and present --tls_cert");
ABSL_FLAG(std::string, access_policy, "",
          "YAML file mapping client-certificate names to roles and jurisdictions (needs "
          "--tls_client_ca); empty: every caller may do everything");
ABSL_FLAG(std::string, health_listen, "",
          "HOST:PORT of a plaintext port serving only grpc.health.v1.Health, for Kubernetes "
          "probes; empty: none");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on (HTTP, /metrics); empty: none");
ABSL_FLAG(int, max_message_bytes, 64 << 20, "largest request or response message, in bytes");
ABSL_FLAG(int, max_concurrent_streams, 100,
          "calls one client connection may have in flight at once");
// 64 threads fit the manifests' limits (2 CPUs, 1 GiB) with room: a call holds a thread whether
// it computes or waits (a WatchChanges stream, a slow client), and beyond 64 the excess is
// refused at once rather than queued behind work the CPUs cannot do sooner.
ABSL_FLAG(int, max_concurrent_calls, 64,
          "calls (a stream for its whole life) handled at once over all connections; past it a "
          "new call is refused with RESOURCE_EXHAUSTED and a retry delay");
ABSL_FLAG(absl::Duration, overload_retry_after, absl::Seconds(1),
          "the retry delay a call refused for --max_concurrent_calls is given "
          "(grpc-retry-pushback-ms)");
ABSL_FLAG(int64_t, max_grpc_memory_bytes, int64_t{512} << 20,
          "memory gRPC may hold for its buffers (half the manifests' 1 GiB limit); 0: no bound");
ABSL_FLAG(absl::Duration, shutdown_backstop, absl::Seconds(5),
          "after SIGTERM, when handlers still run this long after --shutdown_grace (ignoring "
          "cancellation), the process logs them and exits 1");

namespace covtrack {
namespace {

[[noreturn]] void Fatal(absl::string_view service, absl::string_view message) {
  std::cerr << "covtrack-" << service << ": " << message << "\n";
  log::Error("bad configuration", {{"error", std::string(message)}});
  std::exit(2);
}

// `--help` (or -h): every flag of this program, sorted, and exit 0. Abseil's own --help lists
// only the flags of a file named after the program (none here: they live in main.cc and
// common/) and exits 1; --helpfull still gives Abseil's full listing.
void PrintHelpIfAsked(int argc, char** argv, absl::string_view service) {
  bool asked = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") {
      break;
    }
    asked |= arg == "--help" || arg == "-help" || arg == "-h";
  }
  if (!asked) {
    return;
  }
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::StrContains(flag->Filename(), "absl/")) {  // Abseil's own (--flagfile, ...)
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  std::cout << "usage: covtrack-" << service << " [--FLAG=VALUE]...\n"
            << "Each flag may also be given as the environment variable COVTRACK_<FLAG> (e.g. "
               "COVTRACK_LOG_LEVEL); the command line wins. deploy/README.md describes them.\n\n";
  for (const absl::CommandLineFlag* flag : flags) {
    std::cout << "  --" << flag->Name() << " (default: \"" << flag->DefaultValue() << "\")\n"
              << "      " << flag->Help() << "\n";
  }
  std::exit(0);
}

}  // namespace

ProcessConfig InitServerProcess(int argc, char** argv, absl::string_view service) {
  PrintHelpIfAsked(argc, argv, service);
  ParseFlagsWithEnvironment(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: a global
  // lock-order graph updated on every lock, a few percent of a busy server's time.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  log::Init(service, absl::GetFlag(FLAGS_log_level));

  ProcessConfig config;
  ServerOptions& options = config.server;
  options.service_name = std::string(service);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  if (options.max_message_bytes < 1024 || options.max_concurrent_streams < 1) {
    Fatal(service,
          "--max_message_bytes must be at least 1024 and --max_concurrent_streams at "
          "least 1");
  }
  options.max_concurrent_calls = absl::GetFlag(FLAGS_max_concurrent_calls);
  options.overload_retry_after = absl::GetFlag(FLAGS_overload_retry_after);
  options.max_grpc_memory_bytes = absl::GetFlag(FLAGS_max_grpc_memory_bytes);
  options.shutdown_backstop = absl::GetFlag(FLAGS_shutdown_backstop);
  if (options.max_concurrent_calls < 1 || options.max_concurrent_calls > 10'000) {
    Fatal(service, "--max_concurrent_calls must be between 1 and 10000 (one thread each)");
  }
  if (options.overload_retry_after < absl::Milliseconds(1) ||
      options.overload_retry_after > absl::Minutes(10)) {
    Fatal(service, "--overload_retry_after must be between 1ms and 10m");
  }
  if (options.max_grpc_memory_bytes != 0 && options.max_grpc_memory_bytes < (int64_t{16} << 20)) {
    Fatal(service, "--max_grpc_memory_bytes must be 0 (no bound) or at least 16 MiB");
  }
  if (options.shutdown_grace < absl::ZeroDuration() ||
      options.shutdown_backstop < absl::ZeroDuration()) {
    Fatal(service, "--shutdown_grace and --shutdown_backstop must not be negative");
  }

  const std::string server_ca = absl::GetFlag(FLAGS_tls_server_ca);
  config.upstream.ca_file = server_ca.empty() ? options.tls_client_ca : server_ca;
  if (!config.upstream.ca_file.empty()) {
    config.upstream.cert_file = options.tls_cert;
    config.upstream.key_file = options.tls_key;
  }
  config.upstream.max_receive_message_bytes = options.max_message_bytes;

  const std::string policy_file = absl::GetFlag(FLAGS_access_policy);
  if (!policy_file.empty()) {
    if (options.tls_client_ca.empty()) {
      Fatal(service,
            "--access_policy needs --tls_cert, --tls_key and --tls_client_ca: the "
            "policy names callers by their client certificates");
    }
    absl::StatusOr<access::AccessPolicy> policy = access::AccessPolicy::Load(policy_file);
    if (!policy.ok()) {
      Fatal(service, policy.status().message());
    }
    log::Info("access policy loaded",
              {{"file", policy_file}, {"principals", absl::StrCat(policy->size())}});
    config.access_policy = *std::move(policy);
  } else if (!options.tls_client_ca.empty()) {
    log::Warn(
        "no --access_policy: every client with a certificate from --tls_client_ca may "
        "call every RPC");
  }
  return config;
}

}  // namespace covtrack
