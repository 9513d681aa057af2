#pragma once

// Plausible measures (issue 11; docs/measures.md) for generated participation records, so that
// the demo, tests and benchmarks carry every figure a review does. Integer arithmetic with a
// jitter hashed from (unit, month), so the same records always give the same bytes:
// - distinct participants: the health participants plus 2 % of the social insurance ones (nearly
//   everyone insured is in health insurance); never above the sum of the schemes;
// - health participants by payer group: about 20 % employer and employee, 4 % the social
//   insurance fund, 40 % the state budget, 16 % state-budget-supported, the rest households, the
//   five adding up exactly to the health total;
// - new and lost participants per scheme from a unit's second month on: about 1 % of the stock
//   lost each month (afresh at the 2025 reform, where codes were reused), and new = lost + the
//   stock's change, so that flows reconcile exactly with
//   the stocks (where the stock falls by more, nothing is new and the fall is lost);
// - contributions due: 2,200,000 VND per compulsory and 400,000 VND per voluntary participant a
//   month; arrears owed at the month's end: 1–4 % of a year of what is due (so a year's ratio of
//   owed to due is a few percent), 30–60 % of it overdue three months or more; employers owing:
//   one per 250 compulsory participants, give or take.

#include <vector>

#include "covtrack/v1/common.pb.h"

namespace covtrack::sampledata {

// The measures of `records` (as SampleData::Records orders them: by month, then unit, then
// scheme), ordered by month, then unit, then measure.
std::vector<v1::MeasureRecord> SampleMeasures(const std::vector<v1::ParticipationRecord>& records);

}  // namespace covtrack::sampledata
