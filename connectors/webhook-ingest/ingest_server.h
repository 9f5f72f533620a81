#pragma once
// Boost.Beast asynchronous HTTP server of webhook-ingest. Answers 200 only
// after Kafka acknowledged the raw record (acks=all, idempotent producer).
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "cf/config.h"
#include "cf/directory.h"
#include "webhook_request.h"

namespace cf {

struct IngestSettings {
  KafkaSettings kafka;
  IngestTopics topics;
  std::string listen_address = "127.0.0.1";
  int port = 8080;
  int threads = 2;
  size_t max_body_bytes = 256 * 1024;
  int ack_timeout_ms = 5000;
  double rate_per_shop = 200;
  double burst_per_shop = 400;
  int idle_timeout_s = 30;
  /// Open connections beyond this are answered 503 and closed at once.
  int max_connections = 2048;
  /// Failed authentications a client address may make per second (and in a
  /// burst) before it is answered 429 without any HMAC computed. Generous,
  /// because a platform's senders (or a proxy in front) share addresses and a
  /// rotated secret fails for a while; a flood of forgeries still stops here.
  double auth_failures_per_client_per_s = 100;
  double auth_failure_burst = 1000;
};

class IngestServer {
 public:
  /// With `shops`, Shopify shop domains outside the directory are refused.
  IngestServer(IngestSettings settings, WebhookSecrets secrets,
               std::optional<ShopDirectory> shops = std::nullopt);
  ~IngestServer();
  IngestServer(const IngestServer&) = delete;
  IngestServer& operator=(const IngestServer&) = delete;
  /// Bound port (useful with port 0).
  int port() const;
  /// Serves until `stop`; then stops accepting, lets in-flight requests finish
  /// (up to the ack timeout), and flushes the producer.
  void run(const std::atomic<bool>& stop);

 public:
  struct Impl;  // defined in the .cpp; public so the session class there can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf
