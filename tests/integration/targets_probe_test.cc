// Issue 13's probe findings in the target service, against real processes on loopback: the
// three covtrack binaries (SQLite stores), the real catalogue (data/vn-admin-units: 63
// provinces and their districts before 2025-07-01, 34 provinces and no districts after)
// imported through ingestion's API.
//   - Targets for units that do not exist: SetTarget and AllocateTarget refuse a code no unit
//     holds in the target's year (999; a district in 2026, after the districts were abolished)
//     with NOT_FOUND naming the code and the year; a district's 2025 target is stored.
//   - Strings: a NUL byte or a 1 MB field is INVALID_ARGUMENT with a short message that names
//     the field, for every kind of field; invalid UTF-8 is refused (by protobuf, before the
//     handler) and stores nothing.
//   - Errors that say too much: with aggregation or ingestion stopped, the caller is told which
//     service is unavailable, never its address.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"
#include "tests/integration/processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tools/sampledata/sample_data.h"

namespace covtrack {
namespace {

using ::testing::AllOf;
using testing::CovtrackProcesses;
using testing::FreshChannel;
using ::testing::HasSubstr;
using testing::IsOk;
using ::testing::Not;
using testing::SetDeadline;

constexpr absl::Duration kCallDeadline = absl::Seconds(20);
constexpr absl::Duration kLoadDeadline = absl::Seconds(120);
// An error is a line for a person, not a copy of the input.
constexpr size_t kMaxErrorBytes = 400;

class TargetsProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    CovtrackProcesses::Options options;
    options.binaries = {COVTRACK_INGESTION_BINARY, COVTRACK_AGGREGATION_BINARY,
                        COVTRACK_TARGETS_BINARY};
    options.dir = dir_;
    options.ingestion_store = absl::StrCat("sqlite:", dir_, "/ingestion.db");
    options.targets_store = absl::StrCat("sqlite:", dir_, "/targets.db");
    system_ = std::make_unique<CovtrackProcesses>(options);
    ASSERT_THAT(system_->StartAll(), IsOk());
    ingestion_ = v1::IngestionService::NewStub(FreshChannel(system_->ingestion_address()));
    targets_ = v1::TargetService::NewStub(FreshChannel(system_->targets_address()));

    absl::StatusOr<std::unique_ptr<sampledata::SampleData>> data = sampledata::SampleData::Load();
    ASSERT_THAT(data, IsOk());
    v1::ImportAdminUnitsRequest request;
    request.set_request_id("catalogue");
    for (const v1::AdminUnit& unit : (*data)->units()) {
      *request.add_units() = unit;
      if (district_.empty() && unit.level() == v1::ADMIN_LEVEL_DISTRICT) {
        district_ = unit.code();
        district_end_ = unit.valid_to();
      }
    }
    ASSERT_FALSE(district_.empty());
    ASSERT_EQ(district_end_, "2025-07-01") << "districts were abolished on 2025-07-01";
    v1::ImportAdminUnitsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kLoadDeadline);
    ASSERT_THAT(ingestion_->ImportAdminUnits(&context, request, &response), IsOk());
  }

  void TearDown() override {
    if (HasFailure() && system_ != nullptr) {
      std::cerr << system_->LogTails();
    }
  }

  static v1::SetTargetRequest TargetRequest(const std::string& code, int year,
                                            const std::string& request_id) {
    v1::SetTargetRequest request;
    request.set_request_id(request_id);
    v1::Target* t = request.mutable_target();
    t->set_unit_code(code);
    t->set_scheme(v1::SCHEME_HEALTH);
    t->set_year(year);
    t->set_kind(v1::TARGET_KIND_PARTICIPANTS);
    t->set_value(100000);
    t->set_assigned_by("UBND tỉnh");
    t->set_decision_ref("QĐ 1/QĐ-UBND");
    return request;
  }

  grpc::Status SetTarget(const v1::SetTargetRequest& request) {
    v1::Target stored;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    return targets_->SetTarget(&context, request, &stored);
  }

  grpc::Status AllocateTarget(const v1::AllocateTargetRequest& request) {
    v1::AllocateTargetResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    return targets_->AllocateTarget(&context, request, &response);
  }

  // The targets stored for `code` (every year).
  int StoredTargets(const std::string& code) {
    v1::ListTargetsRequest request;
    request.set_unit_code(code);
    v1::ListTargetsResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, kCallDeadline);
    EXPECT_THAT(targets_->ListTargets(&context, request, &response), IsOk());
    return response.targets_size();
  }

  std::string dir_;
  std::unique_ptr<CovtrackProcesses> system_;
  std::unique_ptr<v1::IngestionService::Stub> ingestion_;
  std::unique_ptr<v1::TargetService::Stub> targets_;
  std::string district_;  // the catalogue's first district
  std::string district_end_;
};

MATCHER_P2(RefusedWith, code, message_matcher, "") {
  if (arg.error_code() != code) {
    *result_listener << "code " << arg.error_code() << ": " << arg.error_message();
    return false;
  }
  if (arg.error_message().size() > kMaxErrorBytes) {
    *result_listener << "a message of " << arg.error_message().size() << " bytes";
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, arg.error_message(), result_listener);
}

TEST_F(TargetsProbeTest, TargetsOnlyForUnitsThatExistInTheirYear) {
  // A code no unit ever held.
  EXPECT_THAT(SetTarget(TargetRequest("999", 2025, "unit-999")),
              RefusedWith(grpc::StatusCode::NOT_FOUND, AllOf(HasSubstr("target.unit_code"),
                                                             HasSubstr("999"), HasSubstr("2025"))));
  EXPECT_EQ(StoredTargets("999"), 0);

  // A district after the districts were abolished; in 2025 it still existed.
  EXPECT_THAT(
      SetTarget(TargetRequest(district_, 2026, "district-2026")),
      RefusedWith(grpc::StatusCode::NOT_FOUND,
                  AllOf(HasSubstr(district_), HasSubstr("2026"), HasSubstr("until 2025-07-01"))));
  EXPECT_THAT(SetTarget(TargetRequest(district_, 2025, "district-2025")), IsOk());
  EXPECT_EQ(StoredTargets(district_), 1);

  // The same for an allocation's parent (preview or not): nothing is stored.
  for (bool preview : {true, false}) {
    v1::AllocateTargetRequest allocate;
    allocate.set_parent_code(district_);
    allocate.set_scheme(v1::SCHEME_HEALTH);
    allocate.set_year(2026);
    allocate.set_method(v1::ALLOCATION_METHOD_POPULATION);
    allocate.set_preview(preview);
    allocate.set_request_id("allocate-district-2026");
    EXPECT_THAT(
        AllocateTarget(allocate),
        RefusedWith(grpc::StatusCode::NOT_FOUND,
                    AllOf(HasSubstr("parent_code"), HasSubstr(district_), HasSubstr("2026"))))
        << "preview " << preview;
    allocate.set_parent_code("999");
    allocate.set_year(2025);
    EXPECT_THAT(
        AllocateTarget(allocate),
        RefusedWith(grpc::StatusCode::NOT_FOUND, AllOf(HasSubstr("parent_code"), HasSubstr("999"))))
        << "preview " << preview;
  }
  EXPECT_EQ(StoredTargets(district_), 1);
}

TEST_F(TargetsProbeTest, StringsAreBoundedWithoutNulAndValidUtf8) {
  const std::string huge(1 << 20, 'x');
  const std::string nul_id("X\0A", 3);
  const std::string invalid_utf8 = "UBND \xC3\x28";
  struct Case {
    std::string what;
    std::function<void(v1::SetTargetRequest&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"NUL in request_id", [&](auto& r) { r.set_request_id(nul_id); }, "request_id"},
      {"1 MB request_id", [&](auto& r) { r.set_request_id(huge); }, "request_id"},
      {"NUL after a code",
       [&](auto& r) { r.mutable_target()->set_unit_code(std::string("28252\0", 6)); },
       "target.unit_code"},
      {"1 MB code", [&](auto& r) { r.mutable_target()->set_unit_code(huge); }, "target.unit_code"},
      {"1 MB decision_ref", [&](auto& r) { r.mutable_target()->set_decision_ref(huge); },
       "target.decision_ref"},
      {"NUL in decision_ref",
       [&](auto& r) { r.mutable_target()->set_decision_ref(std::string("QĐ 1\0tail", 10)); },
       "target.decision_ref"},
      {"1 MB unit_as_of", [&](auto& r) { r.mutable_target()->set_unit_as_of(huge); },
       "target.unit_as_of"},
  };
  for (const Case& c : cases) {
    v1::SetTargetRequest request = TargetRequest("82", 2025, "strings");
    c.mutate(request);
    EXPECT_THAT(SetTarget(request),
                RefusedWith(grpc::StatusCode::INVALID_ARGUMENT,
                            AllOf(HasSubstr(c.field), Not(HasSubstr(std::string(100, 'x'))))))
        << c.what;
  }
  // Invalid UTF-8 never reaches the handler over gRPC: protobuf refuses a proto3 string that is
  // not UTF-8 while parsing the request (gRPC answers INTERNAL; request_validation_test covers
  // the service's own check, for callers in-process).
  v1::SetTargetRequest invalid = TargetRequest("82", 2025, "invalid-utf8");
  invalid.mutable_target()->set_assigned_by(invalid_utf8);
  EXPECT_FALSE(SetTarget(invalid).ok());
  EXPECT_EQ(StoredTargets("82"), 0);

  // The read requests' strings too.
  v1::GetAchievementRequest achievement;
  achievement.set_unit_code("82");
  achievement.set_period(huge);
  v1::Achievement answer;
  grpc::ClientContext context;
  SetDeadline(&context, kCallDeadline);
  EXPECT_THAT(targets_->GetAchievement(&context, achievement, &answer),
              RefusedWith(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("period")));
  v1::ListLaggingUnitsRequest lagging;
  lagging.set_parent_code("VN");
  lagging.set_scheme(v1::SCHEME_HEALTH);
  lagging.set_page_token(huge);
  v1::ListLaggingUnitsResponse lagging_answer;
  grpc::ClientContext lagging_context;
  SetDeadline(&lagging_context, kCallDeadline);
  EXPECT_THAT(targets_->ListLaggingUnits(&lagging_context, lagging, &lagging_answer),
              RefusedWith(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr("page_token")));
}

TEST_F(TargetsProbeTest, AnUnavailableServiceIsNamedButNotItsAddress) {
  ASSERT_THAT(SetTarget(TargetRequest("82", 2025, "before")), IsOk());

  ASSERT_THAT(system_->StopAggregation(), IsOk());
  v1::GetAchievementRequest achievement;
  achievement.set_unit_code("82");
  achievement.set_period("2025");
  v1::Achievement answer;
  grpc::ClientContext context;
  SetDeadline(&context, kCallDeadline);
  const grpc::Status read = targets_->GetAchievement(&context, achievement, &answer);
  EXPECT_THAT(read, RefusedWith(grpc::StatusCode::UNAVAILABLE,
                                AllOf(HasSubstr("aggregation service is unavailable"),
                                      Not(HasSubstr(system_->aggregation_address())),
                                      Not(HasSubstr("127.0.0.1")))));

  ASSERT_THAT(system_->StopIngestion(), IsOk());
  const grpc::Status write = SetTarget(TargetRequest("82", 2025, "after"));
  EXPECT_THAT(write, RefusedWith(grpc::StatusCode::UNAVAILABLE,
                                 AllOf(HasSubstr("ingestion service is unavailable"),
                                       Not(HasSubstr(system_->ingestion_address())),
                                       Not(HasSubstr("127.0.0.1")))));
}

}  // namespace
}  // namespace covtrack
