#pragma once

// The real ingestion service, in-process on a free loopback port, over a real store.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/server.h"
#include "common/sql/database.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "services/ingestion/ingestion_service.h"
#include "services/ingestion/ingestion_store.h"
#include "tests/testing/builders.h"
#include "tests/testing/test_env.h"

namespace covtrack::testing {

class IngestionHarness {
 public:
  // Aborts the test binary with a message if the service cannot start (a broken test setup).
  static std::unique_ptr<IngestionHarness> Start(std::string store_url = SqliteStoreUrl());
  ~IngestionHarness() { Stop(); }

  std::string address() const { return address_; }
  v1::IngestionService::Stub& stub() { return *stub_; }
  // Graceful shutdown of the server; the stub's calls then fail with UNAVAILABLE.
  void Stop();

 private:
  std::unique_ptr<ingestion::IngestionServiceImpl> service_;
  std::unique_ptr<Server> server_;
  std::string address_;
  std::unique_ptr<v1::IngestionService::Stub> stub_;
};

// Imports units with one ImportAdminUnits call and fails the current test if it is refused.
void ImportUnits(v1::IngestionService::Stub& stub, const std::vector<v1::AdminUnit>& units,
                 const std::string& request_id);

// Submits records and denominators in one SubmitReport and fails the test if refused.
v1::SubmitReportResponse Submit(v1::IngestionService::Stub& stub,
                                const std::vector<v1::ParticipationRecord>& records,
                                const std::vector<v1::DenominatorRecord>& denominators,
                                const std::string& request_id);

// For tests of the store itself, without the service: a store opened on `url`
// (NewStoreUrl), holding `units` (imported in one ImportAdminUnits).
struct StoreWithUnits {
  std::unique_ptr<sql::Database> db;
  std::unique_ptr<ingestion::IngestionStore> store;
};
absl::StatusOr<StoreWithUnits> OpenStoreWithUnits(const std::string& url,
                                                  const std::vector<v1::AdminUnit>& units);

}  // namespace covtrack::testing
