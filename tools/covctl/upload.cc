#include "tools/covctl/upload.h"

#include <openssl/evp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace covtrack::covctl {
namespace {

// The number written right after `prefix` in `text`, if any.
std::optional<size_t> NumberAfter(absl::string_view text, absl::string_view prefix) {
  size_t at = text.find(prefix);
  if (at == absl::string_view::npos) {
    return std::nullopt;
  }
  size_t begin = at + prefix.size();
  size_t end = begin;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
    ++end;
  }
  size_t number = 0;
  if (end == begin || !absl::SimpleAtoi(text.substr(begin, end - begin), &number)) {
    return std::nullopt;
  }
  return number;
}

}  // namespace

std::string UploadId(absl::string_view content, absl::string_view salt) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  EVP_DigestUpdate(context, content.data(), content.size());
  EVP_DigestUpdate(context, "\0", 1);
  EVP_DigestUpdate(context, salt.data(), salt.size());
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  std::string hex;
  for (unsigned int i = 0; i < 8; ++i) {
    absl::StrAppendFormat(&hex, "%02x", digest[i]);
  }
  return hex;
}

std::string BatchRequestId(absl::string_view upload_id, size_t batch) {
  return absl::StrCat("covctl-", upload_id, "-", batch);
}

std::optional<int> LineOfServerError(absl::string_view message, absl::string_view upload_id,
                                     absl::string_view element, size_t batch_size,
                                     const std::vector<int>& lines) {
  std::optional<size_t> batch = NumberAfter(message, absl::StrCat("covctl-", upload_id, "-"));
  if (!batch.has_value() && lines.size() <= batch_size) {
    batch = 0;
  }
  std::optional<size_t> index = NumberAfter(message, absl::StrCat(element, "["));
  if (!batch.has_value() || !index.has_value() || *index >= batch_size) {
    return std::nullopt;
  }
  size_t position = *batch * batch_size + *index;
  if (position >= lines.size()) {
    return std::nullopt;
  }
  return lines[position];
}

}  // namespace covtrack::covctl
