// covctl: the command-line client of covtrack's services. Parses flags (with COVTRACK_*
// environment equivalents for the connection settings) and runs one command; everything else
// is in commands.cc.

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/covctl/commands.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "ingestion service HOST:PORT");
ABSL_FLAG(std::string, aggregation_server, "127.0.0.1:50052", "aggregation service HOST:PORT");
ABSL_FLAG(std::string, targets_server, "127.0.0.1:50053", "target service HOST:PORT");
ABSL_FLAG(std::string, format, "table", "output: table (for people), json or csv");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "deadline of each call (an upload stream gets this per batch)");
ABSL_FLAG(int, batch_size, 5000, "rows per message when uploading a file");
ABSL_FLAG(std::string, source, "covctl", "who prepared the data, kept in the audit trail");
ABSL_FLAG(std::string, valid_from, "", "units import: validity start for files without the column");
ABSL_FLAG(std::string, valid_to, "", "units import: validity end for files without the column");
ABSL_FLAG(std::string, parent, "",
          "units list / targets list: parent unit code; export: the subtree's root");
ABSL_FLAG(std::string, level, "", "province, district or commune");
ABSL_FLAG(std::string, as_of, "",
          "units list: only units valid on this date; export: the date of --parent's subtree "
          "(YYYY-MM-DD)");
ABSL_FLAG(std::string, code, "", "units list: only this code; crosswalk list: links from or to it");
ABSL_FLAG(std::string, effective_date, "",
          "crosswalk import: effective date for rows without one; crosswalk list: only this date");
ABSL_FLAG(std::string, from, "", "crosswalk list: only links from this (old) code");
ABSL_FLAG(std::string, to, "", "crosswalk list: only links to this (new) code");
ABSL_FLAG(std::string, territory_date, "",
          "coverage, achievement, lagging, report: figures in the territory of the units valid on "
          "this date (YYYY-MM-DD; default: the period's last day)");
ABSL_FLAG(int64_t, at_least_seq, 0,
          "coverage, achievement, lagging, report, targets allocate: answer from figures that "
          "include every change up to this seq (a write's change_seq, e.g. ingest's "
          "last_change_seq; 0: none)");
ABSL_FLAG(std::string, consistency, "",
          "coverage, achievement, lagging, report, targets allocate: applied (what the replica "
          "has applied, at once) or full (everything acknowledged before the call); default: "
          "the aggregation service's");
ABSL_FLAG(std::string, unit_as_of, "",
          "targets set: the target is for the unit the code names on this date (YYYY-MM-DD), e.g. "
          "2025-06-30 for a province the 2025 reform merged");
ABSL_FLAG(std::string, month, "", "revisions: only this month (YYYY-MM)");
ABSL_FLAG(std::string, scheme, "",
          "compulsory_social, voluntary_social, health, unemployment, social");
ABSL_FLAG(std::string, schemes, "", "comma-separated schemes (default: all five)");
ABSL_FLAG(std::string, order, "code",
          "coverage list: code, coverage_asc, coverage_desc, participants");
ABSL_FLAG(std::string, order_by, "",
          "measures list: MEASURE[:SCHEME[:PAYER_GROUP]] to order by, e.g. arrears_ratio or "
          "new_participants:health:household");
ABSL_FLAG(bool, descending, false, "measures list: largest first (worst arrears ratio first)");
ABSL_FLAG(int, previous_year_ends, 0,
          "coverage: how many earlier year ends to compare with (0: 3)");
ABSL_FLAG(int, percent_decimals, 1,
          "report: decimals of the percentages in the paragraph, 0 to 3 (published reviews "
          "print 1 or 2)");
ABSL_FLAG(int, year, 0, "targets list: only this year");
ABSL_FLAG(std::string, kind, "participants", "targets set: participants or coverage_percent");
ABSL_FLAG(std::string, basis, "", "targets set: all (default) or in_province");
ABSL_FLAG(std::string, assigned_by, "", "targets: the authority, e.g. \"UBND tỉnh\"");
ABSL_FLAG(std::string, decision_ref, "",
          "targets: the decision, e.g. \"Quyết định số 123/QĐ-UBND\"");
ABSL_FLAG(std::string, method, "",
          "targets allocate: population, labor_force, last_year_participants");
ABSL_FLAG(bool, preview, false, "targets allocate: compute without storing");
ABSL_FLAG(bool, include_revisions, false, "targets list: every revision, not only the current one");
ABSL_FLAG(std::string, measure, "",
          "targets set/allocate/lagging/validate: the measure (docs/measures.md, e.g. "
          "arrears_ratio, new_participants; default: participants); SCHEME may then be none. "
          "measures show/list: the measures shown, comma-separated (default: every one)");
ABSL_FLAG(std::string, payer_group, "",
          "targets: the payer group of a health measure (employer_employee, ..., household)");
ABSL_FLAG(
    std::string, request_id, "",
    "targets set / allocate: request id (default: derived from the request, so a retry is safe)");

ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that signed the services' certificates: connect with TLS (empty: plaintext)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate, for services that require mTLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");

namespace {

// The connection settings (not the per-command ones) may come from the environment:
// COVTRACK_<FLAG> fills the flag unless the command line sets it.
constexpr const char* kEnvironmentFlags[] = {
    "server", "aggregation_server", "targets_server", "format", "timeout",
    "tls_ca", "tls_cert",           "tls_key"};

bool ApplyEnvironment() {
  for (const char* name : kEnvironmentFlags) {
    std::string variable = absl::StrCat("COVTRACK_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || *value == '\0') {
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string error;
    if (flag == nullptr || !flag->ParseFrom(value, &error)) {
      std::cerr << "covctl: bad value in " << variable << ": " << error << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cc = covtrack::covctl;
  // `covctl --help`: the commands and common flags, exit 0 (Abseil's own --help exits 1 and
  // adds nothing here: --helpfull lists every flag).
  for (int i = 1; i < argc && absl::string_view(argv[i]) != "--"; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-help" || arg == "-h") {
      std::cout << cc::Usage();
      return 0;
    }
  }
  absl::SetProgramUsageMessage(cc::Usage());
  if (!ApplyEnvironment()) {
    return cc::kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());

  cc::Options options;
  absl::StatusOr<cc::OutputFormat> format = cc::ParseOutputFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) {
    std::cerr << "covctl: " << format.status().message() << "\n";
    return cc::kExitUsage;
  }
  options.format = *format;
  options.server = absl::GetFlag(FLAGS_server);
  options.aggregation_server = absl::GetFlag(FLAGS_aggregation_server);
  options.targets_server = absl::GetFlag(FLAGS_targets_server);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.progress = isatty(STDERR_FILENO) == 1;
  options.source = absl::GetFlag(FLAGS_source);
  options.valid_from = absl::GetFlag(FLAGS_valid_from);
  options.valid_to = absl::GetFlag(FLAGS_valid_to);
  options.parent = absl::GetFlag(FLAGS_parent);
  options.level = absl::GetFlag(FLAGS_level);
  options.as_of = absl::GetFlag(FLAGS_as_of);
  options.code = absl::GetFlag(FLAGS_code);
  options.month = absl::GetFlag(FLAGS_month);
  options.effective_date = absl::GetFlag(FLAGS_effective_date);
  options.from = absl::GetFlag(FLAGS_from);
  options.to = absl::GetFlag(FLAGS_to);
  options.territory_date = absl::GetFlag(FLAGS_territory_date);
  options.percent_decimals = absl::GetFlag(FLAGS_percent_decimals);
  options.at_least_seq = absl::GetFlag(FLAGS_at_least_seq);
  options.consistency = absl::GetFlag(FLAGS_consistency);
  options.unit_as_of = absl::GetFlag(FLAGS_unit_as_of);
  options.scheme = absl::GetFlag(FLAGS_scheme);
  options.schemes = absl::GetFlag(FLAGS_schemes);
  options.order = absl::GetFlag(FLAGS_order);
  options.previous_year_ends = absl::GetFlag(FLAGS_previous_year_ends);
  options.order_by = absl::GetFlag(FLAGS_order_by);
  options.descending = absl::GetFlag(FLAGS_descending);
  options.year = absl::GetFlag(FLAGS_year);
  options.kind = absl::GetFlag(FLAGS_kind);
  options.basis = absl::GetFlag(FLAGS_basis);
  options.assigned_by = absl::GetFlag(FLAGS_assigned_by);
  options.decision_ref = absl::GetFlag(FLAGS_decision_ref);
  options.method = absl::GetFlag(FLAGS_method);
  options.preview = absl::GetFlag(FLAGS_preview);
  options.include_revisions = absl::GetFlag(FLAGS_include_revisions);
  options.measure = absl::GetFlag(FLAGS_measure);
  options.payer_group = absl::GetFlag(FLAGS_payer_group);
  options.request_id = absl::GetFlag(FLAGS_request_id);
  return cc::RunCommand(args, options, std::cout, std::cerr);
}
