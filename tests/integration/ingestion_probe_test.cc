// Findings of the adversarial probe (issue 13) against a real ingestion process on loopback:
// WatchChanges streams give back what they took once they close (memory, open files), and an
// export of a stored hierarchy that loops ends instead of growing memory without bound.
#include <dirent.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/sql/database.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/builders.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack {
namespace {

using testing::CovtrackProcesses;
using testing::Eventually;
using testing::FreshChannel;
using testing::IsOk;
using testing::SetDeadline;
using testing::Unit;

constexpr absl::Duration kCallDeadline = absl::Seconds(30);

// VmRSS of a process, in kB (0 when it cannot be read).
int64_t ResidentKb(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') {
          digits += c;
        }
      }
      return absl::SimpleAtoi(digits, &kb) ? kb : 0;
    }
  }
  return 0;
}

// Open file descriptors of a process.
int OpenFiles(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) {
    return -1;
  }
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') {
      ++count;
    }
  }
  closedir(dir);
  return count;
}

class IngestionProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    store_path_ = absl::StrCat(dir_, "/ingestion.db");
    CovtrackProcesses::Options options;
    options.binaries.ingestion = COVTRACK_INGESTION_BINARY;
    options.dir = dir_;
    options.ingestion_store = absl::StrCat("sqlite:", store_path_);
    system_ = std::make_unique<CovtrackProcesses>(options);
    ASSERT_THAT(system_->StartIngestion(), IsOk());
    stub_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
  }

  void Import(const std::vector<v1::AdminUnit>& units, const std::string& request_id) {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id(request_id);
    for (const v1::AdminUnit& u : units) {
      *request.add_units() = u;
    }
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    ASSERT_THAT(stub_->ImportAdminUnits(&context, request, &response), IsOk());
  }

  std::string dir_;
  std::string store_path_;
  std::unique_ptr<CovtrackProcesses> system_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

// 480 WatchChanges streams, 30 at a time (below the server's bound on concurrent calls), each
// woken by a commit and then closed: the process gives back their memory and files. The probe
// saw 860 MB (from 47 MB) and 473 open files after 500 streams had closed: every open stream
// read the feed at the same moment, and the store kept a connection open for each. The bounds
// are generous: they catch a connection kept per stream, not allocator noise.
TEST_F(IngestionProbeTest, WatchStreamsGiveBackTheirMemoryAndFilesWhenTheyClose) {
  ASSERT_NO_FATAL_FAILURE(Import({Unit("82", v1::ADMIN_LEVEL_PROVINCE, "", "", "", "TG")}, "u"));
  const pid_t pid = system_->ingestion()->pid();

  constexpr int kRounds = 16;
  // At once: with a round's streams still ending on the server while the next opens, two
  // rounds and an import stay below --max_concurrent_calls (64 by default).
  constexpr int kStreams = 30;
  constexpr int kStreamsPerChannel = 15;  // below the server's streams per connection
  auto open_and_close = [&](int streams, const std::string& request_id) {
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<v1::IngestionService::Stub>> stubs;
    for (int i = 0; i < (streams + kStreamsPerChannel - 1) / kStreamsPerChannel; ++i) {
      channels.push_back(FreshChannel(system_->ingestion_address()));
      stubs.push_back(v1::IngestionService::NewStub(channels.back()));
    }
    v1::ChangeHead head;
    {
      grpc::ClientContext context;
      SetDeadline(&context, kCallDeadline);
      ASSERT_THAT(stub_->GetChangeHead(&context, {}, &head), IsOk());
    }
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReader<v1::Change>>> readers;
    v1::WatchChangesRequest request;
    request.set_after_seq(head.seq());
    for (int i = 0; i < streams; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      SetDeadline(contexts.back().get(), absl::Seconds(120));
      readers.push_back(
          stubs[i / kStreamsPerChannel]->WatchChanges(contexts.back().get(), request));
    }
    // One commit wakes every stream; each reads it.
    ASSERT_NO_FATAL_FAILURE(Import(
        {Unit("83", v1::ADMIN_LEVEL_PROVINCE, "", "", "", absl::StrCat("name ", request_id))},
        request_id));
    int received = 0;
    for (auto& reader : readers) {
      v1::Change change;
      received += reader->Read(&change) ? 1 : 0;
    }
    EXPECT_EQ(received, streams);
    for (auto& context : contexts) {
      context->TryCancel();
    }
    for (auto& reader : readers) {
      reader->Finish();
    }
  };
  // A first round warms up what any server keeps (gRPC's threads, the store's first
  // connections); the second must cost nothing more once it is over.
  ASSERT_NO_FATAL_FAILURE(open_and_close(kStreams, "warm-up"));
  const int64_t rss_before = ResidentKb(pid);
  const int files_before = OpenFiles(pid);
  ASSERT_GT(rss_before, 0);
  ASSERT_GT(files_before, 0);

  for (int round = 0; round < kRounds; ++round) {
    ASSERT_NO_FATAL_FAILURE(open_and_close(kStreams, absl::StrCat("round-", round)));
  }
  // The streams' threads end a moment after the calls: wait (bounded) for the files to settle.
  EXPECT_TRUE(Eventually([&] { return OpenFiles(pid) <= files_before + 20; }, absl::Seconds(30)))
      << "open files: " << files_before << " before, " << OpenFiles(pid) << " after";
  const int64_t rss_after = ResidentKb(pid);
  std::cout << "ingestion after " << kRounds * kStreams << " watch streams: VmRSS " << rss_before
            << " -> " << rss_after << " kB, open files " << files_before << " -> " << OpenFiles(pid)
            << "\n";
  EXPECT_LT(rss_after, rss_before + 100 * 1024)
      << "VmRSS grew by " << (rss_after - rss_before) / 1024 << " MB";

  // Still serving.
  v1::ChangeHead head;
  grpc::ClientContext context;
  SetDeadline(&context, kCallDeadline);
  EXPECT_THAT(stub_->GetChangeHead(&context, {}, &head), IsOk());
}

// A hierarchy that loops, written into the store directly as a store written before ingestion
// refused cycles might hold it: the export walks each unit once and ends. The probe saw an
// export of such a hierarchy grow the process to 19 GB in two minutes.
TEST_F(IngestionProbeTest, AnExportOfAStoredCycleEnds) {
  ASSERT_NO_FATAL_FAILURE(Import({Unit("90", v1::ADMIN_LEVEL_PROVINCE, "", "", "", "P"),
                                  Unit("901", v1::ADMIN_LEVEL_DISTRICT, "90", "", "", "D1"),
                                  Unit("902", v1::ADMIN_LEVEL_DISTRICT, "90", "", "", "D2")},
                                 "units"));
  {
    auto db = sql::Database::Open(absl::StrCat("sqlite:", store_path_));
    ASSERT_THAT(db.status(), IsOk());
    // From 2030, 901 and 902 name each other as parent.
    ASSERT_THAT((*db)->Write([](sql::Session& s) -> absl::Status {
      for (const auto& [code, parent] :
           std::vector<std::pair<std::string, std::string>>{{"901", "902"}, {"902", "901"}}) {
        absl::StatusOr<int64_t> rows =
            s.Execute("UPDATE admin_units SET valid_to = '2030-01-01' WHERE code = $1", {code});
        if (!rows.ok()) {
          return rows.status();
        }
        rows = s.Execute(
            "INSERT INTO admin_units (code, valid_from, valid_to, name, level, type, "
            "parent_code, change_seq) VALUES ($1, '2030-01-01', '9999-12-31', 'loop', 3, '', $2, "
            "1)",
            {code, parent});
        if (!rows.ok()) {
          return rows.status();
        }
      }
      return absl::OkStatus();
    }),
                IsOk());
  }
  v1::ExportDataRequest request;
  request.set_root_code("901");
  request.set_as_of("2031-01-01");
  request.set_from_month("2030-01");
  request.set_to_month("2031-12");
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(60));
  auto reader = stub_->ExportData(&context, request);
  v1::ExportDataResponse chunk;
  while (reader->Read(&chunk)) {
  }
  // Each unit once (901, then 902 beneath it, and 901 is not walked again).
  EXPECT_THAT(reader->Finish(), IsOk());
  EXPECT_LT(ResidentKb(system_->ingestion()->pid()), 1024 * 1024) << "the export grew memory";
}

}  // namespace
}  // namespace covtrack
