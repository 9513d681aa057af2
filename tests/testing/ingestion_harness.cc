#include "tests/testing/ingestion_harness.h"

#include <cstdlib>
#include <iostream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

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

v1::AdminUnit Unit(const std::string& code, v1::AdminLevel level, const std::string& parent,
                   const std::string& valid_from, const std::string& valid_to,
                   const std::string& name) {
  v1::AdminUnit u;
  u.set_code(code);
  u.set_name(name.empty() ? "Unit " + code : name);
  u.set_level(level);
  u.set_type(level == v1::ADMIN_LEVEL_PROVINCE   ? "Tỉnh"
             : level == v1::ADMIN_LEVEL_DISTRICT ? "Huyện"
                                                 : "Xã");
  u.set_parent_code(parent);
  u.set_valid_from(valid_from);
  u.set_valid_to(valid_to);
  return u;
}

v1::ParticipationRecord Record(const std::string& unit, const std::string& month,
                               v1::Scheme scheme, int64_t participants,
                               std::optional<int64_t> in_province) {
  v1::ParticipationRecord r;
  r.set_unit_code(unit);
  r.set_month(month);
  r.set_scheme(scheme);
  r.set_participants(participants);
  if (in_province.has_value()) {
    r.set_in_province_participants(*in_province);
  }
  return r;
}

v1::DenominatorRecord Denominator(const std::string& unit, int year, v1::DenominatorKind kind,
                                  int64_t value) {
  v1::DenominatorRecord d;
  d.set_unit_code(unit);
  d.set_year(year);
  d.set_kind(kind);
  d.set_value(value);
  return d;
}

}  // namespace covtrack::testing
