#pragma once

// How covctl names the requests of an upload so that re-running an interrupted upload resumes
// it without counting anything twice: every batch's request_id is derived from the file's bytes,
// the settings that shape the batches, and the batch's index. The same command on the same file
// sends the same ids; the server recognises the batches it already committed.

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace covtrack::covctl {

// The first 16 hex digits of SHA-256(content, 0x00, salt). The salt holds everything else that
// changes the requests (batch size, source, validity defaults).
std::string UploadId(absl::string_view content, absl::string_view salt);

// "covctl-<upload_id>-<batch>".
std::string BatchRequestId(absl::string_view upload_id, size_t batch);

// The file line a server rejection points at, when the message names one of this upload's
// request ids (or there is one batch only) and an element such as "records[12]":
// lines[batch * batch_size + 12]. nullopt when it cannot tell.
std::optional<int> LineOfServerError(absl::string_view message, absl::string_view upload_id,
                                     absl::string_view element, size_t batch_size,
                                     const std::vector<int>& lines);

}  // namespace covtrack::covctl
