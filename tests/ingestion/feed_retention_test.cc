// The change feed's retention rule (issue 15, part 3), on SQLite and PostgreSQL: changes outside
// the window lose their items, a reader from before the window gets the gap a follower reloads
// after, each write prunes a bounded number of changes, and the audit trail keeps every
// revision with its request id.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/paging/paging.h"
#include "common/sql/database.h"
#include "services/ingestion/change_feed.h"
#include "services/ingestion/ingestion_store.h"
#include "tests/testing/builders.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using ingestion::FeedRetention;
using ingestion::IngestionStore;
using testing::IsOk;
using testing::Record;
using testing::Unit;
using v1::ADMIN_LEVEL_COMMUNE;
using v1::ADMIN_LEVEL_DISTRICT;
using v1::ADMIN_LEVEL_PROVINCE;

const ingestion::Sender kSender{"test-peer", "test"};

class FeedRetentionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    url_ = testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url_, "PostgreSQL");
  }

  // A store on the test's database under `retention` (opened again by each call).
  std::unique_ptr<IngestionStore> Open(const FeedRetention& retention) {
    auto db = sql::Database::Open(*url_);
    EXPECT_THAT(db.status(), IsOk());
    db_.push_back(std::move(*db));
    auto store = IngestionStore::Create(db_.back().get(), retention);
    EXPECT_THAT(store.status(), IsOk());
    return std::move(*store);
  }

  // The catalogue (seq 1).
  static void ImportUnits(IngestionStore& store) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("units");
    for (const v1::AdminUnit& u :
         {Unit("82", ADMIN_LEVEL_PROVINCE, ""), Unit("815", ADMIN_LEVEL_DISTRICT, "82"),
          Unit("28249", ADMIN_LEVEL_COMMUNE, "815")}) {
      *request.add_units() = u;
    }
    ASSERT_THAT(store.ImportAdminUnits(request, kSender).status(), IsOk());
  }

  // One report of commune 28249 for month 2024-`n` (one change each).
  static int64_t Report(IngestionStore& store, int n) {
    v1::SubmitReportRequest request;
    request.set_request_id(absl::StrCat("report-", n));
    *request.add_records() =
        Record("28249", absl::StrFormat("2024-%02d", n), v1::SCHEME_HEALTH, 100 + n);
    auto response = store.SubmitReport(request, kSender);
    EXPECT_THAT(response.status(), IsOk());
    return response.ok() ? response->change_seq() : -1;
  }

  std::optional<std::string> url_;
  std::vector<std::unique_ptr<sql::Database>> db_;
};

TEST_P(FeedRetentionTest, AFollowerBeforeTheWindowGetsTheGapAndTheAuditTrailStays) {
  auto store = Open(FeedRetention{absl::ZeroDuration(), 2});
  ImportUnits(*store);
  for (int n = 1; n <= 5; ++n) {
    ASSERT_EQ(Report(*store, n), n + 1);
  }
  // Head 6, the newest 2 kept: each write pruned what fell out of the window, through seq 4.
  auto page = store->ListChanges(0, 100);
  ASSERT_THAT(page.status(), IsOk());
  EXPECT_EQ(page->head_seq(), 6);
  ASSERT_EQ(page->changes_size(), 2);
  EXPECT_EQ(page->changes(0).seq(), 5);
  EXPECT_EQ(page->changes(1).seq(), 6);
  ASSERT_EQ(page->changes(0).records_size(), 1);  // the retained changes are whole
  EXPECT_EQ(page->changes(0).records(0).month(), "2024-04");
  EXPECT_EQ(page->changes(0).records(0).participants(), 104);

  // A follower that applied seq 3 asks for what follows: the first seq returned is past 4,
  // the gap after which it reloads its snapshot (services/aggregation/live_view.cc, Follow).
  auto behind = store->ListChanges(3, 1);
  ASSERT_THAT(behind.status(), IsOk());
  ASSERT_EQ(behind->changes_size(), 1);
  EXPECT_GT(behind->changes(0).seq(), 4);
  // One inside the window follows on without a gap.
  auto current = store->ListChanges(5, 10);
  ASSERT_THAT(current.status(), IsOk());
  ASSERT_EQ(current->changes_size(), 1);
  EXPECT_EQ(current->changes(0).seq(), 6);

  // The audit trail keeps every revision, with who sent it.
  v1::ListRevisionsRequest request;
  request.set_unit_code("28249");
  request.set_page_size(100);
  auto revisions = store->ListRevisions(request, *PageRequest::Read(request, {100, 1000}));
  ASSERT_THAT(revisions.status(), IsOk());
  ASSERT_EQ(revisions->revisions_size(), 5);
  for (int n = 1; n <= 5; ++n) {
    EXPECT_EQ(revisions->revisions(n - 1).request_id(), absl::StrCat("report-", n));
    EXPECT_EQ(revisions->revisions(n - 1).change_seq(), n + 1);
  }
}

TEST_P(FeedRetentionTest, ChangesInsideEitherBoundAreKept) {
  // Young changes stay whatever their number; many changes stay whatever their age.
  for (const FeedRetention& retention :
       {FeedRetention{absl::Hours(1), 1}, FeedRetention{absl::ZeroDuration(), 100},
        FeedRetention{absl::InfiniteDuration(), 1}}) {
    SetUp();
    auto store = Open(retention);
    ImportUnits(*store);
    for (int n = 1; n <= 5; ++n) {
      Report(*store, n);
    }
    auto page = store->ListChanges(0, 100);
    ASSERT_THAT(page.status(), IsOk());
    ASSERT_EQ(page->changes_size(), 6);
    EXPECT_EQ(page->changes(0).seq(), 1);
    EXPECT_EQ(page->changes(0).units_size(), 3);
  }
}

TEST_P(FeedRetentionTest, EachWritePrunesABoundedNumberOfChanges) {
  {
    auto store = Open(FeedRetention{absl::InfiniteDuration(), 1});
    ImportUnits(*store);
    for (int n = 1; n <= 9; ++n) {
      Report(*store, n);
    }
  }
  // Ten changes, none pruned; now a rule that lets all but the newest go. One write prunes
  // kMaxChangesPrunedPerWrite of them, the next as many again.
  auto store = Open(FeedRetention{absl::ZeroDuration(), 1});
  ASSERT_EQ(Report(*store, 10), 11);
  auto page = store->ListChanges(0, 100);
  ASSERT_THAT(page.status(), IsOk());
  ASSERT_GT(page->changes_size(), 0);
  EXPECT_EQ(page->changes(0).seq(), ingestion::kMaxChangesPrunedPerWrite + 1);
  ASSERT_EQ(Report(*store, 11), 12);
  page = store->ListChanges(0, 100);
  ASSERT_THAT(page.status(), IsOk());
  ASSERT_GT(page->changes_size(), 0);
  EXPECT_EQ(page->changes(0).seq(), 2 * ingestion::kMaxChangesPrunedPerWrite + 1);
}

TEST_P(FeedRetentionTest, ARuleThatWouldDropTheHeadIsRefused) {
  auto db = sql::Database::Open(*url_);
  ASSERT_THAT(db.status(), IsOk());
  auto no_head = IngestionStore::Create(db->get(), FeedRetention{absl::Hours(1), 0});
  EXPECT_EQ(no_head.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_head.status().message()), ::testing::HasSubstr("keep_newest"));
  auto negative = IngestionStore::Create(db->get(), FeedRetention{absl::Hours(-1), 10});
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(negative.status().message()), ::testing::HasSubstr("keep_for"));
}

INSTANTIATE_TEST_SUITE_P(Stores, FeedRetentionTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace covtrack
