#include "tests/targets/targets_harness.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <iostream>

#include "tests/testing/test_env.h"

namespace covtrack::testing {

std::unique_ptr<TargetsHarness> TargetsHarness::Start(std::string aggregation_addr,
                                                      std::string ingestion_addr,
                                                      absl::Duration aggregation_deadline) {
  targets::TargetOptions options;
  options.store_url = SqliteStoreUrl();
  options.aggregation_addr = std::move(aggregation_addr);
  options.ingestion_addr = std::move(ingestion_addr);
  options.aggregation_deadline = aggregation_deadline;
  auto harness = std::unique_ptr<TargetsHarness>(new TargetsHarness());
  auto service = targets::TargetServiceImpl::Create(options);
  if (!service.ok()) {
    std::cerr << "TargetsHarness: " << service.status() << "\n";
    std::abort();
  }
  harness->service_ = std::move(*service);
  ServerOptions server_options;
  server_options.service_name = "targets";
  server_options.listen = "127.0.0.1:0";
  server_options.shutdown_grace = absl::Seconds(2);
  auto server = Server::Start(server_options, {harness->service_.get()});
  if (!server.ok()) {
    std::cerr << "TargetsHarness: " << server.status() << "\n";
    std::abort();
  }
  harness->server_ = std::move(*server);
  harness->address_ = harness->server_->address();
  harness->stub_ = v1::TargetService::NewStub(
      grpc::CreateChannel(harness->address_, grpc::InsecureChannelCredentials()));
  return harness;
}

void TargetsHarness::Stop() {
  if (server_ != nullptr) {
    server_->Shutdown();
    server_.reset();
  }
}

}  // namespace covtrack::testing
