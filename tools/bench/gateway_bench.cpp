// cf-bench-gateway: many WebSocket clients on realtime-gateway, next to a
// bare Beast WebSocket broadcast of the same messages to the same number of
// connections (the ceiling), in one run (run_bench.sh starts the broker,
// PostgreSQL and the gateway).
//
//   --mode gateway: opens --connections clients over --creators creators
//     (tokens signed with the gateway's secret), waits for every snapshot,
//     then writes --messages deltas to realtime.push at --rate (each creator's
//     carry a sequence number and the wall-clock time of their writing), and
//     measures what arrives: messages/s, latency written -> received (p50,
//     p99), and gaps (a sequence number skipped). Then a reconnect storm:
//     every client closes and reconnects with its cursor while deltas keep
//     coming; it reports how long until every client is back and whether any
//     missed a message. Memory per connection from the gateway's RSS.
//   --mode bare-server: a Beast WebSocket server that only routes each
//     message to its creator's connections (no Kafka, no tokens, no JSON
//     work); once --connections clients are in, it sends the same deltas at
//     the same rate. --mode bare: the same clients against it (--port).
//     Separate processes, as for the gateway: each side holds one socket per
//     connection.
//
// Prints one line per measurement, "gateway ..." or "bare ...".
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/jwt.h"
#include "cf/main_guard.h"
#include "cf/producer.h"

namespace po = boost::program_options;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

std::string creator_name(int c) { return "bench-creator-" + std::to_string(c); }

/// A delta as realtime-push writes it, with the bench's sequence and time.
std::string delta_json(const std::string& creator, int64_t seq, int64_t at_ms) {
  cf::JsonBuilder w(256);
  w.begin_object();
  w.key("creator_id").string(creator);
  w.key("channel").string("order_metrics");
  w.key("at_ms").number(at_ms);
  w.key("updates").begin_array();
  w.begin_object();
  w.key("entity").string("2026-12-08");
  w.key("version").number(seq);
  w.key("fields").begin_object();
  w.key("orders").number(seq);
  w.key("revenue_minor.USD").number(seq * 4599);
  w.end_object();
  w.end_object();
  w.end_array();
  w.end_object();
  return w.take();
}

struct Stats {
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::atomic<int64_t> received{0}, gaps{0}, snapshots{0}, open{0}, resumed{0};
  std::chrono::steady_clock::time_point first, last;  ///< deliveries (under mutex)
  void latency(double ms) {
    std::lock_guard<std::mutex> lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    if (latencies_ms.empty()) first = now;
    last = now;
    latencies_ms.push_back(ms);
  }
  double delivery_seconds() {
    std::lock_guard<std::mutex> lock(mutex);
    return std::chrono::duration<double>(last - first).count();
  }
  std::pair<double, double> p50_p99() {
    std::lock_guard<std::mutex> lock(mutex);
    if (latencies_ms.empty()) return {-1, -1};
    std::sort(latencies_ms.begin(), latencies_ms.end());
    return {latencies_ms[latencies_ms.size() / 2], latencies_ms[latencies_ms.size() * 99 / 100]};
  }
};

/// One client connection (async, on the shared I/O context).
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& io, Stats& stats, int port, std::string creator, std::string token)
      : io_(io),
        stats_(stats),
        port_(port),
        creator_(std::move(creator)),
        token_(std::move(token)) {}
  void connect(bool resume) {
    resume_ = resume;
    ws_.emplace(io_);  // a fresh stream per connection
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_));
    ws_->next_layer().async_connect(ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->retry();
      self->ws_->async_handshake("127.0.0.1", "/ws?token=" + self->token_,
                                 [self](beast::error_code ec) {
                                   if (ec) return self->retry();
                                   self->hello();
                                 });
    });
  }
  void close() {
    closing_ = true;
    ws_->async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {
      self->stats_.open.fetch_sub(1);
    });
  }
  bool back() const { return back_; }

 private:
  void retry() {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
    timer->async_wait(
        [self = shared_from_this(), timer](beast::error_code) { self->connect(self->resume_); });
  }
  void hello() {
    stats_.open.fetch_add(1);
    closing_ = false;
    hello_ = resume_ && !cursor_.empty() ? R"({"type":"resume","cursor":")" + cursor_ + "\"}"
                                         : std::string(R"({"type":"subscribe"})");
    ws_->async_write(asio::buffer(hello_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return;
                       if (self->resume_) {
                         self->back_ = true;
                         self->stats_.resumed.fetch_add(1);
                       }
                       self->read();
                     });
  }
  void read() {
    ws_->async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;  // closed (by us in the storm, or the server)
      self->on_message(beast::buffers_to_string(self->buffer_.data()));
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }
  void on_message(const std::string& text) {
    const int64_t now = cf::wall_clock_ms();
    rapidjson::Document d;
    if (!cf::parse_json(d, text) || !d.IsObject()) return;
    const std::string_view type = d.HasMember("type") ? d["type"].GetString() : "delta";
    if (type == "snapshot") {
      stats_.snapshots.fetch_add(1);
      return;
    }
    const rapidjson::Value& m = d.HasMember("message") ? d["message"] : d;
    if (d.HasMember("cursor")) cursor_ = d["cursor"].GetString();
    const int64_t seq = m["updates"][0]["version"].GetInt64();
    if (last_seq_ >= 0 && seq != last_seq_ + 1) stats_.gaps.fetch_add(1);
    last_seq_ = seq;
    stats_.received.fetch_add(1);
    stats_.latency(static_cast<double>(now - m["at_ms"].GetInt64()));
  }

  asio::io_context& io_;
  std::optional<websocket::stream<tcp::socket>> ws_;
  Stats& stats_;
  int port_;
  std::string creator_, token_, cursor_, hello_;
  beast::flat_buffer buffer_;
  int64_t last_seq_ = -1;
  bool resume_ = false, closing_ = false, back_ = false;
};

/// The ceiling: accepts WebSocket connections whose path names a creator
/// (/ws?token=<creator>), and sends each message to its creator's
/// connections. Nothing else.
class BareServer {
 public:
  BareServer(asio::io_context& io, int port)
      : io_(io),
        acceptor_(io, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}) {
    accept();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  size_t sessions() const { return sessions_.load(); }
  void broadcast(const std::string& creator, std::shared_ptr<const std::string> text) {
    auto it = by_creator_.find(creator);
    if (it == by_creator_.end()) return;
    for (auto& s : it->second) s->send(text);
  }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    explicit Session(tcp::socket s) : ws(std::move(s)) {}
    websocket::stream<tcp::socket> ws;
    beast::flat_buffer buffer;
    std::deque<std::shared_ptr<const std::string>> queue;
    void send(std::shared_ptr<const std::string> text) {
      queue.push_back(std::move(text));
      if (queue.size() == 1) write();
    }
    void write() {
      ws.async_write(asio::buffer(*queue.front()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return;
                       self->queue.pop_front();
                       if (!self->queue.empty()) self->write();
                     });
    }
  };
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      auto session = std::make_shared<Session>(std::move(socket));
      auto request = std::make_shared<beast::http::request<beast::http::string_body>>();
      auto buffer = std::make_shared<beast::flat_buffer>();
      beast::http::async_read(
          session->ws.next_layer(), *buffer, *request,
          [this, session, request, buffer](beast::error_code ec, size_t) {
            if (ec) return;
            const std::string target(request->target());
            const std::string creator = target.substr(target.find('=') + 1);
            session->ws.async_accept(*request, [this, session, creator](beast::error_code ec) {
              if (ec) return;
              by_creator_[creator].push_back(session);
              sessions_.fetch_add(1);
              // The client's hello is read and ignored.
              session->ws.async_read(session->buffer, [](beast::error_code, size_t) {});
            });
          });
      accept();
    });
  }
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::map<std::string, std::vector<std::shared_ptr<Session>>> by_creator_;
  std::atomic<size_t> sessions_{0};
};

int64_t rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

bool wait_for(const std::function<bool()>& done, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "gateway", secret_file, brokers_unused;
  int port = 0, gateway_pid = 0, connections = 10000, creators = 500, messages = 20000, rate = 2000;
  cf::KafkaSettings kafka;
  return cf::guarded_main("cf-bench-gateway", [&]() -> int {
    cf::OptionsParser options("cf-bench-gateway",
                              "WebSocket clients on realtime-gateway next to a bare Beast "
                              "broadcast of the same messages.");
    options.add_kafka_options(kafka);
    options.add()("mode", po::value(&mode)->default_value(mode), "gateway | bare-server | bare")(
        "port", po::value(&port), "the gateway's port, or the bare server's")(
        "gateway-pid", po::value(&gateway_pid), "for its memory per connection")(
        "jwt-secret-file", po::value(&secret_file), "the gateway's token secret")(
        "connections", po::value(&connections)->default_value(connections), "clients")(
        "creators", po::value(&creators)->default_value(creators), "creators they follow")(
        "messages", po::value(&messages)->default_value(messages), "deltas written in all")(
        "rate", po::value(&rate)->default_value(rate), "deltas per second");
    if (!options.parse(argc, argv)) return 0;
    if (connections < 1 || creators < 1 || messages < creators || rate < 1)
      throw cf::ConfigError("need connections, creators >= 1, messages >= creators, rate >= 1");
    const bool bare = mode == "bare" || mode == "bare-server";
    std::string secret;
    if (!bare)
      secret =
          cf::secret_from_file_or_env(secret_file, "--jwt-secret-file", "CF_GATEWAY_JWT_SECRET");

    Stats stats;
    asio::io_context io{1};
    auto guard = asio::make_work_guard(io);
    std::unique_ptr<BareServer> server;
    if (mode == "bare-server") server = std::make_unique<BareServer>(io, port);
    std::thread io_thread([&] { io.run(); });
    std::vector<int64_t> seq(static_cast<size_t>(creators), 0);
    std::unique_ptr<cf::Producer> producer;
    // The deltas: per creator a sequence, at `rate` per second.
    auto send_burst = [&](int count) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < count; ++i) {
        const auto due = start + std::chrono::microseconds(static_cast<int64_t>(1e6 * i / rate));
        std::this_thread::sleep_until(due);
        const int c = i % creators;
        const std::string creator = creator_name(c);
        std::string value = delta_json(creator, ++seq[static_cast<size_t>(c)], cf::wall_clock_ms());
        if (server) {
          auto text = std::make_shared<const std::string>(std::move(value));
          asio::post(io, [&, creator, text] { server->broadcast(creator, text); });
        } else {
          producer->produce({"realtime.push", creator, std::move(value), {}}, nullptr);
          producer->poll(0);
        }
      }
      if (producer) producer->flush(10000);
    };
    if (server) {
      wait_for([&] { return server->sessions() >= static_cast<size_t>(connections); }, 300000);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      send_burst(messages);
      std::this_thread::sleep_for(std::chrono::seconds(15));  // the clients count what arrives
      guard.reset();
      io.stop();
      io_thread.join();
      return 0;
    }
    const int target_port = port;
    const int64_t rss_before = gateway_pid ? rss_kib(gateway_pid) : -1;
    std::vector<std::shared_ptr<Client>> clients;
    const auto connect_start = std::chrono::steady_clock::now();
    for (int i = 0; i < connections; ++i) {
      const std::string creator = creator_name(i % creators);
      cf::TokenClaims claims{creator, cf::wall_clock_ms() / 1000 + 3600, {}};
      clients.push_back(std::make_shared<Client>(io, stats, target_port, creator,
                                                 bare ? creator : cf::issue_token(claims, secret)));
    }
    asio::post(io, [&] {
      for (auto& c : clients) c->connect(false);
    });
    const bool all_open = wait_for([&] { return stats.open.load() >= connections; }, 120000);
    if (!bare) wait_for([&] { return stats.snapshots.load() >= connections; }, 180000);
    const double connect_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_start).count();
    const int64_t rss_after = gateway_pid ? rss_kib(gateway_pid) : -1;

    if (!bare) producer = std::make_unique<cf::Producer>(kafka, "cf-bench-gateway", nullptr);
    const int64_t expected = static_cast<int64_t>(messages) * connections / creators;
    if (!bare) send_burst(messages);  // the bare server sends its own
    wait_for([&] { return stats.received.load() >= expected; }, 90000);
    const double send_s = std::max(stats.delivery_seconds(), 1e-3);
    auto [p50, p99] = stats.p50_p99();
    std::printf(
        "%s connections=%d creators=%d open=%s connect_s=%.1f messages=%d rate=%d delivered=%lld "
        "expected=%lld delivered_per_s=%.0f p50_ms=%.1f p99_ms=%.1f gaps=%lld",
        bare ? "bare" : "gateway", connections, creators, all_open ? "all" : "NOT_ALL", connect_s,
        messages, rate, static_cast<long long>(stats.received.load()),
        static_cast<long long>(expected), stats.received.load() / send_s, p50, p99,
        static_cast<long long>(stats.gaps.load()));
    if (rss_before >= 0 && rss_after >= 0) {
      std::printf(" gateway_rss_kib_per_connection=%.1f",
                  (rss_after - rss_before) / double(connections));
    }
    std::printf("\n");

    if (!bare) {
      // Reconnect storm: everyone closes and comes back with its cursor while
      // deltas keep coming; a skipped sequence number is a gap.
      const int64_t gaps_before = stats.gaps.load();
      const int64_t received_before = stats.received.load();
      asio::post(io, [&] {
        for (auto& c : clients) c->close();
      });
      wait_for([&] { return stats.open.load() <= 0; }, 60000);
      const auto storm_start = std::chrono::steady_clock::now();
      asio::post(io, [&] {
        for (auto& c : clients) c->connect(true);
      });
      std::thread writer([&] { send_burst(messages / 2); });
      const bool all_back = wait_for([&] { return stats.resumed.load() >= connections; }, 120000);
      const double storm_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - storm_start).count();
      writer.join();
      const int64_t more = static_cast<int64_t>(messages / 2) * connections / creators;
      wait_for([&] { return stats.received.load() >= received_before + more; }, 60000);
      std::printf(
          "gateway reconnect_storm clients=%d back=%s seconds=%.1f delivered_after=%lld "
          "expected_after=%lld gaps=%lld snapshots=%lld\n",
          connections, all_back ? "all" : "NOT_ALL", storm_s,
          static_cast<long long>(stats.received.load() - received_before),
          static_cast<long long>(more), static_cast<long long>(stats.gaps.load() - gaps_before),
          static_cast<long long>(stats.snapshots.load()));
    }
    guard.reset();
    io.stop();
    io_thread.join();
    return 0;
  });
}
