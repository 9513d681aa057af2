#pragma once

// Prometheus metrics without prometheus-cpp (not in Debian): counters, gauges and histograms
// kept in a Registry, rendered in the text exposition format 0.0.4 that /metrics serves
// (http_exporter.h). Every family is thread-safe behind its own mutex.
//
// Misuse that can only be a programming error (an invalid or conflicting name, the wrong number
// of label values) aborts with a message that names the metric, so that a test finds it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace covtrack::metrics {

namespace internal {

// What every family has: a name, HELP text, TYPE and label names, and a way to write itself.
class Family {
 public:
  enum class Kind { kCounter, kGauge, kHistogram, kGaugeCallback, kCounterCallback };

  Family(Kind kind, std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  Kind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the HELP and TYPE lines and every sample.
  virtual void Render(std::string* out) const;

 protected:
  virtual void RenderSamples(std::string* out) const = 0;
  // Aborts, naming the family, unless there is one value per label name.
  void CheckLabelCount(const std::vector<std::string>& label_values) const;

 private:
  const Kind kind_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

}  // namespace internal

// A family of monotonically increasing counts: one time series per combination of label values.
class Counter : public internal::Family {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names);

  // amount must be >= 0; a negative or NaN amount is dropped (and logged once), since it would
  // make every rate() over this counter wrong.
  void Add(const std::vector<std::string>& label_values, double amount = 1);
  // 0 for a series never added to.
  double Value(const std::vector<std::string>& label_values) const;

 private:
  void RenderSamples(std::string* out) const override;

  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, double> values_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> logged_bad_amount_{false};
};

// A family of values that go up and down.
class Gauge : public internal::Family {
 public:
  Gauge(std::string name, std::string help, std::vector<std::string> label_names);

  void Set(const std::vector<std::string>& label_values, double value);
  void Add(const std::vector<std::string>& label_values, double amount);
  double Value(const std::vector<std::string>& label_values) const;

 private:
  void RenderSamples(std::string* out) const override;

  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, double> values_ ABSL_GUARDED_BY(mu_);
};

// A family of distributions: per series, a count per bucket, the sum and the count.
class Histogram : public internal::Family {
 public:
  // bucket_upper_bounds: finite and strictly increasing; +Inf is always added.
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> bucket_upper_bounds);

  void Observe(const std::vector<std::string>& label_values, double value);

  // For tests: how many observations, and their sum (0 for a series never observed).
  uint64_t Count(const std::vector<std::string>& label_values) const;
  double Sum(const std::vector<std::string>& label_values) const;

  const std::vector<double>& bucket_upper_bounds() const { return bounds_; }

 private:
  struct Series {
    std::vector<uint64_t> bucket_counts;  // not cumulative; the last is (largest bound, +Inf)
    double sum = 0;
    uint64_t count = 0;
  };
  void RenderSamples(std::string* out) const override;

  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, Series> series_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process's registry: what /metrics serves. Never destroyed, so that interceptors and
  // scrapes running during static destruction still find it.
  static Registry& Global();

  // Registering a name again with the same type and label names (and buckets) returns the same
  // family; a conflicting re-registration aborts. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*,
  // label names [a-zA-Z_][a-zA-Z0-9_]* and not start with "__". A family without labels shows
  // its single series (at 0) from registration on; a labelled one shows a series once used.
  Counter& AddCounter(const std::string& name, const std::string& help,
                      std::vector<std::string> label_names);
  Gauge& AddGauge(const std::string& name, const std::string& help,
                  std::vector<std::string> label_names);
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names,
                          std::vector<double> bucket_upper_bounds);

  // A gauge without labels whose value is read when /metrics is scraped (e.g. a queue length).
  // Registering the name again replaces the function (the newest owner wins). `read` runs
  // during Render and must not call this registry.
  void AddGaugeCallback(const std::string& name, const std::string& help,
                        std::function<double()> read);
  // The same for a count kept elsewhere (e.g. cache hits): TYPE counter, so `read` must never
  // go down while the process lives.
  void AddCounterCallback(const std::string& name, const std::string& help,
                          std::function<double()> read);
  // Removes a callback gauge or counter; once this returns, `read` is not running and will not
  // run again, so its owner may be destroyed. No-op for an unknown name.
  void RemoveGaugeCallback(const std::string& name);

  // Prometheus text format 0.0.4, families sorted by name.
  std::string Render() const;

 private:
  // Finds `name` or creates it with make(); aborts if the existing family differs.
  void AddCallback(const std::string& name, const std::string& help, internal::Family::Kind kind,
                   std::function<double()> read);
  template <typename T, typename Make>
  T& Register(const std::string& name, internal::Family::Kind kind,
              const std::vector<std::string>& label_names, Make make);

  mutable absl::Mutex mu_;
  // shared_ptr so that Render can write a family after letting go of mu_ (callbacks may take
  // their own locks) while RemoveGaugeCallback drops it from the map.
  std::map<std::string, std::shared_ptr<internal::Family>> families_ ABSL_GUARDED_BY(mu_);
};

// Latency buckets in seconds for RPCs: 0.5 ms to 10 s, about three per decade.
std::vector<double> LatencyBuckets();

// How Prometheus reads a sample value: integers without exponent, others in the shortest form
// that reads back exactly, "+Inf", "-Inf", "NaN". Exposed for tests.
std::string FormatValue(double value);

}  // namespace covtrack::metrics
