#include "common/text.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace covtrack {

size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  unsigned char c = static_cast<unsigned char>(text[i]);
  size_t length;
  uint32_t code_point;
  if (c < 0x80) {
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    length = 2;
    code_point = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    length = 3;
    code_point = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    length = 4;
    code_point = c & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) {
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    unsigned char next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xC0) != 0x80) {
      return 0;
    }
    code_point = (code_point << 6) | (next & 0x3F);
  }
  // Reject overlong forms, surrogates and values above U+10FFFF.
  static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinimum[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

std::string TextProblem(absl::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::StrCat("longer than ", max_bytes, " bytes (got ", value.size(), ")");
  }
  for (size_t i = 0; i < value.size();) {
    if (value[i] == '\0') {
      return absl::StrCat("contains a NUL byte at byte ", i);
    }
    size_t length = Utf8SequenceLength(value, i);
    if (length == 0) {
      return absl::StrCat("is not valid UTF-8 at byte ", i);
    }
    i += length;
  }
  return "";
}

absl::Status CheckText(absl::string_view field, absl::string_view value, size_t max_bytes) {
  std::string problem = TextProblem(value, max_bytes);
  if (problem.empty()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

std::string QuoteInput(absl::string_view value, size_t max_chars) {
  std::string out = "\"";
  size_t chars = 0;
  size_t i = 0;
  while (i < value.size() && chars < max_chars) {
    size_t length = Utf8SequenceLength(value, i);
    unsigned char c = static_cast<unsigned char>(value[i]);
    if (length == 0 || c < 0x20 || c == 0x7F) {
      absl::StrAppend(&out, absl::StrFormat("\\x%02X", c));
      i += 1;
    } else if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", value.substr(i, 1));
      i += 1;
    } else {
      absl::StrAppend(&out, value.substr(i, length));
      i += length;
    }
    ++chars;
  }
  absl::StrAppend(&out, i < value.size() ? "…\"" : "\"");
  return out;
}

std::string CutText(absl::string_view text, size_t max_bytes) {
  constexpr absl::string_view kCut = "…";
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      ++i;
      continue;
    }
    if (length == 1 && (static_cast<unsigned char>(text[i]) < 0x20 || text[i] == 0x7F)) {
      ++i;
      continue;
    }
    if (out.size() + length > max_bytes) {
      // Room for the mark: drop whole sequences from the end until it fits.
      while (!out.empty() && out.size() + kCut.size() > max_bytes) {
        size_t start = out.size() - 1;
        while (start > 0 && (static_cast<unsigned char>(out[start]) & 0xC0) == 0x80) {
          --start;
        }
        out.resize(start);
      }
      if (out.size() + kCut.size() <= max_bytes) {
        absl::StrAppend(&out, kCut);
      }
      return out;
    }
    out.append(text.data() + i, length);
    i += length;
  }
  return out;
}

}  // namespace covtrack
