#include "stub_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "cf/carrier_tracking.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "shopify_admin_stub.h"
#include "tiktok_api_stub.h"

namespace cf {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Route {
  const char* path;
  const char* kind;
  const char* participant;
  const char* undoes_kind;  ///< nullptr: an effect; else the kind whose effect it undoes
};
constexpr Route kRoutes[] = {
    {"/v1/captures", "captures", "payment", nullptr},
    {"/v1/refunds", "refunds", "payment", "captures"},
    {"/v1/labels", "labels", "shipping", nullptr},
    {"/v1/labels/cancel", "label_cancels", "shipping", "labels"},
    {"/v1/fulfillments", "fulfillments", "channel", nullptr},
};

struct Fault {
  int latency_ms = 0;
  double error_rate = 0;
  int max_errors_per_key = 2;
  double ack_loss_rate = 0;
  bool hang = false;
};

struct KeyState {
  int status = 0;  ///< 0: not answered yet
  std::string body;
  int errors = 0;
  bool applied = false;
  bool blocked = false;
};

struct KindStats {
  uint64_t requests = 0, applied = 0, replays = 0, blocked = 0, errors = 0, ack_lost = 0;
  std::map<std::string, int> per_order;
};

using Answer = StubAnswer;

std::string error_body(std::string_view why) {
  JsonBuilder w(64 + why.size());
  w.begin_object().key("error").string(why).end_object();
  return w.take();
}

}  // namespace

struct StubServer::Impl {
  explicit Impl(StubSettings s)
      : settings(std::move(s)),
        rng(settings.seed),
        tiktok(settings.tiktok_secrets_json, settings.tiktok_tokens_json,
               settings.tiktok_token_ttl_s, settings.seed),
        shopify(settings.tiktok_tokens_json, settings.seed) {}
  StubSettings settings;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::mt19937_64 rng;
  std::map<std::string, Fault> faults;
  std::map<std::string, KindStats> kinds;
  std::unordered_map<std::string, KeyState> keys;  ///< "<kind>|<idempotency key>"
  std::vector<std::shared_ptr<void>> hung;         ///< sessions never answered
  TikTokApiStub tiktok;
  ShopifyAdminStub shopify;

  bool roll(double share) {
    return share > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < share;
  }

  std::string stats_json() const {
    JsonBuilder w(1024);
    w.begin_object();
    for (const auto& route : kRoutes) {
      auto it = kinds.find(route.kind);
      KindStats none;
      const KindStats& k = it == kinds.end() ? none : it->second;
      int max_per_order = 0;
      for (const auto& [order, n] : k.per_order) max_per_order = std::max(max_per_order, n);
      w.key(route.kind).begin_object();
      w.key("requests").number(static_cast<int64_t>(k.requests));
      w.key("applied").number(static_cast<int64_t>(k.applied));
      w.key("replays").number(static_cast<int64_t>(k.replays));
      w.key("blocked").number(static_cast<int64_t>(k.blocked));
      w.key("errors").number(static_cast<int64_t>(k.errors));
      w.key("ack_lost").number(static_cast<int64_t>(k.ack_lost));
      w.key("orders").number(static_cast<int64_t>(k.per_order.size()));
      w.key("max_per_order").number(max_per_order);
      {
        // Orders holding this effect now: applied more often than undone.
        int64_t net = 0;
        bool undoable = false;
        for (const auto& r : kRoutes) {
          if (r.undoes_kind == nullptr || std::string_view(r.undoes_kind) != route.kind) continue;
          undoable = true;
          auto undo = kinds.find(r.kind);
          for (const auto& [order, n] : k.per_order) {
            int undone = 0;
            if (undo != kinds.end()) {
              auto u = undo->second.per_order.find(order);
              undone = u == undo->second.per_order.end() ? 0 : u->second;
            }
            net += n > undone ? 1 : 0;
          }
        }
        if (undoable) w.key("net_orders").number(net);
      }
      w.end_object();
    }
    w.end_object();
    return w.take();
  }

  Answer set_fault(std::string_view body) {
    rapidjson::Document doc;
    if (!parse_json(doc, body) || !doc.IsObject()) return {400, error_body("not a JSON object")};
    // A whole participant, or one endpoint of it ("endpoint": "labels").
    std::string scope(string_member(doc, "participant"));
    const std::string endpoint(string_member(doc, "endpoint"));
    bool known = scope == "payment" || scope == "shipping" || scope == "channel";
    if (!endpoint.empty()) {
      scope = endpoint;
      known = false;
      for (const auto& r : kRoutes) known = known || endpoint == r.kind;
    }
    if (!known)
      return {400, error_body("name a participant (payment, shipping, channel) or an endpoint "
                              "(captures, refunds, labels, label_cancels, fulfillments)")};
    Fault f;
    f.latency_ms = static_cast<int>(int_member(doc, "latency_ms", 0));
    f.error_rate = number_member(doc, "error_rate", 0);
    f.max_errors_per_key = static_cast<int>(int_member(doc, "max_errors_per_key", 2));
    f.ack_loss_rate = number_member(doc, "ack_loss_rate", 0);
    const auto& hang = member_or_null(doc, "hang");
    f.hang = hang.IsBool() && hang.GetBool();
    faults[scope] = f;
    return {200, "{\"ok\":true}"};
  }

  Answer handle(const http::request<http::string_body>& request) {
    const std::string target(request.target());
    if (TikTokApiStub::serves(target)) {
      const auto method = request.method_string();
      const auto token = request["x-tts-access-token"];
      return tiktok.handle(std::string_view(method.data(), method.size()), target, request.body(),
                           std::string_view(token.data(), token.size()));
    }
    if (ShopifyAdminStub::serves(target)) {
      const auto method = request.method_string();
      const auto token = request["x-shopify-access-token"];
      return shopify.handle(std::string_view(method.data(), method.size()), target, request.body(),
                            std::string_view(token.data(), token.size()));
    }
    if (request.method() == http::verb::get && target == "/stats") return {200, stats_json()};
    if (request.method() != http::verb::post) return {405, error_body("POST only")};
    if (target == "/faults") return set_fault(request.body());
    const Route* route = nullptr;
    for (const auto& r : kRoutes)
      if (target == r.path) route = &r;
    if (route == nullptr) return {404, error_body("no such endpoint")};
    const std::string key(request["Idempotency-Key"]);
    if (key.empty() || key.size() > 200) return {400, error_body("Idempotency-Key required")};
    rapidjson::Document doc;
    if (!parse_json(doc, request.body()) || !doc.IsObject())
      return {400, error_body("body is not a JSON object")};
    const std::string order = std::string(string_member(doc, "channel")) + "|" +
                              std::string(string_member(doc, "order_id"));
    auto own = faults.find(route->kind);
    const Fault& fault = own != faults.end() ? own->second : faults[route->participant];
    KindStats& stats = kinds[route->kind];
    ++stats.requests;
    Answer answer;
    answer.latency_ms = fault.latency_ms;
    if (fault.hang) {
      answer.hang = true;
      return answer;
    }
    KeyState& state = keys[std::string(route->kind) + "|" + key];
    if (state.status != 0) {
      ++stats.replays;
      answer.status = state.status;
      answer.body = state.body;
      return answer;
    }
    if (state.errors < fault.max_errors_per_key && roll(fault.error_rate)) {
      ++state.errors;
      ++stats.errors;
      answer.status = 503;
      answer.body = error_body("injected failure");
      return answer;
    }
    if (route->undoes_kind != nullptr) {
      const std::string undone(string_member(doc, "undoes"));
      if (undone.empty()) return {400, error_body("an undo names the key it undoes in /undoes")};
      KeyState& effect = keys[std::string(route->undoes_kind) + "|" + undone];
      if (effect.applied) {
        ++stats.applied;
        ++stats.per_order[order];
        state.body = "{\"result\":\"undone\"}";
      } else {
        effect.blocked = true;  // the effect, if it ever arrives, is refused
        state.body = "{\"result\":\"nothing to undo\"}";
      }
      state.status = 200;
    } else if (state.blocked) {
      ++stats.blocked;
      state.status = 409;
      state.body = error_body("cancelled before it happened");
    } else {
      state.applied = true;
      ++stats.applied;
      ++stats.per_order[order];
      state.status = 200;
      if (std::string_view(route->kind) == "labels") {
        // A label provider answers with the label's tracking number, which
        // the saga records and carriers' webhooks name later.
        JsonBuilder w(128);
        w.begin_object().key("result").string("applied");
        w.key("tracking_number")
            .string(stub_label_tracking_number(string_member(doc, "channel"),
                                               string_member(doc, "order_id")));
        w.key("slug").string("usps").end_object();
        state.body = w.take();
      } else {
        state.body = "{\"result\":\"applied\"}";
      }
    }
    if (roll(fault.ack_loss_rate)) {  // applied, answer lost: the retry gets the stored answer
      ++stats.ack_lost;
      answer.status = 503;
      answer.body = error_body("injected: answer lost after the effect");
      return answer;
    }
    answer.status = state.status;
    answer.body = state.body;
    return answer;
  }
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(StubServer::Impl& impl, tcp::socket socket)
      : impl_(impl), stream_(std::move(socket)), timer_(impl.ioc) {}
  void read() {
    request_ = {};
    parser_.emplace();
    parser_->body_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return;
                       self->request_ = self->parser_->release();
                       self->answer();
                     });
  }

 private:
  void answer() {
    Answer a = impl_.handle(request_);
    if (a.hang) {
      impl_.hung.push_back(shared_from_this());  // kept open, never answered
      stream_.expires_never();
      return;
    }
    response_ = {};
    response_.version(request_.version());
    response_.result(static_cast<http::status>(a.status));
    response_.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : a.headers) response_.set(name, value);
    response_.keep_alive(request_.keep_alive());
    response_.body() = std::move(a.body);
    response_.prepare_payload();
    if (a.latency_ms <= 0) return write();
    timer_.expires_after(std::chrono::milliseconds(a.latency_ms));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->write();
    });
  }
  void write() {
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (self->response_.keep_alive()) {
                          self->read();
                        } else {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        }
                      });
  }

  StubServer::Impl& impl_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

void accept(StubServer::Impl& impl) {
  impl.acceptor.async_accept([&impl](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
    } else {
      std::make_shared<Session>(impl, std::move(socket))->read();
    }
    accept(impl);
  });
}

}  // namespace

StubServer::StubServer(StubSettings settings) : impl_(std::make_unique<Impl>(std::move(settings))) {
  tcp::endpoint endpoint(asio::ip::make_address(impl_->settings.listen_address),
                         static_cast<unsigned short>(impl_->settings.port));
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  accept(*impl_);
}

StubServer::~StubServer() = default;

int StubServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void StubServer::run() { impl_->ioc.run(); }

void StubServer::stop() { impl_->ioc.stop(); }

}  // namespace cf
