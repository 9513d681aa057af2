#pragma once

// The real aggregation service, in-process on a free loopback port, reading from an ingestion
// service at `ingestion_addr` (e.g. an IngestionHarness) and caching in Redis at `redis_addr`
// (empty: the in-process cache). Cache keys are namespaced by process and ingestion address,
// so tests sharing one Redis never see each other's entries, while two harnesses on the same
// ingestion service share theirs like replicas do.

#include <memory>
#include <string>

#include "common/server.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "services/aggregation/aggregation_service.h"

namespace covtrack::testing {

// The key replicas sign Redis entries with, in tests (AggregationOptions::cache_key).
inline constexpr char kTestCacheKey[] = "covtrack tests' cache key, not a secret anywhere";

class AggregationHarness {
 public:
  // Aborts the test binary with a message if the service cannot start (a broken test setup).
  // With Redis, entries are signed with kTestCacheKey. Reads without a token are
  // CONSISTENCY_FULL (read-your-writes, as the tests written before tokens expect).
  static std::unique_ptr<AggregationHarness> Start(std::string ingestion_addr,
                                                   std::string redis_addr = "");
  // With every option chosen by the caller.
  static std::unique_ptr<AggregationHarness> Start(const aggregation::AggregationOptions& options);
  ~AggregationHarness() { Stop(); }

  std::string address() const { return address_; }
  v1::AggregationService::Stub& stub() { return *stub_; }
  // The service itself, for its counters (cache hits, stale entries, ...).
  aggregation::AggregationServiceImpl& service() { return *service_; }
  // Graceful shutdown of the server; the stub's calls then fail with UNAVAILABLE.
  void Stop();

 private:
  std::unique_ptr<aggregation::AggregationServiceImpl> service_;
  std::unique_ptr<Server> server_;
  std::string address_;
  std::unique_ptr<v1::AggregationService::Stub> stub_;
};

}  // namespace covtrack::testing
