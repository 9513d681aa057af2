#include "tests/testing/ingestion_harness.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "common/status/status.h"

namespace covtrack::testing {

std::unique_ptr<IngestionHarness> IngestionHarness::Start(std::string store_url) {
  auto harness = std::make_unique<IngestionHarness>();
  ingestion::IngestionOptions options;
  options.store_url = store_url;
  auto service = ingestion::IngestionServiceImpl::Create(options);
  if (!service.ok()) {
    std::cerr << "ingestion harness: " << service.status() << "\n";
    std::abort();
  }
  harness->service_ = std::move(*service);
  ServerOptions server_options;
  server_options.service_name = "ingestion-test";
  server_options.shutdown_grace = absl::Seconds(2);
  auto server = Server::Start(server_options, {harness->service_.get()});
  if (!server.ok()) {
    std::cerr << "ingestion harness: " << server.status() << "\n";
    std::abort();
  }
  harness->server_ = std::move(*server);
  harness->address_ = harness->server_->address();
  harness->stub_ = v1::IngestionService::NewStub(
      grpc::CreateChannel(harness->address_, grpc::InsecureChannelCredentials()));
  return harness;
}

void IngestionHarness::Stop() {
  if (server_ != nullptr) {
    server_->Shutdown();
  }
}

void ImportUnits(v1::IngestionService::Stub& stub, const std::vector<v1::AdminUnit>& units,
                 const std::string& request_id) {
  v1::ImportAdminUnitsRequest request;
  request.set_request_id(request_id);
  for (const v1::AdminUnit& u : units) {
    *request.add_units() = u;
  }
  v1::ImportAdminUnitsResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub.ImportAdminUnits(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
}

v1::SubmitReportResponse Submit(v1::IngestionService::Stub& stub,
                                const std::vector<v1::ParticipationRecord>& records,
                                const std::vector<v1::DenominatorRecord>& denominators,
                                const std::string& request_id) {
  v1::SubmitReportRequest request;
  request.set_request_id(request_id);
  request.set_source("test");
  for (const auto& r : records) {
    *request.add_records() = r;
  }
  for (const auto& d : denominators) {
    *request.add_denominators() = d;
  }
  v1::SubmitReportResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub.SubmitReport(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

absl::StatusOr<StoreWithUnits> OpenStoreWithUnits(const std::string& url,
                                                  const std::vector<v1::AdminUnit>& units) {
  StoreWithUnits opened;
  ASSIGN_OR_RETURN(opened.db, sql::Database::Open(url));
  ASSIGN_OR_RETURN(opened.store, ingestion::IngestionStore::Create(opened.db.get()));
  v1::ImportAdminUnitsRequest request;
  request.set_request_id("units");
  for (const v1::AdminUnit& u : units) {
    *request.add_units() = u;
  }
  RETURN_IF_ERROR(
      opened.store->ImportAdminUnits(request, ingestion::Sender{"test-peer", "test"}).status());
  return opened;
}

}  // namespace covtrack::testing
