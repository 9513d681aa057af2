#pragma once

// Paging for every List RPC, written once (AIP-158).
//
// page_size: negative is INVALID_ARGUMENT, 0 means the method's default, above the method's
// maximum is clamped to it.
// page_token: opaque to clients (web-safe base64), and bound to the request that made it: it
// carries a fingerprint of every request field except page_size and page_token, so a token sent
// with other filters is INVALID_ARGUMENT instead of a slice of some other list. A token holds
// either an offset into the list (for lists computed per request) or the key of the last item on
// the previous page (for lists read in key order from a store, where an offset would shift as
// rows are added).
//
//   ASSIGN_OR_RETURN(const PageRequest page, PageRequest::Read(request, {100, 1000}));
//   ASSIGN_OR_RETURN(const int64_t offset, page.Offset());
//   ... take page.size() items from offset ...
//   if (more) response.set_next_page_token(page.TokenAtOffset(offset + page.size()));

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace covtrack {

struct PageSizeLimits {
  int default_size = 100;  // what page_size 0 (unset) means
  int max_size = 1000;     // larger requests are clamped to this
};

// The page size a request asks for, by AIP-158. `field` names the field in the error.
absl::StatusOr<int> ResolvePageSize(int requested, PageSizeLimits limits,
                                    absl::string_view field = "page_size");

// The filters of a List request: a stable fingerprint (the same across processes and restarts)
// of every field of `request` except page_size, page_token and freshness, and of `scope`.
std::string FilterFingerprint(const google::protobuf::Message& request, absl::string_view scope);

// The INVALID_ARGUMENT for a token that does not decode, or whose position the method cannot
// use (e.g. a key part that should be a number); it does not echo the token.
absl::Status MalformedPageTokenError();

// One page of a List request: its size and where it starts.
class PageRequest {
 public:
  // Reads the page_size and page_token fields of `request` (a List request message: it must have
  // an int32 page_size and a string page_token). `scope` is whatever else decides which list the
  // caller sees and is not in the request (e.g. the parent a caller's grant defaults to); the
  // token is bound to it as well. INVALID_ARGUMENT for a negative page size, a malformed token or
  // a token made for a request with other filters.
  static absl::StatusOr<PageRequest> Read(const google::protobuf::Message& request,
                                          PageSizeLimits limits, absl::string_view scope = "");

  // The number of items to return (at least 1).
  int size() const { return size_; }
  // True when the request has no page_token: the list starts at its beginning.
  bool first_page() const { return !has_token_; }

  // Offset paging: the index of the page's first item; 0 on the first page. INVALID_ARGUMENT if
  // the token holds a key, or an offset no server makes (above 10^9, so that offset + page
  // size never overflows).
  absl::StatusOr<int64_t> Offset() const;
  // Key paging: the key (`key_parts` strings) of the last item of the previous page; nullopt on
  // the first page. INVALID_ARGUMENT if the token holds an offset or a key of another length.
  absl::StatusOr<std::optional<std::vector<std::string>>> AfterKey(size_t key_parts) const;

  // next_page_token for a next page starting at index `offset`.
  std::string TokenAtOffset(int64_t offset) const;
  // next_page_token for a next page starting after the item with `key`.
  std::string TokenAfterKey(const std::vector<std::string>& key) const;

 private:
  PageRequest() = default;

  int size_ = 0;
  std::string fingerprint_;
  bool has_token_ = false;
  char kind_ = 0;  // of the decoded token: 'o' offset, 'k' key
  std::vector<std::string> position_;
};

}  // namespace covtrack
