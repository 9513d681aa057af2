#pragma once

// The real target service, in-process on a free loopback port, on a new SQLite store, reading
// figures from an aggregation service and units from an ingestion service (e.g. an
// AggregationHarness and an IngestionHarness), as the integration tests run the three.

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/server.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "services/targets/target_service.h"

namespace covtrack::testing {

class TargetsHarness {
 public:
  // Aborts the test binary with a message if the service cannot start (a broken test setup).
  // `aggregation_deadline`: TargetOptions::aggregation_deadline (a test reading the whole
  // country may need more than the default).
  static std::unique_ptr<TargetsHarness> Start(std::string aggregation_addr,
                                               std::string ingestion_addr,
                                               absl::Duration aggregation_deadline);
  ~TargetsHarness() { Stop(); }

  std::string address() const { return address_; }
  v1::TargetService::Stub& stub() { return *stub_; }
  // Graceful shutdown of the server; the stub's calls then fail with UNAVAILABLE.
  void Stop();

 private:
  std::unique_ptr<targets::TargetServiceImpl> service_;
  std::unique_ptr<Server> server_;
  std::string address_;
  std::unique_ptr<v1::TargetService::Stub> stub_;
};

}  // namespace covtrack::testing
