#pragma once

// Channels from one covtrack service (or tool) to another: TLS or mTLS as configured, and the
// request id of the call being served passed on (common/call_context.h).

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace covtrack {

struct ChannelOptions {
  // PEM files. Empty ca_file: plaintext. With ca_file: TLS, the server's certificate checked
  // against it; with cert_file and key_file too, this side presents its certificate (mTLS).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  int max_receive_message_bytes = 64 << 20;
};

// Fails only when a configured file cannot be read (the message names it).
absl::StatusOr<std::shared_ptr<grpc::Channel>> NewChannel(const std::string& address,
                                                          const ChannelOptions& options);

// Sets a call's deadline to `budget` from now, or to the deadline of the call being served
// (common/call_context.h) when that comes sooner: a call between services never gets more
// time than its caller has left.
void SetCallDeadline(grpc::ClientContext& context, absl::Duration budget);

// Reads a whole file ("cannot read \"PATH\"" when it cannot).
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace covtrack
