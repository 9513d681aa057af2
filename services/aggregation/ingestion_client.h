#pragma once

// The aggregation service's only way to ingestion's data: one channel, one stub, a deadline on
// every call.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "services/aggregation/rollup.h"

namespace covtrack::aggregation {

struct IngestionClientOptions {
  absl::Duration call_deadline = absl::Seconds(5);      // unary calls
  absl::Duration export_deadline = absl::Seconds(120);  // a national export streams ~10^6 rows
};

class IngestionClient {
 public:
  // `channel` from common/client.h (TLS and request ids as configured).
  IngestionClient(std::shared_ptr<grpc::Channel> channel, const IngestionClientOptions& options);

  absl::StatusOr<int64_t> GetChangeHead();
  // Changes after `after_seq`, one page.
  absl::StatusOr<v1::ListChangesResponse> ListChanges(int64_t after_seq, int page_size);
  // Every version of every unit (the full history).
  absl::StatusOr<std::vector<v1::AdminUnit>> ListAllUnits();

  struct Export {
    CoverageData data;
    int64_t snapshot_seq = 0;
  };
  // The subtree of `root` as of `as_of`, months [from, to], denominators of years [from, to].
  absl::StatusOr<Export> ExportData(const std::string& root, const std::string& as_of,
                                    const std::string& from_month, const std::string& to_month,
                                    int from_year, int to_year);

  v1::IngestionService::Stub& stub() { return *stub_; }

 private:
  void SetDeadline(grpc::ClientContext& context, absl::Duration d) const;
  IngestionClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

// Coalesces concurrent GetChangeHead lookups. Get() returns the head read by an RPC that
// started after Get() was called, so a write acknowledged before the call is always seen; all
// callers waiting at once share that one RPC, so the cost is amortised under load.
class ChangeHeadReader {
 public:
  explicit ChangeHeadReader(IngestionClient& client) : client_(client) {}
  absl::StatusOr<int64_t> Get();
  int64_t rpc_count() const;

 private:
  IngestionClient& client_;
  mutable absl::Mutex mu_;
  absl::CondVar waiting_[2];  // by the parity of the lookup number waited for
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;    // lookups started
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;  // the newest lookup finished (its number)
  absl::StatusOr<int64_t> result_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace covtrack::aggregation
