#include "common/paging/paging.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace covtrack {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// The token's layout before base64: a version, the 16-hex-digit filter fingerprint, the kind of
// position ('o' offset, 'k' key), then each part of the position as "<length>:<bytes>".
constexpr absl::string_view kTokenVersion = "p1";
constexpr size_t kFingerprintLength = 16;
// Nothing a server makes is longer: a key of a few codes and numbers. A longer token is not
// decoded at all.
constexpr size_t kMaxTokenBytes = 4096;
// The largest offset a token may hold: far beyond any list a server builds per request, and
// small enough that offset + page size (an int) cannot overflow an int64.
constexpr int64_t kMaxOffset = 1'000'000'000;

// A number as EncodeToken writes it: decimal digits, no sign, no leading zero, at most `max`.
// Anything else (a sign, spaces, 20 digits) is a token this code did not make.
std::optional<int64_t> ParseCanonicalNumber(absl::string_view digits, int64_t max) {
  if (digits.empty() || digits.size() > 18 || (digits.size() > 1 && digits[0] == '0')) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');  // 18 digits cannot overflow
  }
  if (value > max) {
    return std::nullopt;
  }
  return value;
}

absl::Status TokenForOtherFilters() {
  return absl::InvalidArgumentError(
      "page_token: was made for a request with other filters; keep every field except page_size, "
      "page_token and freshness the same between pages, or start again without a page_token");
}

// FNV-1a, 64 bits: stable across processes and builds (absl::Hash is not), so a token survives
// a restart of the server that made it. It detects changed filters; it is not a secret.
uint64_t StableHash(absl::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string EncodeToken(absl::string_view fingerprint, char kind,
                        const std::vector<std::string>& parts) {
  std::string raw = absl::StrCat(kTokenVersion, fingerprint, std::string(1, kind));
  for (const std::string& part : parts) {
    absl::StrAppend(&raw, part.size(), ":", part);
  }
  return absl::WebSafeBase64Escape(raw);
}

struct DecodedToken {
  std::string fingerprint;
  char kind = 0;
  std::vector<std::string> parts;
};

std::optional<DecodedToken> DecodeToken(absl::string_view token) {
  std::string raw;
  if (token.size() > kMaxTokenBytes || !absl::WebSafeBase64Unescape(token, &raw)) {
    return std::nullopt;
  }
  absl::string_view rest = raw;
  if (!absl::ConsumePrefix(&rest, kTokenVersion) || rest.size() < kFingerprintLength + 1) {
    return std::nullopt;
  }
  DecodedToken decoded;
  decoded.fingerprint = std::string(rest.substr(0, kFingerprintLength));
  decoded.kind = rest[kFingerprintLength];
  rest.remove_prefix(kFingerprintLength + 1);
  if (decoded.kind != 'o' && decoded.kind != 'k') {
    return std::nullopt;
  }
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    if (colon == absl::string_view::npos) {
      return std::nullopt;
    }
    const std::optional<int64_t> length =
        ParseCanonicalNumber(rest.substr(0, colon), static_cast<int64_t>(rest.size() - colon - 1));
    if (!length.has_value()) {
      return std::nullopt;
    }
    decoded.parts.emplace_back(rest.substr(colon + 1, *length));
    rest.remove_prefix(colon + 1 + *length);
  }
  return decoded;
}

}  // namespace

absl::Status MalformedPageTokenError() {
  return absl::InvalidArgumentError(
      "page_token: malformed; pass the previous page's next_page_token unchanged");
}

absl::StatusOr<int> ResolvePageSize(int requested, PageSizeLimits limits, absl::string_view field) {
  if (requested < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be negative (got ", requested, ")"));
  }
  if (requested == 0) {
    return limits.default_size;
  }
  return std::min(requested, limits.max_size);
}

std::string FilterFingerprint(const Message& request, absl::string_view scope) {
  std::unique_ptr<Message> filters(request.New());
  filters->CopyFrom(request);
  const google::protobuf::Reflection* reflection = filters->GetReflection();
  // freshness (common.proto) says how current a page must be, not which items it lists: each
  // later page asks for at least the seq the page before it reflected.
  for (const char* name : {"page_size", "page_token", "freshness"}) {
    if (const FieldDescriptor* field = filters->GetDescriptor()->FindFieldByName(name)) {
      reflection->ClearField(filters.get(), field);
    }
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    filters->SerializeToCodedStream(&coded);
  }
  // The message type and the scope, length-prefixed, so no two inputs run together.
  const std::string& type = filters->GetDescriptor()->full_name();
  const std::string keyed = absl::StrCat(type.size(), ":", type, scope.size(), ":", scope, bytes);
  return absl::StrFormat("%016x", StableHash(keyed));
}

absl::StatusOr<PageRequest> PageRequest::Read(const Message& request, PageSizeLimits limits,
                                              absl::string_view scope) {
  const google::protobuf::Descriptor* descriptor = request.GetDescriptor();
  const FieldDescriptor* size_field = descriptor->FindFieldByName("page_size");
  const FieldDescriptor* token_field = descriptor->FindFieldByName("page_token");
  if (size_field == nullptr || size_field->cpp_type() != FieldDescriptor::CPPTYPE_INT32 ||
      token_field == nullptr || token_field->cpp_type() != FieldDescriptor::CPPTYPE_STRING ||
      size_field->is_repeated() || token_field->is_repeated()) {
    return absl::InternalError(
        absl::StrCat(descriptor->full_name(), " is not a List request (no page_size/page_token)"));
  }
  const google::protobuf::Reflection* reflection = request.GetReflection();
  PageRequest page;
  absl::StatusOr<int> size = ResolvePageSize(reflection->GetInt32(request, size_field), limits);
  if (!size.ok()) {
    return size.status();
  }
  page.size_ = std::max(*size, 1);
  page.fingerprint_ = FilterFingerprint(request, scope);
  const std::string token = reflection->GetString(request, token_field);
  if (token.empty()) {
    return page;
  }
  std::optional<DecodedToken> decoded = DecodeToken(token);
  if (!decoded.has_value()) {
    return MalformedPageTokenError();
  }
  if (decoded->fingerprint != page.fingerprint_) {
    return TokenForOtherFilters();
  }
  page.has_token_ = true;
  page.kind_ = decoded->kind;
  page.position_ = std::move(decoded->parts);
  return page;
}

absl::StatusOr<int64_t> PageRequest::Offset() const {
  if (!has_token_) {
    return 0;
  }
  if (kind_ != 'o' || position_.size() != 1) {
    return MalformedPageTokenError();
  }
  const std::optional<int64_t> offset = ParseCanonicalNumber(position_[0], kMaxOffset);
  if (!offset.has_value()) {
    return absl::InvalidArgumentError(
        "page_token: its position is out of range; pass the previous page's next_page_token "
        "unchanged");
  }
  return *offset;
}

absl::StatusOr<std::optional<std::vector<std::string>>> PageRequest::AfterKey(
    size_t key_parts) const {
  if (!has_token_) {
    return std::optional<std::vector<std::string>>();
  }
  if (kind_ != 'k' || position_.size() != key_parts) {
    return MalformedPageTokenError();
  }
  return std::optional<std::vector<std::string>>(position_);
}

std::string PageRequest::TokenAtOffset(int64_t offset) const {
  return EncodeToken(fingerprint_, 'o', {absl::StrCat(offset)});
}

std::string PageRequest::TokenAfterKey(const std::vector<std::string>& key) const {
  return EncodeToken(fingerprint_, 'k', key);
}

}  // namespace covtrack
