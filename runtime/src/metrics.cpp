#include "cf/metrics.h"

#include <cmath>
#include <sstream>

#include "cf/json_builder.h"

namespace cf {

Histogram::Histogram() {
  for (double b = 50e-6; b < 30.0; b *= 1.5) bounds_.push_back(b);
  bounds_.push_back(30.0);
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double old = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(old, old + seconds, std::memory_order_relaxed)) {
  }
}

double Histogram::quantile(double q) const {
  uint64_t total = count();
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    seen += bucket(i);
    if (seen >= rank) return i < bounds_.size() ? bounds_[i] : bounds_.back();
  }
  return bounds_.back();
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& type,
                                                 const std::string& help) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.type = type;
    f.help = help;
  }
  return f;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const std::string& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, "counter", help).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const std::string& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, "gauge", help).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::string& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, "histogram", help).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>();
  return *slot;
}

namespace {
std::string with_labels(const std::string& name, const std::string& labels,
                        const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? name : name + "{" + all + "}";
}
}  // namespace

std::string MetricsRegistry::render_prometheus() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  out.precision(10);
  for (const auto& [name, f] : families_) {
    out << "# HELP " << name << ' ' << f.help << "\n# TYPE " << name << ' ' << f.type << '\n';
    for (const auto& [labels, c] : f.counters)
      out << with_labels(name, labels) << ' ' << c->value() << '\n';
    for (const auto& [labels, g] : f.gauges)
      out << with_labels(name, labels) << ' ' << g->value() << '\n';
    for (const auto& [labels, h] : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        cumulative += h->bucket(i);
        std::ostringstream le;
        le << "le=\"" << h->bounds()[i] << '"';
        out << with_labels(name + "_bucket", labels, le.str()) << ' ' << cumulative << '\n';
      }
      out << with_labels(name + "_bucket", labels, "le=\"+Inf\"") << ' ' << h->count() << '\n';
      out << with_labels(name + "_sum", labels) << ' ' << h->sum() << '\n';
      out << with_labels(name + "_count", labels) << ' ' << h->count() << '\n';
    }
  }
  return out.str();
}

std::string MetricsRegistry::render_json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  JsonBuilder w(4096);
  w.begin_object();
  for (const auto& [name, f] : families_) {
    for (const auto& [labels, c] : f.counters) {
      w.escaped_key(with_labels(name, labels)).number(static_cast<int64_t>(c->value()));
    }
    for (const auto& [labels, g] : f.gauges)
      w.escaped_key(with_labels(name, labels)).real(g->value());
    for (const auto& [labels, h] : f.histograms) {
      w.escaped_key(with_labels(name + "_p99_seconds", labels)).real(h->quantile(0.99));
    }
  }
  w.end_object();
  return w.take();
}

MetricsRegistry& metrics() {
  static MetricsRegistry registry;
  return registry;
}

std::string label(const std::string& key, const std::string& value) {
  std::string out = key + "=\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out + '"';
}

}  // namespace cf
