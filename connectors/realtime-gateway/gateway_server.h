#pragma once
// realtime-gateway's server: Boost.Beast HTTP on one I/O thread, with
//   GET /            the dashboard page (self-contained HTML and JS)
//   GET /ws          WebSocket: the client's first message is
//                    {"type":"resume","cursor":"<p>:<o>"} or {"type":"subscribe"}
//   GET /events      Server-Sent Events; resumes from Last-Event-ID (or ?cursor=)
//   GET /healthz, GET /metrics
// A token (HS256 JWT, cf/jwt.h) in `Authorization: Bearer` or `?token=` is
// checked before anything else, and again when it expires (the connection is
// closed with the reason). A connection only ever receives its own creator's
// messages, of the channels its token allows.
//
// One thread reads realtime.push (every partition, no consumer group: the
// gateway is stateless) into the fan-out hub (fanout_hub.h) on the I/O
// thread; another answers snapshots from PostgreSQL.
//
// Wire format, the same JSON on both transports:
//   {"type":"snapshot", ...}   (cf/dashboard_snapshot.h; SSE event "snapshot")
//   {"type":"delta","cursor":"<p>:<o>","message":<the realtime.push record>}
//                              (SSE event "delta", id = the cursor)
//   {"type":"closing","reason":"token_expired|slow_consumer|shutting_down|..."}
// A slow client whose queue passes --max-queue messages is disconnected with
// the reason slow_consumer, and never holds back the others.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "cf/config.h"

namespace cf {

struct GatewaySettings {
  std::string bind = "127.0.0.1";
  int port = 8090;
  std::string topic = "realtime.push";
  /// Where the feed starts reading (cf/topic_reader.h's start values).
  std::string start = "time:-1h";
  size_t ring_capacity = 10000;  ///< records kept per partition for resuming
  size_t max_connections = 20000;
  size_t max_queue = 2000;  ///< messages waiting for one slow client before it is dropped
  int ping_interval_s = 25;
  std::string jwt_secret;    ///< never logged
  std::string postgres_url;  ///< snapshots; never logged
  double critical_hours = 24;
  std::string page_path;  ///< empty: the page built into the binary
  KafkaSettings kafka;
};

class GatewayServer {
 public:
  explicit GatewayServer(GatewaySettings settings);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;
  int port() const;
  /// Serves until `stop` is set.
  void run(const std::atomic<bool>& stop);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// The dashboard page built into the binary.
const std::string& dashboard_page();

}  // namespace cf
