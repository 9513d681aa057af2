#include "services/ingestion/crosswalk_table.h"

namespace covtrack::ingestion {

v1::CrosswalkLink LinkFromRow(const sql::Row& row, size_t first) {
  v1::CrosswalkLink link;
  link.set_from_code(row.Text(first));
  link.set_to_code(row.Text(first + 1));
  link.set_effective_date(row.Text(first + 2));
  link.set_from_valid_from(row.Text(first + 3));
  link.set_to_valid_from(row.Text(first + 4));
  if (!row.IsNull(first + 5)) {
    link.set_population_share(row.Double(first + 5));
  }
  if (!row.IsNull(first + 6)) {
    link.set_labor_force_share(row.Double(first + 6));
  }
  return link;
}

sql::Params LinkParams(const v1::CrosswalkLink& link) {
  auto share = [](bool known, double value) {
    return known ? sql::Value(value) : sql::Value(std::monostate{});
  };
  return {link.from_code(),
          link.to_code(),
          link.effective_date(),
          link.from_valid_from(),
          link.to_valid_from(),
          share(link.has_population_share(), link.population_share()),
          share(link.has_labor_force_share(), link.labor_force_share())};
}

}  // namespace covtrack::ingestion
