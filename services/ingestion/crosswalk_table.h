#pragma once

// How a crosswalk link is kept in crosswalk_links and crosswalk_revisions (schema.h) and read
// back: the only code that knows the stored form of an unknown share.

#include <cstddef>

#include "common/sql/database.h"
#include "covtrack/v1/common.pb.h"

namespace covtrack::ingestion {

// The columns LinkFromRow reads, in its order (the same names in both tables).
inline constexpr char kLinkColumns[] =
    "from_code, to_code, effective_date, from_valid_from, to_valid_from, population_share, "
    "labor_force_share";
inline constexpr size_t kLinkColumnCount = 7;

// The link in the row's cells first .. first + kLinkColumnCount - 1, in kLinkColumns' order.
v1::CrosswalkLink LinkFromRow(const sql::Row& row, size_t first = 0);
// The link's values in kLinkColumns' order (an unknown share is NULL).
sql::Params LinkParams(const v1::CrosswalkLink& link);

}  // namespace covtrack::ingestion
