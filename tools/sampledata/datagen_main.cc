// covtrack-datagen: writes the CSV files covctl reads, from the reference catalogue and the
// deterministic generator (see sample_data.h):
//   OUT/units.csv          the whole reference catalogue, with validity
//   OUT/participation.csv  every leaf under --provinces, every month in the range, 4 schemes
//   OUT/denominators.csv   population and labour force per leaf and year
// Example: covtrack-datagen --out_dir=/tmp/sample --provinces=82,14
//            --from_month=2023-01 --to_month=2025-09 --from_year=2023 --to_year=2025

#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tools/sampledata/csv.h"
#include "tools/sampledata/record_csv.h"
#include "tools/sampledata/sample_data.h"
#include "tools/sampledata/sample_measures.h"

ABSL_FLAG(std::string, out_dir, ".",
          "folder to write units.csv, participation.csv, denominators.csv, measures.csv");
ABSL_FLAG(
    std::string, provinces, "",
    "comma-separated unit codes whose subtrees get data (e.g. 82,14); empty: the whole country");
ABSL_FLAG(std::string, from_month, "2023-01", "first month of participation data (YYYY-MM)");
ABSL_FLAG(std::string, to_month, "2024-12", "last month of participation data (YYYY-MM)");
ABSL_FLAG(int, from_year, 0, "first year of denominators (0: the year of --from_month)");
ABSL_FLAG(int, to_year, 0, "last year of denominators (0: the year of --to_month)");
ABSL_FLAG(uint64_t, seed, covtrack::sampledata::kDefaultSeed, "generator seed");
ABSL_FLAG(std::string, data_dir, "",
          "reference data folder (default: $COVTRACK_DATA_DIR or the repo's)");

namespace {

using covtrack::sampledata::CsvLine;

template <typename T, typename Fields>
bool WriteCsv(const std::string& path, const std::vector<std::string>& header,
              const std::vector<T>& items, Fields fields) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << CsvLine(header) << "\n";
  for (const T& item : items) {
    out << CsvLine(fields(item)) << "\n";
  }
  out.close();
  if (!out) {
    std::cerr << "covtrack-datagen: cannot write " << path << "\n";
    return false;
  }
  std::cerr << "wrote " << path << " (" << items.size() << " rows)\n";
  return true;
}

int Fail(const absl::Status& status) {
  std::cerr << "covtrack-datagen: " << status.message() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Writes deterministic sample data as CSV files for covctl.");
  absl::ParseCommandLine(argc, argv);
  namespace sd = covtrack::sampledata;

  absl::StatusOr<covtrack::Month> from = covtrack::Month::Parse(absl::GetFlag(FLAGS_from_month));
  absl::StatusOr<covtrack::Month> to = covtrack::Month::Parse(absl::GetFlag(FLAGS_to_month));
  if (!from.ok() || !to.ok() || *to < *from) {
    return Fail(
        absl::InvalidArgumentError("--from_month and --to_month must be YYYY-MM, in order"));
  }
  int from_year = absl::GetFlag(FLAGS_from_year) ? absl::GetFlag(FLAGS_from_year) : from->year;
  int to_year = absl::GetFlag(FLAGS_to_year) ? absl::GetFlag(FLAGS_to_year) : to->year;
  std::vector<std::string> roots;
  for (absl::string_view code :
       absl::StrSplit(absl::GetFlag(FLAGS_provinces), ',', absl::SkipWhitespace())) {
    roots.emplace_back(code);
  }

  absl::Time start = absl::Now();
  auto data = sd::SampleData::Load(absl::GetFlag(FLAGS_seed), absl::GetFlag(FLAGS_data_dir));
  if (!data.ok()) {
    return Fail(data.status());
  }
  auto records = (*data)->Records(roots, *from, *to);
  if (!records.ok()) {
    return Fail(records.status());
  }
  auto denominators = (*data)->Denominators(roots, from_year, to_year);
  if (!denominators.ok()) {
    return Fail(denominators.status());
  }
  std::string dir = absl::GetFlag(FLAGS_out_dir);
  bool ok =
      WriteCsv(dir + "/units.csv", sd::UnitCsvHeader(), (*data)->units(), sd::UnitCsvFields) &&
      WriteCsv(dir + "/participation.csv", sd::ParticipationCsvHeader(), *records,
               sd::ParticipationCsvFields) &&
      WriteCsv(dir + "/denominators.csv", sd::DenominatorCsvHeader(), *denominators,
               sd::DenominatorCsvFields) &&
      WriteCsv(dir + "/measures.csv", sd::MeasureCsvHeader(), sd::SampleMeasures(*records),
               sd::MeasureCsvFields);
  std::cerr << "generated in " << absl::FormatDuration(absl::Now() - start) << "\n";
  return ok ? 0 : 1;
}
