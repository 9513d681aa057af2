// The crosswalk in ingestion over real gRPC, on SQLite and on PostgreSQL: the whole 2025 reform
// map on the real catalogue, shares learnt later as revisions on the feed, and bad input refused
// whole on a small synthetic hierarchy where every rule can be hit on purpose.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <map>
#include <optional>

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
    std::optional<std::string> url = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
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
  // A page of the feed ends before the change that would take it past 10,000 crosswalk links:
  // the map's change is a page of its own, the reader goes on from its seq.
  EXPECT_EQ(ChangesAfter(before).size(), 1u);
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

// A small hierarchy around a reform on 2025-07-01: provinces 10 and 11 merge into 20; commune
// 10001 is split between 20001 and 20002 (shares unknown), 10002 goes whole to 20001 and 11001
// whole to 20002. Province 12 ended on 2025-01-01, before 20 began.
class SyntheticCrosswalkTest : public CrosswalkTest {
 protected:
  void SetUp() override {
    CrosswalkTest::SetUp();
    if (IsSkipped()) {
      return;
    }
    testing::ImportUnits(stub(),
                         {Unit("10", ADMIN_LEVEL_PROVINCE, "", "", kReformDate, "Tỉnh Mười"),
                          Unit("11", ADMIN_LEVEL_PROVINCE, "", "", kReformDate, "Tỉnh Mười Một"),
                          Unit("12", ADMIN_LEVEL_PROVINCE, "", "", "2025-01-01", "Tỉnh Mười Hai"),
                          Unit("20", ADMIN_LEVEL_PROVINCE, "", kReformDate, "", "Tỉnh Hai Mươi"),
                          Unit("10001", ADMIN_LEVEL_COMMUNE, "10", "", kReformDate, "Xã Một"),
                          Unit("10002", ADMIN_LEVEL_COMMUNE, "10", "", kReformDate, "Xã Hai"),
                          Unit("11001", ADMIN_LEVEL_COMMUNE, "11", "", kReformDate, "Xã Ba"),
                          Unit("20001", ADMIN_LEVEL_COMMUNE, "20", kReformDate, "", "Xã Bốn"),
                          Unit("20002", ADMIN_LEVEL_COMMUNE, "20", kReformDate, "", "Xã Năm")},
                         "units");
    ASSERT_THAT(Import(Request("base", kBase)), IsOk());
  }

  const std::vector<v1::CrosswalkLink> kBase = {Link("10", "20", kReformDate, 1),
                                                Link("11", "20", kReformDate, 1),
                                                Link("10001", "20001"),
                                                Link("10001", "20002"),
                                                Link("10002", "20001", kReformDate, 1),
                                                Link("11001", "20002", kReformDate, 1)};
};

TEST_P(SyntheticCrosswalkTest, RefusesBadInputWholeNamingTheRowAndFieldWithNothingStored) {
  const std::vector<std::string> stored = Describe(List());
  ASSERT_EQ(stored.size(), 6u);
  const int64_t head = Head();
  // Each bad request starts with a good link that would change something (a labour-force
  // share): refused with the rest, it shows that nothing is written.
  const v1::CrosswalkLink good = Link("10", "20", kReformDate, 1, 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::string name;
    std::vector<v1::CrosswalkLink> links;
    std::vector<std::string> expected;  // substrings of the error
  };
  const std::vector<Case> cases = {
      {"shares not adding up",
       {good, Link("10001", "20001", kReformDate, 0.5), Link("10001", "20002", kReformDate, 0.2)},
       {"links[1].population_share", "10001@…", "links[1], links[2]", "add up to 0.7, not 1"}},
      {"known shares above 1",
       {good, Link("10001", "20001", kReformDate, 0.7), Link("10001", "20002", kReformDate, 0.6)},
       {"links[1].population_share", "add up to 1.3, more than 1"}},
      {"known shares above 1 with a stored one",
       {good, Link("10002", "20002", kReformDate, 0.5)},
       {"links[1].population_share", "10002@…", "links[1], 1 stored", "more than 1"}},
      {"labour-force shares not adding up",
       {good, Link("10001", "20001", kReformDate, 0.5, 0.5),
        Link("10001", "20002", kReformDate, 0.5, 0.4)},
       {"links[1].labor_force_share", "add up to 0.9, not 1"}},
      {"a share above 1",
       {good, Link("10001", "20001", kReformDate, 1.5)},
       {"links[1].population_share: must be in (0, 1] (got 1.5)", "\"10001\" -> \"20001\""}},
      {"a share of 0", {good, Link("10001", "20001", kReformDate, 0)}, {"(got 0)"}},
      {"a share just above 1",
       {good, Link("10001", "20001", kReformDate, 1 + 1e-7)},
       {"(got 1.0000001)"}},
      {"a NaN share", {good, Link("10001", "20001", kReformDate, nan)}, {"(got nan)"}},
      {"a labour-force share of 0",
       {good, Link("10001", "20001", kReformDate, 1, 0)},
       {"links[1].labor_force_share: must be in (0, 1]"}},
      {"a labour-force share alone",
       {good, Link("10001", "20001", kReformDate, std::nullopt, 0.5)},
       {"links[1].labor_force_share: given without population_share"}},
      {"an unknown predecessor",
       {good, Link("10999", "20001")},
       {"links[1].from_code: unknown unit version", "\"10999\""}},
      {"an unknown successor",
       {good, Link("10001", "29999")},
       {"links[1].to_code: unknown unit version", "\"29999\""}},
      {"no predecessor version ending on the date",
       {good, Link("10001", "20001", "2025-08-01")},
       {"links[1].from_code: unknown unit version: no version of \"10001\" ends on 2025-08-01"}},
      {"a link into the past",
       {good, Link("10001", "11001")},
       {"links[1].to_code: a link into the past", "\"11001\" ended on or before"}},
      {"a predecessor still valid on the date",
       {good, Link("10001", "20001", "2025-06-01")},
       {"links[1].effective_date", "does not meet at effective_date 2025-06-01", "still valid"}},
      {"a successor starting after the date",
       {good, Link("12", "20", "2025-01-01", 1)},
       {"links[1].effective_date", "\"12\" -> \"20\" does not meet at effective_date 2025-01-01",
        "starts later, on 2025-07-01"}},
      {"a duplicate",
       {good, Link("10001", "20001"), Link("10001", "20001", kReformDate, 0.5)},
       {"links[2].to_code: duplicates links[1]"}},
      {"a malformed code and date",
       {good, Link("10 001", "20001", "2025-02-30")},
       {"links[1].from_code: must be 1–16 characters", "links[1].effective_date"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const grpc::Status status = Import(Request("bad-" + c.name, c.links));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    for (const std::string& expected : c.expected) {
      EXPECT_THAT(status.error_message(), HasSubstr(expected));
    }
  }
  EXPECT_EQ(Describe(List()), stored);
  EXPECT_EQ(Head(), head);

  // Many bad rows: the first few are reported, the rest counted.
  std::vector<v1::CrosswalkLink> unknown;
  for (int i = 0; i < 15; ++i) {
    unknown.push_back(Link(absl::StrCat("9", 1000 + i), "20001"));
  }
  const grpc::Status many = Import(Request("bad-many", unknown));
  EXPECT_THAT(many, StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                             AllOf(HasSubstr("links[0].from_code"), HasSubstr("links[9].from_code"),
                                   Not(HasSubstr("links[10]")), HasSubstr("and 5 more problems"))));
  // Too many links, or none.
  EXPECT_THAT(Import(Request("bad-large", std::vector<v1::CrosswalkLink>(20001, good))),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("at most 20000")));
  EXPECT_THAT(Import(Request("bad-empty", {})),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("no links")));
  v1::ImportCrosswalkRequest long_source = Request("bad-source", {good});
  long_source.set_source(std::string(501, 'x'));
  EXPECT_THAT(Import(long_source),
              StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("source: longer than 500")));
  EXPECT_EQ(Describe(List()), stored);
  EXPECT_EQ(Head(), head);

  // The good link alone is accepted: the requests above failed for their bad rows only.
  v1::ImportCrosswalkResponse response;
  ASSERT_THAT(Import(Request("good", {good}), &response), IsOk());
  EXPECT_EQ(response.links_changed(), 1);
}

// The date checks make a cycle impossible among links that were checked against the same units;
// but units can be re-imported with other intervals after their links were stored. Province 30
// went into 31 on 2021-01-01; then both are re-imported so that 31 ends on 2022-01-01 while 30
// runs on: a link 31 -> 30 then meets at its date, and only the cycle check refuses it.
TEST_P(SyntheticCrosswalkTest, RefusesACycleThatTheDateChecksAloneWouldLetThrough) {
  testing::ImportUnits(stub(),
                       {Unit("30", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "2021-01-01"),
                        Unit("31", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "2030-01-01")},
                       "units-30");
  ASSERT_THAT(Import(Request("30-into-31", {Link("30", "31", "2021-01-01", 1)})), IsOk());
  testing::ImportUnits(stub(),
                       {Unit("30", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "2030-01-01"),
                        Unit("31", ADMIN_LEVEL_PROVINCE, "", "2020-01-01", "2022-01-01")},
                       "units-30-again");
  const std::vector<std::string> stored = Describe(List());
  const int64_t head = Head();
  EXPECT_THAT(
      Import(Request("31-into-30",
                     {Link("10", "20", kReformDate, 1, 1), Link("31", "30", "2022-01-01", 1)})),
      StatusIs(grpc::StatusCode::INVALID_ARGUMENT,
               HasSubstr("links[1].to_code: forms a cycle 31@2020-01-01 -> 30@2020-01-01 -> "
                         "31@2020-01-01")));
  EXPECT_EQ(Describe(List()), stored);
  EXPECT_EQ(Head(), head);
}

TEST_P(SyntheticCrosswalkTest, ListsInOrderByPagesAndFilters) {
  auto codes = [](const std::vector<v1::CrosswalkLink>& links) {
    std::vector<std::string> out;
    for (const v1::CrosswalkLink& l : links) {
      out.push_back(absl::StrCat(l.from_code(), ">", l.to_code()));
    }
    return out;
  };
  // Ordered by (effective_date, from_code, to_code), two to a page.
  v1::ListCrosswalkRequest request;
  request.set_page_size(2);
  std::vector<v1::CrosswalkLink> all;
  int pages = 0;
  do {
    v1::ListCrosswalkResponse response;
    grpc::ClientContext context;
    ASSERT_THAT(stub().ListCrosswalk(&context, request, &response), IsOk());
    EXPECT_LE(response.links_size(), 2);
    all.insert(all.end(), response.links().begin(), response.links().end());
    request.set_page_token(response.next_page_token());
    ++pages;
  } while (!request.page_token().empty());
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(codes(all), ElementsAre("10>20", "10001>20001", "10001>20002", "10002>20001", "11>20",
                                      "11001>20002"));
  EXPECT_EQ(all[1].from_valid_from(), "");
  EXPECT_EQ(all[1].to_valid_from(), kReformDate);
  EXPECT_FALSE(all[1].has_population_share());
  EXPECT_EQ(all[0].population_share(), 1);
  EXPECT_FALSE(all[0].has_labor_force_share());

  // A token is bound to its request's filters.
  v1::ListCrosswalkRequest first;
  first.set_page_size(2);
  v1::ListCrosswalkResponse page;
  {
    grpc::ClientContext context;
    ASSERT_THAT(stub().ListCrosswalk(&context, first, &page), IsOk());
  }
  v1::ListCrosswalkRequest other;
  other.set_from_code("10001");
  other.set_page_token(page.next_page_token());
  {
    v1::ListCrosswalkResponse ignored;
    grpc::ClientContext context;
    EXPECT_THAT(stub().ListCrosswalk(&context, other, &ignored),
                StatusIs(grpc::StatusCode::INVALID_ARGUMENT));
  }

  v1::ListCrosswalkRequest filter;
  filter.set_from_code("10001");
  EXPECT_THAT(codes(List(filter)), ElementsAre("10001>20001", "10001>20002"));
  filter.Clear();
  filter.set_to_code("20002");
  EXPECT_THAT(codes(List(filter)), ElementsAre("10001>20002", "11001>20002"));
  filter.set_from_code("10");  // either
  EXPECT_THAT(codes(List(filter)), ElementsAre("10>20", "10001>20002", "11001>20002"));
  filter.Clear();
  filter.set_effective_date(kReformDate);
  EXPECT_EQ(List(filter).size(), 6u);
  filter.set_effective_date("2025-01-01");
  EXPECT_TRUE(List(filter).empty());

  for (const auto& [field, value] :
       {std::pair<std::string, std::string>{"effective_date", "2025-13-01"},
        {"from_code", "a b"}}) {
    v1::ListCrosswalkRequest bad;
    if (field == "effective_date") {
      bad.set_effective_date(value);
    } else {
      bad.set_from_code(value);
    }
    v1::ListCrosswalkResponse ignored;
    grpc::ClientContext context;
    EXPECT_THAT(stub().ListCrosswalk(&context, bad, &ignored),
                StatusIs(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr(field)));
  }
}

TEST_P(SyntheticCrosswalkTest, SharesLearntLaterAreRevisionsOnTheFeed) {
  const int64_t before = Head();
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::WatchChangesRequest watch;
  watch.set_after_seq(before);
  auto stream = stub().WatchChanges(&watch_context, watch);

  // 10001's shares become known: two changed links; 11 -> 20 again, unchanged, is no change.
  v1::ImportCrosswalkResponse response;
  ASSERT_THAT(Import(Request("shares", {Link("10001", "20001", kReformDate, 0.25, 0.3),
                                        Link("10001", "20002", kReformDate, 0.75, 0.7),
                                        Link("11", "20", kReformDate, 1)}),
                     &response),
              IsOk());
  EXPECT_EQ(response.links_accepted(), 3);
  EXPECT_EQ(response.links_changed(), 2);
  EXPECT_EQ(response.change_seq(), before + 1);

  const std::vector<std::string> expected = {
      absl::StrCat("10001@->20001@", kReformDate, " ", kReformDate, " 0.25/0.3"),
      absl::StrCat("10001@->20002@", kReformDate, " ", kReformDate, " 0.75/0.7")};
  const std::vector<v1::Change> changes = ChangesAfter(before);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].request_id(), "shares");
  EXPECT_EQ(Describe({changes[0].crosswalk_links().begin(), changes[0].crosswalk_links().end()}),
            expected);
  v1::Change watched;
  ASSERT_TRUE(stream->Read(&watched));
  EXPECT_EQ(watched.seq(), before + 1);
  EXPECT_EQ(Describe({watched.crosswalk_links().begin(), watched.crosswalk_links().end()}),
            expected);
  watch_context.TryCancel();

  // The audit trail of the successor 20001: its two links as first imported, then the change.
  std::vector<v1::CrosswalkLink> trail;
  for (const v1::Revision& r : CrosswalkRevisions("20001")) {
    trail.push_back(r.crosswalk_link());
    EXPECT_EQ(r.source(), "Nghị quyết 1654–1687/NQ-UBTVQH15");
    EXPECT_THAT(r.peer(), HasSubstr("127.0.0.1"));
  }
  EXPECT_THAT(Describe(trail),
              ElementsAre(absl::StrCat("10001@->20001@", kReformDate, " ", kReformDate, " ?"),
                          absl::StrCat("10002@->20001@", kReformDate, " ", kReformDate, " 1"),
                          expected[0]));
  // With a participation record too: its audit trail pages through both kinds, oldest first;
  // a month or scheme filter lists participation only.
  testing::Submit(stub(), {testing::Record("20001", "2025-07", v1::SCHEME_HEALTH, 900)}, {},
                  "report-20001");
  v1::ListRevisionsRequest paged;
  paged.set_unit_code("20001");
  paged.set_page_size(1);
  std::vector<std::string> kinds;
  do {
    v1::ListRevisionsResponse page;
    grpc::ClientContext context;
    ASSERT_THAT(stub().ListRevisions(&context, paged, &page), IsOk());
    ASSERT_LE(page.revisions_size(), 1);
    for (const v1::Revision& r : page.revisions()) {
      kinds.push_back(r.has_crosswalk_link()
                          ? absl::StrCat(r.change_seq(), " ", r.crosswalk_link().from_code())
                          : absl::StrCat(r.change_seq(), " participation"));
    }
    paged.set_page_token(page.next_page_token());
  } while (!paged.page_token().empty());
  EXPECT_THAT(kinds, ElementsAre(absl::StrCat(before, " 10001"), absl::StrCat(before, " 10002"),
                                 absl::StrCat(before + 1, " 10001"),
                                 absl::StrCat(before + 2, " participation")));
  v1::ListRevisionsRequest by_month;
  by_month.set_unit_code("20001");
  by_month.set_month("2025-07");
  v1::ListRevisionsResponse participation_only;
  grpc::ClientContext context;
  ASSERT_THAT(stub().ListRevisions(&context, by_month, &participation_only), IsOk());
  ASSERT_EQ(participation_only.revisions_size(), 1);
  EXPECT_TRUE(participation_only.revisions(0).has_participation());

  // A different share later is a change again; the labour-force share alone too.
  ASSERT_THAT(Import(Request("shares-2", {Link("10001", "20001", kReformDate, 0.25),
                                          Link("10001", "20002", kReformDate, 0.75, 0.75)}),
                     &response),
              IsOk());
  EXPECT_EQ(response.links_changed(), 2);
  EXPECT_EQ(CrosswalkRevisions("10001").size(), 6u);
}

INSTANTIATE_TEST_SUITE_P(Stores, CrosswalkTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

INSTANTIATE_TEST_SUITE_P(Stores, SyntheticCrosswalkTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace covtrack
