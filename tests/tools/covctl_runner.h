#pragma once

// Runs the real covctl binary as a child process, for end-to-end tests.

#include <string>
#include <vector>

namespace covtrack::testing {

struct CovctlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs covctl with args; stdout and stderr go to files (not a terminal: no progress bar).
CovctlRun RunCovctl(const std::vector<std::string>& args);

// Writes text to a new file in a temporary folder and returns its path.
std::string WriteFile(const std::string& name, const std::string& text);

}  // namespace covtrack::testing
