#include "cf/http_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "cf/clients.h"
#include "cf/errors.h"

namespace cf {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpEndpoint parse_http_url(const std::string& name, const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    throw ConfigError(name + ": endpoint URL must start with http:// (got a different scheme)");
  std::string rest = url.substr(scheme.size());
  HttpEndpoint e;
  e.name = name;
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) e.base_path = rest.substr(slash);
  while (!e.base_path.empty() && e.base_path.back() == '/') e.base_path.pop_back();
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos) {
    e.port = authority.substr(colon + 1);
    authority.resize(colon);
    if (e.port.empty() || e.port.find_first_not_of("0123456789") != std::string::npos)
      throw ConfigError(name + ": endpoint port must be a number");
  }
  if (authority.empty() || authority.find('@') != std::string::npos)
    throw ConfigError(name + ": endpoint URL needs a host (and no credentials in it)");
  e.host = authority;
  return e;
}

namespace {

struct Breaker {
  std::deque<bool> outcomes;  ///< the last `window` calls, true = failed
  int failures = 0;           ///< failed calls in `outcomes`
  int64_t open_until = -1;    ///< steady ms; -1 closed
  bool trial_in_flight = false;
};

}  // namespace

struct HttpClient::Impl {
  explicit Impl(HttpClientSettings s) : settings(s) {}
  HttpClientSettings settings;
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread;
  // I/O thread only.
  std::map<std::string, std::vector<std::unique_ptr<beast::tcp_stream>>> idle;
  std::map<std::string, tcp::resolver::results_type> resolved;
  // Any thread.
  mutable std::mutex breaker_mutex;
  std::map<std::string, Breaker> breakers;

  /// False when the breaker refuses the call; `trial` set for a half-open trial.
  bool admit(const std::string& name, bool& trial) {
    std::lock_guard<std::mutex> lock(breaker_mutex);
    Breaker& b = breakers[name];
    trial = false;
    if (b.open_until < 0) return true;
    if (steady_clock_ms() < b.open_until || b.trial_in_flight) return false;
    b.trial_in_flight = true;
    trial = true;
    return true;
  }
  void record(const std::string& name, bool failed, bool trial) {
    std::lock_guard<std::mutex> lock(breaker_mutex);
    Breaker& b = breakers[name];
    if (trial) {
      b.trial_in_flight = false;
      b.outcomes.clear();
      b.failures = 0;
      b.open_until = failed ? steady_clock_ms() + settings.open_ms : -1;
      return;
    }
    b.outcomes.push_back(failed);
    b.failures += failed ? 1 : 0;
    if (b.outcomes.size() > static_cast<size_t>(settings.window)) {
      b.failures -= b.outcomes.front() ? 1 : 0;
      b.outcomes.pop_front();
    }
    if (b.open_until < 0 && static_cast<int>(b.outcomes.size()) >= settings.min_calls &&
        b.failures >= settings.failure_share * static_cast<double>(b.outcomes.size())) {
      b.open_until = steady_clock_ms() + settings.open_ms;
    }
  }
};

namespace {

struct Call : std::enable_shared_from_this<Call> {
  Call(HttpClient::Impl& i, HttpEndpoint e) : impl(i), endpoint(std::move(e)), resolver(i.ioc) {}
  HttpClient::Impl& impl;
  HttpEndpoint endpoint;
  std::string pool_key;
  http::request<http::string_body> request;
  std::optional<http::response_parser<http::string_body>> parser;
  beast::flat_buffer buffer;
  tcp::resolver resolver;
  std::unique_ptr<beast::tcp_stream> stream;
  std::chrono::steady_clock::time_point deadline;
  HttpClient::Done done;
  bool reused = false;
  bool retried = false;
  bool trial = false;

  void start() {
    pool_key = endpoint.host + ":" + endpoint.port;
    auto& pool = impl.idle[pool_key];
    if (!pool.empty()) {
      stream = std::move(pool.back());
      pool.pop_back();
      reused = true;
      send();
      return;
    }
    connect();
  }

  void connect() {
    reused = false;
    auto cached = impl.resolved.find(pool_key);
    if (cached != impl.resolved.end()) {
      connect_to(cached->second);
      return;
    }
    resolver.async_resolve(
        endpoint.host, endpoint.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return self->fail("resolve: " + ec.message());
          self->impl.resolved[self->pool_key] = results;
          self->connect_to(results);
        });
  }

  void connect_to(const tcp::resolver::results_type& results) {
    stream = std::make_unique<beast::tcp_stream>(impl.ioc);
    stream->expires_at(deadline);
    stream->async_connect(
        results, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec)
            return self->fail(ec == beast::error::timeout ? "timeout" : "connect: " + ec.message());
          self->send();
        });
  }

  void send() {
    stream->expires_at(deadline);
    http::async_write(*stream, request,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->transport_error(ec, "send");
                        self->receive();
                      });
  }

  void receive() {
    buffer.clear();
    parser.emplace();
    parser->body_limit(impl.settings.max_response_bytes);
    http::async_read(*stream, buffer, *parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->transport_error(ec, "receive");
                       self->received();
                     });
  }

  /// A kept-alive connection the server closed meanwhile fails at once: one
  /// retry on a fresh connection (safe: every call carries an idempotency key).
  void transport_error(beast::error_code ec, const char* what) {
    if (ec == beast::error::timeout) return fail("timeout");
    if (reused && !retried) {
      retried = true;
      stream.reset();
      connect();
      return;
    }
    fail(std::string(what) + ": " + ec.message());
  }

  void received() {
    auto response = parser->release();
    HttpResult result;
    result.status = static_cast<int>(response.result_int());
    result.body = std::move(response.body());
    for (const char* name : {"retry-after", "x-shopify-shop-api-call-limit", "link"}) {
      auto it = response.find(name);
      if (it != response.end()) result.headers.emplace_back(name, std::string(it->value()));
    }
    if (response.keep_alive() && impl.idle[pool_key].size() < impl.settings.max_idle_per_host) {
      stream->expires_never();
      impl.idle[pool_key].push_back(std::move(stream));
    } else if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
    finish(std::move(result));
  }

  void fail(std::string error) {
    if (stream) {
      beast::error_code ignored;
      stream->socket().close(ignored);
    }
    HttpResult result;
    result.error = std::move(error);
    finish(std::move(result));
  }

  void finish(HttpResult result) {
    impl.record(endpoint.name, result.status == 0 || result.status >= 500, trial);
    auto callback = std::move(done);
    if (callback) callback(std::move(result));
  }
};

}  // namespace

HttpClient::HttpClient(HttpClientSettings settings) : impl_(std::make_unique<Impl>(settings)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

HttpClient::~HttpClient() { shutdown(); }

void HttpClient::shutdown() {
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void HttpClient::post(const HttpEndpoint& endpoint, const std::string& target, std::string body,
                      Headers headers, std::chrono::milliseconds timeout, Done done) {
  send(true, endpoint, target, std::move(body), std::move(headers), timeout, std::move(done));
}

void HttpClient::get(const HttpEndpoint& endpoint, const std::string& target, Headers headers,
                     std::chrono::milliseconds timeout, Done done) {
  send(false, endpoint, target, {}, std::move(headers), timeout, std::move(done));
}

void HttpClient::send(bool post, const HttpEndpoint& endpoint, const std::string& target,
                      std::string body, Headers headers, std::chrono::milliseconds timeout,
                      Done done) {
  bool trial = false;
  if (!impl_->admit(endpoint.name, trial)) {
    asio::post(impl_->ioc, [done = std::move(done)] {
      HttpResult result;
      result.error = "circuit open";
      result.circuit_open = true;
      done(std::move(result));
    });
    return;
  }
  auto call = std::make_shared<Call>(*impl_, endpoint);
  call->trial = trial;
  call->done = std::move(done);
  call->deadline = std::chrono::steady_clock::now() + timeout;
  call->request.method(post ? http::verb::post : http::verb::get);
  call->request.target(endpoint.base_path + target);
  call->request.version(11);
  call->request.set(http::field::host, endpoint.host);
  if (post) call->request.set(http::field::content_type, "application/json");
  call->request.keep_alive(true);
  for (auto& [name, value] : headers) call->request.set(name, value);
  if (post) {
    call->request.body() = std::move(body);
    call->request.prepare_payload();
  }
  asio::post(impl_->ioc, [call] { call->start(); });
}

std::vector<std::string> HttpClient::open_circuits() const {
  std::lock_guard<std::mutex> lock(impl_->breaker_mutex);
  std::vector<std::string> open;
  const int64_t now = steady_clock_ms();
  for (const auto& [name, b] : impl_->breakers)
    if (b.open_until >= 0 && now < b.open_until) open.push_back(name);
  return open;
}

}  // namespace cf
