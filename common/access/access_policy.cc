#include "common/access/access_policy.h"

#include <yaml-cpp/yaml.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/client.h"

namespace covtrack::access {
namespace {

constexpr std::pair<Role, absl::string_view> kRoleNames[] = {
    {Role::kReader, "reader"},
    {Role::kReporter, "reporter"},
    {Role::kPlanner, "planner"},
    {Role::kAdmin, "admin"},
};

// Unit codes are digits (province 2, district 3, commune 5), or "VN".
bool IsUnitCode(const std::string& code) {
  if (code == kNational) {
    return true;
  }
  if (code.empty() || code.size() > 8) {
    return false;
  }
  for (char c : code) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

class Parser {
 public:
  explicit Parser(absl::string_view origin) : origin_(origin) {}

  absl::Status Error(const YAML::Node& node, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("access policy ", origin_, ":", node.Mark().line + 1, ": ", what));
  }

  absl::StatusOr<std::vector<std::string>> Strings(const YAML::Node& node,
                                                   absl::string_view where) const {
    if (!node.IsSequence()) {
      return Error(node, absl::StrCat(where, " must be a list, e.g. [reader]"));
    }
    std::vector<std::string> out;
    for (const YAML::Node& item : node) {
      if (!item.IsScalar()) {
        return Error(item, absl::StrCat(where, " must hold plain strings"));
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  absl::StatusOr<Principal> ParsePrincipal(const YAML::Node& node, size_t index) const {
    std::string where = absl::StrCat("principals[", index, "]");
    if (!node.IsMap()) {
      return Error(node, absl::StrCat(where, " must be a map with name, roles, jurisdiction"));
    }
    Principal p;
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>();
      if (key != "name" && key != "roles" && key != "jurisdiction") {
        return Error(entry.first, absl::StrCat(where, ": unknown key \"", key,
                                               "\" (expected name, roles, jurisdiction)"));
      }
    }
    const YAML::Node name = node["name"];
    if (!name || !name.IsScalar() || name.Scalar().empty()) {
      return Error(node, absl::StrCat(where, ": name (the client certificate's CN) is required"));
    }
    p.name = name.Scalar();
    where = absl::StrCat(where, " (\"", p.name, "\")");
    const YAML::Node roles = node["roles"];
    if (!roles) {
      return Error(node, absl::StrCat(where, ": roles is required"));
    }
    absl::StatusOr<std::vector<std::string>> role_names = Strings(roles, where + ": roles");
    if (!role_names.ok()) {
      return role_names.status();
    }
    for (const std::string& role_name : *role_names) {
      bool known = false;
      for (const auto& [role, text] : kRoleNames) {
        if (role_name == text) {
          p.roles.insert(role);
          known = true;
        }
      }
      if (!known) {
        return Error(roles, absl::StrCat(where, ": unknown role \"", role_name,
                                         "\" (expected reader, reporter, planner, admin)"));
      }
    }
    if (p.roles.empty()) {
      return Error(roles, absl::StrCat(where, ": roles must not be empty"));
    }
    if (const YAML::Node jurisdiction = node["jurisdiction"]; jurisdiction) {
      absl::StatusOr<std::vector<std::string>> codes =
          Strings(jurisdiction, where + ": jurisdiction");
      if (!codes.ok()) {
        return codes.status();
      }
      for (const std::string& code : *codes) {
        if (!IsUnitCode(code)) {
          return Error(jurisdiction,
                       absl::StrCat(where, ": jurisdiction \"", code,
                                    "\" is not a unit code (digits, e.g. \"82\") or \"VN\""));
        }
      }
      p.jurisdiction = *std::move(codes);
    }
    if ((p.Has(Role::kReporter) || p.Has(Role::kPlanner)) && p.jurisdiction.empty()) {
      return Error(node, absl::StrCat(where,
                                      ": a reporter or planner needs a jurisdiction "
                                      "(unit codes, or [\"VN\"] for the whole country)"));
    }
    return p;
  }

 private:
  std::string origin_;
};

}  // namespace

absl::string_view RoleName(Role role) {
  for (const auto& [r, text] : kRoleNames) {
    if (r == role) {
      return text;
    }
  }
  return "unknown";
}

bool Principal::National() const {
  for (const std::string& code : jurisdiction) {
    if (code == kNational) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<AccessPolicy> AccessPolicy::Parse(absl::string_view text, absl::string_view origin) {
  Parser parser(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("access policy ", origin, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  if (!root.IsMap() || !root["principals"]) {
    return absl::InvalidArgumentError(
        absl::StrCat("access policy ", origin, ": expected a map with a \"principals\" list"));
  }
  for (const auto& entry : root) {
    if (entry.first.as<std::string>() != "principals") {
      return parser.Error(entry.first, absl::StrCat("unknown key \"", entry.first.as<std::string>(),
                                                    "\" (expected principals)"));
    }
  }
  const YAML::Node principals = root["principals"];
  if (!principals.IsSequence()) {
    return parser.Error(principals, "principals must be a list");
  }
  AccessPolicy policy;
  size_t index = 0;
  try {
    for (const YAML::Node& node : principals) {
      absl::StatusOr<Principal> principal = parser.ParsePrincipal(node, index++);
      if (!principal.ok()) {
        return principal.status();
      }
      const std::string name = principal->name;
      if (!policy.principals_.emplace(name, *std::move(principal)).second) {
        return parser.Error(node, absl::StrCat("principal \"", name, "\" appears twice"));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("access policy ", origin, ":", e.mark.line + 1, ": ", e.msg));
  }
  return policy;
}

absl::StatusOr<AccessPolicy> AccessPolicy::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("access policy: ", text.status().message()));
  }
  return Parse(*text, path);
}

const Principal* AccessPolicy::Find(absl::string_view name) const {
  auto it = principals_.find(name);
  return it == principals_.end() ? nullptr : &it->second;
}

}  // namespace covtrack::access
