#pragma once

// The data the upgrade and backup tests put into the real services, and the fixed set of calls
// whose answers they compare: DOMAIN.md's worked examples (Mỹ Tho 815 and Mai Sơn 125, 2023,
// tests/fixtures), the merged province 82 of 2025-07-01 with the crosswalk link from the old 82
// to it, and the published 2023 targets of both districts (one of them revised once).

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "covtrack/v1/aggregation_service.grpc.pb.h"
#include "covtrack/v1/ingestion_service.grpc.pb.h"
#include "covtrack/v1/target_service.grpc.pb.h"

namespace covtrack::upgrade {

// Units, reports and denominators, the post-reform 82 and the crosswalk link (ingestion);
// then the targets (targets, which asks ingestion and aggregation). Fixed request ids: loading
// twice changes nothing.
absl::Status LoadSample(v1::IngestionService::Stub& ingestion, v1::TargetService::Stub& targets);

// Every answer of the fixed calls, keyed by a description of the call ("aggregation
// GetCoverage 815 2023"), each the answer's text form (every page of a List call), or the
// error's code and message.
using Answers = std::map<std::string, std::string>;
Answers RecordAnswers(v1::IngestionService::Stub& ingestion,
                      v1::AggregationService::Stub& aggregation, v1::TargetService::Stub& targets);

// The calls of RecordAnswers whose answer differs between `before` and `after`, with both
// answers (the first 400 characters of each), or "" when every answer is the same.
std::string DifferingAnswers(const Answers& before, const Answers& after);

}  // namespace covtrack::upgrade
