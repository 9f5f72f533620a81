#pragma once
// A participant stub for the saga: one HTTP server playing payment provider,
// shipping provider and channel API, for tests, benchmarks and the main job.
//
//   POST /v1/captures | /v1/labels | /v1/fulfillments         effects
//   POST /v1/refunds | /v1/labels/cancel                        undos ("undoes": <key>)
//   /order/..., /api/v2/token/refresh, /tiktok/...              TikTok Shop's API
//                  (tiktok_api_stub.h)
//   GET  /stats    per endpoint: requests, applied, replays, blocked, errors,
//                  ack_lost, orders, max_per_order; net_orders for effects with an undo
//   POST /faults {"participant":"payment|shipping|channel" or "endpoint":"labels|...",
//                 "latency_ms", "error_rate", "max_errors_per_key", "ack_loss_rate",
//                 "hang"}                                       fault injection (replaces
//                 the previous fault of that scope; an endpoint's wins over its participant's)
//
// Like a real provider it applies each Idempotency-Key once and answers a
// repeat with the first answer. An undo that arrives before the effect it
// names blocks that effect (the effect is then refused with 409). It counts
// effects per order as well as per key: the test oracle for "one capture per
// order", whatever keys the saga used.
//
// Faults (per participant): added latency; a share of requests answered 503
// without effect (at most max_errors_per_key per key, so a retried step gets
// through); a share whose effect is applied and whose answer is lost (503:
// the retry then gets the stored answer, a duplicate reply); hang: the
// request is read and never answered.
#include <cstdint>
#include <memory>
#include <string>

namespace cf {

struct StubSettings {
  std::string listen_address = "127.0.0.1";
  int port = 8090;
  uint64_t seed = 1;
  /// TikTok Shop API (tiktok_api_stub.h): the app's key and secret (secrets
  /// file text) and the shops' ciphers and first tokens (channel-api's shops
  /// file text); access tokens it issues live this long.
  std::string tiktok_secrets_json;
  std::string tiktok_tokens_json;
  int64_t tiktok_token_ttl_s = 7 * 86400;
};

class StubServer {
 public:
  explicit StubServer(StubSettings settings);
  ~StubServer();
  StubServer(const StubServer&) = delete;
  StubServer& operator=(const StubServer&) = delete;
  int port() const;
  /// Serves on the calling thread until stop() (or a signal handled by the caller).
  void run();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf
