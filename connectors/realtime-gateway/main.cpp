// realtime-gateway: realtime.push -> WebSocket and SSE clients, and the
// dashboard page (gateway_server.h).
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/worker.h"
#include "gateway_server.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::GatewaySettings s;
  std::string log_level = "info";
  std::string secret_file, postgres_url_file;
  return cf::guarded_main("realtime-gateway", [&]() -> int {
    cf::OptionsParser options(
        "realtime-gateway",
        "Serves creators' dashboard deltas over WebSocket and Server-Sent Events, resuming "
        "from cursors, and the dashboard page.");
    options.add_kafka_options(s.kafka);
    options.add_logging_options(log_level);
    options.add()("listen", po::value(&s.bind)->default_value(s.bind), "address to bind")(
        "port", po::value(&s.port)->default_value(s.port), "HTTP port (0: pick a free one)")(
        "topic", po::value(&s.topic)->default_value(s.topic), "the deltas")(
        "start", po::value(&s.start)->default_value(s.start),
        "where reading starts: beginning | end | time:-<n>{s,m,h} (older cursors get a snapshot)")(
        "ring", po::value(&s.ring_capacity)->default_value(s.ring_capacity),
        "records kept per partition for clients resuming from a cursor")(
        "max-connections", po::value(&s.max_connections)->default_value(s.max_connections),
        "clients beyond this are answered 503")(
        "max-queue", po::value(&s.max_queue)->default_value(s.max_queue),
        "messages queued for one client before it is disconnected as slow_consumer")(
        "ping-interval-s", po::value(&s.ping_interval_s)->default_value(s.ping_interval_s),
        "WebSocket ping / SSE comment interval; a WebSocket silent for twice this is closed")(
        "critical-hours", po::value(&s.critical_hours)->default_value(s.critical_hours),
        "as realtime-push's: which SKUs a snapshot shows on the critical-stock card")(
        "page", po::value(&s.page_path),
        "serve this HTML file at / instead of the built-in dashboard (development)")(
        "jwt-secret-file", po::value(&secret_file),
        "HS256 secret of the creators' tokens (default: env CF_GATEWAY_JWT_SECRET); never a flag "
        "value")("postgres-url-file", po::value(&postgres_url_file),
                 "PostgreSQL connection URL for snapshots (default: env CF_POSTGRES_URL)");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("realtime-gateway", log_level);
    s.jwt_secret =
        cf::secret_from_file_or_env(secret_file, "--jwt-secret-file", "CF_GATEWAY_JWT_SECRET");
    if (s.jwt_secret.size() < 16)
      throw cf::ConfigError("--jwt-secret-file: the secret must have at least 16 bytes");
    s.postgres_url =
        cf::secret_from_file_or_env(postgres_url_file, "--postgres-url-file", "CF_POSTGRES_URL");
    if (s.ring_capacity < 1 || s.max_queue < 1 || s.ping_interval_s < 1)
      throw cf::ConfigError("--ring, --max-queue and --ping-interval-s must be at least 1");
    cf::GatewayServer server(s);
    server.run(cf::stop_requested_by_signal());
    return 0;
  });
}
