#include "tests/aggregation/aggregation_harness.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"

namespace covtrack::testing {

std::unique_ptr<AggregationHarness> AggregationHarness::Start(std::string ingestion_addr,
                                                              std::string redis_addr) {
  aggregation::AggregationOptions options;
  options.ingestion_addr = std::move(ingestion_addr);
  options.redis_addr = std::move(redis_addr);
  options.cache_key = kTestCacheKey;
  // Tests share one Redis, each with its own ingestion store whose change sequence starts at
  // zero: cached entries must not leak between them. Instances started in one process against
  // the same ingestion address share a namespace (they are replicas of one deployment).
  static const uint64_t process_nonce = std::random_device()();
  options.cache_namespace =
      absl::StrCat("covtrack-test-", getpid(), "-", process_nonce, "-", options.ingestion_addr);
  options.stats_log_interval = absl::ZeroDuration();
  // The tests written before replicas followed the feed write and then read without a token:
  // they keep the guarantee they were written for. Tests of tokens and of APPLIED reads start
  // the service with options of their own.
  options.default_consistency = v1::CONSISTENCY_FULL;
  return Start(options);
}

std::unique_ptr<AggregationHarness> AggregationHarness::Start(
    const aggregation::AggregationOptions& options) {
  auto harness = std::unique_ptr<AggregationHarness>(new AggregationHarness());
  auto service = aggregation::AggregationServiceImpl::Create(options);
  if (!service.ok()) {
    std::cerr << "AggregationHarness: " << service.status() << "\n";
    std::abort();
  }
  harness->service_ = std::move(*service);
  ServerOptions server_options;
  server_options.service_name = "aggregation";
  server_options.listen = "127.0.0.1:0";
  server_options.shutdown_grace = absl::Seconds(2);
  // As in main.cc: NOT_SERVING until the replica has loaded its snapshot.
  server_options.serving_at_start = false;
  auto server = Server::Start(server_options, {harness->service_.get()});
  if (!server.ok()) {
    std::cerr << "AggregationHarness: " << server.status() << "\n";
    std::abort();
  }
  harness->server_ = std::move(*server);
  Server* serving = harness->server_.get();
  harness->service_->OnLoaded([serving] { serving->SetServing(true); });
  // The tests read at once: they start once the replica has loaded (an ingestion that cannot
  // be reached is a test of its own, with a service of its own).
  if (!harness->service_->WaitUntilLoaded(absl::Seconds(60))) {
    std::cerr << "AggregationHarness: the replica did not load its snapshot within 60 s\n";
    std::abort();
  }
  harness->address_ = harness->server_->address();
  harness->stub_ = v1::AggregationService::NewStub(
      grpc::CreateChannel(harness->address_, grpc::InsecureChannelCredentials()));
  return harness;
}

void AggregationHarness::Stop() {
  if (server_ != nullptr) {
    server_->Shutdown();
    server_.reset();
  }
}

}  // namespace covtrack::testing
