// cf-loadgen: posts seeded, realistic webhook traffic to webhook-ingest over
// HTTP (many keep-alive connections, a target rate), or writes the same
// traffic straight to the raw topics. Optionally writes a JSON-lines report
// of every request and its answer, which the integration tests use as ground truth.
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "cf/config.h"
#include "cf/errors.h"
#include "cf/json_builder.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/producer.h"
#include "cf/tiktok_order.h"
#include "cf/webhook_generator.h"
#include "cf/worker.h"

namespace po = boost::program_options;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  cf::GeneratorSettings generator;
  std::string target = "127.0.0.1:8080";
  int connections = 16;
  double rate = 1000;  // requests/s, 0 = as fast as possible
  int64_t count = 10000;
  double duration_s = 0;  // when > 0, stop after this long instead of count
  std::string report_file;
  std::string write_shops_file;
  std::string write_secrets_file;
  std::string write_sku_mapping_file;
  std::string write_corpus;
  std::string write_stock_file;
  bool to_kafka = false;
  bool raw_tiktok = false;
  std::string tiktok_api;  ///< host:port of the channel API stub
  std::string write_channel_tokens_file;
  cf::KafkaSettings kafka;
  bool retry_unavailable = false;
};

struct Result {
  cf::GeneratedWebhook webhook;
  int status;
  std::string request_id;
  double latency_ms;
};

// Seed inputs for tests/fuzz: the first byte is the fuzzer's mode (route and
// "sign it" for the ingest, source and Shopify topic for the validator).
void write_corpus(const Options& o) {
  cf::GeneratorSettings settings = o.generator;
  settings.start_time_s = 1795000000;  // the fuzzers' received_at: 2026-11-18T11:06:40Z
  settings.event_seconds_per_webhook = 0.05;
  cf::WebhookGenerator generator(settings);
  for (const char* sub : {"ingest", "validator"})
    std::filesystem::create_directories(o.write_corpus + "/" + sub);
  const int64_t count = o.count > 0 ? o.count : 200;
  for (int64_t i = 0; i < count; ++i) {
    cf::GeneratedWebhook w = generator.next();
    const bool tiktok = w.path == "/webhooks/tiktok";
    const bool shopify = !w.shopify_topic.empty();
    uint8_t route = tiktok ? 0 : shopify ? 1 : 2;
    uint8_t topic = w.shopify_topic == "orders/cancelled"          ? 1
                    : w.shopify_topic == "inventory_levels/update" ? 2
                                                                   : 0;
    const std::string name = "/" + std::to_string(i);
    std::ofstream(o.write_corpus + "/ingest" + name, std::ios::binary)
        << static_cast<char>(0x10 | 0x08 | route | (topic == 2 ? 0x40 : 0)) << w.body;
    // TikTok orders reach the validator enriched by channel-api (mode bit 0x20).
    const std::string enriched = cf::enriched_record(w, 1795000000100);
    std::ofstream(o.write_corpus + "/validator" + name, std::ios::binary)
        << static_cast<char>(route | (topic << 2) | (enriched.empty() ? 0 : 0x20))
        << (enriched.empty() ? w.body : enriched);
  }
}

class Reporter {
 public:
  explicit Reporter(const std::string& path) {
    if (!path.empty()) {
      out_.open(path);
      if (!out_) throw cf::ConfigError("--report: cannot write '" + path + "'");
    }
  }
  void record(const Result& r) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++by_status_[r.status];
    ++by_expectation_[cf::to_string(r.webhook.expect)];
    latencies_.push_back(r.latency_ms);
    if (!out_.is_open()) return;
    cf::JsonBuilder w(512);
    w.begin_object();
    w.key("seq").number(static_cast<int64_t>(r.webhook.sequence));
    w.key("kind").string(r.webhook.kind);
    w.key("expect").string(cf::to_string(r.webhook.expect));
    w.key("status").number(r.status);
    w.key("request_id").string(r.request_id);
    w.key("reject_code").string(r.webhook.reject_code);
    w.key("idempotency_key").string(r.webhook.idempotency_key);
    w.key("partition_key").string(r.webhook.partition_key);
    w.key("sku_id").string(r.webhook.sku_id);
    w.key("event_ids").begin_array();
    for (const auto& id : r.webhook.event_ids) w.string(id);
    w.end_array();
    if (!r.webhook.tracking_number.empty()) {
      w.key("tracking_number").string(r.webhook.tracking_number);
      w.key("joined_event_ids").begin_array();
      for (const auto& id : r.webhook.joined_event_ids) w.string(id);
      w.end_array();
    }
    w.end_object();
    out_ << w.str() << '\n';
  }
  void summary(double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::sort(latencies_.begin(), latencies_.end());
    auto q = [&](double p) {
      return latencies_.empty()
                 ? 0.0
                 : latencies_[std::min(
                       latencies_.size() - 1,
                       static_cast<size_t>(p * static_cast<double>(latencies_.size())))];
    };
    std::cout << "loadgen: " << latencies_.size() << " requests in " << seconds << " s ("
              << static_cast<double>(latencies_.size()) / std::max(seconds, 1e-9)
              << "/s)\n  by status:";
    for (auto& [status, n] : by_status_) std::cout << ' ' << status << '=' << n;
    std::cout << "\n  by kind of input:";
    for (auto& [kind, n] : by_expectation_) std::cout << ' ' << kind << '=' << n;
    std::cout << "\n  latency ms p50=" << q(0.5) << " p99=" << q(0.99) << " max=" << q(1.0)
              << std::endl;
    if (out_.is_open()) out_.flush();
  }

 private:
  std::mutex mutex_;
  std::ofstream out_;
  std::map<int, uint64_t> by_status_;
  std::map<std::string, uint64_t> by_expectation_;
  std::vector<double> latencies_;
};

// Hands out webhooks in sequence, paced to the target rate.
class Feed {
 public:
  explicit Feed(const Options& o) : generator_(o.generator), options_(o), start_(Clock::now()) {}
  bool next(cf::GeneratedWebhook& out, const std::atomic<bool>& stop) {
    Clock::time_point slot;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop) return false;
      if (options_.duration_s > 0) {
        if (Clock::now() - start_ > std::chrono::duration<double>(options_.duration_s))
          return false;
      } else if (issued_ >= options_.count) {
        return false;
      }
      out = generator_.next();
      slot = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                          options_.rate > 0 ? static_cast<double>(issued_) / options_.rate : 0));
      ++issued_;
    }
    std::this_thread::sleep_until(slot);
    return true;
  }
  std::string stock_json() {
    std::lock_guard<std::mutex> lock(mutex_);
    return generator_.stock_json();
  }

 private:
  std::mutex mutex_;
  cf::WebhookGenerator generator_;
  const Options& options_;
  Clock::time_point start_;
  int64_t issued_ = 0;
};

std::string extract_request_id(const std::string& body) {
  auto pos = body.find("\"request_id\":\"");
  if (pos == std::string::npos) return {};
  pos += 14;
  return body.substr(pos, body.find('"', pos) - pos);
}

// Gives the channel API stub the order behind a notification before the
// notification is sent, as TikTok has the order before it notifies: the
// connector then fetches it like the real detail. Every change of stock (a
// sale, a return, a delivery) sets the stub's levels on both platforms, which
// channel-api's scheduled sync reads. One keep-alive connection per worker; a
// failure here stops the run (the ground truth would be wrong).
class DetailPublisher {
 public:
  DetailPublisher(asio::io_context& io, const std::string& target) : io_(io) {
    if (target.empty()) return;
    auto colon = target.rfind(':');
    host_ = target.substr(0, colon);
    endpoints_ = tcp::resolver(io).resolve(host_, target.substr(colon + 1));
  }
  void publish(const cf::GeneratedWebhook& w) {
    if (host_.empty()) return;
    // Shop ids are generated as [a-z0-9-]: nothing to escape in the query.
    if (!w.order_detail.empty()) post("/tiktok/orders?shop_id=" + w.shop_id, w.order_detail);
    for (const auto& [target, body] : w.stock_levels) post(target, body);
  }

 private:
  void post(const std::string& target, const std::string& body) {
    for (int attempt = 0;; ++attempt) {
      try {
        if (!stream_) {
          stream_ = std::make_unique<beast::tcp_stream>(io_);
          stream_->connect(endpoints_);
        }
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, host_);
        req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        stream_->expires_after(std::chrono::seconds(10));
        http::write(*stream_, req);
        http::response<http::string_body> res;
        http::read(*stream_, buffer_, res);
        if (res.result_int() != 200)
          throw std::runtime_error("stub answered " + std::to_string(res.result_int()));
        return;
      } catch (const std::exception& e) {
        stream_.reset();
        buffer_.clear();
        if (attempt >= 3)
          throw std::runtime_error("loadgen: cannot give " + target +
                                   " to the API stub: " + e.what());
      }
    }
  }

  asio::io_context& io_;
  std::string host_;
  tcp::resolver::results_type endpoints_;
  std::unique_ptr<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

void http_worker(const Options& o, Feed& feed, Reporter& reporter, const std::atomic<bool>& stop) {
  auto colon = o.target.rfind(':');
  std::string host = o.target.substr(0, colon), port = o.target.substr(colon + 1);
  asio::io_context io;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, port);
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  DetailPublisher details(io, o.tiktok_api);
  cf::GeneratedWebhook w;
  while (feed.next(w, stop)) {
    // A duplicate re-sends an old notification: TikTok's order has moved on
    // meanwhile, so its (older) detail is not given again.
    if (w.expect == cf::Expectation::kValid) details.publish(w);
    if (w.sync_count) continue;  // no platform posts it: channel-api's sync reads the stub
    for (int attempt = 0;; ++attempt) {
      auto started = Clock::now();
      int status = 0;
      std::string request_id;
      try {
        if (!stream) {
          stream = std::make_unique<beast::tcp_stream>(io);
          stream->connect(endpoints);
          stream->socket().set_option(tcp::no_delay(true));
        }
        http::request<http::string_body> req{http::verb::post, w.path, 11};
        req.set(http::field::host, host);
        req.set(http::field::content_type, "application/json");
        if (!w.authorization.empty()) req.set(http::field::authorization, w.authorization);
        if (!w.aftership_hmac.empty()) req.set("aftership-hmac-sha256", w.aftership_hmac);
        if (!w.shopify_topic.empty()) {
          req.set("X-Shopify-Topic", w.shopify_topic);
          req.set("X-Shopify-Hmac-SHA256", w.shopify_hmac);
          req.set("X-Shopify-Shop-Domain", w.shop_domain);
          req.set("X-Shopify-Webhook-Id", w.shopify_webhook_id);
        }
        req.body() = w.body;
        req.prepare_payload();
        stream->expires_after(std::chrono::seconds(30));
        http::write(*stream, req);
        http::response_parser<http::string_body> parser;
        parser.body_limit(1 << 20);
        http::read(*stream, buffer, parser);
        auto& res = parser.get();
        status = res.result_int();
        request_id = extract_request_id(res.body());
        if (!res.keep_alive()) stream.reset();
      } catch (const std::exception& e) {
        // The server closes the connection after 413; a reset then is the answer.
        stream.reset();
        buffer.clear();
        status = w.expect == cf::Expectation::kOversize ? 413 : 0;
        if (status == 0) std::cerr << "loadgen: request failed: " << e.what() << "\n";
      }
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      if (o.retry_unavailable && (status == 503 || status == 0 || status == 429) && attempt < 50 &&
          !stop) {
        reporter.record({w, status, request_id, ms});
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      reporter.record({w, status, request_id, ms});
      break;
    }
  }
}

struct KafkaFeedListener : cf::DeliveryListener {
  std::atomic<uint64_t> failed{0};
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failed.fetch_add(1);
  }
};

int write_to_kafka(const Options& o, Feed& feed, Reporter& reporter,
                   const std::atomic<bool>& stop) {
  KafkaFeedListener listener;
  cf::Producer producer(o.kafka, "cf-loadgen", &listener);
  asio::io_context io;
  DetailPublisher details(io, o.raw_tiktok ? o.tiktok_api : std::string());
  cf::GeneratedWebhook w;
  uint64_t n = 0;
  while (feed.next(w, stop)) {
    if (w.expect == cf::Expectation::kBadSignature || w.expect == cf::Expectation::kOversize)
      continue;
    if (w.expect == cf::Expectation::kValid) details.publish(w);
    // The sync's counts: written as channel-api writes them when the loadgen
    // stands in for it, else left to channel-api's sync over the stub's levels.
    if (w.sync_count && o.raw_tiktok) continue;
    cf::OutputRecord rec;
    bool tiktok = w.path == "/webhooks/tiktok";
    bool shopify = !w.shopify_topic.empty();
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    const bool enrich = tiktok && !o.raw_tiktok;
    rec.topic = tiktok    ? (enrich ? "webhooks.tiktok.enriched" : "webhooks.tiktok.raw")
                : shopify ? "webhooks.shopify.raw"
                          : "webhooks.shipping.raw";
    rec.key = w.partition_key;
    rec.value = w.body;
    rec.headers.push_back({"cf-source", tiktok ? "tiktok" : shopify ? "shopify" : "shipping"});
    if (enrich) {
      // What channel-api writes, from the order as Get Order Detail returns it.
      std::string enriched = cf::enriched_record(w, now_ms);
      if (w.sync_count) {
        rec.headers.push_back({cf::kEnrichmentHeader, std::string(cf::kScheduledSync)});
      } else if (!enriched.empty()) {
        rec.value = std::move(enriched);
        rec.headers.push_back({cf::kEnrichmentHeader, std::string(cf::kEnrichedOrderDetail)});
      } else {
        rec.headers.push_back({cf::kEnrichmentHeader, std::string(cf::kNotEnriched)});
      }
    }
    if (shopify) {
      rec.headers.push_back({"cf-shopify-topic", w.shopify_topic});
      rec.headers.push_back({"cf-shopify-webhook-id", w.shopify_webhook_id});
      rec.headers.push_back({"cf-shop-domain", w.shop_domain});
    } else if (!tiktok) {
      rec.headers.push_back({"cf-provider", o.generator.shipping_provider});
    }
    rec.headers.push_back({"cf-received-at", std::to_string(now_ms)});
    std::string request_id = "lg-" + std::to_string(w.sequence);
    rec.headers.push_back({"cf-request-id", request_id});
    producer.produce(rec, nullptr);
    if ((++n & 1023) == 0) producer.poll(0);
    reporter.record({w, 200, request_id, 0});
  }
  producer.flush(60000);
  return listener.failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string log_level = "warn";
  return cf::guarded_main("cf-loadgen", [&]() -> int {
    cf::OptionsParser options("cf-loadgen", "Seeded webhook traffic generator.");
    options.add_kafka_options(o.kafka);
    options.add_logging_options(log_level);
    auto& g = o.generator;
    options.add()("target", po::value(&o.target)->default_value(o.target), "ingest host:port")(
        "connections", po::value(&o.connections)->default_value(o.connections),
        "parallel keep-alive connections")("rate", po::value(&o.rate)->default_value(o.rate),
                                           "requests per second in total (0: as fast as possible)")(
        "count", po::value(&o.count)->default_value(o.count), "number of webhooks")(
        "duration", po::value(&o.duration_s)->default_value(0),
        "seconds to run instead of --count")("seed", po::value(&g.seed)->default_value(g.seed),
                                             "random seed")(
        "shops", po::value(&g.shops)->default_value(g.shops), "number of shops")(
        "skus", po::value(&g.skus)->default_value(g.skus), "number of SKUs (Zipf popularity)")(
        "zipf", po::value(&g.zipf_exponent)->default_value(g.zipf_exponent), "Zipf exponent")(
        "duplicates", po::value(&g.duplicate_share)->default_value(g.duplicate_share),
        "share of re-sent webhooks")(
        "bad-signatures", po::value(&g.bad_signature_share)->default_value(g.bad_signature_share),
        "share with a wrong signature")(
        "malformed", po::value(&g.malformed_share)->default_value(g.malformed_share),
        "share of broken JSON")(
        "schema-invalid", po::value(&g.schema_invalid_share)->default_value(g.schema_invalid_share),
        "share breaking the schema")("oversize",
                                     po::value(&g.oversize_share)->default_value(g.oversize_share),
                                     "share of bodies over the ingest's limit")(
        "burst-every", po::value(&g.burst_every)->default_value(g.burst_every),
        "a viral burst every N webhooks")("burst-length",
                                          po::value(&g.burst_length)->default_value(g.burst_length),
                                          "orders per burst")(
        "start-time", po::value(&g.start_time_s)->default_value(0),
        "event time (epoch s) of the first webhook; 0: now, as the platforms send")(
        "event-seconds-per-webhook", po::value(&g.event_seconds_per_webhook)->default_value(0),
        "event time between consecutive webhooks; 0: 1/rate, which keeps event time near the wall "
        "clock (the validator refuses event times far from the ingest's received_at)")(
        "report", po::value(&o.report_file), "write one JSON line per request here")(
        "retry-unavailable", po::bool_switch(&o.retry_unavailable),
        "re-send after 503/429/connection errors, as a real sender does")(
        "to-kafka", po::bool_switch(&o.to_kafka),
        "write records straight to Kafka instead of HTTP: what the validator reads (TikTok "
        "order notifications enriched with their order detail, as channel-api writes them, on "
        "webhooks.tiktok.enriched)")(
        "raw-tiktok", po::bool_switch(&o.raw_tiktok),
        "with --to-kafka: TikTok notifications as TikTok sends them, to webhooks.tiktok.raw "
        "(for channel-api; give the orders to its API stub with --tiktok-api)")(
        "tiktok-api", po::value(&o.tiktok_api),
        "host:port of the channel API stub (cf-participant-stub): each TikTok order is given to "
        "it before its notification is sent, for channel-api to fetch")(
        "write-channel-tokens-file", po::value(&o.write_channel_tokens_file),
        "write channel-api's shops file (TikTok shop ciphers and access tokens) and exit")(
        "write-shops-file", po::value(&o.write_shops_file),
        "write the matching shop directory and exit")(
        "write-corpus", po::value(&o.write_corpus),
        "write --count generated webhooks as seed files for the fuzzers (DIR/ingest, "
        "DIR/validator) and exit")("write-secrets-file", po::value(&o.write_secrets_file),
                                   "write the matching webhook secrets and exit")(
        "write-sku-mapping-file", po::value(&o.write_sku_mapping_file),
        "write the reconciler's SKU mapping for the generated Shopify items and exit")(
        "write-stock-file", po::value(&o.write_stock_file),
        "at the end, write each creator's units per product SKU (ground truth; assumes every "
        "generated webhook that should be accepted was: use --to-kafka or --retry-unavailable)")(
        "shopify-share", po::value(&g.shopify_share)->default_value(g.shopify_share),
        "share of Shopify webhooks")(
        "cancel-share", po::value(&g.cancel_share)->default_value(g.cancel_share),
        "share of TikTok order updates that cancel an unshipped order")(
        "stock-sync-share", po::value(&g.stock_sync_share)->default_value(g.stock_sync_share),
        "share of stock counts as channel-api's scheduled sync writes them (a delivery when "
        "stock runs low): written to Kafka with --to-kafka alone (standing in for channel-api), "
        "else only given to the API stub as the platforms' stock")(
        "shipping-share", po::value(&g.shipping_share)->default_value(g.shipping_share),
        "share of AfterShip tracking updates (for recent paid orders' labels)");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("loadgen", log_level);
    if (!o.write_shops_file.empty() || !o.write_secrets_file.empty() ||
        !o.write_sku_mapping_file.empty() || !o.write_channel_tokens_file.empty()) {
      cf::WebhookGenerator gen(o.generator);
      if (!o.write_channel_tokens_file.empty()) {
        // Access tokens as TikTok issues them: valid for about a week.
        std::ofstream(o.write_channel_tokens_file)
            << gen.channel_tokens_json(static_cast<int64_t>(std::time(nullptr)), 7 * 86400);
      }
      if (!o.write_sku_mapping_file.empty())
        std::ofstream(o.write_sku_mapping_file) << gen.sku_mapping_json();
      if (!o.write_shops_file.empty())
        std::ofstream(o.write_shops_file) << gen.shop_directory_json();
      if (!o.write_secrets_file.empty()) std::ofstream(o.write_secrets_file) << gen.secrets_json();
      return 0;
    }
    if (!o.write_corpus.empty()) {
      write_corpus(o);
      return 0;
    }
    if (o.connections < 1) throw cf::ConfigError("--connections: at least 1");
    if (g.start_time_s == 0) g.start_time_s = static_cast<int64_t>(std::time(nullptr));
    if (g.event_seconds_per_webhook <= 0) {
      // At full speed nothing ties sends to time: 1 ms a webhook keeps event
      // time within minutes of the wall clock for any test-sized run.
      g.event_seconds_per_webhook = o.rate > 0 ? 1.0 / o.rate : 0.001;
    }
    const auto& stop = cf::stop_requested_by_signal();
    Reporter reporter(o.report_file);
    Feed feed(o);
    auto started = Clock::now();
    int rc = 0;
    if (o.to_kafka) {
      rc = write_to_kafka(o, feed, reporter, stop);
    } else {
      std::vector<std::thread> threads;
      for (int i = 0; i < o.connections; ++i) {
        threads.emplace_back([&] { http_worker(o, feed, reporter, stop); });
      }
      for (auto& t : threads) t.join();
    }
    reporter.summary(std::chrono::duration<double>(Clock::now() - started).count());
    if (!o.write_stock_file.empty()) std::ofstream(o.write_stock_file) << feed.stock_json();
    return rc;
  });
}
