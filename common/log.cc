#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/call_context.h"

namespace covtrack::log {
namespace {

std::shared_ptr<spdlog::logger> MakeLogger(absl::string_view name) {
  auto logger = std::make_shared<spdlog::logger>(std::string(name),
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l service=%n %v",
                      spdlog::pattern_time_type::utc);
  return logger;
}

// Replaced only by Init, which main calls before it starts any thread.
std::shared_ptr<spdlog::logger>& Logger() {
  static std::shared_ptr<spdlog::logger> logger = MakeLogger("covtrack");
  return logger;
}

// logfmt: a value with a space, quote or '=' is quoted, with quotes and backslashes escaped.
std::string Quote(absl::string_view value) {
  if (!value.empty() && value.find_first_of(" \"=\\\n") == absl::string_view::npos) {
    return std::string(value);
  }
  return absl::StrCat(
      "\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}), "\"");
}

void Emit(spdlog::level::level_enum level, absl::string_view msg, const Fields& fields) {
  std::string line = absl::StrCat("msg=", Quote(msg));
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", key, "=", Quote(value));
  }
  if (const CallInfo* call = CurrentCall(); call != nullptr) {
    absl::StrAppend(&line, " x_request_id=", Quote(call->request_id));
  }
  Logger()->log(level, "{}", line);
}

}  // namespace

void Init(absl::string_view service, absl::string_view level) {
  Logger() = MakeLogger(service);
  Logger()->set_level(spdlog::level::from_str(std::string(level)));
}

void Info(absl::string_view msg, const Fields& fields) { Emit(spdlog::level::info, msg, fields); }
void Warn(absl::string_view msg, const Fields& fields) { Emit(spdlog::level::warn, msg, fields); }
void Error(absl::string_view msg, const Fields& fields) { Emit(spdlog::level::err, msg, fields); }

}  // namespace covtrack::log
