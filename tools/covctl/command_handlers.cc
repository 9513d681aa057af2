// What every covctl command handler shares (command_handlers.h): exit codes, the progress bar,
// command-line value parsers, channels and deadlines, output formats and CSV reading.

#include "tools/covctl/command_handlers.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/client.h"
#include "common/domain.h"
#include "common/period.h"

namespace covtrack::covctl {

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::PERMISSION_DENIED:
      return kExitRejected;
    default:
      return kExitFailed;
  }
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    default:
      return absl::StrCat("code ", static_cast<int>(code));
  }
}

void Progress::Update(size_t done) {
  if (!enabled_) {
    return;
  }
  constexpr int kWidth = 30;
  int filled = static_cast<int>(kWidth * done / total_);
  err_ << "\r" << label_ << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.')
       << "] " << GroupThousands(done) << "/" << GroupThousands(total_) << " rows" << std::flush;
}

void Progress::Finish() {
  if (enabled_) {
    err_ << "\n";
  }
}

// Parsers for command-line values; their errors are usage errors (exit 2).
absl::StatusOr<std::vector<v1::Scheme>> ParseSchemeList(const std::string& text) {
  std::vector<v1::Scheme> schemes;
  for (absl::string_view name : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<v1::Scheme> scheme = ParseScheme(name);
    if (!scheme.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--schemes: ", scheme.status().message()));
    }
    schemes.push_back(*scheme);
  }
  return schemes;
}

absl::StatusOr<v1::Scheme> ParseOptionalScheme(const std::string& text, absl::string_view what,
                                               bool required) {
  if (text.empty()) {
    if (required) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is required"));
    }
    return v1::SCHEME_UNSPECIFIED;
  }
  absl::StatusOr<v1::Scheme> scheme = ParseScheme(text);
  if (!scheme.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", scheme.status().message()));
  }
  return *scheme;
}

absl::StatusOr<v1::AdminLevel> ParseOptionalLevel(const std::string& text) {
  if (text.empty()) {
    return v1::ADMIN_LEVEL_UNSPECIFIED;
  }
  absl::StatusOr<v1::AdminLevel> level = ParseLevel(text);
  if (!level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--level: ", level.status().message()));
  }
  return *level;
}

absl::StatusOr<int> ParseYear(const std::string& text) {
  int year = 0;
  if (!absl::SimpleAtoi(text, &year) || year < 1900 || year > 2200) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a year"));
  }
  return year;
}

absl::Status CheckPeriod(const std::string& text) {
  if (!Period::Parse(text).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("period \"", text, "\" is not one of 2023, 2023-H1, 2023-Q3, 2023-08"));
  }
  return absl::OkStatus();
}

absl::Status CheckTerritoryDate(const std::string& text) {
  if (!text.empty() && !ValidateDate(text).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--territory_date \"", text, "\" is not a date (YYYY-MM-DD)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Freshness> ParseFreshness(int64_t at_least_seq, const std::string& consistency) {
  if (at_least_seq < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--at_least_seq must be a change seq a write printed (0: none), got ", at_least_seq));
  }
  static const std::map<std::string, v1::Consistency> kConsistencies = {
      {"", v1::CONSISTENCY_UNSPECIFIED},
      {"applied", v1::CONSISTENCY_APPLIED},
      {"full", v1::CONSISTENCY_FULL}};
  auto it = kConsistencies.find(consistency);
  if (it == kConsistencies.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--consistency \"", consistency, "\" is not one of applied, full"));
  }
  v1::Freshness freshness;
  freshness.set_at_least_seq(at_least_seq);
  freshness.set_consistency(it->second);
  return freshness;
}

std::shared_ptr<grpc::Channel> Commands::Channel(const std::string& address) {
  auto& channel = channels_[address];
  if (channel == nullptr) {
    // RunCommand has read the TLS files already, so this cannot fail but for a race.
    channel = NewChannel(address, options_.tls).value();
  }
  return channel;
}

std::unique_ptr<v1::IngestionService::Stub> Commands::Ingestion() {
  return v1::IngestionService::NewStub(Channel(options_.server));
}

std::unique_ptr<v1::AggregationService::Stub> Commands::Aggregation() {
  return v1::AggregationService::NewStub(Channel(options_.aggregation_server));
}

std::unique_ptr<v1::TargetService::Stub> Commands::Targets() {
  return v1::TargetService::NewStub(Channel(options_.targets_server));
}

void Commands::SetDeadline(grpc::ClientContext& context, size_t calls) {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(options_.timeout *
                                                 static_cast<double>(std::max<size_t>(1, calls))));
}

int Commands::UsageFailed(const absl::Status& status) {
  err_ << "covctl: " << status.message() << "\n";
  return kExitUsage;
}

int Commands::RpcFailed(const grpc::Status& status, absl::string_view what,
                        const std::string& address) {
  err_ << "covctl: " << what << " failed: " << CodeName(status.error_code()) << ": "
       << status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    err_ << " (is the service running at " << address
         << "? see --server/--aggregation_server/--targets_server)";
  }
  err_ << "\n";
  return ExitCodeFor(status.error_code());
}

void Commands::Emit(const google::protobuf::Message& message,
                    const std::function<Table(bool)>& table, const std::string& title) {
  switch (options_.format) {
    case OutputFormat::kJson:
      out_ << ToJson(message);
      break;
    case OutputFormat::kCsv:
      out_ << table(false).RenderCsv();
      break;
    case OutputFormat::kTable: {
      if (!title.empty()) {
        out_ << title << "\n";
      }
      Table people = table(true);
      out_ << people.RenderText();
      if (people.size() == 0) {
        out_ << "(none)\n";
      }
      break;
    }
  }
}

std::optional<std::pair<std::string, sampledata::CsvTable>> Commands::ReadCsv(
    const std::string& path, int& exit_code) {
  absl::StatusOr<std::string> text = sampledata::ReadFileToString(path);
  if (!text.ok()) {
    err_ << "covctl: " << text.status().message() << "\n";
    exit_code = kExitUsage;
    return std::nullopt;
  }
  absl::StatusOr<sampledata::CsvTable> table = sampledata::ParseCsv(*text);
  if (!table.ok()) {
    // ParseCsv's messages start with "line N: ".
    err_ << path << ":" << table.status().message().substr(5) << "\n"
         << path << ": the file is not valid CSV; nothing was sent\n";
    exit_code = kExitRejected;
    return std::nullopt;
  }
  return std::make_pair(*std::move(text), *std::move(table));
}

}  // namespace covtrack::covctl
