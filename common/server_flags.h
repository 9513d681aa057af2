#pragma once

// The flags every covtrack server takes, defined once: logging, shutdown, TLS, the access
// policy, the health and metrics ports and the limits. Each service's main.cc defines only its
// own (--listen with its port, --store, the addresses of the services it calls).

#include <optional>

#include "absl/strings/string_view.h"
#include "common/access/access_policy.h"
#include "common/client.h"
#include "common/server.h"

namespace covtrack {

struct ProcessConfig {
  ServerOptions server;  // the caller fills `listen`
  // For calls to other covtrack services: this service's own certificate as the client's,
  // and --tls_server_ca (or else --tls_client_ca) to verify theirs.
  ChannelOptions upstream;
  // --access_policy; empty: every caller may do everything (the server says so at start).
  std::optional<access::AccessPolicy> access_policy;
};

// Parses the command line (with COVTRACK_* environment equivalents) and starts logging as
// `service`. A configuration that cannot work (an unreadable or malformed access policy, a
// policy without mTLS) ends the process with a message that names the flag.
ProcessConfig InitServerProcess(int argc, char** argv, absl::string_view service);

}  // namespace covtrack
