#pragma once
// Asynchronous HTTP/1.1 client for connectors that call remote APIs
// (saga-http; channel-api): Boost.Beast on one I/O thread of its own, a pool
// of keep-alive connections per host, one deadline per call covering
// connect, send and receive, and a circuit breaker per endpoint.
//
// Circuit breaker (count-based sliding window, as resilience4j's): when at
// least `failure_share` of the endpoint's last `window` calls failed
// (transport error, timeout, 5xx), with at least `min_calls` of them, the
// endpoint is open for `open_ms`: calls fail at once without touching the
// network. Then one trial call is let through (half open); its success
// closes the circuit (window cleared), its failure opens it again. A share,
// not consecutive failures: many calls run at once, and a participant that
// fails a third of its calls transiently must stay usable.
//
// Plain http:// only (TLS termination by a sidecar or proxy in deployment).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cf {

struct HttpEndpoint {
  std::string name;  ///< breaker and metrics label, e.g. "payment"
  std::string host;
  std::string port = "80";
  std::string base_path;  ///< prefix of every target, without a trailing slash
};
/// "http://host[:port][/base]" -> endpoint; throws ConfigError otherwise.
HttpEndpoint parse_http_url(const std::string& name, const std::string& url);

struct HttpResult {
  int status = 0;  ///< 0: no response (error says why)
  std::string body;
  std::string error;          ///< transport error, "timeout" or "circuit open"
  bool circuit_open = false;  ///< refused by the breaker, nothing sent
  /// Response headers the callers act on (lower-case names): retry-after,
  /// x-shopify-shop-api-call-limit, link (Shopify's pagination). Others are not kept.
  std::vector<std::pair<std::string, std::string>> headers;
  /// The value of response header `name` (lower case), or empty.
  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return {};
  }
};

struct HttpClientSettings {
  int window = 50;
  int min_calls = 20;
  double failure_share = 0.7;
  int open_ms = 5000;
  size_t max_idle_per_host = 256;
  size_t max_response_bytes = 1 << 20;
};

class HttpClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  using Done = std::function<void(HttpResult)>;

  explicit HttpClient(HttpClientSettings settings = {});
  ~HttpClient();  ///< stops the I/O thread; calls in flight are abandoned (never completed)
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Stops the I/O thread (idempotent): no callback runs after it returns.
  void shutdown();

  /// POSTs `body` to endpoint.base_path + target; `done` runs on the I/O
  /// thread exactly once, at the latest when `timeout` has passed.
  void post(const HttpEndpoint& endpoint, const std::string& target, std::string body,
            Headers headers, std::chrono::milliseconds timeout, Done done);
  /// GETs endpoint.base_path + target (query included), as post().
  void get(const HttpEndpoint& endpoint, const std::string& target, Headers headers,
           std::chrono::milliseconds timeout, Done done);
  /// Endpoints whose circuit is open now (for metrics).
  std::vector<std::string> open_circuits() const;

  struct Impl;

 private:
  void send(bool post, const HttpEndpoint& endpoint, const std::string& target, std::string body,
            Headers headers, std::chrono::milliseconds timeout, Done done);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf
