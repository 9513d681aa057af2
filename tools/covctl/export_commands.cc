// covctl export: the system of record's figures for a range of months, as the CSV files covctl
// imports, so that what is exported reads back through `ingest`, `denominators import` and
// `measures import` unchanged (a copy for a spreadsheet, another deployment, or a backup a
// person can read).

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/period.h"
#include "tools/covctl/command_handlers.h"

namespace covtrack::covctl {
namespace {

// One output file, written as `<name>.partial` and renamed when the export has finished, so
// that a failed or interrupted export never leaves a complete-looking file behind.
class CsvOut {
 public:
  CsvOut(const std::filesystem::path& dir, const std::string& name,
         const std::vector<std::string>& header)
      : path_(dir / name), partial_(dir / (name + ".partial")) {
    out_.open(partial_, std::ios::binary | std::ios::trunc);
    out_ << sampledata::CsvLine(header) << "\n";
  }
  ~CsvOut() {
    if (!committed_) {
      out_.close();
      std::error_code ignored;
      std::filesystem::remove(partial_, ignored);
    }
  }

  void Write(const std::vector<std::string>& fields) {
    out_ << sampledata::CsvLine(fields) << "\n";
    ++rows_;
  }
  // Closes and renames the file; false (with `error` set) when anything failed to be written.
  bool Commit(std::string& error) {
    out_.close();
    if (!out_) {
      error = absl::StrCat("cannot write ", partial_.string());
      return false;
    }
    std::error_code code;
    std::filesystem::rename(partial_, path_, code);
    if (code) {
      error = absl::StrCat("cannot rename ", partial_.string(), ": ", code.message());
      return false;
    }
    committed_ = true;
    return true;
  }
  bool good() const { return out_.good(); }
  size_t rows() const { return rows_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::filesystem::path partial_;
  std::ofstream out_;
  size_t rows_ = 0;
  bool committed_ = false;
};

}  // namespace

int Commands::Export(const std::vector<std::string>& args) {
  const std::filesystem::path dir = args[0];
  absl::StatusOr<Month> from = Month::Parse(args[1]);
  absl::StatusOr<Month> to = Month::Parse(args[2]);
  if (!from.ok() || !to.ok() || *to < *from) {
    return UsageFailed(absl::InvalidArgumentError(
        "FROM_MONTH and TO_MONTH must be YYYY-MM, FROM_MONTH not after TO_MONTH"));
  }
  v1::ExportDataRequest request;
  request.set_root_code(options_.parent.empty() ? "VN" : options_.parent);
  // The subtree of a province or below is the one valid on --as_of; by default at the end of
  // the last month, as a period's figures use the hierarchy valid at its end.
  if (request.root_code() != "VN") {
    request.set_as_of(options_.as_of.empty() ? to->LastDay() : options_.as_of);
  }
  request.set_from_month(from->ToString());
  request.set_to_month(to->ToString());
  request.set_from_year(from->year);
  request.set_to_year(to->year);
  request.set_include_measures(true);

  std::error_code code;
  std::filesystem::create_directories(dir, code);
  if (code) {
    return UsageFailed(absl::InvalidArgumentError(
        absl::StrCat("cannot create ", dir.string(), ": ", code.message())));
  }
  CsvOut records(dir, "participation.csv", sampledata::ParticipationCsvHeader());
  CsvOut denominators(dir, "denominators.csv", sampledata::DenominatorCsvHeader());
  CsvOut measures(dir, "measures.csv", sampledata::MeasureCsvHeader());
  if (!records.good() || !denominators.good() || !measures.good()) {
    return UsageFailed(
        absl::InvalidArgumentError(absl::StrCat("cannot write files in ", dir.string())));
  }

  grpc::ClientContext context;
  // A stream of many messages: --timeout per month exported.
  SetDeadline(context, static_cast<size_t>(to->Index() - from->Index() + 1));
  auto reader = Ingestion()->ExportData(&context, request);
  v1::ExportDataResponse chunk;
  int64_t snapshot_seq = 0;
  while (reader->Read(&chunk)) {
    snapshot_seq = chunk.snapshot_seq();
    for (const v1::ParticipationRecord& record : chunk.records()) {
      records.Write(sampledata::ParticipationCsvFields(record));
    }
    for (const v1::DenominatorRecord& denominator : chunk.denominators()) {
      denominators.Write(sampledata::DenominatorCsvFields(denominator));
    }
    for (const v1::MeasureRecord& measure : chunk.measures()) {
      measures.Write(sampledata::MeasureCsvFields(measure));
    }
    if (options_.progress) {
      err_ << "\rexport: " << GroupThousands(records.rows()) << " records, "
           << GroupThousands(denominators.rows()) << " denominators, "
           << GroupThousands(measures.rows()) << " measures" << std::flush;
    }
  }
  if (options_.progress) {
    err_ << "\n";
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return RpcFailed(status, "export", options_.server);
  }
  for (CsvOut* file : {&records, &denominators, &measures}) {
    std::string error;
    if (!file->Commit(error)) {
      err_ << "covctl: " << error << "\n";
      return kExitFailed;
    }
    out_ << file->path().string() << ": " << GroupThousands(file->rows()) << " rows\n";
  }
  out_ << "consistent with change seq " << snapshot_seq << "\n";
  return kExitOk;
}

}  // namespace covtrack::covctl
