#include "tools/covctl/commands.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/call_context.h"
#include "common/client.h"
#include "tools/covctl/command_handlers.h"
#include "tools/sampledata/csv.h"

namespace covtrack::covctl {
namespace {

// The dispatch table: the words of a command, its positional arguments, and its handler.
struct CommandSpec {
  std::vector<std::string> words;
  std::string arguments;  // for usage
  size_t min_args;
  size_t max_args;
  int (Commands::*handler)(const std::vector<std::string>&);
  std::string summary;
};

const std::vector<CommandSpec>& CommandTable() {
  // clang-format off
  static const auto* const kCommands = new std::vector<CommandSpec>{
      {{"units", "import"}, "FILE.csv", 1, 1, &Commands::UnitsImport,
       "import units (code,name,level,type,parent_code[,valid_from,valid_to]) [--valid_from --valid_to]"},
      {{"units", "list"}, "", 0, 0, &Commands::UnitsList,
       "list units [--parent P --level L --as_of YYYY-MM-DD --code C]"},
      {{"ingest"}, "FILE.csv", 1, 1, &Commands::Ingest,
       "upload participants (unit_code,month,scheme,participants[,in_province_participants]) [--source]"},
      {{"denominators", "import"}, "FILE.csv", 1, 1, &Commands::DenominatorsImport,
       "upload population / labour force (unit_code,year,kind,value)"},
      {{"measures", "import"}, "FILE.csv", 1, 1, &Commands::MeasuresImport,
       "upload measures (unit_code,month,measure,scheme,payer_group,value; docs/measures.md) "
       "[--source]"},
      {{"export"}, "DIR FROM_MONTH TO_MONTH", 3, 3, &Commands::Export,
       "write participation.csv, denominators.csv and measures.csv of the months (and their years) "
       "into DIR, as the import commands read them [--parent P --as_of YYYY-MM-DD]"},
      {{"crosswalk", "import"}, "FILE.csv", 1, 1, &Commands::CrosswalkImport,
       "import crosswalk links (old_code,new_code[,effective_date,population_share,labor_force_share,kind]) [--effective_date --source]"},
      {{"crosswalk", "list"}, "", 0, 0, &Commands::CrosswalkList,
       "list crosswalk links [--code C | --from OLD --to NEW] [--effective_date YYYY-MM-DD]"},
      {{"revisions"}, "UNIT", 1, 1, &Commands::Revisions,
       "audit trail of a unit [--month YYYY-MM --scheme S]"},
      {{"coverage", "list"}, "PARENT PERIOD", 2, 2, &Commands::CoverageList,
       "coverage of the units under PARENT [--level L --scheme S --order code|coverage_asc|coverage_desc|participants]"},
      {{"coverage", "series"}, "UNIT SCHEME FROM_MONTH TO_MONTH", 4, 4, &Commands::CoverageSeries,
       "coverage month by month (stocks at each month's end)"},
      {{"coverage"}, "UNIT PERIOD", 2, 2, &Commands::Coverage,
       "coverage of a unit [--schemes a,b --previous_year_ends N]"},
      {{"measures", "show"}, "UNIT PERIOD", 2, 2, &Commands::MeasuresShow,
       "measures of a unit, each by its rule, with last year's and the reconciliation findings "
       "[--measure M,M]"},
      {{"measures", "list"}, "PARENT PERIOD", 2, 2, &Commands::MeasuresList,
       "measures of the units under PARENT [--level L --measure M,M --order_by "
       "MEASURE[:SCHEME[:GROUP]] --descending]"},
      {{"targets", "set"}, "UNIT SCHEME YEAR VALUE", 4, 4, &Commands::TargetsSet,
       "set a target [--kind participants|coverage_percent --basis all|in_province --assigned_by --decision_ref --unit_as_of YYYY-MM-DD] "
       "or one on a measure [--measure M --payer_group G] (SCHEME none for a measure without one)"},
      {{"targets", "list"}, "[UNIT]", 0, 1, &Commands::TargetsList,
       "list targets [--parent P --year Y --scheme S --include_revisions]"},
      {{"targets", "import"}, "FILE.csv", 1, 1, &Commands::TargetsImport,
       "import targets (unit_code,year,scheme,kind,value[,basis,assigned_by,decision_ref,measure,payer_group])"},
      {{"targets", "allocate"}, "PARENT SCHEME YEAR", 3, 3, &Commands::TargetsAllocate,
       "split a parent's target --method population|labor_force|last_year_participants [--level --preview]"},
      {{"targets", "lagging"}, "PARENT PERIOD", 2, 2, &Commands::TargetsLagging,
       "units behind their target --scheme S [--level L]"},
      {{"targets", "validate"}, "PARENT SCHEME YEAR", 3, 3, &Commands::TargetsValidate,
       "check that the children's targets add up to the parent's [--level L]"},
      {{"targets", "achievement"}, "UNIT PERIOD", 2, 2, &Commands::Achievement,
       "actual figures against the year's targets [--schemes a,b]"},
      {{"report"}, "UNIT PERIOD", 2, 2, &Commands::Report,
       "the review paragraph in Vietnamese, with the achievement table [--percent_decimals 1]"},
  };
  // clang-format on
  return *kCommands;
}

}  // namespace

std::string Usage() {
  std::string usage =
      "usage: covctl [flags] COMMAND ARGS...\n\n"
      "Commands:\n";
  for (const CommandSpec& spec : CommandTable()) {
    absl::StrAppend(&usage, "  covctl ", absl::StrJoin(spec.words, " "),
                    spec.arguments.empty() ? "" : " ", spec.arguments, "\n      ", spec.summary,
                    "\n");
  }
  absl::StrAppend(
      &usage,
      "\nCommon flags: --server (ingestion, 127.0.0.1:50051), --aggregation_server "
      "(127.0.0.1:50052),\n  --targets_server (127.0.0.1:50053), --format table|json|csv, "
      "--timeout 30s, --batch_size 5000.\n"
      "  Read commands (coverage, coverage list/series, measures show/list, targets\n"
      "  achievement/lagging, report) take --territory_date YYYY-MM-DD: figures in the territory\n"
      "  of the units valid on that date.\n"
      "  They and targets allocate take --at_least_seq N (figures including every change up to\n"
      "  N: a write's change_seq, e.g. ingest's last_change_seq) and --consistency applied|full.\n"
      "  Environment: COVTRACK_SERVER, COVTRACK_AGGREGATION_SERVER, COVTRACK_TARGETS_SERVER, "
      "COVTRACK_FORMAT, COVTRACK_TIMEOUT.\n"
      "Exit codes: 0 ok, 1 rejected (bad rows or refused by the server), 2 usage, "
      "3 server unreachable or failed.\n"
      "See docs/cli.md.\n");
  return usage;
}

int RunCommand(const std::vector<std::string>& args, const Options& options, std::ostream& out,
               std::ostream& err) {
  const CommandSpec* best = nullptr;
  for (const CommandSpec& spec : CommandTable()) {
    if (args.size() >= spec.words.size() &&
        std::equal(spec.words.begin(), spec.words.end(), args.begin()) &&
        (best == nullptr || spec.words.size() > best->words.size())) {
      best = &spec;
    }
  }
  if (best == nullptr) {
    err << (args.empty()
                ? "covctl: no command given\n"
                : absl::StrCat("covctl: unknown command \"", absl::StrJoin(args, " "), "\"\n"))
        << Usage();
    return kExitUsage;
  }
  std::vector<std::string> positional(args.begin() + best->words.size(), args.end());
  if (positional.size() < best->min_args || positional.size() > best->max_args) {
    err << "usage: covctl " << absl::StrJoin(best->words, " ") << " " << best->arguments << "\n  "
        << best->summary << "\n";
    return kExitUsage;
  }
  if (options.batch_size <= 0) {
    err << "covctl: --batch_size must be above zero\n";
    return kExitUsage;
  }
  if (!options.tls.ca_file.empty() || !options.tls.cert_file.empty() ||
      !options.tls.key_file.empty()) {
    if (options.tls.ca_file.empty()) {
      err << "covctl: --tls_cert and --tls_key need --tls_ca (the CA that signed the servers' "
             "certificates)\n";
      return kExitUsage;
    }
    for (const std::string& file :
         {options.tls.ca_file, options.tls.cert_file, options.tls.key_file}) {
      if (absl::StatusOr<std::string> read = ReadFileToString(file); !file.empty() && !read.ok()) {
        err << "covctl: TLS: " << read.status().message() << "\n";
        return kExitUsage;
      }
    }
  }
  // Every call of this command carries one x-request-id, which the services log (not the
  // idempotency key --request_id).
  ScopedCall call({absl::StrCat("covctl ", absl::StrJoin(best->words, " ")), NewRequestId()});
  Commands commands(options, out, err);
  return (commands.*(best->handler))(positional);
}

}  // namespace covtrack::covctl
