#pragma once

// The aggregation service's only way to ingestion's data: one channel, one stub, a deadline on
// every unary call and export (its budget below, never past the deadline of the call being
// served: SetCallDeadline in common/client.h), and listings and exports that stop between pages
// and chunks when the call being served is cancelled (CANCELLED). The replica's follower
// (live_view.cc) loads its snapshot and follows the feed through it; ChangeHeadReader
// (change_head_reader.h) shares GetChangeHead among concurrent CONSISTENCY_FULL reads.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"

namespace covtrack::aggregation {

struct IngestionClientOptions {
  absl::Duration call_deadline = absl::Seconds(5);  // unary calls
  // The snapshot a replica loads at start: the whole country, every month (~5 * 10^6 rows).
  absl::Duration export_deadline = absl::Seconds(120);
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

  // The subtree of `root` as of `as_of`, months [from, to], denominators of years [from, to]
  // and, with `include_measures`, the measures of those months, chunk by chunk into `sink`;
  // returns the seq the whole export is consistent with.
  absl::StatusOr<int64_t> ExportData(
      const std::string& root, const std::string& as_of, const std::string& from_month,
      const std::string& to_month, int from_year, int to_year, bool include_measures,
      const std::function<void(const v1::ExportDataResponse&)>& sink);
  // Follows the feed after `after_seq` on a stream without deadline: `on_change` gets each
  // change as it commits, until it returns false or the stream ends (ingestion restarting,
  // `context` cancelled from another thread). The stream's end status.
  absl::Status WatchChanges(int64_t after_seq, grpc::ClientContext& context,
                            const std::function<bool(const v1::Change&)>& on_change);

 private:
  IngestionClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

}  // namespace covtrack::aggregation
