// The change-head reader against a fake ingestion service on loopback: every caller sees each
// write acknowledged before its call, concurrent callers share lookups, and a failed lookup is
// reported to its callers without sticking.
#include "services/aggregation/change_head_reader.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/aggregation/ingestion_client.h"
#include "tests/testing/status_matchers.h"

namespace covtrack::aggregation {
namespace {

using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::HasSubstr;

// Ingestion's GetChangeHead only: it reads the head when the call starts (as ingestion does in
// its read transaction), then takes `latency` to answer, like a call that crosses the network.
class FakeIngestion final : public v1::IngestionService::Service {
 public:
  grpc::Status GetChangeHead(grpc::ServerContext*, const v1::GetChangeHeadRequest*,
                             v1::ChangeHead* head) override {
    calls.fetch_add(1);
    if (failing.load()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store restarting");
    }
    if (busy.load()) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "server busy: 64 calls in progress, its limit; retry after 1000 ms");
    }
    head->set_seq(this->head.load());
    std::this_thread::sleep_for(latency);
    return grpc::Status::OK;
  }

  std::atomic<int64_t> head{0};
  std::atomic<bool> failing{false};
  std::atomic<bool> busy{false};
  std::atomic<int> calls{0};
  std::chrono::milliseconds latency{0};
};

class ChangeHeadReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&ingestion_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    client_ = std::make_unique<IngestionClient>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()),
        IngestionClientOptions{});
    reader_ = std::make_unique<ChangeHeadReader>(*client_);
  }
  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown();
    }
  }

  FakeIngestion ingestion_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<IngestionClient> client_;
  std::unique_ptr<ChangeHeadReader> reader_;
};

TEST_F(ChangeHeadReaderTest, EachCallReadsTheHeadAnew) {
  ingestion_.head = 3;
  absl::StatusOr<int64_t> first = reader_->Get();
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(*first, 3);
  ingestion_.head = 7;
  absl::StatusOr<int64_t> second = reader_->Get();
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(*second, 7);  // nothing is kept from one call to the next
  EXPECT_EQ(reader_->rpc_count(), 2);
  EXPECT_EQ(ingestion_.calls.load(), 2);
}

TEST_F(ChangeHeadReaderTest, ConcurrentCallersSeeEveryEarlierWriteAndShareLookups) {
  ingestion_.latency = std::chrono::milliseconds(2);
  std::atomic<bool> writing{true};
  // Writes acknowledged one after another while the readers ask.
  std::thread writer([&] {
    while (writing.load()) {
      ingestion_.head.fetch_add(1);
      std::this_thread::yield();
    }
  });
  constexpr int kReaders = 16;
  constexpr int kCallsEach = 30;
  std::atomic<int> stale{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      for (int i = 0; i < kCallsEach; ++i) {
        const int64_t acknowledged = ingestion_.head.load();
        absl::StatusOr<int64_t> head = reader_->Get();
        if (!head.ok()) {
          failed.fetch_add(1);
        } else if (*head < acknowledged) {
          stale.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : readers) {
    t.join();
  }
  writing = false;
  writer.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(stale.load(), 0) << "a caller was given a head read before its call";
  EXPECT_EQ(reader_->rpc_count(), ingestion_.calls.load());
  EXPECT_LT(reader_->rpc_count(), kReaders * kCallsEach) << "no two callers shared a lookup";
}

TEST_F(ChangeHeadReaderTest, AFailedLookupIsReportedAndTheNextOneTriesAgain) {
  ingestion_.failing = true;
  EXPECT_THAT(reader_->Get(), StatusIs(absl::StatusCode::kUnavailable,
                                       HasSubstr("ingestion GetChangeHead: store restarting")));
  ingestion_.failing = false;
  ingestion_.head = 12;
  absl::StatusOr<int64_t> head = reader_->Get();
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(*head, 12);
  EXPECT_EQ(reader_->rpc_count(), 2);
}

// Ingestion refusing for lack of room is not aggregation's caller's doing: they see
// UNAVAILABLE (which their retry policy retries) with ingestion's delay, not RESOURCE_EXHAUSTED.
TEST_F(ChangeHeadReaderTest, IngestionOutOfRoomIsUnavailableToTheCaller) {
  ingestion_.busy = true;
  EXPECT_THAT(client_->GetChangeHead(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("retry after 1000 ms")));
}

}  // namespace
}  // namespace covtrack::aggregation
