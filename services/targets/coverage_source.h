#pragma once

// Where the target service reads actual figures: the aggregation service. An interface so that
// the service's logic is unit-tested with a fake; the gRPC implementation is the real one.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/period.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"

namespace covtrack::targets {

// Every unit ListCoverage found, all pages, and the seq they reflect.
struct CoverageList {
  std::vector<v1::Coverage> coverages;
  // The smallest of the pages' reflects_seq: the first page's, since every page after it is
  // asked to be at least as fresh (every change up to it is in all of them).
  int64_t reflects_seq = 0;
};

class CoverageSource {
 public:
  virtual ~CoverageSource() = default;

  // Every read names the date whose territory it wants (aggregation_service.proto,
  // territory_date; "YYYY-MM-DD"): the target service passes the request's, or the end of the
  // period asked, so that the actual, last December's baseline and the months of the trend are
  // all figures of the same unit. Empty: the aggregation service's default. Every read passes
  // on `freshness` (common.proto) as the served call was given it; every answer carries the seq
  // it reflects.
  virtual absl::StatusOr<v1::Coverage> GetCoverage(absl::string_view unit_code,
                                                   absl::string_view period,
                                                   const std::vector<v1::Scheme>& schemes,
                                                   absl::string_view territory_date,
                                                   const v1::Freshness& freshness) = 0;

  // Every unit at `level` under `parent_code` (unspecified: the children) with its coverage of
  // one scheme, all pages, ordered by code.
  virtual absl::StatusOr<CoverageList> ListCoverage(absl::string_view parent_code,
                                                    v1::AdminLevel level, absl::string_view period,
                                                    v1::Scheme scheme,
                                                    absl::string_view territory_date,
                                                    const v1::Freshness& freshness) = 0;

  virtual absl::StatusOr<v1::CoverageSeries> GetCoverageSeries(absl::string_view unit_code,
                                                               v1::Scheme scheme, Month from,
                                                               Month to,
                                                               absl::string_view territory_date,
                                                               const v1::Freshness& freshness) = 0;

  // The measures beyond participants (aggregation_service.proto GetMeasures) of one unit and
  // period; empty `measures`: every measure with a figure. In the territory of `territory_date`
  // ("" for the period's end), as GetCoverage.
  virtual absl::StatusOr<v1::MeasureSummary> GetMeasures(absl::string_view unit_code,
                                                         absl::string_view period,
                                                         const std::vector<v1::Measure>& measures,
                                                         absl::string_view territory_date,
                                                         const v1::Freshness& freshness) = 0;
};

// The aggregation reads of one served call (GetAchievement, ListLaggingUnits, AllocateTarget,
// GetReport): each passes on the call's freshness unchanged, so a token the caller got from a
// write reaches every read, and the call answers the seq its figures reflect. When several
// reads were made, that is the SMALLEST of their reflects_seq: each read reflects every change
// up to its own seq, so all of them together are only known to reflect every change up to the
// oldest (a caller passing it on as a token is never promised more than it saw).
class CoverageReads {
 public:
  CoverageReads(CoverageSource* source, v1::Freshness freshness)
      : source_(source), freshness_(std::move(freshness)) {}

  absl::StatusOr<v1::Coverage> GetCoverage(absl::string_view unit_code, absl::string_view period,
                                           const std::vector<v1::Scheme>& schemes,
                                           absl::string_view territory_date);
  absl::StatusOr<std::vector<v1::Coverage>> ListCoverage(absl::string_view parent_code,
                                                         v1::AdminLevel level,
                                                         absl::string_view period,
                                                         v1::Scheme scheme,
                                                         absl::string_view territory_date);
  absl::StatusOr<v1::CoverageSeries> GetCoverageSeries(absl::string_view unit_code,
                                                       v1::Scheme scheme, Month from, Month to,
                                                       absl::string_view territory_date);
  absl::StatusOr<v1::MeasureSummary> GetMeasures(absl::string_view unit_code,
                                                 absl::string_view period,
                                                 const std::vector<v1::Measure>& measures,
                                                 absl::string_view territory_date);

  // The smallest reflects_seq of the answers read so far; 0 before any (or when an answer did
  // not say, as an aggregation service older than the field does not).
  int64_t reflects_seq() const { return reflects_seq_.value_or(0); }

 private:
  void Reflects(int64_t seq) {
    reflects_seq_ = reflects_seq_.has_value() ? std::min(*reflects_seq_, seq) : seq;
  }

  CoverageSource* source_;
  const v1::Freshness freshness_;
  std::optional<int64_t> reflects_seq_;
};

// The figures of `scheme` in `coverage`, or nullptr when the unit has none for it.
const v1::SchemeCoverage* FindScheme(const v1::Coverage& coverage, v1::Scheme scheme);

// FAILED_PRECONDITION naming the unit, scheme and field when a count or denominator of
// `coverage` is not one a country can hold (0..kMaxPeople, common/domain.h; a change within
// ±kMaxPeople). The figures read from aggregation are not trusted: counts up to INT64_MAX once
// made sums wrap to plausible numbers (issue 13), and with every figure bounded no sum the
// service makes of them can overflow.
absl::Status CheckFigures(const v1::Coverage& coverage);

// FAILED_PRECONDITION naming the unit, measure and field when a value of `summary` is negative or
// a percent is not a finite number >= 0: the values are summed (checked) and compared, never
// trusted.
absl::Status CheckMeasureFigures(const v1::MeasureSummary& summary);

// The aggregation service over gRPC, every answer passed through CheckFigures. Each call gets
// at most `deadline`, and never more than the served call has left (upstream.h); paging stops
// when the served call ends, and each page after the first asks to be at least as fresh as the
// one before it (aggregation_service.proto, ListCoverageRequest.freshness). Errors name the service
// and the call, never `address` (which `channel`, common/client.h, leads to) or the service's own
// message about a failure: those go to the log (upstream.h, Upstream::Check).
std::unique_ptr<CoverageSource> NewAggregationCoverageSource(std::shared_ptr<grpc::Channel> channel,
                                                             std::string address,
                                                             absl::Duration deadline);

}  // namespace covtrack::targets
