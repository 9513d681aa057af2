#include "common/server_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log.h"

ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn or error");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(20),
          "after SIGTERM, how long in-flight calls may run before they are cancelled");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM server certificate (with --tls_key_file: TLS)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)");

namespace covtrack {

ServerOptions InitServerProcess(int argc, char** argv, absl::string_view service) {
  ParseFlagsWithEnvironment(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: a global
  // lock-order graph updated on every lock, a few percent of a busy server's time.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  log::Init(service, absl::GetFlag(FLAGS_log_level));
  ServerOptions options;
  options.service_name = std::string(service);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  return options;
}

}  // namespace covtrack
