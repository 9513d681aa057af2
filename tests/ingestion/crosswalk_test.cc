// The crosswalk in ingestion over real gRPC, on SQLite and on PostgreSQL: the whole 2025 reform
// map on the real catalogue, shares learnt later as revisions on the feed, and bad input refused
// whole on a small synthetic hierarchy where every rule can be hit on purpose.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/sample_data.h"

namespace covtrack {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::IngestionHarness;
using testing::IsOk;
using ::testing::Not;
using testing::StatusIs;
using testing::Unit;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_PROVINCE;

constexpr char kReformDate[] = "2025-07-01";

v1::CrosswalkLink Link(const std::string& from, const std::string& to,
                       const std::string& date = kReformDate,
                       std::optional<double> population_share = std::nullopt,
                       std::optional<double> labor_force_share = std::nullopt) {
  v1::CrosswalkLink link;
  link.set_from_code(from);
  link.set_to_code(to);
  link.set_effective_date(date);
  if (population_share) {
    link.set_population_share(*population_share);
  }
  if (labor_force_share) {
    link.set_labor_force_share(*labor_force_share);
  }
  return link;
}

v1::ImportCrosswalkRequest Request(const std::string& request_id,
                                   const std::vector<v1::CrosswalkLink>& links) {
  v1::ImportCrosswalkRequest request;
  request.set_request_id(request_id);
  request.set_source("Nghị quyết 1654–1687/NQ-UBTVQH15");
  for (const v1::CrosswalkLink& l : links) {
    *request.add_links() = l;
  }
  return request;
}

// "from->to@date share/labour" of each link, for comparing lists.
std::vector<std::string> Describe(const std::vector<v1::CrosswalkLink>& links) {
  std::vector<std::string> out;
  for (const v1::CrosswalkLink& l : links) {
    out.push_back(
        absl::StrCat(l.from_code(), "@", l.from_valid_from(), "->", l.to_code(), "@",
                     l.to_valid_from(), " ", l.effective_date(), " ",
                     l.has_population_share() ? absl::StrCat(l.population_share()) : "?",
                     l.has_labor_force_share() ? absl::StrCat("/", l.labor_force_share()) : ""));
  }
  return out;
}

// The reference catalogue as tools/sampledata loads it (pre-reform units valid until the
// reform, post-reform units from then), read once per test binary.
const std::vector<v1::AdminUnit>& Catalogue() {
  static const auto* units = [] {
    absl::StatusOr<std::unique_ptr<sampledata::SampleData>> data = sampledata::SampleData::Load();
    if (!data.ok()) {
      ADD_FAILURE() << data.status();
      return new std::vector<v1::AdminUnit>();
    }
    return new std::vector<v1::AdminUnit>((*data)->units());
  }();
  return *units;
}

// data/vn-admin-units/merge_map_2025_detail.csv as links at the reform date: a "full" row is
// the whole old unit (share 1), a "partial" row a piece of a split whose share is unknown.
struct ReformMap {
  std::vector<v1::CrosswalkLink> links;
  std::map<std::string, std::vector<std::string>> partial;  // old code -> its new codes
};

const ReformMap& LoadReformMap() {
  static const auto* map = [] {
    auto* m = new ReformMap();
    absl::StatusOr<std::string> text = sampledata::ReadFileToString(
        COVTRACK_SOURCE_DIR "/data/vn-admin-units/merge_map_2025_detail.csv");
    if (!text.ok()) {
      ADD_FAILURE() << text.status();
      return m;
    }
    absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(*text);
    if (!table.ok()) {
      ADD_FAILURE() << table.status();
      return m;
    }
    EXPECT_THAT(table->header,
                ElementsAre("old_code", "old_name", "new_code", "new_name", "level", "kind"));
    for (const sampledata::CsvRow& row : table->rows) {
      const std::string& kind = row.fields[5];
      m->links.push_back(Link(row.fields[0], row.fields[2], kReformDate,
                              kind == "full" ? std::optional<double>(1) : std::nullopt));
      if (kind == "partial") {
        m->partial[row.fields[0]].push_back(row.fields[2]);
      }
    }
    return m;
  }();
  return *map;
}

class CrosswalkTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::optional<std::string> url = testing::SqliteStoreUrl();
    if (GetParam() == "postgresql") {
      url = testing::NewPostgresDatabase();
      COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    }
    harness_ = IngestionHarness::Start(*url);
  }

  v1::IngestionService::Stub& stub() { return harness_->stub(); }

  grpc::Status Import(const v1::ImportCrosswalkRequest& request,
                      v1::ImportCrosswalkResponse* response = nullptr) {
    v1::ImportCrosswalkResponse ignored;
    grpc::ClientContext context;
    return stub().ImportCrosswalk(&context, request, response ? response : &ignored);
  }

  // Every page of ListCrosswalk.
  std::vector<v1::CrosswalkLink> List(v1::ListCrosswalkRequest request = {}) {
    std::vector<v1::CrosswalkLink> links;
    do {
      v1::ListCrosswalkResponse response;
      grpc::ClientContext context;
      EXPECT_THAT(stub().ListCrosswalk(&context, request, &response), IsOk());
      links.insert(links.end(), response.links().begin(), response.links().end());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return links;
  }

  int64_t Head() {
    v1::ChangeHead head;
    grpc::ClientContext context;
    EXPECT_THAT(stub().GetChangeHead(&context, {}, &head), IsOk());
    return head.seq();
  }

  std::vector<v1::Change> ChangesAfter(int64_t seq) {
    v1::ListChangesRequest request;
    request.set_after_seq(seq);
    v1::ListChangesResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(stub().ListChanges(&context, request, &response), IsOk());
    return {response.changes().begin(), response.changes().end()};
  }

  // The crosswalk revisions of `unit`, every page.
  std::vector<v1::Revision> CrosswalkRevisions(const std::string& unit) {
    v1::ListRevisionsRequest request;
    request.set_unit_code(unit);
    std::vector<v1::Revision> revisions;
    do {
      v1::ListRevisionsResponse response;
      grpc::ClientContext context;
      EXPECT_THAT(stub().ListRevisions(&context, request, &response), IsOk());
      for (const v1::Revision& r : response.revisions()) {
        if (r.has_crosswalk_link()) {
          revisions.push_back(r);
        }
      }
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return revisions;
  }

  std::unique_ptr<IngestionHarness> harness_;
};

TEST_P(CrosswalkTest, ImportsTheWholeReformMapOnTheRealCatalogue) {
  testing::ImportUnits(stub(), Catalogue(), "catalogue");
  const ReformMap& map = LoadReformMap();
  ASSERT_EQ(map.links.size(), 10667u);
  ASSERT_EQ(map.partial.size(), 460u);
  const int64_t before = Head();

  v1::ImportCrosswalkResponse response;
  const v1::ImportCrosswalkRequest request = Request("reform-2025", map.links);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_THAT(Import(request, &response), IsOk());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("import_seconds", absl::StrCat(seconds));
  std::cout << GetParam() << ": imported 10,667 links in " << seconds << " s\n";
  EXPECT_LT(seconds, 30) << "one request of the whole map should take a few seconds";
  EXPECT_EQ(response.links_accepted(), 10667);
  EXPECT_EQ(response.links_changed(), 10667);
  EXPECT_FALSE(response.replayed());
  EXPECT_EQ(response.change_seq(), before + 1);
  EXPECT_EQ(Head(), before + 1);

  // Every link listed once, resolved to the versions that meet at the reform.
  const std::vector<v1::CrosswalkLink> listed = List();
  ASSERT_EQ(listed.size(), 10667u);
  for (const v1::CrosswalkLink& l : listed) {
    ASSERT_EQ(l.from_valid_from(), "") << l.from_code();
    ASSERT_EQ(l.to_valid_from(), kReformDate) << l.to_code();
  }

  // The feed carries the import as one change with every link.
  const std::vector<v1::Change> changes = ChangesAfter(before);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].request_id(), "reform-2025");
  EXPECT_EQ(changes[0].crosswalk_links_size(), 10667);
  EXPECT_EQ(changes[0].crosswalk_links(0).to_valid_from(), kReformDate);

  // A retry is replayed; the same content under a new id changes nothing.
  v1::ImportCrosswalkResponse replay;
  ASSERT_THAT(Import(request, &replay), IsOk());
  EXPECT_TRUE(replay.replayed());
  EXPECT_EQ(replay.links_changed(), 10667);
  EXPECT_EQ(replay.change_seq(), before + 1);
  v1::ImportCrosswalkResponse again;
  ASSERT_THAT(Import(Request("reform-2025-again", map.links), &again), IsOk());
  EXPECT_FALSE(again.replayed());
  EXPECT_EQ(again.links_changed(), 0);
  EXPECT_EQ(again.change_seq(), before + 1);
  EXPECT_EQ(Head(), before + 1);

  // Shares learnt later for one split commune: each of its links is a new revision, listed in
  // its audit trail after the first one, and on the feed.
  const auto& [old_code, new_codes] = *map.partial.begin();
  ASSERT_GE(new_codes.size(), 2u);
  std::vector<v1::CrosswalkLink> shares;
  for (size_t k = 0; k < new_codes.size(); ++k) {
    // 1/n each, the last taking the rest: they add up to 1 within 1e-9.
    const double share = k + 1 < new_codes.size()
                             ? 1.0 / static_cast<double>(new_codes.size())
                             : 1.0 - (new_codes.size() - 1) / static_cast<double>(new_codes.size());
    shares.push_back(Link(old_code, new_codes[k], kReformDate, share));
  }
  v1::ImportCrosswalkResponse learnt;
  ASSERT_THAT(Import(Request("shares-" + old_code, shares), &learnt), IsOk());
  EXPECT_EQ(learnt.links_changed(), static_cast<int>(new_codes.size()));
  EXPECT_EQ(learnt.change_seq(), before + 2);

  std::vector<v1::Revision> revisions = CrosswalkRevisions(old_code);
  std::vector<v1::Revision> from_old;
  for (const v1::Revision& r : revisions) {
    if (r.crosswalk_link().from_code() == old_code && r.crosswalk_link().from_valid_from() == "") {
      from_old.push_back(r);
    }
  }
  ASSERT_EQ(from_old.size(), 2 * new_codes.size());
  for (size_t k = 0; k < new_codes.size(); ++k) {
    const v1::Revision& first = from_old[k];
    const v1::Revision& second = from_old[new_codes.size() + k];
    EXPECT_EQ(first.change_seq(), before + 1);
    EXPECT_EQ(first.request_id(), "reform-2025");
    EXPECT_EQ(first.source(), "Nghị quyết 1654–1687/NQ-UBTVQH15");
    EXPECT_FALSE(first.crosswalk_link().has_population_share());
    EXPECT_EQ(second.change_seq(), before + 2);
    EXPECT_EQ(second.crosswalk_link().to_code(), first.crosswalk_link().to_code());
    EXPECT_TRUE(second.crosswalk_link().has_population_share());
  }
  const std::vector<v1::Change> learnt_changes = ChangesAfter(before + 1);
  ASSERT_EQ(learnt_changes.size(), 1u);
  EXPECT_EQ(Describe({learnt_changes[0].crosswalk_links().begin(),
                      learnt_changes[0].crosswalk_links().end()}),
            Describe([&] {
              std::vector<v1::CrosswalkLink> expected = shares;
              std::sort(expected.begin(), expected.end(),
                        [](const auto& a, const auto& b) { return a.to_code() < b.to_code(); });
              for (v1::CrosswalkLink& l : expected) {
                l.set_to_valid_from(kReformDate);
              }
              return expected;
            }()));

  // Those shares not adding up are refused with nothing stored.
  shares.back().set_population_share(shares.back().population_share() / 2);
  const int64_t head = Head();
  EXPECT_THAT(
      Import(Request("bad-shares", shares)),
      StatusIs(grpc::StatusCode::INVALID_ARGUMENT, AllOf(HasSubstr("links[0].population_share"),
                                                         HasSubstr(old_code), HasSubstr("not 1"))));
  EXPECT_EQ(Head(), head);
}

INSTANTIATE_TEST_SUITE_P(Stores, CrosswalkTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack
