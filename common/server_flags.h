#pragma once

// The flags every covtrack server takes, defined once: --log_level, --shutdown_grace and the
// TLS files. Each service's main.cc defines only its own (--listen with its port, --store, the
// addresses of the services it calls).

#include "absl/strings/string_view.h"
#include "common/server.h"

namespace covtrack {

// Parses the command line (with COVTRACK_* environment equivalents), starts logging as
// `service`, and returns the server options the shared flags set. The caller fills `listen`.
ServerOptions InitServerProcess(int argc, char** argv, absl::string_view service);

}  // namespace covtrack
