// The target service's RPCs, called over gRPC on an in-process server (port 0), with a fake
// aggregation service (FakeCoverageSource) and a real store (SQLite and PostgreSQL); and once
// against an aggregation address nobody serves.

#include "services/targets/target_service.h"

#include <gtest/gtest.h>

#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/paging/paging.h"
#include "common/server.h"
#include "common/status/status.h"
#include "services/targets/request_validation.h"
#include "tests/targets/fake_coverage_source.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace covtrack::targets {
namespace {

using ::covtrack::targets::testing::FakeCoverageSource;
using ::covtrack::testing::IsOk;
using ::covtrack::testing::StatusIs;
using ::testing::HasSubstr;

v1::Target MakeTarget(const std::string& unit, v1::Scheme scheme, int year, v1::TargetKind kind,
                      double value, v1::TargetBasis basis = v1::TARGET_BASIS_UNSPECIFIED) {
  v1::Target t;
  t.set_unit_code(unit);
  t.set_scheme(scheme);
  t.set_year(year);
  t.set_kind(kind);
  t.set_value(value);
  t.set_basis(basis);
  t.set_assigned_by("UBND tỉnh");
  t.set_decision_ref("Quyết định số 1/QĐ-UBND");
  return t;
}

// Runs on SQLite and on PostgreSQL (the store is the only thing that differs).
class TargetServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    source_ = std::make_shared<FakeCoverageSource>();
    source_->AddUnit("14", "Tỉnh Sơn La", v1::ADMIN_LEVEL_PROVINCE, "VN");
    source_->AddUnit("125", "Huyện Mai Sơn", v1::ADMIN_LEVEL_DISTRICT, "14");
    source_->AddUnit("82", "Tỉnh Tiền Giang", v1::ADMIN_LEVEL_PROVINCE, "VN");
    source_->AddUnit("815", "Thành phố Mỹ Tho", v1::ADMIN_LEVEL_DISTRICT, "82");
    TargetOptions options;
    std::optional<std::string> url = covtrack::testing::NewStoreUrl(GetParam());
    COVTRACK_REQUIRE_SERVER(url, "PostgreSQL");
    options.store_url = *url;
    options.clock = [this] { return now_; };
    options.coverage_source = source_;
    options.unit_source = source_;
    absl::StatusOr<std::unique_ptr<TargetServiceImpl>> service = TargetServiceImpl::Create(options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
    covtrack::ServerOptions server_options;
    server_options.service_name = "targets";
    absl::StatusOr<std::unique_ptr<covtrack::Server>> server =
        covtrack::Server::Start(server_options, {service_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::TargetService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown();
    }
  }

  // One RPC over gRPC; a failed call's status as an absl::Status.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::TargetService::Stub::*method)(
                                    grpc::ClientContext*, const Request&, Response*),
                                const Request& request) {
    grpc::ClientContext context;
    Response response;
    RETURN_IF_ERROR(FromGrpcStatus((stub_.get()->*method)(&context, request, &response)));
    return response;
  }
  absl::StatusOr<v1::Target> SetTarget(const v1::SetTargetRequest& r) {
    return Call(&v1::TargetService::Stub::SetTarget, r);
  }
  absl::StatusOr<v1::ListTargetsResponse> ListTargets(const v1::ListTargetsRequest& r) {
    return Call(&v1::TargetService::Stub::ListTargets, r);
  }
  absl::StatusOr<v1::Achievement> GetAchievement(const v1::GetAchievementRequest& r) {
    return Call(&v1::TargetService::Stub::GetAchievement, r);
  }
  absl::StatusOr<v1::ListLaggingUnitsResponse> ListLaggingUnits(
      const v1::ListLaggingUnitsRequest& r) {
    return Call(&v1::TargetService::Stub::ListLaggingUnits, r);
  }
  absl::StatusOr<v1::AllocateTargetResponse> AllocateTarget(const v1::AllocateTargetRequest& r) {
    return Call(&v1::TargetService::Stub::AllocateTarget, r);
  }
  absl::StatusOr<v1::ValidateAllocationResponse> ValidateAllocation(
      const v1::ValidateAllocationRequest& r) {
    return Call(&v1::TargetService::Stub::ValidateAllocation, r);
  }
  absl::StatusOr<v1::Report> GetReport(const v1::GetReportRequest& r) {
    return Call(&v1::TargetService::Stub::GetReport, r);
  }

  v1::Target Set(const v1::Target& target, const std::string& request_id) {
    v1::SetTargetRequest request;
    *request.mutable_target() = target;
    request.set_request_id(request_id);
    absl::StatusOr<v1::Target> stored = SetTarget(request);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? *stored : v1::Target();
  }

  absl::Status SetStatus(const v1::Target& target, const std::string& request_id = "id") {
    v1::SetTargetRequest request;
    *request.mutable_target() = target;
    request.set_request_id(request_id);
    return SetTarget(request).status();
  }

  const v1::SchemeAchievement& SchemeOf(const v1::Achievement& a, v1::Scheme scheme) {
    for (const v1::SchemeAchievement& s : a.schemes()) {
      if (s.scheme() == scheme) {
        return s;
      }
    }
    ADD_FAILURE() << "scheme " << scheme << " missing";
    static v1::SchemeAchievement empty;
    return empty;
  }

  absl::Time now_ = absl::FromCivil(absl::CivilSecond(2024, 1, 15, 9, 0, 0), absl::UTCTimeZone());
  std::shared_ptr<FakeCoverageSource> source_;
  std::unique_ptr<TargetServiceImpl> service_;
  std::unique_ptr<covtrack::Server> server_;
  std::unique_ptr<v1::TargetService::Stub> stub_;
};

TEST_P(TargetServiceTest, InvalidTargetsNameTheField) {
  struct Case {
    v1::Target target;
    std::string field;
  };
  const v1::Target good =
      MakeTarget("125", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 147821);
  std::vector<Case> cases;
  cases.push_back({good, "target.unit_code"});
  cases.back().target.set_unit_code("1234");
  cases.push_back({good, "target.unit_code"});
  cases.back().target.set_unit_code("");
  cases.push_back({good, "target.scheme"});
  cases.back().target.set_scheme(v1::SCHEME_UNSPECIFIED);
  cases.push_back({good, "target.year"});
  cases.back().target.set_year(1999);
  cases.push_back({good, "target.kind"});
  cases.back().target.set_kind(v1::TARGET_KIND_UNSPECIFIED);
  cases.push_back({good, "target.value"});
  cases.back().target.set_value(-1);
  cases.push_back({good, "target.value"});
  cases.back().target.set_value(100.5);
  cases.push_back({good, "target.value"});
  cases.back().target.set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  cases.back().target.set_value(100.1);
  cases.push_back({good, "target.assigned_by"});
  cases.back().target.set_assigned_by(std::string(201, 'x'));
  for (const Case& c : cases) {
    EXPECT_THAT(SetStatus(c.target),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)));
  }
  v1::SetTargetRequest no_id;
  *no_id.mutable_target() = good;
  EXPECT_THAT(SetTarget(no_id),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("request_id")));
  // The good one, with a 100% coverage target at the top of the range, is accepted.
  EXPECT_THAT(SetStatus(good, "ok"), IsOk());
  v1::Target full = good;
  full.set_kind(v1::TARGET_KIND_COVERAGE_PERCENT);
  full.set_value(100);
  EXPECT_THAT(SetStatus(full, "full"), IsOk());
}

TEST_P(TargetServiceTest, SetTargetMakesRevisionsAndIsIdempotent) {
  v1::Target t = MakeTarget("125", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 147000,
                            v1::TARGET_BASIS_IN_PROVINCE);
  v1::Target first = Set(t, "a");
  EXPECT_EQ(first.revision(), 1);
  EXPECT_EQ(first.basis(), v1::TARGET_BASIS_IN_PROVINCE);
  EXPECT_EQ(first.update_time().seconds(), absl::ToUnixSeconds(now_));
  EXPECT_EQ(Set(t, "a").revision(), 1);  // a retry
  t.set_value(147821);
  EXPECT_THAT(SetStatus(t, "a"), StatusIs(absl::StatusCode::kAlreadyExists));
  now_ += absl::Hours(24);
  v1::Target second = Set(t, "b");
  EXPECT_EQ(second.revision(), 2);

  v1::ListTargetsRequest current;
  current.set_unit_code("125");
  absl::StatusOr<v1::ListTargetsResponse> listed = ListTargets(current);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->targets_size(), 1);
  EXPECT_EQ(listed->targets(0).value(), 147821);
  EXPECT_EQ(listed->targets(0).revision(), 2);

  current.set_include_revisions(true);
  listed = ListTargets(current);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->targets_size(), 2);
  EXPECT_EQ(listed->targets(0).value(), 147000);
  EXPECT_EQ(listed->targets(0).revision(), 1);
}

TEST_P(TargetServiceTest, UnspecifiedBasisIsStoredAsAllParticipants) {
  v1::Target t =
      MakeTarget("125", v1::SCHEME_COMPULSORY_SOCIAL, 2023, v1::TARGET_KIND_PARTICIPANTS, 11136);
  EXPECT_EQ(Set(t, "x").basis(), v1::TARGET_BASIS_ALL_PARTICIPANTS);
}

TEST_P(TargetServiceTest, ListTargetsPagesAndListsByParent) {
  for (int i = 0; i < 7; ++i) {
    Set(MakeTarget("815", v1::SCHEME_HEALTH, 2020 + i, v1::TARGET_KIND_COVERAGE_PERCENT, 80 + i),
        absl::StrCat("m", i));
  }
  Set(MakeTarget("125", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 1), "ms");
  v1::ListTargetsRequest request;
  request.set_page_size(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    absl::StatusOr<v1::ListTargetsResponse> r = ListTargets(request);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_LE(r->targets_size(), 3);
    for (const v1::Target& t : r->targets()) {
      seen.push_back(absl::StrCat(t.unit_code(), "/", t.year()));
    }
    if (r->next_page_token().empty()) {
      break;
    }
    request.set_page_token(r->next_page_token());
  }
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(seen.front(), "125/2023");
  EXPECT_EQ(seen.back(), "815/2026");

  v1::ListTargetsRequest by_parent;
  by_parent.set_parent_code("82");
  by_parent.set_year(2023);
  absl::StatusOr<v1::ListTargetsResponse> r = ListTargets(by_parent);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->targets_size(), 1);
  EXPECT_EQ(r->targets(0).unit_code(), "815");

  by_parent.set_year(0);
  EXPECT_THAT(ListTargets(by_parent), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::ListTargetsRequest bad_token;
  bad_token.set_page_token("!!!");
  EXPECT_THAT(ListTargets(bad_token), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(TargetServiceTest, AchievementOfMaiSonAndMyTho2023) {
  source_->Set("125", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 11661, 6569);
  source_->Set("125", "2023-12", v1::SCHEME_HEALTH, 154621, 148722);
  source_->Set("815", "2023-12", v1::SCHEME_HEALTH, 207717, std::nullopt, 231000);
  source_->Set("815", "2023-12", v1::SCHEME_SOCIAL, 37489, std::nullopt, 124100);
  Set(MakeTarget("125", v1::SCHEME_COMPULSORY_SOCIAL, 2023, v1::TARGET_KIND_PARTICIPANTS, 11136),
      "1");
  Set(MakeTarget("125", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 147821,
                 v1::TARGET_BASIS_IN_PROVINCE),
      "2");
  Set(MakeTarget("815", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_COVERAGE_PERCENT, 89.0), "3");
  Set(MakeTarget("815", v1::SCHEME_SOCIAL, 2023, v1::TARGET_KIND_COVERAGE_PERCENT, 28.9), "4");

  v1::GetAchievementRequest mai_son;
  mai_son.set_unit_code("125");
  mai_son.set_period("2023");
  absl::StatusOr<v1::Achievement> a = GetAchievement(mai_son);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->as_of_month(), "2023-12");
  EXPECT_EQ(a->schemes_size(), 5);
  EXPECT_NEAR(SchemeOf(*a, v1::SCHEME_COMPULSORY_SOCIAL).achievement_percent(), 104.7, 0.05);
  EXPECT_EQ(SchemeOf(*a, v1::SCHEME_HEALTH).actual_participants(), 148722);
  EXPECT_NEAR(SchemeOf(*a, v1::SCHEME_HEALTH).achievement_percent(), 100.6, 0.05);
  EXPECT_EQ(SchemeOf(*a, v1::SCHEME_HEALTH).status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_EQ(SchemeOf(*a, v1::SCHEME_UNEMPLOYMENT).status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);

  v1::GetReportRequest report;
  report.set_unit_code("815");
  report.set_period("2023");
  absl::StatusOr<v1::Report> r = GetReport(report);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(SchemeOf(r->achievement(), v1::SCHEME_HEALTH).points_vs_target(), 0.9, 0.05);
  EXPECT_NEAR(SchemeOf(r->achievement(), v1::SCHEME_SOCIAL).points_vs_target(), 1.3, 0.05);
  EXPECT_TRUE(absl::StrContains(r->text(),
                                "207.717 người tham gia BHYT, đạt tỷ lệ bao phủ 89,9% "
                                "dân số, vượt 0,9% chỉ tiêu"))
      << r->text();
  EXPECT_TRUE(absl::StrContains(r->text(), "vượt 1,3% chỉ tiêu (chỉ tiêu 28,9%)")) << r->text();
  // The same paragraph with two decimals, as some reviews print it; the figures stay unrounded.
  report.set_percent_decimals(2);
  r = GetReport(report);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(absl::StrContains(r->text(), "đạt tỷ lệ bao phủ 89,92% dân số")) << r->text();
  EXPECT_TRUE(absl::StrContains(r->text(), "(chỉ tiêu 28,90%)")) << r->text();
  // At the year's end no month-by-month history is needed.
  EXPECT_EQ(source_->series_calls(), 0);
}

TEST_P(TargetServiceTest, StatusDuringTheYearUsesTheClockForTheDefaultPeriod) {
  now_ = absl::FromCivil(absl::CivilSecond(2024, 9, 10, 8, 0, 0), absl::UTCTimeZone());
  // Baseline 10,000 in December 2023; target 12,400; August 2024 at 11,400 (pace: 11,600).
  source_->Set("125", "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 10000);
  source_->Set("125", "2024-05", v1::SCHEME_COMPULSORY_SOCIAL, 10500);
  source_->Set("125", "2024-08", v1::SCHEME_COMPULSORY_SOCIAL, 11400);
  Set(MakeTarget("125", v1::SCHEME_COMPULSORY_SOCIAL, 2024, v1::TARGET_KIND_PARTICIPANTS, 12400),
      "t");
  v1::GetAchievementRequest request;
  request.set_unit_code("125");  // no period: the current year by the clock, 2024
  request.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->period(), "2024");
  EXPECT_EQ(a->as_of_month(), "2024-08");
  const v1::SchemeAchievement& s = a->schemes(0);
  EXPECT_EQ(s.status(), v1::ACHIEVEMENT_STATUS_AT_RISK);  // behind pace, trend reaches 12,600
  EXPECT_EQ(s.projected_year_end_participants(), 12600);
  EXPECT_NEAR(s.pace_value(), 11600, 1e-9);
  EXPECT_EQ(source_->series_calls(), 1);

  // A slower trend: BEHIND.
  source_->Set("125", "2024-05", v1::SCHEME_COMPULSORY_SOCIAL, 11100);
  a = GetAchievement(request);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->schemes(0).status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  // Ahead of pace: ON_TRACK.
  source_->Set("125", "2024-08", v1::SCHEME_COMPULSORY_SOCIAL, 11700);
  a = GetAchievement(request);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->schemes(0).status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);

  // In January 2025 the clock's year is 2025, which has no target.
  now_ = absl::FromCivil(absl::CivilSecond(2025, 1, 2, 0, 0, 0), absl::UTCTimeZone());
  source_->Set("125", "2025-01", v1::SCHEME_COMPULSORY_SOCIAL, 11800);
  a = GetAchievement(request);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->period(), "2025");
  EXPECT_EQ(a->schemes(0).status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
}

TEST_P(TargetServiceTest, ClockYearIsVietnamTime) {
  // 31 Dec 2024 18:00 UTC is already 1 Jan 2025 in Vietnam.
  now_ = absl::FromCivil(absl::CivilSecond(2024, 12, 31, 18, 0, 0), absl::UTCTimeZone());
  v1::GetAchievementRequest request;
  request.set_unit_code("125");
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->period(), "2025");
}

class AllocationTest : public TargetServiceTest {
 protected:
  void SetUp() override {
    TargetServiceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    // Three districts of a province with 2022 populations 100,001 / 200,002 / 300,004 (health)
    // and compulsory participants at the end of 2022.
    source_->AddUnit("01", "Thành phố Hà Nội", v1::ADMIN_LEVEL_PROVINCE, "VN");
    const std::vector<std::pair<std::string, int64_t>> districts = {
        {"001", 100001}, {"002", 200002}, {"003", 300004}};
    for (const auto& [code, population] : districts) {
      source_->AddUnit(code, "Quận " + code, v1::ADMIN_LEVEL_DISTRICT, "01");
      source_->Set(code, "2022-12", v1::SCHEME_HEALTH, population * 9 / 10, std::nullopt,
                   population);
      source_->Set(code, "2022-12", v1::SCHEME_COMPULSORY_SOCIAL, population / 4);
    }
    Set(MakeTarget("01", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 555555), "parent");
  }

  v1::AllocateTargetRequest Request(v1::AllocationMethod method, bool preview) {
    v1::AllocateTargetRequest r;
    r.set_parent_code("01");
    r.set_scheme(v1::SCHEME_HEALTH);
    r.set_year(2023);
    r.set_method(method);
    r.set_preview(preview);
    r.set_request_id("alloc-1");
    r.set_decision_ref("Quyết định số 9/QĐ-UBND");
    return r;
  }
};

TEST_P(AllocationTest, PreviewSumsExactlyAndStoresNothing) {
  absl::StatusOr<v1::AllocateTargetResponse> r =
      AllocateTarget(Request(v1::ALLOCATION_METHOD_POPULATION, true));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->stored());
  ASSERT_EQ(r->parts_size(), 3);
  EXPECT_EQ(r->base_total(), 600007);
  int64_t sum = 0;
  for (const v1::AllocationPart& p : r->parts()) {
    sum += static_cast<int64_t>(p.target().value());
    EXPECT_EQ(p.target().revision(), 0);
  }
  EXPECT_EQ(sum, 555555);
  EXPECT_EQ(r->allocated_total(), 555555);
  // 555,555 × b_i / 600,007 = 92,592.35 / 185,184.69 / 277,777.96: the floors sum to 555,553
  // and the two people left over go to the largest remainders, 003 (.96) and 002 (.69).
  EXPECT_EQ(r->parts(0).target().value(), 92592);
  EXPECT_EQ(r->parts(1).target().value(), 185185);
  EXPECT_EQ(r->parts(2).target().value(), 277778);
  EXPECT_EQ(r->parts(0).target().decision_ref(), "Quyết định số 9/QĐ-UBND");
  EXPECT_EQ(r->parts(0).target().assigned_by(), "UBND tỉnh");  // the parent's

  v1::ListTargetsRequest list;
  list.set_unit_code("001");
  EXPECT_EQ(ListTargets(list)->targets_size(), 0);
}

TEST_P(AllocationTest, StoredAllocationIsIdempotentAndValidates) {
  absl::StatusOr<v1::AllocateTargetResponse> r =
      AllocateTarget(Request(v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS, false));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->stored());
  for (const v1::AllocationPart& p : r->parts()) {
    EXPECT_EQ(p.target().revision(), 1);
  }
  // A retry answers the first answer even with the aggregation service down.
  source_->set_unavailable(true);
  absl::StatusOr<v1::AllocateTargetResponse> again =
      AllocateTarget(Request(v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS, false));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), r->SerializeAsString());
  EXPECT_THAT(AllocateTarget(Request(v1::ALLOCATION_METHOD_POPULATION, false)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  source_->set_unavailable(false);

  v1::ValidateAllocationRequest validate;
  validate.set_parent_code("01");
  validate.set_scheme(v1::SCHEME_HEALTH);
  validate.set_year(2023);
  absl::StatusOr<v1::ValidateAllocationResponse> v = ValidateAllocation(validate);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->consistent()) << absl::StrJoin(v->problems(), "\n");
  EXPECT_EQ(v->children_total(), 555555);
  EXPECT_EQ(v->difference(), 0);

  // One district's target is revised by hand: the sum no longer matches.
  v1::Target changed = r->parts(1).target();
  changed.set_value(changed.value() + 10);
  Set(changed, "manual");
  v = ValidateAllocation(validate);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->consistent());
  EXPECT_EQ(v->difference(), 10);
  ASSERT_EQ(v->problems_size(), 1);
  EXPECT_TRUE(absl::StrContains(v->problems(0), "difference 10")) << v->problems(0);
}

// Issue 10: AllocateTarget reads the bases with the caller's freshness and answers their
// reflects_seq (stored with the allocation); a retry carrying another token is the same request.
TEST_P(AllocationTest, BasesAreReadWithTheTokenAndARetryMayCarryAnother) {
  v1::AllocateTargetRequest request = Request(v1::ALLOCATION_METHOD_POPULATION, false);
  request.mutable_freshness()->set_at_least_seq(12);
  request.mutable_freshness()->set_consistency(v1::CONSISTENCY_APPLIED);
  source_->set_reflects_seqs({15});
  absl::StatusOr<v1::AllocateTargetResponse> r = AllocateTarget(request);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->stored());
  EXPECT_EQ(r->reflects_seq(), 15);
  ASSERT_FALSE(source_->freshnesses().empty());
  EXPECT_EQ(source_->freshnesses().back().at_least_seq(), 12);
  EXPECT_EQ(source_->freshnesses().back().consistency(), v1::CONSISTENCY_APPLIED);

  source_->set_unavailable(true);
  request.mutable_freshness()->set_at_least_seq(99);
  absl::StatusOr<v1::AllocateTargetResponse> again = AllocateTarget(request);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->SerializeAsString(), r->SerializeAsString());
}

TEST_P(AllocationTest, MissingBaseOrRateTargetIsRefused) {
  source_->AddUnit("004", "Quận 004", v1::ADMIN_LEVEL_DISTRICT, "01");  // no 2022 figures
  EXPECT_THAT(AllocateTarget(Request(v1::ALLOCATION_METHOD_POPULATION, true)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("004")));

  v1::AllocateTargetRequest no_parent = Request(v1::ALLOCATION_METHOD_POPULATION, true);
  no_parent.set_scheme(v1::SCHEME_UNEMPLOYMENT);
  EXPECT_THAT(AllocateTarget(no_parent), StatusIs(absl::StatusCode::kNotFound));

  Set(MakeTarget("01", v1::SCHEME_SOCIAL, 2023, v1::TARGET_KIND_COVERAGE_PERCENT, 40), "rate");
  v1::AllocateTargetRequest rate = Request(v1::ALLOCATION_METHOD_LABOR_FORCE, true);
  rate.set_scheme(v1::SCHEME_SOCIAL);
  EXPECT_THAT(AllocateTarget(rate), StatusIs(absl::StatusCode::kFailedPrecondition));
  v1::AllocateTargetRequest no_method = Request(v1::ALLOCATION_METHOD_UNSPECIFIED, true);
  EXPECT_THAT(AllocateTarget(no_method), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(TargetServiceTest, LaggingUnitsWorstFirstAndPaged) {
  source_->AddUnit("01", "Thành phố Hà Nội", v1::ADMIN_LEVEL_PROVINCE, "VN");
  // Year end 2023: five districts against a target of 1,000 each; one without a target.
  const std::vector<std::pair<std::string, int64_t>> actual = {
      {"001", 950}, {"002", 1000}, {"003", 800}, {"004", 990}, {"005", 1200}, {"006", 10}};
  for (const auto& [code, people] : actual) {
    source_->AddUnit(code, "Quận " + code, v1::ADMIN_LEVEL_DISTRICT, "01");
    source_->Set(code, "2023-12", v1::SCHEME_HEALTH, people);
    if (code != "006") {
      Set(MakeTarget(code, v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 1000),
          "t" + code);
    }
  }
  source_->AddUnit("007", "Quận 007", v1::ADMIN_LEVEL_DISTRICT, "01");  // a target, no data
  Set(MakeTarget("007", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 1000), "t007");

  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("01");
  request.set_period("2023");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_page_size(2);
  std::vector<std::string> order;
  for (int page = 0; page < 5; ++page) {
    absl::StatusOr<v1::ListLaggingUnitsResponse> r = ListLaggingUnits(request);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->total_size(), 4);
    EXPECT_EQ(r->units_with_target(), 6);
    for (const v1::LaggingUnit& u : r->units()) {
      order.push_back(u.unit().code());
    }
    if (r->next_page_token().empty()) {
      break;
    }
    request.set_page_token(r->next_page_token());
  }
  // BEHIND by achievement (80%, 95%, 99%), then NO_DATA.
  EXPECT_EQ(order, (std::vector<std::string>{"003", "001", "004", "007"}));

  request.clear_page_token();
  request.set_scheme(v1::SCHEME_UNSPECIFIED);
  EXPECT_THAT(ListLaggingUnits(request), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Issue 10: ListLaggingUnits passes the caller's freshness to aggregation and answers its
// reflects_seq; a later page may ask to be at least as fresh as the first (its reflects_seq)
// with the first page's token: freshness is no filter.
TEST_P(TargetServiceTest, LaggingUnitsCarryTheTokenAndPageWithAFresherOne) {
  source_->AddUnit("01", "Thành phố Hà Nội", v1::ADMIN_LEVEL_PROVINCE, "VN");
  for (const std::string code : {"001", "002", "003"}) {
    source_->AddUnit(code, "Quận " + code, v1::ADMIN_LEVEL_DISTRICT, "01");
    source_->Set(code, "2023-12", v1::SCHEME_HEALTH, 900);
    Set(MakeTarget(code, v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 1000), "t" + code);
  }
  source_->set_reflects_seqs({70});
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("01");
  request.set_period("2023");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_page_size(2);
  request.mutable_freshness()->set_at_least_seq(64);
  absl::StatusOr<v1::ListLaggingUnitsResponse> first = ListLaggingUnits(request);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->units_size(), 2);
  EXPECT_EQ(first->reflects_seq(), 70);
  ASSERT_FALSE(source_->freshnesses().empty());
  EXPECT_EQ(source_->freshnesses().back().at_least_seq(), 64);

  request.set_page_token(first->next_page_token());
  request.mutable_freshness()->set_at_least_seq(first->reflects_seq());
  absl::StatusOr<v1::ListLaggingUnitsResponse> second = ListLaggingUnits(request);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->units_size(), 1);
  EXPECT_EQ(second->reflects_seq(), 70);
  EXPECT_EQ(source_->freshnesses().back().at_least_seq(), 70);
}

// AIP-158: a negative page size is refused, and a page token only continues the list it came
// from: sent with other filters it is INVALID_ARGUMENT, never a slice of another list.
TEST_P(TargetServiceTest, ListTargetsRefusesNegativePageSizeAndTokenOfOtherFilters) {
  for (int i = 0; i < 4; ++i) {
    Set(MakeTarget("815", v1::SCHEME_HEALTH, 2020 + i, v1::TARGET_KIND_COVERAGE_PERCENT, 80 + i),
        absl::StrCat("m", i));
    Set(MakeTarget("125", v1::SCHEME_HEALTH, 2020 + i, v1::TARGET_KIND_PARTICIPANTS, 100 + i),
        absl::StrCat("s", i));
  }
  v1::ListTargetsRequest request;
  request.set_unit_code("815");
  request.set_page_size(-1);
  EXPECT_THAT(ListTargets(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));

  request.set_page_size(2);
  absl::StatusOr<v1::ListTargetsResponse> first = ListTargets(request);
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(first->targets_size(), 2);
  ASSERT_FALSE(first->next_page_token().empty());

  std::vector<v1::ListTargetsRequest> others(4, request);
  others[0].set_unit_code("125");  // the token would have continued 815's list inside 125's
  others[1].set_year(2022);
  others[2].set_include_revisions(true);
  others[3].set_scheme(v1::SCHEME_HEALTH);
  for (v1::ListTargetsRequest& other : others) {
    other.set_page_token(first->next_page_token());
    EXPECT_THAT(ListTargets(other),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::AllOf(HasSubstr("page_token"), HasSubstr("other filters"))))
        << other.ShortDebugString();
  }

  // A token bound to these filters whose key is not a target's key is malformed, not a crash.
  v1::ListTargetsRequest forged = request;
  forged.set_page_token(
      PageRequest::Read(request, kTargetsPage)->TokenAfterKey({"815", "twenty", "3", "1"}));
  EXPECT_THAT(ListTargets(forged),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));

  // The same filters with another page size continue where the first page ended.
  request.set_page_token(first->next_page_token());
  request.set_page_size(10);
  absl::StatusOr<v1::ListTargetsResponse> rest = ListTargets(request);
  ASSERT_THAT(rest, IsOk());
  ASSERT_EQ(rest->targets_size(), 2);
  EXPECT_EQ(rest->targets(0).unit_code(), "815");
  EXPECT_EQ(rest->targets(0).year(), 2022);
  EXPECT_EQ(rest->targets(1).year(), 2023);
  EXPECT_TRUE(rest->next_page_token().empty());
}

TEST_P(TargetServiceTest, LaggingUnitsRefuseNegativePageSizeAndTokenOfOtherFilters) {
  source_->AddUnit("01", "Thành phố Hà Nội", v1::ADMIN_LEVEL_PROVINCE, "VN");
  for (const std::string code : {"001", "002", "003"}) {
    source_->AddUnit(code, "Quận " + code, v1::ADMIN_LEVEL_DISTRICT, "01");
    source_->Set(code, "2023-12", v1::SCHEME_HEALTH, 500);
    source_->Set(code, "2023-12", v1::SCHEME_COMPULSORY_SOCIAL, 500);
    Set(MakeTarget(code, v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 1000), "h" + code);
    Set(MakeTarget(code, v1::SCHEME_COMPULSORY_SOCIAL, 2023, v1::TARGET_KIND_PARTICIPANTS, 1000),
        "c" + code);
  }
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("01");
  request.set_period("2023");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_page_size(-5);
  EXPECT_THAT(ListLaggingUnits(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size")));

  request.set_page_size(1);
  absl::StatusOr<v1::ListLaggingUnitsResponse> first = ListLaggingUnits(request);
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(first->units_size(), 1);
  ASSERT_FALSE(first->next_page_token().empty());

  std::vector<v1::ListLaggingUnitsRequest> others(3, request);
  others[0].set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
  others[1].set_period("2023-H2");
  others[2].set_level(v1::ADMIN_LEVEL_DISTRICT);
  for (v1::ListLaggingUnitsRequest& other : others) {
    other.set_page_token(first->next_page_token());
    EXPECT_THAT(ListLaggingUnits(other),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("other filters")))
        << other.ShortDebugString();
  }
  v1::ListLaggingUnitsRequest malformed = request;
  malformed.set_page_token("1");  // an offset a client wrote itself
  EXPECT_THAT(ListLaggingUnits(malformed),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));

  request.set_page_token(first->next_page_token());
  request.set_page_size(0);  // the default: the rest of the list
  absl::StatusOr<v1::ListLaggingUnitsResponse> rest = ListLaggingUnits(request);
  ASSERT_THAT(rest, IsOk());
  EXPECT_EQ(rest->units_size(), 2);
  EXPECT_TRUE(rest->next_page_token().empty());
}

TEST_P(TargetServiceTest, AggregationDownIsUnavailableNeverANumber) {
  Set(MakeTarget("125", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_PARTICIPANTS, 1), "t");
  source_->set_unavailable(true);
  v1::GetAchievementRequest request;
  request.set_unit_code("125");
  request.set_period("2023");
  EXPECT_THAT(GetAchievement(request), StatusIs(absl::StatusCode::kUnavailable));
  v1::GetReportRequest report;
  report.set_unit_code("125");
  report.set_period("2023");
  EXPECT_THAT(GetReport(report), StatusIs(absl::StatusCode::kUnavailable));
  // Targets themselves are still readable and writable.
  v1::ListTargetsRequest list;
  list.set_unit_code("125");
  EXPECT_EQ(ListTargets(list)->targets_size(), 1);
}

// Issue 11: targets on measures, floors and ceilings, through the RPCs with the fake's
// GetMeasures. Tiền Giang's districts in 2024 (the clock is in January 2024; periods are asked).
class MeasureTargetsTest : public TargetServiceTest {
 protected:
  void SetUp() override {
    TargetServiceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    source_->AddUnit("816", "Thị xã Gò Công", v1::ADMIN_LEVEL_DISTRICT, "82");
    source_->AddUnit("817", "Thị xã Cai Lậy", v1::ADMIN_LEVEL_DISTRICT, "82");
  }

  static v1::Target MeasureTarget(const std::string& unit, v1::Measure measure, double value,
                                  v1::Scheme scheme = v1::SCHEME_UNSPECIFIED, int year = 2024) {
    v1::Target t;
    t.set_unit_code(unit);
    t.set_year(year);
    t.set_measure(measure);
    t.set_scheme(scheme);
    t.set_value(value);
    t.set_assigned_by("UBND tỉnh Tiền Giang");
    return t;
  }

  // Arrears of `unit` in 2024: `due` each month of January..`months`, `owed` at the last one.
  void Arrears(const std::string& unit, int months, int64_t due, int64_t owed) {
    for (int m = 1; m <= months; ++m) {
      source_->SetMeasure(unit, absl::StrFormat("2024-%02d", m), v1::MEASURE_CONTRIBUTIONS_DUE_VND,
                          due);
    }
    source_->SetMeasure(unit, absl::StrFormat("2024-%02d", months), v1::MEASURE_ARREARS_OWED_VND,
                        owed);
  }

  static const v1::MeasureAchievement* Find(const v1::Achievement& a, v1::Measure measure) {
    for (const v1::MeasureAchievement& m : a.measures()) {
      if (m.measure() == measure) {
        return &m;
      }
    }
    return nullptr;
  }
};

TEST_P(MeasureTargetsTest, AchievementReadsCeilingsAndFlowsTheRightWayRound) {
  // Participants only: no measures read.
  Set(MakeTarget("815", v1::SCHEME_HEALTH, 2024, v1::TARGET_KIND_PARTICIPANTS, 100), "p");
  source_->Set("815", "2024-08", v1::SCHEME_HEALTH, 90);
  v1::GetAchievementRequest request;
  request.set_unit_code("815");
  request.set_period("2024-08");
  ASSERT_THAT(GetAchievement(request).status(), IsOk());
  EXPECT_TRUE(source_->measure_periods().empty());

  // A ratio ceiling of 2.1 % and 12,000 new health insurance participants for the year; a
  // measure refused with the field named.
  EXPECT_THAT(SetStatus(MeasureTarget("815", v1::MEASURE_ARREARS_RATIO, 2.1, v1::SCHEME_HEALTH)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target.scheme")));
  Set(MeasureTarget("815", v1::MEASURE_ARREARS_RATIO, 2.1), "ratio");
  Set(MeasureTarget("815", v1::MEASURE_NEW_PARTICIPANTS, 12000, v1::SCHEME_HEALTH), "new");
  // January to August: 1,000,000 due a month, 150,000 owed at the end of August (1.875 % of the
  // 8,000,000 due so far); 1,000 joined a month.
  Arrears("815", 8, 1000000, 150000);
  for (int m = 1; m <= 8; ++m) {
    source_->SetMeasure("815", absl::StrFormat("2024-%02d", m), v1::MEASURE_NEW_PARTICIPANTS, 1000,
                        v1::SCHEME_HEALTH);
  }
  request.mutable_freshness()->set_at_least_seq(42);
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_EQ(a->measures_size(), 2);
  // The year to date in three reads, each with the caller's token.
  EXPECT_EQ(source_->measure_periods(),
            std::vector<std::string>({"2024-H1", "2024-07", "2024-08"}));
  for (const v1::Freshness& f : source_->measure_freshnesses()) {
    EXPECT_EQ(f.at_least_seq(), 42);
  }
  const v1::MeasureAchievement* ratio = Find(*a, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio, nullptr);
  EXPECT_TRUE(ratio->lower_is_better());
  EXPECT_DOUBLE_EQ(ratio->actual(), 1.875);
  EXPECT_NEAR(ratio->points_vs_target(), -0.225, 1e-9);
  EXPECT_EQ(ratio->status(), v1::ACHIEVEMENT_STATUS_MET);
  EXPECT_EQ(ratio->as_of_month(), "2024-08");
  const v1::MeasureAchievement* joined = Find(*a, v1::MEASURE_NEW_PARTICIPANTS);
  ASSERT_NE(joined, nullptr);
  EXPECT_DOUBLE_EQ(joined->actual(), 8000);
  EXPECT_DOUBLE_EQ(joined->pace_value(), 8000);
  EXPECT_EQ(joined->status(), v1::ACHIEVEMENT_STATUS_ON_TRACK);

  // More owed: 200,000 over 8,000,000 is 2.5 %, over the ceiling; with 2023's 3.0 % (300,000
  // over 10,000,000) the pace at August is 2.4 %: behind, and the year before read once.
  source_->SetMeasure("815", "2024-08", v1::MEASURE_ARREARS_OWED_VND, 200000);
  source_->SetMeasure("815", "2023-12", v1::MEASURE_ARREARS_OWED_VND, 300000);
  source_->SetMeasure("815", "2023-12", v1::MEASURE_CONTRIBUTIONS_DUE_VND, 10000000);
  a = GetAchievement(request);
  ASSERT_THAT(a.status(), IsOk());
  ratio = Find(*a, v1::MEASURE_ARREARS_RATIO);
  ASSERT_NE(ratio, nullptr);
  EXPECT_DOUBLE_EQ(ratio->actual(), 2.5);
  EXPECT_DOUBLE_EQ(ratio->baseline_value(), 3.0);
  EXPECT_NEAR(ratio->pace_value(), 2.4, 1e-9);
  EXPECT_EQ(ratio->status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(source_->measure_periods().back(), "2023");
}

TEST_P(MeasureTargetsTest, LaggingUnitsOfACeilingFurthestOverFirst) {
  for (const char* unit : {"815", "816", "817"}) {
    Set(MeasureTarget(unit, v1::MEASURE_ARREARS_RATIO, 2.0), absl::StrCat("r", unit));
  }
  Arrears("815", 12, 1000, 180);  // 1.5 %: under the ceiling
  Arrears("816", 12, 1000, 360);  // 3.0 %
  Arrears("817", 12, 1000, 300);  // 2.5 %
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("82");
  request.set_period("2024");
  request.set_measure(v1::MEASURE_ARREARS_RATIO);
  absl::StatusOr<v1::ListLaggingUnitsResponse> r = ListLaggingUnits(request);
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_EQ(r->units_with_target(), 3);
  EXPECT_EQ(r->total_size(), 2);
  ASSERT_EQ(r->units_size(), 2);
  EXPECT_EQ(r->units(0).unit().code(), "816");
  EXPECT_EQ(r->units(1).unit().code(), "817");
  EXPECT_EQ(r->units(0).measure_achievement().status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_NEAR(r->units(0).measure_achievement().points_vs_target(), 1.0, 1e-9);
  EXPECT_FALSE(r->units(0).has_achievement());
}

// A ratio ceiling is inherited by every unit; an amount ceiling is split like participants.
TEST_P(MeasureTargetsTest, AllocationOfCeilings) {
  for (const auto& [code, population] : std::vector<std::pair<std::string, int64_t>>{
           {"815", 100000}, {"816", 300000}, {"817", 400000}}) {
    source_->Set(code, "2023-12", v1::SCHEME_HEALTH, population * 9 / 10, std::nullopt, population);
  }
  Set(MeasureTarget("82", v1::MEASURE_ARREARS_RATIO, 2.1), "parent-ratio");
  v1::AllocateTargetRequest request;
  request.set_parent_code("82");
  request.set_year(2024);
  request.set_measure(v1::MEASURE_ARREARS_RATIO);
  request.set_request_id("alloc-ratio");
  absl::StatusOr<v1::AllocateTargetResponse> r = AllocateTarget(request);
  ASSERT_THAT(r.status(), IsOk());
  ASSERT_EQ(r->parts_size(), 3);
  for (const v1::AllocationPart& part : r->parts()) {
    EXPECT_EQ(part.target().value(), 2.1);
    EXPECT_EQ(part.target().measure(), v1::MEASURE_ARREARS_RATIO);
    EXPECT_EQ(part.target().kind(), v1::TARGET_KIND_UNSPECIFIED);
    EXPECT_EQ(part.target().revision(), 1);
    EXPECT_EQ(part.base(), 0);
  }
  EXPECT_EQ(r->allocated_total(), 0);
  v1::ValidateAllocationRequest check;
  check.set_parent_code("82");
  check.set_year(2024);
  check.set_measure(v1::MEASURE_ARREARS_RATIO);
  absl::StatusOr<v1::ValidateAllocationResponse> v = ValidateAllocation(check);
  ASSERT_THAT(v.status(), IsOk());
  EXPECT_TRUE(v->consistent()) << absl::StrJoin(v->problems(), "\n");
  // A looser ceiling on one unit is a problem naming it; a stricter one is not.
  Set(MeasureTarget("815", v1::MEASURE_ARREARS_RATIO, 2.5), "looser");
  Set(MeasureTarget("816", v1::MEASURE_ARREARS_RATIO, 1.5), "stricter");
  v = ValidateAllocation(check);
  ASSERT_THAT(v.status(), IsOk());
  EXPECT_FALSE(v->consistent());
  ASSERT_EQ(v->problems_size(), 1);
  EXPECT_THAT(v->problems(0), HasSubstr("815"));

  // 4,000,000,000 VND owed at most, split by population 1:3:4.
  Set(MeasureTarget("82", v1::MEASURE_ARREARS_OWED_VND, 4e9), "parent-owed");
  request.set_measure(v1::MEASURE_ARREARS_OWED_VND);
  request.set_method(v1::ALLOCATION_METHOD_LAST_YEAR_PARTICIPANTS);
  request.set_request_id("alloc-owed");
  EXPECT_THAT(AllocateTarget(request), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                HasSubstr("population or labour force")));
  request.set_method(v1::ALLOCATION_METHOD_POPULATION);
  r = AllocateTarget(request);
  ASSERT_THAT(r.status(), IsOk());
  ASSERT_EQ(r->parts_size(), 3);
  EXPECT_EQ(r->parts(0).target().value(), 5e8);
  EXPECT_EQ(r->parts(1).target().value(), 1.5e9);
  EXPECT_EQ(r->parts(2).target().value(), 2e9);
  EXPECT_EQ(r->parts(2).target().measure(), v1::MEASURE_ARREARS_OWED_VND);
  EXPECT_EQ(r->allocated_total(), 4000000000);
  check.set_measure(v1::MEASURE_ARREARS_OWED_VND);
  v = ValidateAllocation(check);
  ASSERT_THAT(v.status(), IsOk());
  EXPECT_TRUE(v->consistent()) << absl::StrJoin(v->problems(), "\n");
  EXPECT_EQ(v->children_total(), 4e9);
}

TEST_P(MeasureTargetsTest, ReportCarriesTheMeasuresReported) {
  source_->Set("815", "2024-12", v1::SCHEME_HEALTH, 150054, std::nullopt, 166760);
  v1::GetReportRequest request;
  request.set_unit_code("815");
  request.set_period("2024");
  absl::StatusOr<v1::Report> before = GetReport(request);
  ASSERT_THAT(before.status(), IsOk());
  EXPECT_EQ(before->text(),
            "Tính đến 31/12/2024, thành phố Mỹ Tho có 150.054 người tham gia BHYT, đạt tỷ lệ bao "
            "phủ 90,0% dân số.");

  Set(MeasureTarget("815", v1::MEASURE_ARREARS_RATIO, 2.1), "ratio");
  Arrears("815", 12, 1000000, 220000);  // 1.8333 % of 12,000,000
  source_->SetMeasure("815", "2024-12", v1::MEASURE_DISTINCT_PARTICIPANTS, 158200);
  source_->SetMeasure("815", "2024-03", v1::MEASURE_NEW_PARTICIPANTS, 700, v1::SCHEME_HEALTH);
  source_->SetMeasure("815", "2024-09", v1::MEASURE_NEW_PARTICIPANTS, 500, v1::SCHEME_HEALTH);
  source_->SetMeasure("815", "2023-05", v1::MEASURE_NEW_PARTICIPANTS, 1000, v1::SCHEME_HEALTH);
  request.set_percent_decimals(2);
  absl::StatusOr<v1::Report> report = GetReport(request);
  ASSERT_THAT(report.status(), IsOk());
  EXPECT_EQ(report->text(),
            "Tính đến 31/12/2024, thành phố Mỹ Tho có 158.200 người tham gia BHXH, BHYT, BHTN; "
            "150.054 người tham gia BHYT, đạt tỷ lệ bao phủ 89,98% dân số. Trong năm 2024, phát "
            "triển mới 1.200 người tham gia BHYT, tăng 200 người so với cùng kỳ năm 2023; tỷ lệ "
            "nợ 1,83%, dưới mức trần 2,10%.");

  // An aggregation service older than the measures: the paragraph as before.
  source_->set_measures_error(absl::UnimplementedError("GetMeasures"));
  request.clear_percent_decimals();
  report = GetReport(request);
  ASSERT_THAT(report.status(), IsOk());
  EXPECT_EQ(report->text(), before->text());
}

// Issue 9: targets across a reform. Fictional codes, the 2025 reform's shape: on 2025-07-01
// the old 80 (whole) and 60% of 86's population (50% of its labour force) went into a new unit
// that reuses the code 80; 86 was abolished; district 861 under 86 was abolished and its code
// reused by a new commune under the new 80.
class ReformTargetsTest : public TargetServiceTest {
 protected:
  void SetUp() override {
    TargetServiceTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    source_->AddUnit("80", "Tỉnh A", v1::ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01");
    source_->AddUnit("86", "Tỉnh B", v1::ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01");
    source_->AddUnit("80", "Tỉnh A B", v1::ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01");
    source_->AddUnit("861", "Huyện B1", v1::ADMIN_LEVEL_DISTRICT, "86", "", "2025-07-01");
    source_->AddUnit("862", "Huyện B2", v1::ADMIN_LEVEL_DISTRICT, "86", "", "2025-07-01");
    source_->AddUnit("861", "Xã C", v1::ADMIN_LEVEL_COMMUNE, "80", "2025-07-01");
    source_->AddLink("80", "80", "2025-07-01", 1.0);
    source_->AddLink("86", "80", "2025-07-01", 0.6, 0.5);
    // The new 80 at the end of 2025.
    source_->Set("80", "2025-12", v1::SCHEME_HEALTH, 2125, std::nullopt, 2500);
    source_->Set("80", "2025-12", v1::SCHEME_COMPULSORY_SOCIAL, 1100, std::nullopt, 5000);
    // Denominators: the old 80's 2025 population went to the new 80 (the code's holder), so
    // its predecessors' are read for 2024.
    source_->SetDenominator("86", "2025-06-30", 2025, v1::SCHEME_HEALTH, 3000);
    source_->SetDenominator("80", "2024-12-31", 2024, v1::SCHEME_HEALTH, 1000);
    source_->SetDenominator("86", "2024-12-31", 2024, v1::SCHEME_HEALTH, 2500);
    source_->SetDenominator("861", "2024-12-31", 2024, v1::SCHEME_HEALTH, 300);
    source_->SetDenominator("862", "2024-12-31", 2024, v1::SCHEME_HEALTH, 700);
  }

  v1::Target OldTarget(const std::string& code, v1::Scheme scheme, v1::TargetKind kind,
                       double value, const std::string& unit_as_of) {
    v1::Target t = MakeTarget(code, scheme, 2025, kind, value);
    t.set_unit_as_of(unit_as_of);
    t.set_assigned_by(absl::StrCat("UBND tỉnh ", code));
    t.set_decision_ref(absl::StrCat("QĐ ", code));
    return t;
  }

  // The 2025 targets of the units before the reform: old 80 named by a date before it ended,
  // 86 under "" (the code's holder for 2025, since no unit took it after).
  void SetOldTargets() {
    Set(OldTarget("80", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 90, "2025-06-30"),
        "h80");
    Set(OldTarget("86", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 80, ""), "h86");
    Set(OldTarget("80", v1::SCHEME_COMPULSORY_SOCIAL, v1::TARGET_KIND_PARTICIPANTS, 1000,
                  "2025-06-30"),
        "c80");
    Set(OldTarget("86", v1::SCHEME_COMPULSORY_SOCIAL, v1::TARGET_KIND_PARTICIPANTS, 500, ""),
        "c86");
  }
};

TEST_P(ReformTargetsTest, UnitAsOfIsStoredOnlyForAnotherUnitThanTheYearsHolder) {
  const v1::Target old_80 = Set(
      OldTarget("80", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 90, "2025-06-30"), "a");
  EXPECT_EQ(old_80.unit_as_of(), "2025-06-30");
  EXPECT_EQ(old_80.revision(), 1);
  // A date naming the new 80 names the year's holder: stored under "", its own revision 1.
  const v1::Target new_80 = Set(
      OldTarget("80", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 95, "2025-12-31"), "b");
  EXPECT_EQ(new_80.unit_as_of(), "");
  EXPECT_EQ(new_80.revision(), 1);
  // 86 held its code last in 2025: it is the holder, whatever day of its validity is named.
  EXPECT_EQ(
      Set(OldTarget("86", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 80, "2025-03-01"),
          "c")
          .unit_as_of(),
      "");
  EXPECT_THAT(
      SetStatus(OldTarget("86", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS, 1, "2025-09-01")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target.unit_as_of")));
  EXPECT_THAT(
      SetStatus(OldTarget("80", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS, 1, "2024-06-30")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target.unit_as_of")));
  EXPECT_THAT(
      SetStatus(OldTarget("80", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS, 1, "2025-02-30")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target.unit_as_of")));

  v1::ListTargetsRequest list;
  list.set_unit_code("80");
  list.set_year(2025);
  absl::StatusOr<v1::ListTargetsResponse> listed = ListTargets(list);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->targets_size(), 2);
  EXPECT_EQ(listed->targets(0).unit_as_of(), "");
  EXPECT_EQ(listed->targets(0).value(), 95);
  EXPECT_EQ(listed->targets(1).unit_as_of(), "2025-06-30");
  EXPECT_EQ(listed->targets(1).value(), 90);
  // Paged one by one, the key keeps the two apart.
  list.set_page_size(1);
  listed = ListTargets(list);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->targets_size(), 1);
  list.set_page_token(listed->next_page_token());
  listed = ListTargets(list);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->targets_size(), 1);
  EXPECT_EQ(listed->targets(0).unit_as_of(), "2025-06-30");
  EXPECT_TRUE(listed->next_page_token().empty());

  // The old 80's achievement (read on a date it existed) is against its own target.
  v1::GetAchievementRequest request;
  request.set_unit_code("80");
  request.set_period("2025-06");
  request.add_schemes(v1::SCHEME_HEALTH);
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->unit().name(), "Tỉnh A");
  EXPECT_EQ(SchemeOf(*a, v1::SCHEME_HEALTH).target().value(), 90);
  EXPECT_FALSE(SchemeOf(*a, v1::SCHEME_HEALTH).target_reexpressed());
}

TEST_P(ReformTargetsTest, NewUnitsTargetsAreReexpressedFromThePredecessors) {
  SetOldTargets();
  v1::GetAchievementRequest request;
  request.set_unit_code("80");
  request.set_period("2025");
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->unit().name(), "Tỉnh A B");
  // Every read is in the territory of the period's end.
  EXPECT_EQ(source_->territory_dates().front(), "2025-12-31");

  // Health (population shares): (1 × 90 × 1.000 + 0,6 × 80 × 2.500) / (1.000 + 0,6 × 2.500)
  // = 84, with 2024's populations since the old 80 has none of its own for 2025.
  const v1::SchemeAchievement& health = SchemeOf(*a, v1::SCHEME_HEALTH);
  EXPECT_TRUE(health.target_reexpressed());
  EXPECT_EQ(health.target().unit_code(), "80");
  EXPECT_EQ(health.target().unit_as_of(), "");
  EXPECT_EQ(health.target().revision(), 0);
  EXPECT_DOUBLE_EQ(health.target().value(), 84.0);
  EXPECT_EQ(health.target().kind(), v1::TARGET_KIND_COVERAGE_PERCENT);
  EXPECT_EQ(health.target().assigned_by(), "UBND tỉnh 80; UBND tỉnh 86");
  EXPECT_EQ(health.target().decision_ref(), "QĐ 80; QĐ 86");
  ASSERT_EQ(health.source_targets_size(), 2);
  EXPECT_EQ(health.source_targets(0).unit_as_of(), "2025-06-30");
  EXPECT_EQ(health.source_targets(1).unit_code(), "86");
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_MET);  // 85% against 84%

  // Compulsory (labour-force share 0,5): 1 × 1.000 + 0,5 × 500 = 1.250 people.
  const v1::SchemeAchievement& compulsory = SchemeOf(*a, v1::SCHEME_COMPULSORY_SOCIAL);
  EXPECT_TRUE(compulsory.target_reexpressed());
  EXPECT_EQ(compulsory.target().value(), 1250);
  EXPECT_EQ(compulsory.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
  EXPECT_EQ(compulsory.participants_to_target(), 150);

  // No predecessor has an unemployment target: no target, and no re-expression to speak of.
  const v1::SchemeAchievement& unemployment = SchemeOf(*a, v1::SCHEME_UNEMPLOYMENT);
  EXPECT_EQ(unemployment.status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
  EXPECT_FALSE(unemployment.target_reexpressed());
  EXPECT_THAT(unemployment.note(), HasSubstr("the predecessor 80 Tỉnh A has no unemployment"));

  v1::GetReportRequest report_request;
  report_request.set_unit_code("80");
  report_request.set_period("2025");
  absl::StatusOr<v1::Report> report = GetReport(report_request);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(report->text(), HasSubstr("tỉnh A B (theo địa giới hành chính mới) có"));
  EXPECT_EQ(report->text().find("theo địa giới hành chính mới"),
            report->text().rfind("theo địa giới hành chính mới"));
  EXPECT_THAT(report->text(),
              HasSubstr("(chỉ tiêu giao cho các đơn vị trước sắp xếp: 1.250 người)"));
}

// Issue 10: GetAchievement and GetReport pass the caller's freshness, unchanged, to every
// aggregation read they make (the unit's figures and its predecessors' denominators here), and
// answer the smallest reflects_seq of those reads.
TEST_P(ReformTargetsTest, EveryReadCarriesTheCallersFreshnessAndTheAnswerTheOldestSeq) {
  SetOldTargets();
  v1::Freshness freshness;
  freshness.set_at_least_seq(41);
  freshness.set_consistency(v1::CONSISTENCY_FULL);
  source_->set_reflects_seqs({50, 44, 47});
  v1::GetAchievementRequest request;
  request.set_unit_code("80");
  request.set_period("2025");
  *request.mutable_freshness() = freshness;
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  ASSERT_GE(source_->freshnesses().size(), 3u) << "the unit's figures and two denominators";
  for (const v1::Freshness& passed : source_->freshnesses()) {
    EXPECT_EQ(passed.at_least_seq(), 41);
    EXPECT_EQ(passed.consistency(), v1::CONSISTENCY_FULL);
  }
  EXPECT_EQ(a->reflects_seq(), 44);

  const size_t before = source_->freshnesses().size();
  source_->set_reflects_seqs({60, 58});
  freshness.set_at_least_seq(55);
  freshness.set_consistency(v1::CONSISTENCY_APPLIED);
  v1::GetReportRequest report_request;
  report_request.set_unit_code("80");
  report_request.set_period("2025");
  *report_request.mutable_freshness() = freshness;
  absl::StatusOr<v1::Report> report = GetReport(report_request);
  ASSERT_THAT(report, IsOk());
  ASSERT_GT(source_->freshnesses().size(), before + 1);
  for (size_t i = before; i < source_->freshnesses().size(); ++i) {
    EXPECT_EQ(source_->freshnesses()[i].at_least_seq(), 55) << i;
    EXPECT_EQ(source_->freshnesses()[i].consistency(), v1::CONSISTENCY_APPLIED) << i;
  }
  EXPECT_EQ(report->achievement().reflects_seq(), 58);

  // Without a token every read asks for the server's default, as before.
  const size_t untokened = source_->freshnesses().size();
  request.clear_freshness();
  ASSERT_THAT(GetAchievement(request), IsOk());
  for (size_t i = untokened; i < source_->freshnesses().size(); ++i) {
    EXPECT_EQ(source_->freshnesses()[i].at_least_seq(), 0) << i;
    EXPECT_EQ(source_->freshnesses()[i].consistency(), v1::CONSISTENCY_UNSPECIFIED) << i;
  }

  request.mutable_freshness()->set_at_least_seq(-1);
  EXPECT_THAT(GetAchievement(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("freshness.at_least_seq")));
}

TEST_P(ReformTargetsTest, ATargetOnTheNewUnitWins) {
  SetOldTargets();
  Set(MakeTarget("80", v1::SCHEME_HEALTH, 2025, v1::TARGET_KIND_COVERAGE_PERCENT, 86), "new");
  v1::GetAchievementRequest request;
  request.set_unit_code("80");
  request.set_period("2025");
  request.add_schemes(v1::SCHEME_HEALTH);
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  const v1::SchemeAchievement& health = SchemeOf(*a, v1::SCHEME_HEALTH);
  EXPECT_FALSE(health.target_reexpressed());
  EXPECT_EQ(health.target().value(), 86);
  EXPECT_EQ(health.source_targets_size(), 0);
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_BEHIND);
}

TEST_P(ReformTargetsTest, AnUnknownShareOrAMissingPredecessorTargetIsNoTargetWithANote) {
  SetOldTargets();
  source_->AddUnit("70", "Tỉnh D", v1::ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01");
  source_->AddUnit("71", "Tỉnh E", v1::ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01");
  source_->AddLink("70", "71", "2025-07-01", -1);
  Set(OldTarget("70", v1::SCHEME_HEALTH, v1::TARGET_KIND_PARTICIPANTS, 100, ""), "h70");
  v1::GetAchievementRequest request;
  request.set_unit_code("71");
  request.set_period("2025");
  request.add_schemes(v1::SCHEME_HEALTH);
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  const v1::SchemeAchievement& health = SchemeOf(*a, v1::SCHEME_HEALTH);
  EXPECT_EQ(health.status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
  EXPECT_FALSE(health.target_reexpressed());
  EXPECT_THAT(health.note(), HasSubstr("the share of 70 in 71 from 2025-07-01 is unknown"));

  // A predecessor without a denominator in either year leaves the coverage target absent.
  source_->AddUnit("73", "Tỉnh G", v1::ADMIN_LEVEL_PROVINCE, "VN", "", "2025-07-01");
  source_->AddUnit("72", "Tỉnh F", v1::ADMIN_LEVEL_PROVINCE, "VN", "2025-07-01");
  source_->AddLink("73", "72", "2025-07-01", 1.0);
  Set(OldTarget("73", v1::SCHEME_HEALTH, v1::TARGET_KIND_COVERAGE_PERCENT, 70, ""), "h73");
  request.set_unit_code("72");
  a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(SchemeOf(*a, v1::SCHEME_HEALTH).status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
  EXPECT_FALSE(SchemeOf(*a, v1::SCHEME_HEALTH).target_reexpressed());
  EXPECT_EQ(SchemeOf(*a, v1::SCHEME_HEALTH).source_targets_size(), 0);
  EXPECT_THAT(SchemeOf(*a, v1::SCHEME_HEALTH).note(),
              HasSubstr("population is unknown for 2025 and 2024"));
  // With one denominator the single predecessor's rate carries over as it is.
  source_->SetDenominator("73", "2024-12-31", 2024, v1::SCHEME_HEALTH, 100);
  a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  EXPECT_TRUE(SchemeOf(*a, v1::SCHEME_HEALTH).target_reexpressed());
  EXPECT_DOUBLE_EQ(SchemeOf(*a, v1::SCHEME_HEALTH).target().value(), 70.0);
}

TEST_P(ReformTargetsTest, LaggingUnitsSayWhichTargetsAreReexpressed) {
  SetOldTargets();
  v1::ListLaggingUnitsRequest request;
  request.set_parent_code("VN");
  request.set_period("2025");
  request.set_scheme(v1::SCHEME_COMPULSORY_SOCIAL);
  absl::StatusOr<v1::ListLaggingUnitsResponse> lagging = ListLaggingUnits(request);
  ASSERT_THAT(lagging, IsOk());
  EXPECT_EQ(lagging->units_with_target(), 1);
  ASSERT_EQ(lagging->units_size(), 1);
  EXPECT_EQ(lagging->units(0).unit().code(), "80");
  EXPECT_TRUE(lagging->units(0).achievement().target_reexpressed());
  EXPECT_EQ(lagging->units(0).achievement().target().value(), 1250);
  EXPECT_EQ(source_->territory_dates().front(), "2025-12-31");

  // On a date before the reform the old provinces are the units, against their own targets.
  request.set_period("2025-06");
  source_->Set("80", "2025-06", v1::SCHEME_COMPULSORY_SOCIAL, 100, std::nullopt, 5000);
  source_->Set("86", "2025-06", v1::SCHEME_COMPULSORY_SOCIAL, 100, std::nullopt, 5000);
  lagging = ListLaggingUnits(request);
  ASSERT_THAT(lagging, IsOk());
  EXPECT_EQ(lagging->units_with_target(), 2);
  for (const v1::LaggingUnit& unit : lagging->units()) {
    EXPECT_FALSE(unit.achievement().target_reexpressed()) << unit.unit().code();
  }
}

TEST_P(ReformTargetsTest, TheTrendIsReadInTheReadersTerritory) {
  SetOldTargets();
  source_->Set("80", "2025-09", v1::SCHEME_COMPULSORY_SOCIAL, 900, std::nullopt, 5000);
  v1::GetAchievementRequest request;
  request.set_unit_code("80");
  request.set_period("2025-Q3");
  request.add_schemes(v1::SCHEME_COMPULSORY_SOCIAL);
  absl::StatusOr<v1::Achievement> a = GetAchievement(request);
  ASSERT_THAT(a, IsOk());
  EXPECT_TRUE(SchemeOf(*a, v1::SCHEME_COMPULSORY_SOCIAL).target_reexpressed());
  ASSERT_GE(source_->series_calls(), 1);
  // The coverage read and the series from last December both name the period's end.
  for (const std::string& date : source_->territory_dates()) {
    if (date != "2025-06-30") {  // the predecessors' own reads are on their last day
      EXPECT_EQ(date, "2025-09-30");
    }
  }
  request.set_territory_date("2025-13-01");
  EXPECT_THAT(GetAchievement(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("territory_date")));
}

TEST_P(ReformTargetsTest, AllocationAcrossTheReformNamesTheUnitsOfTheBaseYear) {
  Set(MakeTarget("86", v1::SCHEME_HEALTH, 2025, v1::TARGET_KIND_PARTICIPANTS, 1000), "p86");
  v1::AllocateTargetRequest request;
  request.set_parent_code("86");
  request.set_scheme(v1::SCHEME_HEALTH);
  request.set_year(2025);
  request.set_method(v1::ALLOCATION_METHOD_POPULATION);
  request.set_request_id("alloc");
  absl::StatusOr<v1::AllocateTargetResponse> response = AllocateTarget(request);
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->parts_size(), 2);
  // 861 names a commune of the new 80 at the end of 2025: the part is for the district, named
  // on its last day; 862 was never reused and holds its code's 2025 figures.
  EXPECT_EQ(response->parts(0).target().unit_code(), "861");
  EXPECT_EQ(response->parts(0).target().unit_as_of(), "2025-06-30");
  EXPECT_EQ(response->parts(0).target().value(), 300);
  EXPECT_EQ(response->parts(1).target().unit_as_of(), "");
  EXPECT_EQ(response->parts(1).target().value(), 700);
  // The commune now holding 861 has no target of its own from that.
  v1::GetAchievementRequest achievement;
  achievement.set_unit_code("861");
  achievement.set_period("2025");
  achievement.add_schemes(v1::SCHEME_HEALTH);
  absl::StatusOr<v1::Achievement> a = GetAchievement(achievement);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(SchemeOf(*a, v1::SCHEME_HEALTH).status(), v1::ACHIEVEMENT_STATUS_NO_TARGET);
}

INSTANTIATE_TEST_SUITE_P(Stores, ReformTargetsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });
INSTANTIATE_TEST_SUITE_P(Stores, TargetServiceTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });
INSTANTIATE_TEST_SUITE_P(Stores, AllocationTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });
INSTANTIATE_TEST_SUITE_P(Stores, MeasureTargetsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Over real gRPC: the target service served on loopback, its aggregation address pointing at a
// port nobody listens on.
TEST(TargetServiceGrpcTest, UnreachableAggregationIsUnavailableWithAClearMessage) {
  // Reserve a free port, then close the server so nothing listens there.
  std::string dead_address;
  {
    covtrack::ServerOptions options;
    options.service_name = "placeholder";
    absl::StatusOr<std::unique_ptr<covtrack::Server>> placeholder =
        covtrack::Server::Start(options, {});
    ASSERT_TRUE(placeholder.ok()) << placeholder.status();
    dead_address = (*placeholder)->address();
    (*placeholder)->Shutdown();
  }
  TargetOptions options;
  options.store_url = covtrack::testing::SqliteStoreUrl();
  options.aggregation_addr = dead_address;
  options.ingestion_addr = dead_address;  // never a service that happens to run on the default
  // A target is stored only for a unit ingestion knows (issue 13): the units come from a fake,
  // so that only aggregation is unreachable.
  auto units = std::make_shared<FakeCoverageSource>();
  units->AddUnit("815", "Thành phố Mỹ Tho", v1::ADMIN_LEVEL_DISTRICT, "82");
  options.unit_source = units;
  options.aggregation_deadline = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<TargetServiceImpl>> service = TargetServiceImpl::Create(options);
  ASSERT_TRUE(service.ok()) << service.status();
  covtrack::ServerOptions server_options;
  server_options.service_name = "targets";
  absl::StatusOr<std::unique_ptr<covtrack::Server>> server =
      covtrack::Server::Start(server_options, {service->get()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::TargetService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));

  v1::SetTargetRequest set;
  *set.mutable_target() =
      MakeTarget("815", v1::SCHEME_HEALTH, 2023, v1::TARGET_KIND_COVERAGE_PERCENT, 89);
  set.set_request_id("x");
  v1::Target stored;
  grpc::ClientContext set_context;
  ASSERT_TRUE(stub->SetTarget(&set_context, set, &stored).ok());
  EXPECT_EQ(stored.revision(), 1);

  v1::GetReportRequest request;
  request.set_unit_code("815");
  request.set_period("2023");
  v1::Report report;
  grpc::ClientContext context;
  grpc::Status status = stub->GetReport(&context, request, &report);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // The service is named; its address is for the log only (issue 13: errors that say too much).
  EXPECT_TRUE(absl::StrContains(status.error_message(), "aggregation service is unavailable"))
      << status.error_message();
  EXPECT_FALSE(absl::StrContains(status.error_message(), dead_address)) << status.error_message();
  EXPECT_TRUE(report.text().empty());
  (*server)->Shutdown();
}

}  // namespace
}  // namespace covtrack::targets
