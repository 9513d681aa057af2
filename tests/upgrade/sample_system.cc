#include "tests/upgrade/sample_system.h"

#include <grpcpp/grpcpp.h>

#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/fixtures/coverage_fixtures.h"
#include "tests/integration/processes.h"

namespace covtrack::upgrade {
namespace {

using testing::SetDeadline;

absl::Status Failed(absl::string_view what, const grpc::Status& status) {
  return absl::InternalError(
      absl::StrCat(what, ": ", status.error_code(), " ", status.error_message()));
}

v1::Target MakeTarget(const std::string& unit, v1::Scheme scheme, v1::TargetKind kind, double value,
                      v1::TargetBasis basis = v1::TARGET_BASIS_ALL_PARTICIPANTS) {
  v1::Target t;
  t.set_unit_code(unit);
  t.set_scheme(scheme);
  t.set_year(2023);
  t.set_kind(kind);
  t.set_value(value);
  t.set_basis(basis);
  t.set_assigned_by("UBND tỉnh");
  t.set_decision_ref("Quyết định số 123/QĐ-UBND");
  return t;
}

std::string ErrorText(const grpc::Status& status) {
  return absl::StrCat("error ", status.error_code(), ": ", status.error_message());
}

// Every page of a List call, as text.
template <typename Request, typename Response>
std::string AllPages(
    Request request,
    const std::function<grpc::Status(grpc::ClientContext*, const Request&, Response*)>& call) {
  std::string text;
  for (int page = 0; page < 100; ++page) {
    Response response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status status = call(&context, request, &response);
    if (!status.ok()) {
      return absl::StrCat(text, ErrorText(status));
    }
    absl::StrAppend(&text, response.DebugString());
    if (response.next_page_token().empty()) {
      return text;
    }
    request.set_page_token(response.next_page_token());
  }
  return absl::StrCat(text, "more than 100 pages");
}

template <typename Request, typename Response>
std::string One(
    const Request& request,
    const std::function<grpc::Status(grpc::ClientContext*, const Request&, Response*)>& call) {
  Response response;
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status status = call(&context, request, &response);
  return status.ok() ? response.DebugString() : ErrorText(status);
}

}  // namespace

absl::Status LoadSample(v1::IngestionService::Stub& ingestion, v1::TargetService::Stub& targets) {
  for (const fixtures::Fixture& fixture : {fixtures::MyTho2023(), fixtures::MaiSon2023()}) {
    if (absl::Status status = fixtures::LoadFixture(ingestion, fixture); !status.ok()) {
      return status;
    }
  }
  // The merged Đồng Tháp takes the code 82 on 2025-07-01; the old 82 went into it whole.
  {
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("sample-reform-units");
    v1::AdminUnit* u = request.add_units();
    u->set_code("82");
    u->set_name("Tỉnh Đồng Tháp");
    u->set_level(v1::ADMIN_LEVEL_PROVINCE);
    u->set_type("Tỉnh");
    u->set_valid_from("2025-07-01");
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status status = ingestion.ImportAdminUnits(&context, request, &response);
    if (!status.ok()) {
      return Failed("ImportAdminUnits (the new 82)", status);
    }
  }
  {
    v1::ImportCrosswalkRequest request;
    request.set_request_id("sample-crosswalk");
    request.set_source("Nghị quyết 1663/NQ-UBTVQH15");
    v1::CrosswalkLink* link = request.add_links();
    link->set_from_code("82");
    link->set_to_code("82");
    link->set_effective_date("2025-07-01");
    link->set_population_share(1);
    v1::ImportCrosswalkResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status status = ingestion.ImportCrosswalk(&context, request, &response);
    if (!status.ok()) {
      return Failed("ImportCrosswalk", status);
    }
  }
  // DOMAIN.md's published targets; Mỹ Tho's health target first set at 88.5, then revised.
  const std::vector<std::pair<std::string, v1::Target>> sets = {
      {"sample-mai-son-compulsory",
       MakeTarget("125", v1::SCHEME_COMPULSORY_SOCIAL, v1::TARGET_KIND_PARTICIPANTS, 11136)},
      {"sample-mai-son-health", MakeTarget("125", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS,
                                           147821, v1::TARGET_BASIS_IN_PROVINCE)},
      {"sample-my-tho-health-first",
       MakeTarget("815", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 88.5)},
      {"sample-my-tho-health",
       MakeTarget("815", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 89.0)},
      {"sample-my-tho-social",
       MakeTarget("815", v1::SCHEME_SOCIAL, v1::TARGET_KIND_COVERAGE_PERCENT, 28.9)},
  };
  for (const auto& [request_id, target] : sets) {
    v1::SetTargetRequest request;
    request.set_request_id(request_id);
    *request.mutable_target() = target;
    v1::Target stored;
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::Status status = targets.SetTarget(&context, request, &stored);
    if (!status.ok()) {
      return Failed(absl::StrCat("SetTarget ", request_id), status);
    }
  }
  return absl::OkStatus();
}

Answers RecordAnswers(v1::IngestionService::Stub& ingestion,
                      v1::AggregationService::Stub& aggregation, v1::TargetService::Stub& targets) {
  Answers answers;
  // ---- ingestion ----
  using namespace std::placeholders;
  answers["ingestion ListAdminUnits (every version)"] =
      AllPages<v1::ListAdminUnitsRequest, v1::ListAdminUnitsResponse>(
          {}, std::bind(&v1::IngestionService::Stub::ListAdminUnits, &ingestion, _1, _2, _3));
  {
    v1::ListAdminUnitsRequest request;
    request.set_parent_code("82");
    request.set_as_of("2023-12-31");
    answers["ingestion ListAdminUnits 82 2023-12-31"] =
        AllPages<v1::ListAdminUnitsRequest, v1::ListAdminUnitsResponse>(
            request,
            std::bind(&v1::IngestionService::Stub::ListAdminUnits, &ingestion, _1, _2, _3));
  }
  const fixtures::Fixture my_tho = fixtures::MyTho2023();
  for (const std::string& unit : {my_tho.records.front().unit_code(), std::string("82")}) {
    v1::ListRevisionsRequest request;
    request.set_unit_code(unit);
    answers["ingestion ListRevisions " + unit] =
        AllPages<v1::ListRevisionsRequest, v1::ListRevisionsResponse>(
            request, std::bind(&v1::IngestionService::Stub::ListRevisions, &ingestion, _1, _2, _3));
  }
  answers["ingestion ListCrosswalk"] =
      AllPages<v1::ListCrosswalkRequest, v1::ListCrosswalkResponse>(
          {}, std::bind(&v1::IngestionService::Stub::ListCrosswalk, &ingestion, _1, _2, _3));
  answers["ingestion GetChangeHead"] = One<v1::GetChangeHeadRequest, v1::ChangeHead>(
      {}, std::bind(&v1::IngestionService::Stub::GetChangeHead, &ingestion, _1, _2, _3));
  {
    v1::ListChangesRequest request;
    request.set_page_size(1000);
    answers["ingestion ListChanges after 0"] = One<v1::ListChangesRequest, v1::ListChangesResponse>(
        request, std::bind(&v1::IngestionService::Stub::ListChanges, &ingestion, _1, _2, _3));
  }
  // ---- aggregation ----
  for (const char* unit : {"82", "815", "14", "125"}) {
    for (const char* period : {"2023", "2023-12", "2023-Q4"}) {
      v1::GetCoverageRequest request;
      request.set_unit_code(unit);
      request.set_period(period);
      answers[absl::StrCat("aggregation GetCoverage ", unit, " ", period)] =
          One<v1::GetCoverageRequest, v1::Coverage>(
              request,
              std::bind(&v1::AggregationService::Stub::GetCoverage, &aggregation, _1, _2, _3));
    }
  }
  {
    v1::ListCoverageRequest request;
    request.set_parent_code("815");
    request.set_period("2023");
    answers["aggregation ListCoverage 815 2023"] =
        AllPages<v1::ListCoverageRequest, v1::ListCoverageResponse>(
            request,
            std::bind(&v1::AggregationService::Stub::ListCoverage, &aggregation, _1, _2, _3));
  }
  // ---- targets ----
  {
    v1::ListTargetsRequest request;
    request.set_include_revisions(true);
    answers["targets ListTargets (every revision)"] =
        AllPages<v1::ListTargetsRequest, v1::ListTargetsResponse>(
            request, std::bind(&v1::TargetService::Stub::ListTargets, &targets, _1, _2, _3));
  }
  for (const char* unit : {"815", "125"}) {
    v1::GetAchievementRequest achievement;
    achievement.set_unit_code(unit);
    achievement.set_period("2023");
    answers[absl::StrCat("targets GetAchievement ", unit, " 2023")] =
        One<v1::GetAchievementRequest, v1::Achievement>(
            achievement, std::bind(&v1::TargetService::Stub::GetAchievement, &targets, _1, _2, _3));
    v1::GetReportRequest report;
    report.set_unit_code(unit);
    report.set_period("2023");
    answers[absl::StrCat("targets GetReport ", unit, " 2023")] =
        One<v1::GetReportRequest, v1::Report>(
            report, std::bind(&v1::TargetService::Stub::GetReport, &targets, _1, _2, _3));
  }
  return answers;
}

std::string DifferingAnswers(const Answers& before, const Answers& after) {
  std::string out;
  for (const auto& [call, answer] : before) {
    auto it = after.find(call);
    const std::string now = it == after.end() ? "(not asked)" : it->second;
    if (now != answer) {
      absl::StrAppend(&out, "---- ", call, "\nbefore: ", answer.substr(0, 400),
                      "\nafter:  ", now.substr(0, 400), "\n");
    }
  }
  return out;
}

}  // namespace covtrack::upgrade
