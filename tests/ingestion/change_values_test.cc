// The change feed carries the values each change wrote (issue 10, part 1), over real gRPC on
// SQLite and PostgreSQL: a follower that applies ListChanges pages to an empty model ends with
// what ExportData, ListAdminUnits and ListCrosswalk hold; pages are consecutive and bounded;
// a WatchChanges follower that reconnects from its seq gets every change once, in order.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/ingestion/change_feed.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::Denominator;
using testing::IngestionHarness;
using testing::IsOk;
using testing::Record;
using testing::Unit;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

constexpr char kReformDate[] = "2025-07-01";

// What a follower keeps: the tables' contents, keyed as the store keys them.
struct Model {
  std::map<std::tuple<std::string, std::string, int>, std::string> records;
  std::map<std::tuple<std::string, int, int>, int64_t> denominators;
  std::map<std::string, std::vector<std::string>> units;  // code -> its versions, in order
  std::map<std::tuple<std::string, std::string, std::string>, std::string> links;

  bool operator==(const Model& other) const {
    return records == other.records && denominators == other.denominators && units == other.units &&
           links == other.links;
  }

  void Put(const v1::ParticipationRecord& r) {
    records[{r.unit_code(), r.month(), r.scheme()}] = r.SerializeAsString();
  }
  void Put(const v1::DenominatorRecord& d) {
    denominators[{d.unit_code(), d.year(), d.kind()}] = d.value();
  }
  void Put(const v1::CrosswalkLink& l) {
    links[{l.from_code(), l.to_code(), l.effective_date()}] = l.SerializeAsString();
  }

  // What a follower does with a change: upsert its values, replace its codes' versions.
  void Apply(const v1::Change& change) {
    for (const v1::ParticipationRecord& r : change.records()) {
      Put(r);
    }
    for (const v1::DenominatorRecord& d : change.denominator_values()) {
      Put(d);
    }
    for (const std::string& code : change.admin_unit_codes()) {
      units.erase(code);
    }
    for (const v1::AdminUnit& u : change.units()) {
      units[u.code()].push_back(u.SerializeAsString());
    }
    for (const v1::CrosswalkLink& l : change.crosswalk_links()) {
      Put(l);
    }
  }
};

class ChangeValuesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    url_ = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url_, "PostgreSQL");
    harness_ = IngestionHarness::Start(*url_);
    testing::ImportUnits(
        stub(),
        {Unit("82", ADMIN_LEVEL_PROVINCE, "", "", kReformDate, "Tỉnh Tiền Giang"),
         Unit("815", ADMIN_LEVEL_DISTRICT, "82", "", kReformDate, "Thành phố Mỹ Tho"),
         Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "", kReformDate, "Phường 5"),
         Unit("28252", ADMIN_LEVEL_COMMUNE, "815", "", kReformDate, "Phường 4"),
         Unit("82", ADMIN_LEVEL_PROVINCE, "VN", kReformDate, "", "Tỉnh Đồng Tháp"),
         Unit("28261", ADMIN_LEVEL_COMMUNE, "82", kReformDate, "", "Phường Mỹ Tho")},
        "units-1");
  }

  v1::IngestionService::Stub& stub() { return harness_->stub(); }

  v1::ListChangesResponse Page(int64_t after_seq, int page_size = 1000) {
    v1::ListChangesRequest request;
    request.set_after_seq(after_seq);
    request.set_page_size(page_size);
    v1::ListChangesResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(stub().ListChanges(&context, request, &response), IsOk());
    return response;
  }

  // A follower from an empty model: every page, checking that seqs are consecutive.
  Model Follow(int page_size) {
    Model model;
    int64_t seq = 0;
    for (;;) {
      const v1::ListChangesResponse page = Page(seq, page_size);
      for (const v1::Change& change : page.changes()) {
        EXPECT_EQ(change.seq(), seq + 1);
        model.Apply(change);
        seq = change.seq();
      }
      if (page.changes().empty()) {
        EXPECT_EQ(seq, page.head_seq());
        return model;
      }
    }
  }

  // What the store holds, read through the snapshot APIs.
  Model Snapshot() {
    Model model;
    {
      v1::ExportDataRequest request;
      request.set_from_month("2000-01");
      request.set_to_month("2099-12");
      request.set_from_year(2000);
      request.set_to_year(2099);
      grpc::ClientContext context;
      auto reader = stub().ExportData(&context, request);
      v1::ExportDataResponse chunk;
      while (reader->Read(&chunk)) {
        for (const v1::ParticipationRecord& r : chunk.records()) {
          model.Put(r);
        }
        for (const v1::DenominatorRecord& d : chunk.denominators()) {
          model.Put(d);
        }
      }
      EXPECT_THAT(reader->Finish(), IsOk());
    }
    v1::ListAdminUnitsRequest units;
    do {
      v1::ListAdminUnitsResponse response;
      grpc::ClientContext context;
      EXPECT_THAT(stub().ListAdminUnits(&context, units, &response), IsOk());
      for (const v1::AdminUnit& u : response.units()) {
        model.units[u.code()].push_back(u.SerializeAsString());
      }
      units.set_page_token(response.next_page_token());
    } while (!units.page_token().empty());
    v1::ListCrosswalkRequest links;
    do {
      v1::ListCrosswalkResponse response;
      grpc::ClientContext context;
      EXPECT_THAT(stub().ListCrosswalk(&context, links, &response), IsOk());
      for (const v1::CrosswalkLink& l : response.links()) {
        model.Put(l);
      }
      links.set_page_token(response.next_page_token());
    } while (!links.page_token().empty());
    return model;
  }

  int64_t ImportLinks(const std::string& request_id, const std::vector<v1::CrosswalkLink>& links) {
    v1::ImportCrosswalkRequest request;
    request.set_request_id(request_id);
    request.set_source("Nghị quyết 1654–1687/NQ-UBTVQH15");
    for (const v1::CrosswalkLink& l : links) {
      *request.add_links() = l;
    }
    v1::ImportCrosswalkResponse response;
    grpc::ClientContext context;
    EXPECT_THAT(stub().ImportCrosswalk(&context, request, &response), IsOk());
    return response.change_seq();
  }

  std::optional<std::string> url_;
  std::unique_ptr<IngestionHarness> harness_;
};

v1::CrosswalkLink Link(const std::string& from, const std::string& to, double share) {
  v1::CrosswalkLink link;
  link.set_from_code(from);
  link.set_to_code(to);
  link.set_effective_date(kReformDate);
  link.set_population_share(share);
  return link;
}

TEST_P(ChangeValuesTest, AChangeCarriesTheValuesItStored) {
  const int64_t first =
      testing::Submit(stub(),
                      {Record("28249", "2024-12", v1::SCHEME_HEALTH, 15000, 140),
                       Record("28249", "2024-12", v1::SCHEME_UNEMPLOYMENT, 900),
                       Record("28252", "2024-12", v1::SCHEME_HEALTH, 12000)},
                      {Denominator("28249", 2024, v1::DENOMINATOR_KIND_POPULATION, 16800)}, "r1")
          .change_seq();
  // One scheme of 28249 changes (in-province no longer known), the other is repeated: the
  // change carries the changed record only, as stored, and the pair once.
  const int64_t second =
      testing::Submit(stub(),
                      {Record("28249", "2024-12", v1::SCHEME_HEALTH, 15100),
                       Record("28249", "2024-12", v1::SCHEME_UNEMPLOYMENT, 900)},
                      {Denominator("28249", 2024, v1::DENOMINATOR_KIND_POPULATION, 16900),
                       Denominator("28249", 2024, v1::DENOMINATOR_KIND_LABOR_FORCE, 9000)},
                      "r2")
          .change_seq();
  ASSERT_EQ(second, first + 1);
  const v1::ListChangesResponse page = Page(first - 1);
  ASSERT_EQ(page.changes_size(), 2);

  const v1::Change& a = page.changes(0);
  EXPECT_EQ(a.seq(), first);
  ASSERT_EQ(a.records_size(), 3);
  EXPECT_EQ(a.records(0).unit_code(), "28249");
  EXPECT_EQ(a.records(0).scheme(), v1::SCHEME_HEALTH);
  EXPECT_EQ(a.records(0).in_province_participants(), 140);
  EXPECT_EQ(a.records(1).scheme(), v1::SCHEME_UNEMPLOYMENT);
  EXPECT_FALSE(a.records(1).has_in_province_participants());
  EXPECT_EQ(a.records(2).unit_code(), "28252");
  EXPECT_EQ(a.participation_size(), 2);
  ASSERT_EQ(a.denominator_values_size(), 1);
  EXPECT_EQ(a.denominator_values(0).value(), 16800);

  const v1::Change& b = page.changes(1);
  ASSERT_EQ(b.records_size(), 1);
  EXPECT_EQ(b.records(0).participants(), 15100);
  EXPECT_FALSE(b.records(0).has_in_province_participants());
  ASSERT_EQ(b.participation_size(), 1);
  ASSERT_EQ(b.denominators_size(), 1);
  ASSERT_EQ(b.denominator_values_size(), 2);
  EXPECT_EQ(b.denominator_values(0).kind(), v1::DENOMINATOR_KIND_POPULATION);
  EXPECT_EQ(b.denominator_values(0).value(), 16900);
  EXPECT_EQ(b.denominator_values(1).kind(), v1::DENOMINATOR_KIND_LABOR_FORCE);
  EXPECT_EQ(b.denominator_values(1).value(), 9000);
  EXPECT_TRUE(b.units().empty());

  // An import carries every version of each code it touched, as stored.
  const v1::ListChangesResponse imports = Page(0, 1);
  ASSERT_EQ(imports.changes_size(), 1);
  const v1::Change& units = imports.changes(0);
  EXPECT_EQ(units.admin_unit_codes_size(), 5);
  ASSERT_EQ(units.units_size(), 6);
  EXPECT_EQ(units.units(0).code(), "28249");
  EXPECT_EQ(units.units(0).name(), "Phường 5");
  EXPECT_EQ(units.units(3).code(), "815");
  EXPECT_EQ(units.units(4).code(), "82");
  EXPECT_EQ(units.units(4).valid_to(), kReformDate);
  EXPECT_EQ(units.units(5).name(), "Tỉnh Đồng Tháp");
  EXPECT_EQ(units.units(5).parent_code(), "VN");
}

TEST_P(ChangeValuesTest, AFollowerOfThePagesEndsWithWhatTheStoreHolds) {
  testing::Submit(stub(),
                  {Record("28249", "2024-12", v1::SCHEME_HEALTH, 15000, 14000),
                   Record("28252", "2024-12", v1::SCHEME_HEALTH, 12000),
                   Record("28261", "2025-08", v1::SCHEME_COMPULSORY_SOCIAL, 3000, 2900)},
                  {Denominator("28249", 2024, v1::DENOMINATOR_KIND_POPULATION, 16800)}, "r1");
  testing::Submit(stub(),
                  {Record("28249", "2024-12", v1::SCHEME_HEALTH, 15001),
                   Record("28249", "2024-11", v1::SCHEME_VOLUNTARY_SOCIAL, 70, 70)},
                  {Denominator("28249", 2024, v1::DENOMINATOR_KIND_POPULATION, 16850),
                   Denominator("82", 2025, v1::DENOMINATOR_KIND_LABOR_FORCE, 900000)},
                  "r2");
  // A later import renames a commune and adds one: the earlier change of the same code
  // already shows the new name, and a follower applying both in order ends with it.
  testing::ImportUnits(stub(),
                       {Unit("28249", ADMIN_LEVEL_COMMUNE, "815", "", kReformDate, "Phường Năm"),
                        Unit("28262", ADMIN_LEVEL_COMMUNE, "82", kReformDate, "", "Xã Đạo Thạnh")},
                       "units-2");
  ImportLinks("links-1", {Link("28249", "28261", 1), Link("28252", "28262", 1)});
  ImportLinks("links-2", {Link("28252", "28262", 0.5), Link("28252", "28261", 0.5)});

  const Model expected = Snapshot();
  ASSERT_EQ(expected.records.size(), 4u);
  ASSERT_EQ(expected.links.size(), 3u);
  EXPECT_TRUE(Follow(1000) == expected);
  EXPECT_TRUE(Follow(1) == expected);
  EXPECT_TRUE(Follow(2) == expected);
}

TEST_P(ChangeValuesTest, APageEndsBeforeItsEntriesPassTheBoundTheFirstChangeWhole) {
  // 100 communes × 60 months: 6,000 unit-months per report.
  std::vector<v1::AdminUnit> communes;
  for (int c = 0; c < 100; ++c) {
    communes.push_back(Unit(absl::StrCat(29000 + c), ADMIN_LEVEL_COMMUNE, "82", kReformDate, ""));
  }
  testing::ImportUnits(stub(), communes, "communes");
  auto report = [&](int first_month, int months, int participants) {
    std::vector<v1::ParticipationRecord> records;
    for (int c = 0; c < 100; ++c) {
      for (int m = first_month; m < first_month + months; ++m) {
        records.push_back(Record(absl::StrCat(29000 + c),
                                 absl::StrFormat("%04d-%02d", 2026 + m / 12, 1 + m % 12),
                                 v1::SCHEME_HEALTH, participants));
      }
    }
    return testing::Submit(stub(), records, {}, absl::StrCat("r", first_month, "-", participants))
        .change_seq();
  };
  const int64_t big = report(0, 120, 1);  // 12,000 entries: more than a page holds
  const int64_t next = report(0, 60, 2);
  const int64_t last = report(60, 60, 3);
  ASSERT_GT(12000, ingestion::kMaxEntriesPerPage);
  ASSERT_EQ(next, big + 1);
  ASSERT_EQ(last, next + 1);

  // From the start: the two imports and then the page stops before the large report.
  v1::ListChangesResponse page = Page(0);
  ASSERT_EQ(page.changes_size(), 2);
  EXPECT_EQ(page.changes(1).seq(), big - 1);
  EXPECT_EQ(page.head_seq(), last);
  // The large report alone, whole.
  page = Page(big - 1);
  ASSERT_EQ(page.changes_size(), 1);
  EXPECT_EQ(page.changes(0).participation_size(), 12000);
  EXPECT_EQ(page.changes(0).records_size(), 12000);
  // 6,000 + 6,000 would pass the bound: one change a page.
  page = Page(big);
  ASSERT_EQ(page.changes_size(), 1);
  EXPECT_EQ(page.changes(0).seq(), next);
  EXPECT_EQ(page.changes(0).records_size(), 6000);
  EXPECT_EQ(page.changes(0).records(0).participants(), 2);
  page = Page(next);
  ASSERT_EQ(page.changes_size(), 1);
  EXPECT_EQ(page.changes(0).records(5999).participants(), 3);
  EXPECT_TRUE(Page(last).changes().empty());
}

// Reads `count` changes from a watch after `after_seq`, then disconnects.
std::vector<v1::Change> Watch(v1::IngestionService::Stub& stub, int64_t after_seq, int count) {
  v1::WatchChangesRequest request;
  request.set_after_seq(after_seq);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub.WatchChanges(&context, request);
  std::vector<v1::Change> changes;
  v1::Change change;
  while (static_cast<int>(changes.size()) < count && reader->Read(&change)) {
    changes.push_back(change);
  }
  context.TryCancel();
  reader->Finish();
  return changes;
}

TEST_P(ChangeValuesTest, AWatcherResumesFromItsSeqAndGetsEveryChangeOnceInOrder) {
  const int64_t r1 =
      testing::Submit(stub(), {Record("28249", "2024-12", v1::SCHEME_HEALTH, 15000)}, {}, "r1")
          .change_seq();
  const int64_t r2 =
      testing::Submit(stub(), {Record("28252", "2024-12", v1::SCHEME_HEALTH, 12000)}, {}, "r2")
          .change_seq();

  std::vector<v1::Change> seen = Watch(stub(), 0, 2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].seq(), 2);
  // Committed while the follower is away, one of them while the server restarts.
  testing::Submit(stub(), {Record("28249", "2024-12", v1::SCHEME_HEALTH, 15001)}, {}, "r3");
  harness_.reset();
  harness_ = IngestionHarness::Start(*url_);
  const int64_t r4 =
      testing::Submit(stub(), {Record("28261", "2025-08", v1::SCHEME_HEALTH, 500)}, {}, "r4")
          .change_seq();

  // The follower resumes from its seq: the imports' seq 1 is not sent again.
  std::vector<v1::Change> resumed = Watch(stub(), seen.back().seq(), r4 - seen.back().seq());
  seen.insert(seen.end(), resumed.begin(), resumed.end());
  // One more, committed after the watch resumed: streamed too.
  std::thread writer([&] {
    testing::Submit(stub(), {Record("28252", "2024-12", v1::SCHEME_HEALTH, 12001)}, {}, "r5");
  });
  std::vector<v1::Change> live = Watch(stub(), seen.back().seq(), 1);
  writer.join();
  seen.insert(seen.end(), live.begin(), live.end());

  ASSERT_EQ(static_cast<int64_t>(seen.size()), r4 + 1);
  for (size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].seq(), static_cast<int64_t>(k) + 1);
  }
  EXPECT_EQ(seen[r1 - 1].records(0).participants(), 15000);
  EXPECT_EQ(seen[r2 - 1].records(0).unit_code(), "28252");
  EXPECT_EQ(seen[r4 - 2].records(0).participants(), 15001);
  EXPECT_EQ(seen[r4 - 1].records(0).unit_code(), "28261");
  EXPECT_EQ(seen.back().records(0).participants(), 12001);
}

INSTANTIATE_TEST_SUITE_P(Stores, ChangeValuesTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace covtrack
