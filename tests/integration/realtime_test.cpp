// The last hop on real binaries: real-shaped webhooks through channel-api and
// the pipeline, realtime-push, realtime-gateway, and clients on both
// transports (a WebSocket and an SSE client written here, and the dashboard
// page in Debian's headless Chromium). Clients rebuild a creator's dashboard
// from a snapshot and deltas, as the page does; the test compares what they
// hold with the PostgreSQL read models, through kill -9 of realtime-push and
// of the gateway, and checks that a cursor older than the gateway's window
// gets a snapshot, never a silent gap.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/jwt.h"
#include "harness.h"
#include "pipeline_truth.h"

namespace cf::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

constexpr const char* kSecret = "cf-test-gateway-secret-0123456789";

/// The topology up to the gateway, fed with real-shaped traffic.
struct Rig {
  TempDir dir;
  TempPostgres postgres{dir};
  DevBroker broker{dir};
  std::unique_ptr<ApiStub> stub;  ///< after the reference files it reads
  std::vector<std::unique_ptr<Process>> workers;
  std::unique_ptr<Process> push;
  std::unique_ptr<Process> gateway;
  int gateway_port = free_port();
  int push_restarts = 0, gateway_restarts = 0;

  Rig() {
    write_reference_files(dir);
    stub = std::make_unique<ApiStub>(dir);
    std::ofstream(dir.file("pg.url")) << postgres.url();
    std::ofstream(dir.file("jwt.secret")) << kSecret;
    for (const char* name :
         {"validator", "reconciler", "inventory-velocity", "stockout-predictor", "channel-api"}) {
      auto args = worker_command(name, broker.bootstrap(), dir, dir.file("state"), "0");
      if (std::string(name) == "channel-api") {
        args.insert(args.end(), {"--tiktok-api-url", stub->url(), "--shopify-api-url",
                                 stub->url() + "/shopify/{shop}"});
      }
      workers.push_back(std::make_unique<Process>(args, dir.file(std::string(name) + ".log")));
    }
    workers.push_back(std::make_unique<Process>(
        std::vector<std::string>{bin("postgres-sink"), "--brokers", broker.bootstrap(),
                                 "--postgres-url-file", dir.file("pg.url"), "--migrations-dir",
                                 source_dir() + "/migrations"},
        dir.file("sink.log")));
    workers.push_back(std::make_unique<Process>(
        std::vector<std::string>{bin("cf-ticker"), "--brokers", broker.bootstrap(), "--topic",
                                 "orders.events", "--interval-ms", "500"},
        dir.file("ticker.log")));
    start_push();
    start_gateway({"--start", "beginning"});
  }
  ~Rig() {
    for (auto* p : {push.get(), gateway.get()})
      if (p) p->signal(SIGTERM);
    for (auto& w : workers) w->signal(SIGTERM);
    for (auto& w : workers) w->wait(30000);
  }
  void start_push() {
    push = std::make_unique<Process>(
        worker_command("realtime-push", broker.bootstrap(), dir, dir.file("state"), "0"),
        dir.file("push-" + std::to_string(push_restarts++) + ".log"));
  }
  std::vector<std::string> gateway_command(const std::vector<std::string>& extra) const {
    std::vector<std::string> args{bin("realtime-gateway"),
                                  "--brokers",
                                  broker.bootstrap(),
                                  "--port",
                                  std::to_string(gateway_port),
                                  "--jwt-secret-file",
                                  dir.file("jwt.secret"),
                                  "--postgres-url-file",
                                  dir.file("pg.url")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  void start_gateway(const std::vector<std::string>& extra) {
    gateway = std::make_unique<Process>(
        gateway_command(extra), dir.file("gateway-" + std::to_string(gateway_restarts++) + ".log"));
    ASSERT_TRUE(wait_until(
        [&] {
          return status_of(raw_http(
                     gateway_port,
                     "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200;
        },
        20000, 100))
        << gateway->log();
  }
  /// Webhooks at 500/s with event time running as the wall clock does from
  /// `start_time` (the dashboard's windows close on ticks of the wall clock);
  /// "@NOW@" is replaced by the browser test when it starts the feed.
  std::vector<std::string> feed_command(const GeneratorSettings& g, int webhooks,
                                        const std::string& start_time) const {
    std::vector<std::string> args{bin("cf-loadgen"),  "--to-kafka",   "--brokers",
                                  broker.bootstrap(), "--rate",       "500",
                                  "--raw-tiktok",     "--tiktok-api", stub->address()};
    auto more = loadgen_args(g, webhooks);
    for (size_t i = 0; i + 1 < more.size(); ++i) {
      if (more[i] == "--event-seconds-per-webhook") more[i + 1] = "0.002";
      if (more[i] == "--start-time") more[i + 1] = start_time;
    }
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  std::unique_ptr<Process> feed(const GeneratorSettings& g, int webhooks, const std::string& log) {
    return std::make_unique<Process>(feed_command(g, webhooks, std::to_string(std::time(nullptr))),
                                     dir.file(log));
  }
  /// The read models' order figures of `creator`: "day/orders" and
  /// "day/revenue_minor.<currency>" (gross).
  std::map<std::string, int64_t> order_figures(const std::string& creator) const {
    std::map<std::string, int64_t> out;
    pqxx::connection c(postgres.url());
    pqxx::read_transaction txn(c);
    for (const auto& r : txn.exec_params(
             "SELECT day::text, orders FROM creator_daily_metrics WHERE creator_id = $1 AND "
             "orders > 0",
             creator))
      out[r[0].as<std::string>() + "/orders"] = r[1].as<int64_t>();
    for (const auto& r :
         txn.exec_params("SELECT day::text, currency, gross_minor FROM creator_daily_revenue WHERE "
                         "creator_id = $1 AND gross_minor > 0",
                         creator))
      out[r[0].as<std::string>() + "/revenue_minor." + r[1].as<std::string>()] = r[2].as<int64_t>();
    return out;
  }
};

std::string token_for(const std::string& creator) {
  TokenClaims claims;
  claims.creator_id = creator;
  claims.expires_at_s = std::time(nullptr) + 3600;
  return issue_token(claims, kSecret);
}

/// A dashboard client as the page is one: snapshot, then deltas applied per
/// entity with their versions; reconnects by itself and resumes from its
/// cursor. Runs on its own thread.
class DashboardClient {
 public:
  enum class Transport { kWebSocket, kSse };
  DashboardClient(Transport transport, int port, std::string creator, std::string first_cursor = "")
      : transport_(transport), port_(port), creator_(std::move(creator)) {
    cursor_ = std::move(first_cursor);
    thread_ = std::thread([this] { run(); });
  }
  ~DashboardClient() {
    stop_ = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      beast::error_code ignored;
      if (socket_) socket_->shutdown(tcp::socket::shutdown_both, ignored);
    }
    thread_.join();
  }
  /// The order figures it holds, as Rig::order_figures names them.
  std::map<std::string, int64_t> order_figures() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, int64_t> out;
    for (const auto& [day, e] : entities_["order_metrics"]) {
      for (const auto& [name, value] : e.fields) out[day + "/" + name] = value;
    }
    return out;
  }
  int snapshots() const { return snapshots_.load(); }
  int deltas() const { return deltas_.load(); }
  int connections() const { return connections_.load(); }
  int gaps() const { return gaps_.load(); }
  int repeats() const { return repeats_.load(); }
  int foreign() const { return foreign_.load(); }
  std::string cursor() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cursor_;
  }
  std::string first_type() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_type_;
  }

 private:
  struct Entity {
    std::map<std::string, int64_t> fields;  // order_metrics' fields are integers
    int64_t version = -1;                   // -1: from a snapshot
  };

  void run() {
    while (!stop_) {
      try {
        connections_.fetch_add(1);
        if (transport_ == Transport::kWebSocket) {
          run_websocket();
        } else {
          run_sse();
        }
      } catch (const std::exception&) {
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        socket_ = nullptr;  // the socket is gone with run_*()'s frame
      }
      if (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  }
  void run_websocket() {
    asio::io_context io;
    tcp::resolver resolver(io);
    websocket::stream<tcp::socket> ws(io);
    asio::connect(ws.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port_)));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      socket_ = &ws.next_layer();
    }
    ws.handshake("127.0.0.1", "/ws?token=" + token_for(creator_));
    const std::string cursor = current_cursor();
    ws.write(asio::buffer(cursor.empty() ? std::string(R"({"type":"subscribe"})")
                                         : R"({"type":"resume","cursor":")" + cursor + "\"}"));
    beast::flat_buffer buffer;
    while (!stop_) {
      ws.read(buffer);
      on_message(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
    }
  }
  void run_sse() {
    asio::io_context io;
    tcp::socket socket(io);
    tcp::resolver resolver(io);
    asio::connect(socket, resolver.resolve("127.0.0.1", std::to_string(port_)));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      socket_ = &socket;
    }
    const std::string cursor = current_cursor();
    std::string request = "GET /events?token=" + token_for(creator_) +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    if (!cursor.empty()) request += "Last-Event-ID: " + cursor + "\r\n";
    request += "\r\n";
    asio::write(socket, asio::buffer(request));
    asio::streambuf buf;
    asio::read_until(socket, buf, "\r\n\r\n");  // the response head
    std::istream in(&buf);
    std::string line;
    while (std::getline(in, line) && line != "\r") {
    }
    std::string data;
    while (!stop_) {
      asio::read_until(socket, buf, "\n");
      std::getline(in, line);
      if (line.rfind("data: ", 0) == 0) data = line.substr(6);
      if (line.empty() && !data.empty()) {
        on_message(data);
        data.clear();
      }
    }
  }
  std::string current_cursor() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cursor_;
  }
  void on_message(const std::string& text) {
    rapidjson::Document d;
    if (!parse_json(d, text) || !d.IsObject()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string type = d["type"].GetString();
    if (first_type_.empty()) first_type_ = type;
    if (type == "snapshot") {
      ++snapshots_;
      if (std::string(d["creator_id"].GetString()) != creator_) ++foreign_;
      auto& metrics = entities_["order_metrics"];
      metrics.clear();
      for (const auto& e : d["channels"]["order_metrics"].GetArray()) {
        Entity& entity = metrics[e["entity"].GetString()];
        for (const auto& f : e["fields"].GetObject())
          entity.fields[f.name.GetString()] = f.value.GetInt64();
      }
      return;
    }
    if (type != "delta") return;
    ++deltas_;
    const auto& m = d["message"];
    if (std::string(m["creator_id"].GetString()) != creator_) ++foreign_;
    cursor_ = d["cursor"].GetString();
    if (std::string(m["channel"].GetString()) != "order_metrics") return;
    for (const auto& u : m["updates"].GetArray()) {
      Entity& e = entities_["order_metrics"][u["entity"].GetString()];
      const int64_t version = u["version"].GetInt64();
      if (e.version >= 0 && version <= e.version) {
        ++repeats_;  // re-sent after a restart of realtime-push: applied already
        continue;
      }
      if (e.version >= 0 && version != e.version + 1) ++gaps_;
      e.version = version;
      if (u.HasMember("fields")) {
        for (const auto& f : u["fields"].GetObject())
          e.fields[f.name.GetString()] = f.value.GetInt64();
      }
    }
  }

  Transport transport_;
  int port_;
  std::string creator_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  tcp::socket* socket_ = nullptr;
  std::string cursor_, first_type_;
  std::map<std::string, std::map<std::string, Entity>> entities_;
  std::atomic<int> snapshots_{0}, deltas_{0}, connections_{0}, gaps_{0}, foreign_{0}, repeats_{0};
};

std::string describe(const std::map<std::string, int64_t>& m) {
  std::string out;
  for (const auto& [k, v] : m) out += k + "=" + std::to_string(v) + " ";
  return out;
}

TEST(Realtime, ClientsOnBothTransportsFollowTheirCreatorThroughKillNineOfPushAndGateway) {
  Rig rig;
  DashboardClient ws(DashboardClient::Transport::kWebSocket, rig.gateway_port, "creator-100");
  DashboardClient sse(DashboardClient::Transport::kSse, rig.gateway_port, "creator-101");
  ASSERT_TRUE(wait_until([&] { return ws.snapshots() == 1 && sse.snapshots() == 1; }, 30000))
      << "a client without a cursor starts from a snapshot";
  auto settings = pipeline_generator_settings(std::time(nullptr));
  auto feed = rig.feed(settings, 9000, "feed.log");
  ASSERT_TRUE(wait_until([&] { return ws.deltas() > 3 && sse.deltas() > 3; }, 60000))
      << rig.push->log();
  rig.push->kill9();
  rig.start_push();
  ASSERT_TRUE(wait_until([&] { return ws.deltas() > 8 && sse.deltas() > 8; }, 60000));
  ASSERT_TRUE(feed->running()) << "the gateway goes down mid-stream";
  rig.gateway->kill9();
  rig.start_gateway({"--start", "beginning"});
  ASSERT_TRUE(wait_until([&] { return ws.connections() >= 2 && sse.connections() >= 2; }, 30000));
  ASSERT_EQ(feed->wait(180000), 0) << feed->log();
  // Both clients reconnected by themselves, resumed from their cursors (no
  // second snapshot), and hold exactly what the read models hold.
  for (auto* client : {&ws, &sse}) {
    const std::string creator = client == &ws ? "creator-100" : "creator-101";
    std::map<std::string, int64_t> db, held;
    EXPECT_TRUE(wait_until(
        [&] {
          db = rig.order_figures(creator);
          held = client->order_figures();
          return !db.empty() && db == held;
        },
        90000, 500))
        << creator << "\n  read models: " << describe(db) << "\n  client:      " << describe(held);
    EXPECT_GE(client->connections(), 2) << creator;
    EXPECT_EQ(client->snapshots(), 1) << creator << ": resumed from its cursor";
    EXPECT_EQ(client->gaps(), 0) << creator;
    EXPECT_EQ(client->foreign(), 0) << creator << " received another creator's message";
  }
  EXPECT_GT(scrape_metric(rig.gateway_port, "cf_gateway_resumed_total"), 0);
  // A cursor older than what the gateway holds: a snapshot first, then deltas.
  rig.gateway->signal(SIGTERM);
  rig.gateway->wait(20000);
  rig.start_gateway({"--start", "end"});
  // Offset 0 of creator-100's own partition (the one its cursors name).
  const std::string partition = ws.cursor().substr(0, ws.cursor().find(':'));
  ASSERT_FALSE(partition.empty());
  DashboardClient late(DashboardClient::Transport::kSse, rig.gateway_port, "creator-100",
                       partition + ":0");
  auto more =
      rig.feed(pipeline_generator_settings(std::time(nullptr) + 100, 77), 1500, "feed-2.log");
  EXPECT_TRUE(wait_until([&] { return late.deltas() > 0; }, 60000));
  EXPECT_EQ(late.first_type(), "snapshot");
  EXPECT_EQ(late.snapshots(), 1);
  EXPECT_EQ(more->wait(120000), 0);
  // A forged or foreign token gets nothing.
  const std::string other = token_for("creator-100");
  EXPECT_EQ(status_of(raw_http(rig.gateway_port,
                               "GET /events?token=" + other.substr(0, other.size() - 2) +
                                   "xx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            401);
}

std::string json_argv(const std::vector<std::string>& argv) {
  JsonBuilder w(512);
  w.begin_array();
  for (const auto& a : argv) w.string(a);
  w.end_array();
  return w.take();
}

// The dashboard page in Debian's Chromium (tests/browser/dashboard.test.mjs,
// playwright-core from npm; ./cf test installs both).
TEST(Realtime, TheDashboardPageInChromiumEqualsPostgresAndSurvivesAGatewayRestart) {
  Rig rig;
  const std::string artifacts = std::string(CF_ARTIFACT_DIR) + "/browser";
  const auto start = std::time(nullptr);
  std::vector<std::pair<std::string, std::string>> env = {
      {"CF_GATEWAY_URL", "http://127.0.0.1:" + std::to_string(rig.gateway_port)},
      {"CF_GATEWAY_PID", std::to_string(rig.gateway->pid())},
      {"CF_GATEWAY_CMD", json_argv(rig.gateway_command({"--start", "beginning"}))},
      {"CF_TOKEN_A", token_for("creator-100")},
      {"CF_TOKEN_B", token_for("creator-101")},
      {"CF_PG_URL", rig.postgres.url()},
      {"CF_FEED_CMD",
       json_argv(rig.feed_command(pipeline_generator_settings(start), 6000, "@NOW@"))},
      {"CF_FEED2_CMD",
       json_argv(rig.feed_command(pipeline_generator_settings(start, 21), 3000, "@NOW@"))},
      {"CF_ARTIFACT_DIR", artifacts}};
  std::vector<std::string> argv{"/usr/bin/env"};
  for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
  argv.insert(argv.end(), {"node", source_dir() + "/tests/browser/dashboard.test.mjs"});
  Process node(argv, rig.dir.file("browser.log"));
  const auto code = node.wait(400000);
  std::cout << node.log();
  EXPECT_EQ(code, 0) << "see the lines marked FAIL above; logs in " << rig.dir.file("");
}

}  // namespace
}  // namespace cf::test
