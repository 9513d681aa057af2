#include "common/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/log.h"

namespace covtrack::metrics {
namespace {

using internal::Family;

// Misuse by the program itself: stop at once, saying what to fix.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "covtrack metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

bool IsValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || (allow_colon && c == ':') ||
                    (i > 0 && absl::ascii_isdigit(c));
    if (!ok) {
      return false;
    }
  }
  return true;
}

absl::string_view KindName(Family::Kind kind) {
  switch (kind) {
    case Family::Kind::kCounter:
      return "counter";
    case Family::Kind::kGauge:
      return "gauge";
    case Family::Kind::kHistogram:
      return "histogram";
    case Family::Kind::kGaugeCallback:
      return "gauge callback";
    case Family::Kind::kCounterCallback:
      return "counter callback";
  }
  return "?";
}

// The TYPE line's word: to Prometheus a callback is just a gauge or a counter.
absl::string_view TypeName(Family::Kind kind) {
  switch (kind) {
    case Family::Kind::kGaugeCallback:
      return "gauge";
    case Family::Kind::kCounterCallback:
      return "counter";
    default:
      return KindName(kind);
  }
}

bool IsCallback(Family::Kind kind) {
  return kind == Family::Kind::kGaugeCallback || kind == Family::Kind::kCounterCallback;
}

std::string Describe(Family::Kind kind, absl::string_view name,
                     const std::vector<std::string>& label_names) {
  return absl::StrCat(KindName(kind), " ", name, "{", absl::StrJoin(label_names, ","), "}");
}

void AppendEscaped(absl::string_view text, bool escape_quote, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && escape_quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// One sample line: name{label="value",...,le="bound"} value
void AppendSample(absl::string_view name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, const std::string* le, double value,
                  std::string* out) {
  out->append(name.data(), name.size());
  if (!label_names.empty() || le != nullptr) {
    out->push_back('{');
    for (size_t i = 0; i < label_names.size(); ++i) {
      if (i > 0) {
        out->push_back(',');
      }
      absl::StrAppend(out, label_names[i], "=\"");
      AppendEscaped(label_values[i], /*escape_quote=*/true, out);
      out->push_back('"');
    }
    if (le != nullptr) {
      absl::StrAppend(out, label_names.empty() ? "" : ",", "le=\"", *le, "\"");
    }
    out->push_back('}');
  }
  absl::StrAppend(out, " ", FormatValue(value), "\n");
}

void CheckLabelNames(const std::string& name, const std::vector<std::string>& label_names) {
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidName(label, /*allow_colon=*/false) || absl::StartsWith(label, "__")) {
      Die(absl::StrCat("metric \"", name, "\": invalid label name \"", label,
                       "\" (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)"));
    }
    if (std::find(label_names.begin(), label_names.begin() + i, label) != label_names.begin() + i) {
      Die(absl::StrCat("metric \"", name, "\": label \"", label, "\" named twice"));
    }
  }
}

// A histogram's series are NAME_bucket, NAME_sum and NAME_count: no other family may be named
// so, or a scrape would show two families' samples under one name.
void CheckNoHistogramClash(const std::map<std::string, std::shared_ptr<Family>>& families,
                           const std::string& name, Family::Kind kind) {
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      auto base = families.find(name.substr(0, name.size() - suffix.size()));
      if (base != families.end() && base->second->kind() == Family::Kind::kHistogram) {
        Die(absl::StrCat("\"", name, "\" clashes with the series of histogram \"", base->first,
                         "\""));
      }
    }
    if (kind == Family::Kind::kHistogram && families.count(absl::StrCat(name, suffix)) > 0) {
      Die(absl::StrCat("histogram \"", name, "\" would clash with metric \"", name, suffix, "\""));
    }
  }
}

// A gauge or counter read at scrape time. Its mutex is held while `read_` runs, so that
// RemoveGaugeCallback can wait for a scrape in progress before the owner goes away.
class Callback : public Family {
 public:
  Callback(Kind kind, std::string name, std::string help, std::function<double()> read)
      : Family(kind, std::move(name), std::move(help), {}), read_(std::move(read)) {}

  void Render(std::string* out) const override {
    absl::MutexLock lock(&mu_);
    if (read_) {
      Family::Render(out);
    }
  }

  void Remove() {
    absl::MutexLock lock(&mu_);
    read_ = nullptr;
  }

 private:
  void RenderSamples(std::string* out) const override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    // Called from Render, under mu_.
    AppendSample(name(), {}, {}, nullptr, read_(), out);
  }

  mutable absl::Mutex mu_;
  std::function<double()> read_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  // Counts are the common case: print them as integers, not 1e+06. Below 1e15 every integer
  // is exact in a double.
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest digits that read back to the same double (0.1, not 0.10000000000000001), as
  // 0.0005 rather than 5e-04 unless the exponent is far from zero (like Go's %g).
  char buffer[64];
  std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const std::string scientific(buffer, result.ptr);
  const int exponent = std::atoi(scientific.c_str() + scientific.find('e') + 1);
  if (exponent < -4 || exponent >= 15) {
    return scientific;
  }
  result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  return std::string(buffer, result.ptr);
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace internal {

Family::Family(Kind kind, std::string name, std::string help, std::vector<std::string> label_names)
    : kind_(kind),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)) {
  if (!IsValidName(name_, /*allow_colon=*/true)) {
    Die(absl::StrCat("invalid metric name \"", name_, "\" (must match [a-zA-Z_:][a-zA-Z0-9_:]*)"));
  }
  CheckLabelNames(name_, label_names_);
}

void Family::Render(std::string* out) const {
  if (!help_.empty()) {
    absl::StrAppend(out, "# HELP ", name_, " ");
    AppendEscaped(help_, /*escape_quote=*/false, out);
    out->push_back('\n');
  }
  absl::StrAppend(out, "# TYPE ", name_, " ", TypeName(kind_), "\n");
  RenderSamples(out);
}

void Family::CheckLabelCount(const std::vector<std::string>& label_values) const {
  if (label_values.size() != label_names_.size()) {
    Die(absl::StrCat("metric \"", name_, "\" has labels {", absl::StrJoin(label_names_, ","),
                     "} but was given ", label_values.size(), " value(s): {",
                     absl::StrJoin(label_values, ","), "}"));
  }
}

}  // namespace internal

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(Kind::kCounter, std::move(name), std::move(help), std::move(label_names)) {
  if (this->label_names().empty()) {
    values_[{}] = 0;
  }
}

void Counter::Add(const std::vector<std::string>& label_values, double amount) {
  CheckLabelCount(label_values);
  if (!(amount >= 0)) {  // also catches NaN
    if (!logged_bad_amount_.exchange(true)) {
      log::Error("metrics: counter increment dropped (must be >= 0); further ones are not logged",
                 {{"metric", name()}, {"amount", FormatValue(amount)}});
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  values_[label_values] += amount;
}

double Counter::Value(const std::vector<std::string>& label_values) const {
  CheckLabelCount(label_values);
  absl::MutexLock lock(&mu_);
  auto it = values_.find(label_values);
  return it == values_.end() ? 0 : it->second;
}

void Counter::RenderSamples(std::string* out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [label_values, value] : values_) {
    AppendSample(name(), label_names(), label_values, nullptr, value, out);
  }
}

Gauge::Gauge(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(Kind::kGauge, std::move(name), std::move(help), std::move(label_names)) {
  if (this->label_names().empty()) {
    values_[{}] = 0;
  }
}

void Gauge::Set(const std::vector<std::string>& label_values, double value) {
  CheckLabelCount(label_values);
  absl::MutexLock lock(&mu_);
  values_[label_values] = value;
}

void Gauge::Add(const std::vector<std::string>& label_values, double amount) {
  CheckLabelCount(label_values);
  absl::MutexLock lock(&mu_);
  values_[label_values] += amount;
}

double Gauge::Value(const std::vector<std::string>& label_values) const {
  CheckLabelCount(label_values);
  absl::MutexLock lock(&mu_);
  auto it = values_.find(label_values);
  return it == values_.end() ? 0 : it->second;
}

void Gauge::RenderSamples(std::string* out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [label_values, value] : values_) {
    AppendSample(name(), label_names(), label_values, nullptr, value, out);
  }
}

namespace {

std::vector<double> CheckedBounds(const std::string& name, std::vector<double> bounds) {
  // +Inf is implicit; accept it spelled out as the last bound.
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) {
    bounds.pop_back();
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      Die(absl::StrCat("histogram \"", name,
                       "\": bucket upper bounds must be finite and strictly increasing, got {",
                       absl::StrJoin(bounds, ","), "}"));
    }
  }
  return bounds;
}

}  // namespace

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> bucket_upper_bounds)
    : Family(Kind::kHistogram, std::move(name), std::move(help), std::move(label_names)),
      bounds_(CheckedBounds(this->name(), std::move(bucket_upper_bounds))) {
  if (std::find(this->label_names().begin(), this->label_names().end(), "le") !=
      this->label_names().end()) {
    Die(absl::StrCat("histogram \"", this->name(), "\": \"le\" is reserved for buckets"));
  }
  if (this->label_names().empty()) {
    series_[{}].bucket_counts.resize(bounds_.size() + 1);
  }
}

void Histogram::Observe(const std::vector<std::string>& label_values, double value) {
  CheckLabelCount(label_values);
  // The first bucket whose bound is >= value; NaN is <= no bound, so it lands in +Inf only (as
  // in the Go client).
  const size_t bucket =
      std::isnan(value)
          ? bounds_.size()
          : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                bounds_.begin());
  absl::MutexLock lock(&mu_);
  Series& series = series_[label_values];
  if (series.bucket_counts.empty()) {
    series.bucket_counts.resize(bounds_.size() + 1);
  }
  ++series.bucket_counts[bucket];
  series.sum += value;
  ++series.count;
}

uint64_t Histogram::Count(const std::vector<std::string>& label_values) const {
  CheckLabelCount(label_values);
  absl::MutexLock lock(&mu_);
  auto it = series_.find(label_values);
  return it == series_.end() ? 0 : it->second.count;
}

double Histogram::Sum(const std::vector<std::string>& label_values) const {
  CheckLabelCount(label_values);
  absl::MutexLock lock(&mu_);
  auto it = series_.find(label_values);
  return it == series_.end() ? 0 : it->second.sum;
}

void Histogram::RenderSamples(std::string* out) const {
  std::vector<std::string> le;
  le.reserve(bounds_.size() + 1);
  for (double bound : bounds_) {
    le.push_back(FormatValue(bound));
  }
  le.push_back("+Inf");
  const std::string bucket_name = absl::StrCat(name(), "_bucket");
  const std::string sum_name = absl::StrCat(name(), "_sum");
  const std::string count_name = absl::StrCat(name(), "_count");

  absl::MutexLock lock(&mu_);
  for (const auto& [label_values, series] : series_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < le.size(); ++i) {
      cumulative += series.bucket_counts[i];
      AppendSample(bucket_name, label_names(), label_values, &le[i],
                   static_cast<double>(cumulative), out);
    }
    AppendSample(sum_name, label_names(), label_values, nullptr, series.sum, out);
    AppendSample(count_name, label_names(), label_values, nullptr,
                 static_cast<double>(series.count), out);
  }
}

Registry& Registry::Global() {
  static Registry* const registry = new Registry();
  return *registry;
}

template <typename T, typename Make>
T& Registry::Register(const std::string& name, Family::Kind kind,
                      const std::vector<std::string>& label_names, Make make) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    const Family& existing = *it->second;
    if (existing.kind() != kind || existing.label_names() != label_names) {
      Die(absl::StrCat("\"", name, "\" registered as ", Describe(kind, name, label_names),
                       " but it already is ",
                       Describe(existing.kind(), name, existing.label_names())));
    }
    return static_cast<T&>(*it->second);
  }
  CheckNoHistogramClash(families_, name, kind);
  std::shared_ptr<T> family = make();
  T& result = *family;
  families_.emplace(name, std::move(family));
  return result;
}

Counter& Registry::AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names) {
  return Register<Counter>(name, Family::Kind::kCounter, label_names,
                           [&] { return std::make_shared<Counter>(name, help, label_names); });
}

Gauge& Registry::AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names) {
  return Register<Gauge>(name, Family::Kind::kGauge, label_names,
                         [&] { return std::make_shared<Gauge>(name, help, label_names); });
}

Histogram& Registry::AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bucket_upper_bounds) {
  Histogram& histogram = Register<Histogram>(name, Family::Kind::kHistogram, label_names, [&] {
    return std::make_shared<Histogram>(name, help, label_names, bucket_upper_bounds);
  });
  // Compare against what a new histogram would have kept (+Inf dropped).
  if (histogram.bucket_upper_bounds() != CheckedBounds(name, bucket_upper_bounds)) {
    Die(absl::StrCat("histogram \"", name, "\" registered again with buckets {",
                     absl::StrJoin(bucket_upper_bounds, ","), "} but it has {",
                     absl::StrJoin(histogram.bucket_upper_bounds(), ","), "}"));
  }
  return histogram;
}

void Registry::AddGaugeCallback(const std::string& name, const std::string& help,
                                std::function<double()> read) {
  AddCallback(name, help, Family::Kind::kGaugeCallback, std::move(read));
}

void Registry::AddCounterCallback(const std::string& name, const std::string& help,
                                  std::function<double()> read) {
  AddCallback(name, help, Family::Kind::kCounterCallback, std::move(read));
}

void Registry::AddCallback(const std::string& name, const std::string& help, Family::Kind kind,
                           std::function<double()> read) {
  auto callback = std::make_shared<Callback>(kind, name, help, std::move(read));
  std::shared_ptr<Family> replaced;
  {
    absl::MutexLock lock(&mu_);
    auto it = families_.find(name);
    if (it != families_.end() && it->second->kind() != kind) {
      Die(absl::StrCat("\"", name, "\" registered as a ", KindName(kind), " but it already is ",
                       Describe(it->second->kind(), name, it->second->label_names())));
    }
    CheckNoHistogramClash(families_, name, kind);
    if (it != families_.end()) {
      replaced = std::move(it->second);
      it->second = std::move(callback);
    } else {
      families_.emplace(name, std::move(callback));
    }
  }
  if (replaced != nullptr) {
    // Outside mu_: waits for a scrape that is reading it right now.
    static_cast<Callback&>(*replaced).Remove();
  }
}

void Registry::RemoveGaugeCallback(const std::string& name) {
  std::shared_ptr<Family> removed;
  {
    absl::MutexLock lock(&mu_);
    auto it = families_.find(name);
    if (it == families_.end()) {
      return;
    }
    if (!IsCallback(it->second->kind())) {
      Die(absl::StrCat("RemoveGaugeCallback(\"", name, "\"): it is a ",
                       KindName(it->second->kind()), ", not a callback"));
    }
    removed = std::move(it->second);
    families_.erase(it);
  }
  // Outside mu_: waits for a scrape that is reading it right now.
  static_cast<Callback&>(*removed).Remove();
}

std::string Registry::Render() const {
  std::vector<std::shared_ptr<Family>> families;
  {
    absl::MutexLock lock(&mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) {
      families.push_back(family);
    }
  }
  std::string out;
  for (const std::shared_ptr<Family>& family : families) {
    family->Render(&out);
  }
  return out;
}

}  // namespace covtrack::metrics
