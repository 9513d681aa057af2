#include "services/aggregation/hierarchy.h"

#include <algorithm>
#include <functional>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/domain.h"

namespace covtrack::aggregation {

bool ValidOn(const v1::AdminUnit& unit, absl::string_view date) {
  return (unit.valid_from().empty() || absl::string_view(unit.valid_from()) <= date) &&
         (unit.valid_to().empty() || date < absl::string_view(unit.valid_to()));
}

std::string Hierarchy::ParentKey(const v1::AdminUnit& unit) {
  if (unit.level() == v1::ADMIN_LEVEL_PROVINCE || unit.parent_code().empty()) {
    return std::string(kNationCode);
  }
  return unit.parent_code();
}

Hierarchy::Hierarchy(std::vector<v1::AdminUnit> units) {
  nation_.set_code(std::string(kNationCode));
  nation_.set_name("Việt Nam");
  nation_.set_level(v1::ADMIN_LEVEL_NATION);
  nation_.set_type("Toàn quốc");
  version_count_ = units.size();
  for (v1::AdminUnit& u : units) {
    if (u.code() == kNationCode) {
      continue;
    }
    by_code_[u.code()].push_back(std::move(u));
  }
  // by_code_ is complete: pointers into its vectors stay valid from here on.
  for (auto& [code, versions] : by_code_) {
    std::sort(versions.begin(), versions.end(), [](const v1::AdminUnit& a, const v1::AdminUnit& b) {
      return a.valid_from() < b.valid_from();
    });
    for (const v1::AdminUnit& v : versions) {
      by_parent_[ParentKey(v)].push_back(&v);
    }
  }
  for (auto& [parent, children] : by_parent_) {
    std::sort(children.begin(), children.end(), [](const v1::AdminUnit* a, const v1::AdminUnit* b) {
      return a->code() != b->code() ? a->code() < b->code() : a->valid_from() < b->valid_from();
    });
  }
}

const v1::AdminUnit* Hierarchy::UnitAt(absl::string_view code, absl::string_view date) const {
  if (code.empty() || code == kNationCode) {
    return &nation_;
  }
  auto it = by_code_.find(code);
  if (it == by_code_.end()) {
    return nullptr;
  }
  for (const v1::AdminUnit& v : it->second) {
    if (ValidOn(v, date)) {
      return &v;
    }
  }
  return nullptr;
}

std::vector<const v1::AdminUnit*> Hierarchy::ChildrenAt(absl::string_view code,
                                                        absl::string_view date) const {
  std::vector<const v1::AdminUnit*> children;
  auto it = by_parent_.find(code.empty() ? kNationCode : code);
  if (it == by_parent_.end()) {
    return children;
  }
  for (const v1::AdminUnit* v : it->second) {
    if (ValidOn(*v, date)) {
      children.push_back(v);
    }
  }
  return children;
}

std::vector<const v1::AdminUnit*> Hierarchy::DescendantsAt(absl::string_view root,
                                                           v1::AdminLevel level,
                                                           absl::string_view date) const {
  std::vector<const v1::AdminUnit*> found;
  std::function<void(absl::string_view)> visit = [&](absl::string_view code) {
    for (const v1::AdminUnit* child : ChildrenAt(code, date)) {
      if (child->level() == level) {
        found.push_back(child);
      } else if (child->level() < level) {
        visit(child->code());
      }
    }
  };
  visit(root);
  std::sort(found.begin(), found.end(),
            [](const v1::AdminUnit* a, const v1::AdminUnit* b) { return a->code() < b->code(); });
  return found;
}

bool Hierarchy::InSubtree(absl::string_view code, absl::string_view root,
                          absl::string_view date) const {
  if (root.empty() || root == kNationCode || code == root) {
    return true;
  }
  // Administrative trees are at most four levels deep; the bound guards against a cycle in
  // bad data.
  std::string current(code);
  for (int depth = 0; depth < 8; ++depth) {
    const v1::AdminUnit* unit = UnitAt(current, date);
    if (unit == nullptr || unit == &nation_) {
      return false;
    }
    current = ParentKey(*unit);
    if (current == root) {
      return true;
    }
  }
  return false;
}

uint64_t Hierarchy::TerritoryFingerprint(absl::string_view code, absl::string_view date) const {
  const std::string key = absl::StrCat(code, "@", date);
  {
    absl::ReaderMutexLock lock(&fingerprints_mu_);
    auto it = fingerprints_.find(key);
    if (it != fingerprints_.end()) {
      return it->second;
    }
  }
  const v1::AdminUnit* unit = UnitAt(code, date);
  if (unit == nullptr) {
    return 0;
  }
  uint64_t fingerprint = absl::HashOf(unit->code(), unit->valid_from());
  std::function<void(absl::string_view)> visit = [&](absl::string_view parent) {
    for (const v1::AdminUnit* child : ChildrenAt(parent, date)) {
      // Order-independent combination: children are visited in code order anyway.
      fingerprint = fingerprint * 1000003 ^ absl::HashOf(child->code(), child->valid_from());
      visit(child->code());
    }
  };
  visit(unit->code());
  absl::MutexLock lock(&fingerprints_mu_);
  fingerprints_[key] = fingerprint;
  return fingerprint;
}

}  // namespace covtrack::aggregation
