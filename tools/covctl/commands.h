#pragma once

// covctl's commands: one dispatch table (commands.cc, kCommands) maps each command line to its
// handler. Handlers call the services over gRPC with a deadline on every call, print results on
// `out` in the chosen format, and messages, bad rows and progress on `err`.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/client.h"
#include "tools/covctl/views.h"

namespace covtrack::covctl {

// Exit codes (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;  // bad rows, or the server rejected the data/request
inline constexpr int kExitUsage = 2;     // bad command line, unreadable file
inline constexpr int kExitFailed = 3;    // server unreachable, deadline exceeded, internal error

struct Options {
  std::string server = "127.0.0.1:50051";
  std::string aggregation_server = "127.0.0.1:50052";
  std::string targets_server = "127.0.0.1:50053";
  OutputFormat format = OutputFormat::kTable;
  absl::Duration timeout = absl::Seconds(30);
  int batch_size = 5000;
  bool progress = false;  // draw a progress bar on `err` (main: only when stderr is a terminal)
  std::string source = "covctl";
  // TLS (common/client.h): --tls_ca verifies the servers; --tls_cert and --tls_key identify
  // this client (mTLS). Empty: plaintext.
  ChannelOptions tls;
  // Command-specific options; empty/zero when not given.
  std::string valid_from, valid_to, parent, level, as_of, code, month, scheme, schemes, order;
  // Crosswalk import/list: the default effective date; list's filters on the predecessor and
  // successor code.
  std::string effective_date, from, to;
  // Read commands: the date whose territory the figures are in (empty: the period's end).
  std::string territory_date;
  // Read commands of figures: how fresh they must be (common.proto, Freshness). at_least_seq: a
  // write's change_seq (0: no token); consistency: "", "applied" or "full".
  int64_t at_least_seq = 0;
  std::string consistency;
  // Targets set: the date on which UNIT names the unit the target is for (Target.unit_as_of).
  std::string unit_as_of;
  int previous_year_ends = 0;
  std::string order_by;     // measures list: MEASURE[:SCHEME[:PAYER_GROUP]]
  bool descending = false;  // measures list: largest first (the worst arrears ratio first)
  // Report: decimals of the paragraph's percentages (GetReportRequest.percent_decimals).
  int percent_decimals = 1;
  int year = 0;
  std::string kind = "participants", basis, assigned_by, decision_ref, method, request_id;
  bool preview = false;
  bool include_revisions = false;
  // Targets: the measure (Target.measure; empty: participants) and payer group of the target.
  std::string measure, payer_group;
};

// Runs the command in args (without the program name). Returns an exit code above.
int RunCommand(const std::vector<std::string>& args, const Options& options, std::ostream& out,
               std::ostream& err);

// The usage text listing every command.
std::string Usage();

}  // namespace covtrack::covctl
