#pragma once

// Structured logs on stderr, one logfmt line per event, through spdlog:
//   ts=2026-11-23T01:02:03.456Z level=info service=ingestion msg="report committed" seq=42
//   x_request_id=5f0c2a9e1b7d4c33
// A line written while serving an RPC ends with the x-request-id the call travels under
// (common/call_context.h); `request_id`, where a line has one, is the idempotency key.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace covtrack::log {

using Fields = std::vector<std::pair<absl::string_view, std::string>>;

// Call once from main; before it, logs go to a default stderr logger named "covtrack".
void Init(absl::string_view service, absl::string_view level = "info");

void Info(absl::string_view msg, const Fields& fields = {});
void Warn(absl::string_view msg, const Fields& fields = {});
void Error(absl::string_view msg, const Fields& fields = {});

}  // namespace covtrack::log
