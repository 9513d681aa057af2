#pragma once

// The aggregation service's only way to ingestion's data: one channel, one stub, a deadline on
// every call (its budget below, never past the deadline of the call being served: SetCallDeadline
// in common/client.h), and listings and exports that stop between pages and chunks when the
// call being served is cancelled (CANCELLED). ChangeHeadReader (change_head_reader.h) shares
// GetChangeHead among concurrent requests.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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
  // Every crosswalk link (every page).
  absl::StatusOr<std::vector<v1::CrosswalkLink>> ListAllCrosswalkLinks();

  struct Export {
    CoverageData data;
    int64_t snapshot_seq = 0;
  };
  // The subtree of `root` as of `as_of`, months [from, to], denominators of years [from, to].
  absl::StatusOr<Export> ExportData(const std::string& root, const std::string& as_of,
                                    const std::string& from_month, const std::string& to_month,
                                    int from_year, int to_year);

 private:
  IngestionClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

}  // namespace covtrack::aggregation
