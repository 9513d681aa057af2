#pragma once

// The rules every string a caller sends must pass, and the one way an error quotes what the
// caller sent. Both stores must keep a string exactly as it came: PostgreSQL cuts text at a NUL
// byte and refuses invalid UTF-8, so both are refused at the edge, the same way for every store.

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace covtrack {

// Bounds of the free-text fields (bytes of UTF-8). Codes have kMaxUnitCodeLength (domain.h).
inline constexpr size_t kMaxNameBytes = 200;    // a unit's name ("Thành phố Hồ Chí Minh")
inline constexpr size_t kMaxSourceBytes = 500;  // where figures came from ("Báo cáo 12/2025 …")
inline constexpr size_t kMaxNoteBytes = 500;    // a note or reason given with a write
inline constexpr size_t kMaxRequestIdBytes = 128;  // a client-chosen idempotency key

// Why `value` is not acceptable text of at most `max_bytes` bytes — "longer than 200 bytes
// (got 10485760)", "contains a NUL byte at byte 3", "is not valid UTF-8 at byte 7" — or ""
// when it is. Never quotes the value.
std::string TextProblem(absl::string_view value, size_t max_bytes);

// INVALID_ARGUMENT "FIELD: PROBLEM" when TextProblem finds one, else OK.
absl::Status CheckText(absl::string_view field, absl::string_view value, size_t max_bytes);

// The input as an error message may quote it: at most `max_chars` characters of its valid
// UTF-8 prefix, control bytes and invalid sequences shown as \xNN, "…" when cut. An error
// never echoes a whole input (a 1 MB field would not fit in the reply's metadata).
std::string QuoteInput(absl::string_view value, size_t max_chars = 40);

// `text` cut to at most `max_bytes` bytes at a UTF-8 sequence boundary, "…" added when cut;
// invalid sequences and control bytes dropped. For text read from another service that goes
// into an answer (unit names in a report, another service's message).
std::string CutText(absl::string_view text, size_t max_bytes);

// The length of the valid UTF-8 sequence (1–4 bytes) at text[i], or 0 when it is invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(absl::string_view text, size_t i);

}  // namespace covtrack
