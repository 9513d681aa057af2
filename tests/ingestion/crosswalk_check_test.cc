// The crosswalk's checks against stored units and links (crosswalk_check.h), alone: versions
// and stored links are plain vectors. The same rules through gRPC, on both stores, are in
// crosswalk_test.cc; here are the bounds that are costly to reach through a real store.

#include "services/ingestion/crosswalk_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::ingestion {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::covtrack::testing::Unit;
using ::testing::HasSubstr;
using ::testing::Not;
using v1::ADMIN_LEVEL_PROVINCE;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

v1::CrosswalkLink Link(const std::string& from, const std::string& to, const std::string& date,
                       std::optional<double> share = std::nullopt) {
  v1::CrosswalkLink link;
  link.set_from_code(from);
  link.set_to_code(to);
  link.set_effective_date(date);
  if (share) {
    link.set_population_share(*share);
  }
  return link;
}

std::string Day(int offset) { return absl::FormatCivilTime(absl::CivilDay(2000, 1, 1) + offset); }

// Shares of one split unit that add up to 1 only within floating-point rounding are accepted;
// off by more than 1e-9 they are refused.
TEST(CrosswalkCheckTest, SharesAddUpToOneWithinTheTolerance) {
  VersionsByCode versions;
  versions["1"] = {Unit("1", ADMIN_LEVEL_PROVINCE, "", "", "2025-07-01")};
  for (const std::string code : {"2", "3", "4"}) {
    versions[code] = {Unit(code, ADMIN_LEVEL_PROVINCE, "", "2025-07-01", "")};
  }
  v1::ImportCrosswalkRequest thirds;
  for (const std::string code : {"2", "3", "4"}) {
    *thirds.add_links() = Link("1", code, "2025-07-01", 1.0 / 3);
  }
  absl::StatusOr<std::vector<v1::CrosswalkLink>> resolved = CheckCrosswalk(thirds, versions, {});
  ASSERT_THAT(resolved.status(), IsOk());
  EXPECT_EQ((*resolved)[0].from_valid_from(), "");
  EXPECT_EQ((*resolved)[0].to_valid_from(), "2025-07-01");

  thirds.mutable_links(2)->set_population_share(1.0 / 3 + 1e-8);
  EXPECT_THAT(CheckCrosswalk(thirds, versions, {}).status(),
              StatusIs(kInvalid, HasSubstr("links[0].population_share: the known shares "
                                           "(population_share) of 1@… (3 links: links[0], "
                                           "links[1], links[2]) add up to 1.00000001")));
  // The stored links count with the new ones; a new one replaces the stored one it names.
  std::vector<v1::CrosswalkLink> stored = {Link("1", "2", "2025-07-01", 0.5),
                                           Link("1", "3", "2025-07-01", 0.5)};
  for (v1::CrosswalkLink& l : stored) {
    l.set_to_valid_from("2025-07-01");
  }
  v1::ImportCrosswalkRequest more;
  *more.add_links() = Link("1", "4", "2025-07-01", 0.25);
  EXPECT_THAT(CheckCrosswalk(more, versions, stored).status(),
              StatusIs(kInvalid, HasSubstr("links[0], 2 stored) add up to 1.25")));
  *more.add_links() = Link("1", "3", "2025-07-01", 0.25);
  EXPECT_THAT(CheckCrosswalk(more, versions, stored).status(), IsOk());
}

// A chain of links one after another: unit i lives from day i to day i + 1 and goes whole into
// unit i + 1. Up to kMaxChainLength links it is a history; beyond, the search stops and refuses.
TEST(CrosswalkCheckTest, FollowsChainsUpToTheBound) {
  for (const int length : {kMaxChainLength, kMaxChainLength + 1}) {
    SCOPED_TRACE(length);
    VersionsByCode versions;
    for (int i = 0; i <= length; ++i) {
      const std::string code = absl::StrCat(100000 + i);
      versions[code] = {
          Unit(code, ADMIN_LEVEL_PROVINCE, "", Day(i), i == length ? "" : Day(i + 1))};
    }
    v1::ImportCrosswalkRequest chain;
    for (int i = 0; i < length; ++i) {
      *chain.add_links() =
          Link(absl::StrCat(100000 + i), absl::StrCat(100001 + i), Day(i + 1), 1.0);
    }
    const absl::Status status = CheckCrosswalk(chain, versions, {}).status();
    if (length <= kMaxChainLength) {
      EXPECT_THAT(status, IsOk());
    } else {
      EXPECT_THAT(
          status,
          StatusIs(kInvalid,
                   HasSubstr("links[1000].to_code: continues a chain of more than 1000 links "
                             "from 100000@2000-01-01")));
    }
  }
}

// Resolution problems are all reported (up to the bound) before shares and cycles are looked at.
TEST(CrosswalkCheckTest, ReportsEveryUnresolvedLinkUpToTheBound) {
  v1::ImportCrosswalkRequest request;
  for (int i = 0; i < 12; ++i) {
    *request.add_links() = Link(absl::StrCat(90 + i), "1", "2025-07-01", 1.0);
  }
  const absl::Status status = CheckCrosswalk(request, {}, {}).status();
  EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("links[0].from_code: unknown unit version: "
                                                   "no unit ever held \"90\"; links[0].to_code")));
  EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("and 14 more problems")));
  EXPECT_THAT(status, StatusIs(kInvalid, Not(HasSubstr("links[5]"))));
}

}  // namespace
}  // namespace covtrack::ingestion
