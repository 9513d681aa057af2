#include "common/paging/paging.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "covtrack/v1/aggregation_service.pb.h"
#include "covtrack/v1/target_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace covtrack {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr PageSizeLimits kLimits{50, 500};

TEST(ResolvePageSizeTest, NegativeIsInvalidAndNamesTheField) {
  EXPECT_THAT(ResolvePageSize(-1, kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
  EXPECT_THAT(ResolvePageSize(-7, kLimits, "limit"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST(ResolvePageSizeTest, ZeroIsTheDefaultAndLargeIsClamped) {
  EXPECT_EQ(ResolvePageSize(0, kLimits).value(), 50);
  EXPECT_EQ(ResolvePageSize(1, kLimits).value(), 1);
  EXPECT_EQ(ResolvePageSize(500, kLimits).value(), 500);
  EXPECT_EQ(ResolvePageSize(501, kLimits).value(), 500);
  EXPECT_EQ(ResolvePageSize(1 << 30, kLimits).value(), 500);
}

v1::ListTargetsRequest TargetsOf(const std::string& unit_code, int year) {
  v1::ListTargetsRequest request;
  request.set_unit_code(unit_code);
  request.set_year(year);
  return request;
}

TEST(PageRequestTest, FirstPageStartsAtZeroWithTheResolvedSize) {
  v1::ListTargetsRequest request = TargetsOf("815", 2023);
  absl::StatusOr<PageRequest> page = PageRequest::Read(request, kLimits);
  ASSERT_THAT(page, IsOk());
  EXPECT_TRUE(page->first_page());
  EXPECT_EQ(page->size(), 50);
  EXPECT_EQ(page->Offset().value(), 0);
  EXPECT_EQ(page->AfterKey(2).value(), std::nullopt);

  request.set_page_size(9999);
  EXPECT_EQ(PageRequest::Read(request, kLimits)->size(), 500);
  request.set_page_size(-1);
  EXPECT_THAT(PageRequest::Read(request, kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));
}

TEST(PageRequestTest, OffsetTokenRoundTrips) {
  v1::ListTargetsRequest request = TargetsOf("815", 2023);
  const std::string token = PageRequest::Read(request, kLimits)->TokenAtOffset(150);
  request.set_page_token(token);
  absl::StatusOr<PageRequest> next = PageRequest::Read(request, kLimits);
  ASSERT_THAT(next, IsOk());
  EXPECT_FALSE(next->first_page());
  EXPECT_EQ(next->Offset().value(), 150);
  // An offset token is not a key.
  EXPECT_THAT(next->AfterKey(1), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PageRequestTest, KeyTokenRoundTripsAnyBytes) {
  v1::ListTargetsRequest request = TargetsOf("", 0);
  const std::vector<std::string> key = {"815", "", std::string("a:1\t\0b", 6), "12:"};
  request.set_page_token(PageRequest::Read(request, kLimits)->TokenAfterKey(key));
  absl::StatusOr<PageRequest> next = PageRequest::Read(request, kLimits);
  ASSERT_THAT(next, IsOk());
  absl::StatusOr<std::optional<std::vector<std::string>>> after = next->AfterKey(4);
  ASSERT_THAT(after, IsOk());
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ(**after, key);
  // A key of another length, or read as an offset, is malformed.
  EXPECT_THAT(next->AfterKey(3), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(next->Offset(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PageRequestTest, TokenIsOpaqueWebSafeText) {
  const std::string token =
      PageRequest::Read(TargetsOf("815", 2023), kLimits)->TokenAfterKey({"815", "2023"});
  EXPECT_EQ(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
  EXPECT_THAT(token, Not(HasSubstr("815")));
}

TEST(PageRequestTest, PageSizeMayChangeBetweenPages) {
  v1::ListTargetsRequest request = TargetsOf("815", 2023);
  request.set_page_size(10);
  const std::string token = PageRequest::Read(request, kLimits)->TokenAtOffset(10);
  request.set_page_size(25);
  request.set_page_token(token);
  absl::StatusOr<PageRequest> next = PageRequest::Read(request, kLimits);
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->size(), 25);
  EXPECT_EQ(next->Offset().value(), 10);
}

TEST(PageRequestTest, TokenWithOtherFiltersIsInvalid) {
  const v1::ListTargetsRequest first = TargetsOf("815", 2023);
  const std::string token = PageRequest::Read(first, kLimits)->TokenAtOffset(100);

  std::vector<v1::ListTargetsRequest> changed;
  changed.push_back(TargetsOf("816", 2023));  // another unit
  changed.push_back(TargetsOf("815", 2024));  // another year
  changed.push_back(TargetsOf("815", 2023));
  changed.back().set_include_revisions(true);  // a bool
  changed.push_back(TargetsOf("815", 2023));
  changed.back().set_scheme(v1::SCHEME_HEALTH);  // an enum
  changed.push_back(TargetsOf("815", 2023));
  changed.back().set_parent_code("82");  // a field the first request left empty
  for (v1::ListTargetsRequest& request : changed) {
    request.set_page_token(token);
    EXPECT_THAT(PageRequest::Read(request, kLimits),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("other filters")))
        << request.ShortDebugString();
  }
}

TEST(PageRequestTest, TokenIsBoundToTheScopeAndTheMessageType) {
  const v1::ListTargetsRequest first = TargetsOf("", 2023);
  const std::string token = PageRequest::Read(first, kLimits, "82")->TokenAtOffset(5);
  v1::ListTargetsRequest same = first;
  same.set_page_token(token);
  EXPECT_THAT(PageRequest::Read(same, kLimits, "82"), IsOk());
  EXPECT_THAT(PageRequest::Read(same, kLimits, "815"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("other filters")));

  // A token of another List method, even one whose filters are all empty, is refused.
  v1::ListLaggingUnitsRequest other;
  const std::string lagging_token = PageRequest::Read(other, kLimits)->TokenAtOffset(5);
  v1::ListTargetsRequest empty;
  empty.set_page_token(lagging_token);
  EXPECT_THAT(PageRequest::Read(empty, kLimits), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PageRequestTest, MalformedTokenIsInvalidAndNotEchoed) {
  const v1::ListTargetsRequest first = TargetsOf("815", 2023);
  const std::string good = PageRequest::Read(first, kLimits)->TokenAtOffset(100);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(good, &raw));
  const std::string long_garbage(5000, '!');
  for (const std::string& token :
       {std::string("!!!"), std::string("not a token!"), long_garbage,
        absl::WebSafeBase64Escape("p1"), absl::WebSafeBase64Escape(raw.substr(0, raw.size() - 1)),
        absl::WebSafeBase64Escape(raw + "9"), absl::WebSafeBase64Escape("x" + raw.substr(1)),
        absl::WebSafeBase64Escape(raw.substr(0, 18) + "z" + raw.substr(19))}) {
    v1::ListTargetsRequest request = first;
    request.set_page_token(token);
    absl::StatusOr<PageRequest> page = PageRequest::Read(request, kLimits);
    EXPECT_THAT(page, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")))
        << token.substr(0, 40);
    EXPECT_THAT(std::string(page.status().message()), Not(HasSubstr(token)));
    EXPECT_LT(page.status().message().size(), 300u);
  }
}

TEST(PageRequestTest, NegativeOffsetInATokenIsMalformed) {
  v1::ListTargetsRequest request = TargetsOf("815", 2023);
  request.set_page_token(PageRequest::Read(request, kLimits)->TokenAtOffset(-3));
  absl::StatusOr<PageRequest> page = PageRequest::Read(request, kLimits);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->Offset(), StatusIs(absl::StatusCode::kInvalidArgument));
}

// A token made by hand with the request's own fingerprint: what a forger who read the
// layout can send.
std::string ForgedToken(const v1::ListTargetsRequest& request, const std::string& position) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("p1", FilterFingerprint(request, ""), "o", position.size(), ":", position));
}

// The probe's finding: a ListCoverage token whose offset overflows was accepted (OK, no items).
// Every number a token holds is range-checked: INVALID_ARGUMENT, without echoing the token.
TEST(PageRequestTest, ForgedOffsetsOutOfRangeAreInvalid) {
  const v1::ListTargetsRequest first = TargetsOf("815", 2023);
  for (const std::string& position :
       {std::string("9223372036854775807"), std::string("9223372036854775808"),
        std::string("99999999999999999999999"), std::string("1000000001"), std::string("-1"),
        std::string("+5"), std::string(" 5"), std::string("05"), std::string("5x"),
        std::string("")}) {
    v1::ListTargetsRequest request = first;
    request.set_page_token(ForgedToken(first, position));
    absl::StatusOr<PageRequest> page = PageRequest::Read(request, kLimits);
    absl::Status status = page.ok() ? page->Offset().status() : page.status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")))
        << position;
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr(request.page_token())));
  }
  // The largest offset still in range is read back as written.
  v1::ListTargetsRequest request = first;
  request.set_page_token(ForgedToken(first, "1000000000"));
  EXPECT_EQ(PageRequest::Read(request, kLimits)->Offset().value(), 1'000'000'000);
}

TEST(PageRequestTest, ForgedPartLengthsAreMalformed) {
  const v1::ListTargetsRequest first = TargetsOf("815", 2023);
  const std::string prefix = absl::StrCat("p1", FilterFingerprint(first, ""), "k");
  for (const std::string& parts :
       {std::string("18446744073709551617:a"), std::string("+1:a"), std::string("01:a"),
        std::string("2:a"), std::string(":a"), std::string("1a")}) {
    v1::ListTargetsRequest request = first;
    request.set_page_token(absl::WebSafeBase64Escape(prefix + parts));
    EXPECT_THAT(PageRequest::Read(request, kLimits),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")))
        << parts;
  }
}

// A later page asks for at least the seq the page before it reflected (common.proto,
// Freshness): its token must still be accepted.
TEST(FilterFingerprintTest, IgnoresFreshness) {
  v1::ListCoverageRequest a;
  a.set_parent_code("VN");
  a.set_period("2024");
  v1::ListCoverageRequest b = a;
  b.mutable_freshness()->set_at_least_seq(42);
  b.mutable_freshness()->set_consistency(v1::CONSISTENCY_FULL);
  EXPECT_EQ(FilterFingerprint(a, ""), FilterFingerprint(b, ""));
  b.set_period("2023");
  EXPECT_NE(FilterFingerprint(a, ""), FilterFingerprint(b, ""));
}

TEST(FilterFingerprintTest, IgnoresPageSizeAndPageTokenNotFilters) {
  v1::ListTargetsRequest a = TargetsOf("815", 2023);
  v1::ListTargetsRequest b = a;
  b.set_page_size(7);
  b.set_page_token("anything");
  EXPECT_EQ(FilterFingerprint(a, ""), FilterFingerprint(b, ""));
  b.set_year(2022);
  EXPECT_NE(FilterFingerprint(a, ""), FilterFingerprint(b, ""));
  EXPECT_NE(FilterFingerprint(a, ""), FilterFingerprint(a, "x"));
  // Stable: the same input gives the same text in every process.
  EXPECT_EQ(FilterFingerprint(a, "").size(), 16u);
  EXPECT_EQ(FilterFingerprint(a, ""), FilterFingerprint(TargetsOf("815", 2023), ""));
}

}  // namespace
}  // namespace covtrack
