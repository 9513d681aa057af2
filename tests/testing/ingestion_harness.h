#pragma once

// The real ingestion service, in-process on a free loopback port, over a real store.

#include <memory>
#include <string>

#include "common/server.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "services/ingestion/ingestion_service.h"
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

// Small builders for tests.
v1::AdminUnit Unit(const std::string& code, v1::AdminLevel level, const std::string& parent,
                   const std::string& valid_from = "", const std::string& valid_to = "",
                   const std::string& name = "");
v1::ParticipationRecord Record(const std::string& unit, const std::string& month,
                               v1::Scheme scheme, int64_t participants,
                               std::optional<int64_t> in_province = std::nullopt);
v1::DenominatorRecord Denominator(const std::string& unit, int year, v1::DenominatorKind kind,
                                  int64_t value);

}  // namespace covtrack::testing
