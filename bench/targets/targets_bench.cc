// What the target layer costs on top of the figures it reads. In one run, against the same
// in-process ingestion + aggregation services loaded with DOMAIN.md's Mỹ Tho and Mai Sơn 2023
// fixtures, one client calls, one call at a time:
//   system:   TargetService.GetAchievement(815, 2023, all schemes)   (targets store read +
//             one GetCoverage hop to aggregation + the arithmetic)
//   baseline: AggregationService.GetCoverage(815, 2023, all schemes)  (the figures alone)
// and prints calls per second for both and their ratio (system / baseline), for each of
// --rounds rounds (alternating, so both see the same machine noise), then the median ratio.
// A second pair does the same for ListLaggingUnits over Mai Sơn's 22 communes against
// ListCoverage of the same communes.
//
//   build/bench/targets/targets_bench [--calls=2000] [--rounds=3]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/server.h"
#include "services/targets/target_service.h"
#include "tests/aggregation/aggregation_harness.h"
#include "tests/fixtures/coverage_fixtures.h"
#include "tests/testing/ingestion_harness.h"
#include "tests/testing/test_env.h"

ABSL_FLAG(int, calls, 2000, "calls per measurement");
ABSL_FLAG(int, rounds, 3, "how many times to run the system and the baseline");

namespace covtrack {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "targets_bench: " << what << "\n";
  std::exit(1);
}

// Calls per second of `call`, which must succeed every time.
double Rate(int calls, const std::function<grpc::Status()>& call) {
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < calls; ++i) {
    grpc::Status status = call();
    if (!status.ok()) {
      Die(absl::StrCat("call failed: ", status.error_message()));
    }
  }
  return calls / std::chrono::duration<double>(Clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Compare(const std::string& name, int calls, int rounds,
             const std::function<grpc::Status()>& system,
             const std::function<grpc::Status()>& baseline) {
  // Warm both paths (the aggregation cache, prepared statements, channels).
  Rate(std::max(1, calls / 10), system);
  Rate(std::max(1, calls / 10), baseline);
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) {
    const double s = Rate(calls, system);
    const double b = Rate(calls, baseline);
    ratios.push_back(s / b);
    std::printf("%-40s round %d: system %8.0f calls/s, baseline %8.0f calls/s, ratio %.2f\n",
                name.c_str(), r + 1, s, b, s / b);
  }
  std::printf("%-40s median ratio %.2f\n", name.c_str(), Median(ratios));
}

int Run() {
  auto ingestion = testing::IngestionHarness::Start(testing::SqliteStoreUrl());
  if (!fixtures::LoadFixture(ingestion->stub(), fixtures::MyTho2023()).ok() ||
      !fixtures::LoadFixture(ingestion->stub(), fixtures::MaiSon2023()).ok()) {
    Die("cannot load the fixtures");
  }
  auto aggregation = testing::AggregationHarness::Start(ingestion->address());

  targets::TargetOptions options;
  options.store_url = testing::SqliteStoreUrl();
  options.aggregation_addr = aggregation->address();
  options.ingestion_addr = ingestion->address();
  auto service = targets::TargetServiceImpl::Create(options);
  if (!service.ok()) {
    Die(service.status().ToString());
  }
  ServerOptions server_options;
  server_options.service_name = "targets";
  auto server = Server::Start(server_options, {service->get()});
  if (!server.ok()) {
    Die(server.status().ToString());
  }
  auto targets_stub = v1::TargetService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  auto aggregation_stub = v1::AggregationService::NewStub(
      grpc::CreateChannel(aggregation->address(), grpc::InsecureChannelCredentials()));

  // The published targets, and a target for every Mai Sơn commune (some missed).
  auto set = [&](const std::string& unit, v1::Scheme scheme, v1::TargetKind kind, double value,
                 v1::TargetBasis basis) {
    v1::SetTargetRequest request;
    v1::Target* t = request.mutable_target();
    t->set_unit_code(unit);
    t->set_scheme(scheme);
    t->set_year(2023);
    t->set_kind(kind);
    t->set_value(value);
    t->set_basis(basis);
    request.set_request_id(absl::StrCat(unit, "-", scheme));
    v1::Target stored;
    grpc::ClientContext context;
    if (!targets_stub->SetTarget(&context, request, &stored).ok()) {
      Die("SetTarget failed");
    }
  };
  set("815", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 89.0,
      v1::TARGET_BASIS_ALL_PARTICIPANTS);
  set("815", v1::SCHEME_SOCIAL, v1::TARGET_KIND_COVERAGE_PERCENT, 28.9,
      v1::TARGET_BASIS_ALL_PARTICIPANTS);
  int i = 0;
  for (const v1::ParticipationRecord& r : fixtures::MaiSon2023().records) {
    if (r.scheme() == v1::SCHEME_COMPULSORY_SOCIAL) {
      set(r.unit_code(), v1::SCHEME_COMPULSORY_SOCIAL, v1::TARGET_KIND_PARTICIPANTS,
          static_cast<double>(r.participants() + (i++ % 3 == 0 ? 100 : 0)),
          v1::TARGET_BASIS_ALL_PARTICIPANTS);
    }
  }

  const int calls = absl::GetFlag(FLAGS_calls);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  Compare(
      "GetAchievement 815 2023 vs GetCoverage", calls, rounds,
      [&] {
        v1::GetAchievementRequest request;
        request.set_unit_code("815");
        request.set_period("2023");
        v1::Achievement response;
        grpc::ClientContext context;
        return targets_stub->GetAchievement(&context, request, &response);
      },
      [&] {
        v1::GetCoverageRequest request;
        request.set_unit_code("815");
        request.set_period("2023");
        v1::Coverage response;
        grpc::ClientContext context;
        return aggregation_stub->GetCoverage(&context, request, &response);
      });
  Compare(
      "ListLaggingUnits 125 vs ListCoverage", std::max(1, calls / 4), rounds,
      [&] {
        v1::ListLaggingUnitsRequest request;
        request.set_parent_code("125");
        request.set_period("2023");
        request.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
        v1::ListLaggingUnitsResponse response;
        grpc::ClientContext context;
        return targets_stub->ListLaggingUnits(&context, request, &response);
      },
      [&] {
        v1::ListCoverageRequest request;
        request.set_parent_code("125");
        request.set_period("2023");
        request.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
        request.set_page_size(500);
        v1::ListCoverageResponse response;
        grpc::ClientContext context;
        return aggregation_stub->ListCoverage(&context, request, &response);
      });
  (*server)->Shutdown();
  return 0;
}

}  // namespace
}  // namespace covtrack

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return covtrack::Run();
}
