#include "gateway_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "cf/channel_api_auth.h"  // parse_query
#include "cf/clients.h"
#include "cf/dashboard_snapshot.h"
#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/jwt.h"
#include "cf/logging.h"
#include "cf/metrics.h"
#include "cf/topic_reader.h"
#include "fanout_hub.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace cf {
namespace {

int64_t now_s() { return wall_clock_ms() / 1000; }

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

/// What a client receives for a realtime.push record.
std::string delta_frame(const HubMessage& m) {
  JsonBuilder w(m.value.size() + 96);
  w.begin_object();
  w.key("type").string("delta");
  w.key("cursor").string(m.cursor.text());
  w.key("message").raw(m.value);  // parsed and checked when read (the feed)
  w.end_object();
  return w.take();
}

std::string closing_json(std::string_view reason) {
  JsonBuilder w(64);
  w.begin_object();
  w.key("type").string("closing");
  w.key("reason").string(reason);
  w.end_object();
  return w.take();
}

struct GatewayMetrics {
  Gauge& connections = metrics().gauge("cf_gateway_connections", "WebSocket and SSE clients");
  Counter& messages = metrics().counter("cf_gateway_messages_total", "messages sent to clients");
  Counter& records = metrics().counter("cf_gateway_records_total", "realtime.push records read");
  Counter& bad_records =
      metrics().counter("cf_gateway_bad_records_total", "realtime.push records not forwarded");
  Counter& snapshots = metrics().counter("cf_gateway_snapshots_total", "snapshots sent");
  Counter& resumed =
      metrics().counter("cf_gateway_resumed_total", "clients resumed from their cursor");
  Counter& refused = metrics().counter("cf_gateway_refused_total",
                                       "connections refused (token, limit, bad request)");
  Counter& slow =
      metrics().counter("cf_gateway_slow_consumers_total", "clients dropped for a full queue");
  Histogram& lag = metrics().histogram("cf_gateway_delivery_lag_seconds",
                                       "realtime.push record written -> queued for the client");
};

}  // namespace

class Client;

struct GatewayServer::Impl {
  GatewaySettings settings;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  FanoutHub hub;
  GatewayMetrics stats;
  std::map<FanoutHub::SubscriberId, std::weak_ptr<Client>> clients;
  FanoutHub::SubscriberId next_id = 1;
  std::atomic<size_t> open_sockets{0};
  std::string page;

  // Snapshot requests, answered by the snapshot thread.
  struct SnapshotJob {
    FanoutHub::SubscriberId id;
    std::string creator;
    std::vector<std::string> channels;
  };
  std::mutex jobs_mutex;
  std::condition_variable jobs_cv;
  std::deque<SnapshotJob> jobs;
  bool stopping = false;

  explicit Impl(GatewaySettings s) : settings(std::move(s)), hub(settings.ring_capacity) {
    if (settings.page_path.empty()) {
      page = dashboard_page();
    } else {
      std::ifstream in(settings.page_path);
      if (!in) throw ConfigError("--page: cannot read " + settings.page_path);
      std::stringstream text;
      text << in.rdbuf();
      page = text.str();
    }
  }
  void accept();
  void publish(HubMessage message, std::string creator, int64_t written_ms);
  void subscribe(const std::shared_ptr<Client>& client, const std::optional<PushCursor>& cursor);
  /// Holds the client's messages until its snapshot is read and sent.
  void request_snapshot(Client& client);
  void forget(FanoutHub::SubscriberId id) {
    hub.unsubscribe(id);
    clients.erase(id);
  }
  void snapshot_loop();
};

/// A subscribed connection (WebSocket or SSE). I/O thread only.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(GatewayServer::Impl& server, TokenClaims claims)
      : server_(server), claims_(std::move(claims)), expiry_(server.io) {
    server_.stats.connections.set(static_cast<double>(++server_.open_sockets));
  }
  virtual ~Client() { server_.stats.connections.set(static_cast<double>(--server_.open_sockets)); }
  FanoutHub::SubscriberId id = 0;
  const TokenClaims& claims() const { return claims_; }

  /// `frame` is delta_frame(m), built once for every client it goes to.
  void deliver(const HubMessage& m, const std::string& frame) {
    if (closed_ || !claims_.allows(m.channel)) return;
    if (awaiting_snapshot_) {
      held_.push_back({"delta", m.cursor.text(), frame});
      if (held_.size() > server_.settings.max_queue) drop_slow();
      return;
    }
    enqueue("delta", m.cursor.text(), frame);
  }
  void await_snapshot() { awaiting_snapshot_ = true; }
  void deliver_snapshot(std::string json) {
    if (closed_) return;
    awaiting_snapshot_ = false;
    server_.stats.snapshots.inc();
    enqueue("snapshot", "", std::move(json));
    for (auto& h : held_) enqueue(h.event, h.id, std::move(h.data));
    held_.clear();
  }
  /// Subscribes, and closes the connection when the token expires.
  void start_subscription(const std::optional<PushCursor>& cursor) {
    server_.subscribe(shared_from_this(), cursor);
    expiry_.expires_after(
        std::chrono::seconds(std::max<int64_t>(1, claims_.expires_at_s - now_s())));
    expiry_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->close_with("token_expired");
    });
  }
  void close_with(const std::string& reason) {
    if (closed_) return;
    enqueue("closing", "", closing_json(reason));
    closing_ = true;
    if (!writing_) finish();
  }

 protected:
  struct Frame {
    std::string event, id, data;
  };
  /// Writes frames_.front(); calls wrote() when done.
  virtual void write_front() = 0;
  /// Closes the transport.
  virtual void shut() = 0;
  void enqueue(std::string event, std::string id, std::string data) {
    if (closed_) return;
    frames_.push_back({std::move(event), std::move(id), std::move(data)});
    if (frames_.size() > server_.settings.max_queue + 1) {
      drop_slow();
      return;
    }
    if (!writing_) {
      writing_ = true;
      write_front();
    }
  }
  void wrote(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      finish();
      return;
    }
    if (!frames_.empty()) {
      if (frames_.front().event != "closing") server_.stats.messages.inc();
      frames_.pop_front();
    }
    if (!frames_.empty()) {
      writing_ = true;
      write_front();
    } else if (closing_) {
      finish();
    }
  }
  void finish() {
    if (closed_) return;
    closed_ = true;
    expiry_.cancel();
    server_.forget(id);
    shut();
  }
  void drop_slow() {
    server_.stats.slow.inc();
    // The queue is full: what is queued is dropped, the reason goes first.
    while (frames_.size() > (writing_ ? 1u : 0u)) frames_.pop_back();
    held_.clear();
    frames_.push_back({"closing", "", closing_json("slow_consumer")});
    closing_ = true;
    if (!writing_) {
      writing_ = true;
      write_front();
    }
  }

  GatewayServer::Impl& server_;
  TokenClaims claims_;
  asio::steady_timer expiry_;
  std::deque<Frame> frames_;
  std::vector<Frame> held_;
  bool writing_ = false, closing_ = false, closed_ = false, awaiting_snapshot_ = false;
};

class WsClient : public Client {
 public:
  WsClient(GatewayServer::Impl& server, TokenClaims claims, beast::tcp_stream stream)
      : Client(server, std::move(claims)), ws_(std::move(stream)) {}

  void accept(http::request<http::string_body> request) {
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    // Beast pings when half the idle timeout passes without traffic, and
    // closes a connection that does not answer within the other half.
    t.idle_timeout = std::chrono::seconds(2 * server_.settings.ping_interval_s);
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(4096);
    ws_.async_accept(request, [self = shared()](beast::error_code ec) {
      if (ec) return self->finish();
      self->read_hello();
    });
  }

 private:
  std::shared_ptr<WsClient> shared() {
    return std::static_pointer_cast<WsClient>(shared_from_this());
  }
  void read_hello() {
    ws_.async_read(in_, [self = shared()](beast::error_code ec, size_t) {
      if (ec) return self->finish();
      const std::string text = beast::buffers_to_string(self->in_.data());
      self->in_.consume(self->in_.size());
      rapidjson::Document d;
      std::optional<PushCursor> cursor;
      if (!parse_json(d, text) || !d.IsObject()) return self->close_with("bad_hello");
      const std::string_view type = string_member(d, "type");
      if (type == "resume") {
        cursor = parse_cursor(string_member(d, "cursor"));
        if (!cursor) return self->close_with("bad_cursor");
      } else if (type != "subscribe") {
        return self->close_with("bad_hello");
      }
      self->start_subscription(cursor);
      self->read_more();
    });
  }
  void read_more() {
    // Nothing else is expected from the client; reading notices its close.
    ws_.async_read(in_, [self = shared()](beast::error_code ec, size_t) {
      if (ec) return self->finish();
      self->in_.consume(self->in_.size());
      self->read_more();
    });
  }
  void write_front() override {
    ws_.text(true);
    ws_.async_write(asio::buffer(frames_.front().data),
                    [self = shared()](beast::error_code ec, size_t) { self->wrote(ec); });
  }
  void shut() override {
    if (!ws_.is_open()) {
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);
      return;
    }
    ws_.async_close(websocket::close_code::normal, [self = shared()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
  }
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer in_;
};

class SseClient : public Client {
 public:
  SseClient(GatewayServer::Impl& server, TokenClaims claims, beast::tcp_stream stream)
      : Client(server, std::move(claims)), stream_(std::move(stream)), ping_(server.io) {}

  void start(const std::optional<PushCursor>& cursor) {
    stream_.expires_never();
    frames_.push_back({"", "",
                       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
                       "no-cache\r\nConnection: keep-alive\r\nX-Accel-Buffering: no\r\n\r\n"
                       "retry: 1000\n\n"});
    writing_ = true;
    write_front();
    start_subscription(cursor);
    watch_close();
    schedule_ping();
  }

 private:
  std::shared_ptr<SseClient> shared() {
    return std::static_pointer_cast<SseClient>(shared_from_this());
  }
  void write_front() override {
    Frame& f = frames_.front();
    if (!f.event.empty()) {
      std::string text;
      if (!f.id.empty()) text += "id: " + f.id + "\n";
      text += "event: " + f.event + "\ndata: " + f.data + "\n\n";
      f.data = std::move(text);
      f.event.clear();  // formatted once
    }
    asio::async_write(stream_, asio::buffer(f.data),
                      [self = shared()](beast::error_code ec, size_t) { self->wrote(ec); });
  }
  void watch_close() {
    stream_.async_read_some(asio::buffer(sink_), [self = shared()](beast::error_code ec, size_t) {
      if (ec) return self->finish();
      self->watch_close();
    });
  }
  void schedule_ping() {
    ping_.expires_after(std::chrono::seconds(server_.settings.ping_interval_s));
    ping_.async_wait([self = shared()](beast::error_code ec) {
      if (ec || self->closed_) return;
      self->frames_.push_back({"", "", ": ping\n\n"});
      if (!self->writing_) {
        self->writing_ = true;
        self->write_front();
      }
      self->schedule_ping();
    });
  }
  void shut() override {
    ping_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }
  beast::tcp_stream stream_;
  asio::steady_timer ping_;
  char sink_[256];
};

/// A plain HTTP connection until it becomes a WebSocket or SSE client.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(GatewayServer::Impl& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)) {}
  void read() {
    request_ = {};
    parser_.emplace();
    parser_->header_limit(8192);
    parser_->body_limit(4096);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) {
                         beast::error_code ignored;
                         self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                         return;
                       }
                       self->request_ = self->parser_->release();
                       self->route();
                     });
  }

 private:
  void respond(http::status status, std::string body, std::string_view type = "text/plain") {
    auto res = std::make_shared<http::response<http::string_body>>(status, request_.version());
    res->set(http::field::content_type, beast::string_view(type.data(), type.size()));
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(request_.keep_alive());
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          return;
                        }
                        self->read();
                      });
  }
  void route() {
    const std::string target(request_.target());
    const std::string_view path = path_of(target);
    if (request_.method() != http::verb::get) {
      return respond(http::status::method_not_allowed, "GET only\n");
    }
    if (path == "/" || path == "/index.html") {
      return respond(http::status::ok, server_.page, "text/html; charset=utf-8");
    }
    if (path == "/healthz") return respond(http::status::ok, "ok\n");
    if (path == "/metrics") {
      return respond(http::status::ok, metrics().render_prometheus(), "text/plain; version=0.0.4");
    }
    if (path != "/ws" && path != "/events") return respond(http::status::not_found, "not found\n");
    const size_t question = target.find('?');
    const auto query =
        parse_query(question == std::string::npos ? std::string_view{}
                                                  : std::string_view(target).substr(question + 1));
    if (!query) return respond(http::status::bad_request, "malformed query\n");
    auto param = [&](const char* name) {
      auto it = query->find(name);
      return it == query->end() ? std::string() : it->second;
    };
    // Authentication before anything else is read from the request.
    std::string token;
    const auto auth = request_[http::field::authorization];
    if (auth.size() > 7 && auth.substr(0, 7) == "Bearer ") token = std::string(auth.substr(7));
    if (token.empty()) token = param("token");
    std::string why;
    auto claims = verify_token(token, server_.settings.jwt_secret, now_s(), why);
    if (!claims) {
      server_.stats.refused.inc();
      return respond(http::status::unauthorized, "token refused: " + why + "\n");
    }
    if (server_.open_sockets.load() >= server_.settings.max_connections) {
      server_.stats.refused.inc();
      return respond(http::status::service_unavailable, "connection limit reached\n");
    }
    if (path == "/ws") {
      if (!websocket::is_upgrade(request_))
        return respond(http::status::bad_request, "a WebSocket upgrade is expected\n");
      auto client = std::make_shared<WsClient>(server_, std::move(*claims), std::move(stream_));
      client->accept(std::move(request_));
      return;
    }
    std::string last = std::string(request_["Last-Event-ID"]);
    if (last.empty()) last = param("cursor");
    std::optional<PushCursor> cursor;
    if (!last.empty()) {
      cursor = parse_cursor(last);
      if (!cursor) return respond(http::status::bad_request, "bad cursor\n");
    }
    auto client = std::make_shared<SseClient>(server_, std::move(*claims), std::move(stream_));
    client->start(cursor);
  }

  GatewayServer::Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
};

void GatewayServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      std::make_shared<HttpSession>(*this, std::move(socket))->read();
      accept();
      return;
    }
    if (ec == asio::error::operation_aborted) return;
    // EMFILE and the like: back off instead of spinning.
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
    timer->async_wait([this, timer](beast::error_code) { accept(); });
  });
}

void GatewayServer::Impl::publish(HubMessage message, std::string creator, int64_t written_ms) {
  auto delivery = hub.publish(message, creator);
  for (auto id : delivery.snapshot) {
    auto it = clients.find(id);
    if (it == clients.end()) continue;
    if (auto client = it->second.lock()) request_snapshot(*client);
  }
  if (delivery.to.empty()) return;
  if (written_ms > 0)
    stats.lag.observe(static_cast<double>(std::max<int64_t>(0, wall_clock_ms() - written_ms)) /
                      1000.0);
  const std::string frame = delta_frame(message);
  for (auto id : delivery.to) {
    auto it = clients.find(id);
    if (it == clients.end()) continue;
    if (auto client = it->second.lock()) client->deliver(message, frame);
  }
}

void GatewayServer::Impl::subscribe(const std::shared_ptr<Client>& client,
                                    const std::optional<PushCursor>& cursor) {
  client->id = next_id++;
  clients[client->id] = client;
  auto sub = hub.subscribe(client->id, client->claims().creator_id, cursor);
  if (sub.start == FanoutHub::Start::kReplay) {
    stats.resumed.inc();
    for (const auto& m : sub.replay) client->deliver(m, delta_frame(m));
    return;
  }
  request_snapshot(*client);
}

void GatewayServer::Impl::request_snapshot(Client& client) {
  client.await_snapshot();
  std::lock_guard<std::mutex> lock(jobs_mutex);
  jobs.push_back({client.id, client.claims().creator_id, client.claims().channels});
  jobs_cv.notify_one();
}

void GatewayServer::Impl::snapshot_loop() {
  std::unique_ptr<pqxx::connection> connection;
  while (true) {
    SnapshotJob job;
    {
      std::unique_lock<std::mutex> lock(jobs_mutex);
      jobs_cv.wait(lock, [&] { return stopping || !jobs.empty(); });
      if (stopping) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    std::string json;
    for (int attempt = 0; attempt < 3 && json.empty(); ++attempt) {
      try {
        if (!connection || !connection->is_open())
          connection = std::make_unique<pqxx::connection>(settings.postgres_url);
        SnapshotOptions options;
        options.critical_hours = settings.critical_hours;
        options.channels = job.channels;
        json = dashboard_snapshot_json(*connection, job.creator, options);
      } catch (const std::exception& e) {
        spdlog::warn("snapshot from PostgreSQL failed (attempt {}): {}", attempt + 1, e.what());
        connection.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
      }
    }
    asio::post(io, [this, id = job.id, json = std::move(json)]() mutable {
      auto it = clients.find(id);
      if (it == clients.end()) return;
      auto client = it->second.lock();
      if (!client) return;
      if (json.empty()) {
        client->close_with("snapshot_unavailable");  // never a silent gap
      } else {
        client->deliver_snapshot(std::move(json));
      }
    });
  }
}

GatewayServer::GatewayServer(GatewaySettings settings)
    : impl_(std::make_unique<Impl>(std::move(settings))) {
  const auto address = asio::ip::make_address(impl_->settings.bind);
  tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->settings.port));
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
}

GatewayServer::~GatewayServer() = default;

int GatewayServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void GatewayServer::run(const std::atomic<bool>& stop) {
  Impl& impl = *impl_;
  impl.accept();
  std::atomic<bool> feed_stop{false};
  std::atomic<bool> feed_failed{false};
  std::thread feed([&] {
    ReadOptions options;
    options.start = impl.settings.start;
    options.follow = true;
    try {
      read_topic(
          impl.settings.kafka, impl.settings.topic, options,
          [&](const InputRecord& r) {
            impl.stats.records.inc();
            rapidjson::Document d;
            const std::string creator(r.key());
            // Forwarded into clients' JSON as it is: parsed (depth-limited,
            // UTF-8 checked) and matched against its key first.
            if (!parse_json(d, r.value()) || !d.IsObject() ||
                string_member(d, "creator_id") != creator || creator.empty()) {
              impl.stats.bad_records.inc();
              return !feed_stop.load();
            }
            HubMessage m{{r.partition(), r.offset()},
                         std::string(string_member(d, "channel")),
                         std::string(r.value())};
            const int64_t written = r.timestamp_ms();
            asio::post(impl.io, [&impl, m = std::move(m), creator, written]() mutable {
              impl.publish(std::move(m), creator, written);
            });
            return !feed_stop.load();
          },
          &feed_stop);
    } catch (const std::exception& e) {
      // Reading again from elsewhere could skip records: clients would miss
      // them silently. Stop instead; clients resume on another gateway (or
      // this one, restarted) from their cursors.
      spdlog::error("reading {} failed: {}; stopping", impl.settings.topic, e.what());
      feed_failed = true;
    }
  });
  std::thread snapshots([&] { impl.snapshot_loop(); });
  std::thread io([&] { impl.io.run(); });
  spdlog::info("realtime-gateway listening on {}:{}", impl.settings.bind, port());
  while (!stop.load() && !feed_failed.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  feed_stop = true;
  {
    std::lock_guard<std::mutex> lock(impl.jobs_mutex);
    impl.stopping = true;
  }
  impl.jobs_cv.notify_all();
  asio::post(impl.io, [&impl] {
    beast::error_code ignored;
    impl.acceptor.close(ignored);
    for (auto& [id, weak] : std::map(impl.clients))
      if (auto c = weak.lock()) c->close_with("shutting_down");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  impl.io.stop();
  io.join();
  snapshots.join();
  feed.join();
  if (feed_failed.load()) throw std::runtime_error("realtime-gateway: lost " + impl.settings.topic);
}

}  // namespace cf
