#pragma once

// A unary call whose request bytes protobuf never checked, as a client in another language
// might send (a string that is not valid UTF-8), to see what the server answers.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace covtrack::testing {

// `bytes` with the first two bytes of `marker` replaced by 0xff 0xfe, which is never UTF-8;
// nullopt when `marker` is not in `bytes`.
std::optional<std::string> NotUtf8At(std::string bytes, absl::string_view marker);

// Sends `bytes` as the request of the unary `method` ("/covtrack.v1.IngestionService/
// SubmitReport") and returns the call's status (DEADLINE_EXCEEDED after 30 s).
grpc::Status CallWithRequestBytes(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& method, const std::string& bytes);

}  // namespace covtrack::testing
