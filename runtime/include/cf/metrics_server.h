#pragma once
// Serves GET /metrics (Prometheus) and GET /healthz on 127.0.0.1 from its own
// thread, so a busy poll loop never delays a scrape.
#include <functional>
#include <memory>
#include <string>

namespace cf {

class MetricsServer {
 public:
  /// port 0 picks a free port; `healthy` is called per /healthz request from the
  /// server thread, so it must be thread-safe.
  MetricsServer(int port, std::function<bool()> healthy);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf
