#include "enrichment_handler.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>

#include "cf/clients.h"
#include "cf/metrics.h"
#include "cf/tiktok_order.h"

namespace cf {
namespace asio = boost::asio;

namespace {

Counter& calls_counter(const char* api, ApiVerdict verdict) {
  return metrics().counter("cf_channel_api_calls_total", "channel API calls, by API and outcome",
                           label("api", api) + "," + label("outcome", to_string(verdict)));
}

void set_header(OutputRecord& record, const std::string& name, std::string value) {
  for (auto& h : record.headers) {
    if (h.name == name) {
      h.value = std::move(value);
      return;
    }
  }
  record.headers.push_back({name, std::move(value)});
}

}  // namespace

EnrichmentHandler::EnrichmentHandler(TikTokApp app, std::map<std::string, TikTokShop> shops,
                                     const SchemaRegistry& schemas, EnrichmentSettings settings,
                                     HttpClient& client)
    : DeferredHandler(settings.max_in_flight),
      app_(std::move(app)),
      shops_(std::move(shops)),
      schemas_(schemas),
      settings_(std::move(settings)),
      client_(client),
      shop_calls_(settings_.shop_calls_per_second, std::max(1.0, settings_.shop_calls_per_second)),
      app_calls_(settings_.app_calls_per_second, std::max(1.0, settings_.app_calls_per_second)),
      work_(asio::make_work_guard(ioc_)),
      timer_(ioc_) {
  for (const auto& [id, shop] : shops_) known_shops_.push_back(id);
  // Shopify stores are named by their domain in commands and by
  // "shopify:<domain>" in the per-shop state.
  for (const auto& [domain, token] : settings_.shopify_tokens) {
    known_shops_.push_back(domain);
    std::string url = settings_.shopify_url_template;
    if (auto at = url.find("{shop}"); at != std::string::npos) url.replace(at, 6, domain);
    shopify_endpoints_["shopify:" + domain] = parse_http_url("shopify:" + domain, url);
  }
  std::sort(known_shops_.begin(), known_shops_.end());
  arm_timer();
  thread_ = std::thread([this] { ioc_.run(); });
}

EnrichmentHandler::~EnrichmentHandler() {
  client_.shutdown();  // no callback after this
  work_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

void EnrichmentHandler::start(const InputRecord& input, uint64_t ticket) {
  static Counter& passed =
      metrics().counter("cf_channel_api_passed_through_total",
                        "TikTok records forwarded without enrichment (not an order notification)");
  if (input.topic() == settings_.sync_topic) {
    start_sync(input, ticket);
    return;
  }
  OutputRecord output;
  output.topic = settings_.output_topic;
  output.key = std::string(input.key());
  // Same partition as the raw record: the validator's dedup state is per
  // partition, and both topics have the same count (topics/catalog.json).
  output.partition = input.partition();
  for (auto& [name, value] : input.headers()) {
    if (name != kEnrichmentHeader) output.headers.push_back({name, value});
  }
  auto notification = read_order_notification(input.value(), schemas_);
  if (notification &&
      !std::binary_search(known_shops_.begin(), known_shops_.end(), notification->shop_id)) {
    // Throwing dead-letters the record at once: no credentials, no call.
    throw std::runtime_error("no_shop_credentials: shop " + notification->shop_id +
                             " is not in the shops file; add it and redrive");
  }
  results_.started();
  enqueue_in_order(input.partition(), ticket);
  if (!notification) {
    output.value = std::string(input.value());
    output.headers.push_back({kEnrichmentHeader, std::string(kNotEnriched)});
    passed.inc();
    finish(ticket, std::move(output), -1);
    return;
  }
  Pending p;
  p.ticket = ticket;
  p.shop_id = notification->shop_id;
  p.fields = std::move(*notification);
  p.notification = std::string(input.value());
  output.headers.push_back({kEnrichmentHeader, std::string(kEnrichedOrderDetail)});
  p.output = std::move(output);
  p.dead_letter = make_dead_letter(input, settings_.dead_letter_topic, "channel-api",
                                   "order_detail_unavailable", "");
  p.started_ms = steady_clock_ms();
  asio::post(ioc_, [this, p = std::move(p)]() mutable {
    states_[p.shop_id].waiting.push_back(std::move(p));
    pump();
  });
}

void EnrichmentHandler::arm_timer() {
  // A steady tick drives lingering batches, backoffs and rate limits: simpler
  // than one timer per deadline, and a few hundred wake-ups a second cost nothing.
  timer_.expires_after(std::chrono::milliseconds(std::clamp(settings_.linger_ms / 2, 1, 10)));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    pump();
    arm_timer();
  });
}

void EnrichmentHandler::pump() {
  const int64_t now = steady_clock_ms();
  for (auto& [shop_id, state] : states_) {
    if ((state.waiting.empty() && state.syncs.empty()) || state.refreshing ||
        now < state.not_before_ms)
      continue;
    if (shopify_endpoints_.count(shop_id)) {
      if (!state.syncs.empty() && !state.syncs.front().in_flight &&
          state.syncs.front().not_before_ms <= now)
        call_shopify(shop_id, state);
      continue;
    }
    const TikTokShop& shop = shops_.at(shop_id);
    if (state.token_refused ||
        wall_clock_ms() >= refresh_due_ms(shop.token, settings_.refresh_margin_ms)) {
      refresh_token(shop_id, state);
      continue;
    }
    while (state.calls_in_flight < settings_.max_calls_per_shop) {
      size_t ready = 0;
      int64_t oldest = now;
      for (const auto& p : state.waiting) {
        if (p.not_before_ms > now) continue;
        ++ready;
        oldest = std::min(oldest, p.started_ms);
      }
      if (ready == 0) break;
      if (ready < kMaxOrderIdsPerDetailCall && now - oldest < settings_.linger_ms) break;
      if (!shop_calls_.peek(shop_id, now).allowed || !app_calls_.peek("app", now).allowed) break;
      shop_calls_.acquire(shop_id, now);
      app_calls_.acquire("app", now);
      call_detail(shop_id, state, now);
    }
    // A sync round's next call, after the notifications (they hold back a
    // partition; a stock count can wait).
    if (!state.syncs.empty() && !state.syncs.front().in_flight &&
        state.syncs.front().not_before_ms <= now &&
        state.calls_in_flight < settings_.max_calls_per_shop &&
        shop_calls_.peek(shop_id, now).allowed && app_calls_.peek("app", now).allowed) {
      shop_calls_.acquire(shop_id, now);
      app_calls_.acquire("app", now);
      call_sync(shop_id, state);
    }
  }
}

void EnrichmentHandler::call_detail(const std::string& shop_id, ShopState& state, int64_t now) {
  static Counter& ids_requested = metrics().counter("cf_channel_api_order_ids_requested_total",
                                                    "order ids asked of Get Order Detail");
  // Up to 50 distinct ids; every notification of those orders rides along.
  std::vector<std::string> ids;
  std::vector<Pending> batch;
  std::deque<Pending> rest;
  for (auto& p : state.waiting) {
    const bool listed = std::find(ids.begin(), ids.end(), p.fields.order_id) != ids.end();
    if (p.not_before_ms <= now && (listed || ids.size() < kMaxOrderIdsPerDetailCall)) {
      if (!listed) ids.push_back(p.fields.order_id);
      batch.push_back(std::move(p));
    } else {
      rest.push_back(std::move(p));
    }
  }
  state.waiting.swap(rest);
  ids_requested.inc(ids.size());
  ++state.calls_in_flight;
  const TikTokShop& shop = shops_.at(shop_id);
  const std::string target = order_detail_target(app_.app_key, app_.app_secret, shop.shop_cipher,
                                                 ids, wall_clock_ms() / 1000);
  client_.get(app_.api, target, {{"x-tts-access-token", shop.token.access_token}},
              std::chrono::milliseconds(settings_.call_timeout_ms),
              [this, shop_id, batch = std::move(batch), now](HttpResult result) mutable {
                asio::post(ioc_, [this, shop_id, batch = std::move(batch), now,
                                  result = std::move(result)]() mutable {
                  on_detail(shop_id, std::move(batch), std::move(result), now);
                });
              });
}

void EnrichmentHandler::on_detail(const std::string& shop_id, std::vector<Pending> batch,
                                  HttpResult result, int64_t sent_ms) {
  static Histogram& call_seconds = metrics().histogram("cf_channel_api_call_seconds",
                                                       "Get Order Detail calls, sent to answered");
  ShopState& state = states_[shop_id];
  --state.calls_in_flight;
  const int64_t now = steady_clock_ms();
  call_seconds.observe(static_cast<double>(now - sent_ms) / 1000.0);
  DetailAnswer answer = read_detail_answer(result);
  calls_counter("order_detail", answer.verdict).inc();
  switch (answer.verdict) {
    case ApiVerdict::kOk:
      state.failure_streak = 0;
      for (auto& p : batch) {
        auto it = answer.orders.find(p.fields.order_id);
        std::string stale;
        if (it == answer.orders.end()) {
          retry_or_dead_letter(shop_id, std::move(p), "order_not_found: not in the API's answer");
        } else if (!(stale = stale_detail_reason(p.fields, it->second)).empty()) {
          retry_or_dead_letter(shop_id, std::move(p), stale);
        } else {
          p.output.value =
              enriched_notification_json(p.notification, it->second.subset_json, wall_clock_ms());
          finish(p.ticket, std::move(p.output), p.started_ms);
        }
      }
      break;
    case ApiVerdict::kRefused:
      for (auto& p : batch) retry_or_dead_letter(shop_id, std::move(p), answer.error);
      break;
    case ApiVerdict::kUnauthorized:
      spdlog::warn("TikTok refused the access token of shop {} ({}): refreshing it", shop_id,
                   answer.error);
      state.token_refused = true;
      [[fallthrough]];
    case ApiVerdict::kThrottled:
    case ApiVerdict::kUnavailable:
    case ApiVerdict::kMisconfigured:
      if (answer.verdict == ApiVerdict::kMisconfigured) {
        spdlog::error(
            "TikTok refused the app's call for shop {} ({}): check the app key, secret "
            "and clock; retrying",
            shop_id, answer.error);
      }
      if (answer.verdict != ApiVerdict::kUnauthorized) back_off(state, now, answer.retry_after_ms);
      for (auto& p : batch) state.waiting.push_front(std::move(p));
      break;
  }
  pump();
}

void EnrichmentHandler::back_off(ShopState& state, int64_t now,
                                 std::optional<int64_t> retry_after_ms) {
  const double unit = std::uniform_real_distribution<double>(0, 1)(jitter_);
  const int delay =
      retry_delay_ms(state.failure_streak++, settings_.retry_base_ms, settings_.retry_max_ms, unit);
  state.not_before_ms =
      now + (retry_after_ms ? std::min<int64_t>(*retry_after_ms, settings_.retry_max_ms) : delay);
}

void EnrichmentHandler::retry_or_dead_letter(const std::string& shop_id, Pending p,
                                             const std::string& error) {
  static Counter& retried = metrics().counter("cf_channel_api_order_retries_total",
                                              "notifications whose order detail is fetched again");
  if (++p.attempts >= settings_.max_attempts) {
    OutputRecord letter = std::move(p.dead_letter);
    set_header(letter, "cf-dlq-error",
               "order " + p.fields.order_id + ": no usable detail after " +
                   std::to_string(p.attempts) + " attempts (" + error + ")");
    spdlog::warn("order {} of shop {} dead-lettered: {}", p.fields.order_id, shop_id, error);
    finish(p.ticket, std::move(letter), p.started_ms);
    return;
  }
  retried.inc();
  const double unit = std::uniform_real_distribution<double>(0, 1)(jitter_);
  p.not_before_ms = steady_clock_ms() + retry_delay_ms(p.attempts - 1, settings_.retry_base_ms,
                                                       settings_.retry_max_ms, unit);
  states_[shop_id].waiting.push_back(std::move(p));
}

void EnrichmentHandler::refresh_token(const std::string& shop_id, ShopState& state) {
  const TikTokShop& shop = shops_.at(shop_id);
  if (needs_reauthorization(shop.token, wall_clock_ms())) {
    spdlog::error(
        "the refresh token of shop {} has expired: the seller must authorize the app "
        "again; its notifications wait",
        shop_id);
    back_off(state, steady_clock_ms(), std::nullopt);
    return;
  }
  state.refreshing = true;
  client_.get(app_.auth,
              token_refresh_target(app_.app_key, app_.app_secret, shop.token.refresh_token), {},
              std::chrono::milliseconds(settings_.call_timeout_ms),
              [this, shop_id](HttpResult result) mutable {
                asio::post(ioc_, [this, shop_id, result = std::move(result)]() mutable {
                  on_refresh(shop_id, std::move(result));
                });
              });
}

void EnrichmentHandler::on_refresh(const std::string& shop_id, HttpResult result) {
  ShopState& state = states_[shop_id];
  state.refreshing = false;
  RefreshAnswer answer = read_refresh_answer(result);
  calls_counter("token_refresh", answer.verdict).inc();
  if (answer.verdict != ApiVerdict::kOk) {
    spdlog::error("refreshing the access token of shop {} failed ({}); retrying", shop_id,
                  answer.error);
    back_off(state, steady_clock_ms(), std::nullopt);
    return;
  }
  TikTokShop& shop = shops_.at(shop_id);
  shop.token.access_token = std::move(answer.token.access_token);
  shop.token.access_expires_ms = answer.token.access_expires_ms;
  if (!answer.token.refresh_token.empty()) {
    shop.token.refresh_token = std::move(answer.token.refresh_token);
    shop.token.refresh_expires_ms = answer.token.refresh_expires_ms;
  }
  state.token_refused = false;
  save_shops();
  spdlog::info("access token of shop {} refreshed (valid for {} h)", shop_id,
               (shop.token.access_expires_ms - wall_clock_ms()) / 3600000);
  pump();
}

void EnrichmentHandler::save_shops() {
  if (settings_.shops_file.empty()) return;
  // Written aside, then renamed: a crash leaves the old file or the new one.
  const std::string temp = settings_.shops_file + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    ::chmod(temp.c_str(), 0600);
    out << tiktok_shops_json(shops_);
    if (!out) {
      spdlog::error("cannot write {}: refreshed tokens are kept in memory only", temp);
      return;
    }
  }
  if (std::rename(temp.c_str(), settings_.shops_file.c_str()) != 0)
    spdlog::error("cannot replace {}: refreshed tokens are kept in memory only",
                  settings_.shops_file);
}

void EnrichmentHandler::start_sync(const InputRecord& input, uint64_t ticket) {
  static Counter& history = metrics().counter("cf_channel_api_sync_requests_skipped_total",
                                              "sync-topic records that start no round, by reason",
                                              label("reason", "history"));
  static Counter& unreadable = metrics().counter(
      "cf_channel_api_sync_requests_skipped_total",
      "sync-topic records that start no round, by reason", label("reason", "unreadable"));
  const auto type = input.header("cf-event-type");
  SyncRequest request =
      read_sync_request(type ? *type : std::string_view{}, input.value(),
                        settings_.sync_interval_ms, settings_.sync_interval_ms, wall_clock_ms());
  if (request.kind == SyncRequest::Kind::kNone && request.why_none != "history") {
    unreadable.inc();
    // Dead-lettered at once with the reason: an operator's command was wrong.
    throw std::runtime_error("invalid_sync_request: " + request.why_none);
  }
  std::vector<std::string> shops;
  if (!request.shop_id.empty()) {
    if (!std::binary_search(known_shops_.begin(), known_shops_.end(), request.shop_id))
      throw std::runtime_error("no_shop_credentials: shop " + request.shop_id +
                               " is not in the shops file");
    shops.push_back(request.shop_id);
  } else {
    shops = known_shops_;
  }
  results_.started();
  if (request.kind == SyncRequest::Kind::kNone) {
    // Older than an interval: a replay, or a backlog after an outage. The
    // stock it would have read is the present's, not the tick's: the next
    // fresh tick reads it.
    history.inc();
    results_.finish(ticket, {});
    return;
  }
  asio::post(ioc_, [this, ticket, request = std::move(request), shops = std::move(shops)] {
    begin_sync(ticket, request.round, request.kind == SyncRequest::Kind::kTick, shops);
  });
}

void EnrichmentHandler::begin_sync(uint64_t ticket, const std::string& round, bool tick,
                                   const std::vector<std::string>& shops) {
  static Counter& same_round = metrics().counter(
      "cf_channel_api_sync_requests_skipped_total",
      "sync-topic records that start no round, by reason", label("reason", "same_round"));
  static Counter& busy = metrics().counter("cf_channel_api_sync_rounds_total",
                                           "shops' inventory sync rounds, by outcome",
                                           label("outcome", "skipped_busy"));
  SyncTicket& job = sync_tickets_[ticket];
  for (const auto& shop : shops) {
    const bool shopify = settings_.shopify_tokens.count(shop) > 0;
    const std::string shop_id = shopify ? "shopify:" + shop : shop;
    ShopState& state = states_[shop_id];
    // Ticks come every second or so: the first of a round starts it.
    if (tick && state.last_tick_round == round) continue;
    if (tick) state.last_tick_round = round;
    // A shop whose API is slow does not pile up rounds: one runs, one waits.
    if (state.syncs.size() >= 2) {
      busy.inc();
      continue;
    }
    SyncJob sync;
    sync.ticket = ticket;
    sync.round = round;
    sync.shopify = shopify;
    state.syncs.push_back(std::move(sync));
    ++job.remaining;
  }
  if (job.remaining == 0) {
    same_round.inc();
    sync_tickets_.erase(ticket);
    results_.finish(ticket, {});
    return;
  }
  pump();
}

void EnrichmentHandler::call_sync(const std::string& shop_id, ShopState& state) {
  SyncJob& job = state.syncs.front();
  job.in_flight = true;
  ++state.calls_in_flight;
  const TikTokShop& shop = shops_.at(shop_id);
  // The read time of a count: when its request left (every sale it can
  // include happened before), in the seconds TikTok's times use.
  const int64_t read_s = wall_clock_ms() / 1000;
  std::string body, target;
  if (job.reading_stock) {
    body = inventory_search_body(job.product_ids);
    target = inventory_search_target(app_.app_key, app_.app_secret, shop.shop_cipher, body, read_s);
  } else {
    body = products_search_body();
    target = products_search_target(app_.app_key, app_.app_secret, shop.shop_cipher, job.page_token,
                                    body, read_s);
  }
  client_.post(app_.api, target, std::move(body), {{"x-tts-access-token", shop.token.access_token}},
               std::chrono::milliseconds(settings_.call_timeout_ms),
               [this, shop_id, read_s](HttpResult result) mutable {
                 asio::post(ioc_, [this, shop_id, read_s, result = std::move(result)]() mutable {
                   on_sync_answer(shop_id, std::move(result), read_s);
                 });
               });
}

void EnrichmentHandler::on_sync_answer(const std::string& shop_id, HttpResult result,
                                       int64_t read_s) {
  static Counter& counts = metrics().counter("cf_channel_api_sync_counts_total",
                                             "stock counts written by scheduled inventory sync");
  ShopState& state = states_[shop_id];
  --state.calls_in_flight;
  SyncJob& job = state.syncs.front();
  job.in_flight = false;
  const int64_t now = steady_clock_ms();
  ApiVerdict verdict;
  std::string error;
  std::optional<int64_t> retry_after;
  if (job.reading_stock) {
    InventoryAnswer answer = read_inventory_answer(result);
    verdict = answer.verdict;
    error = std::move(answer.error);
    retry_after = answer.retry_after_ms;
    calls_counter("inventory_search", verdict).inc();
    if (verdict == ApiVerdict::kOk) {
      if (answer.skipped > 0)
        spdlog::warn("shop {}: {} SKUs of the inventory answer had no usable id or quantity",
                     shop_id, answer.skipped);
      SyncTicket& ticket = sync_tickets_[job.ticket];
      for (const auto& sku : answer.skus) {
        OutputRecord count;
        count.topic = settings_.output_topic;
        count.key = shop_id;  // the ingest's key: the shop's notifications' partition
        count.value = stock_sync_notification_json(shop_id, job.round, sku, read_s);
        count.headers = {{"cf-source", "tiktok"},
                         {"cf-received-at", std::to_string(wall_clock_ms())},
                         {"cf-request-id", "sync-" + job.round + "-" + shop_id},
                         {kEnrichmentHeader, std::string(kScheduledSync)}};
        ticket.outputs.push_back(std::move(count));
      }
      job.counts += answer.skus.size();
      counts.inc(answer.skus.size());
      job.reading_stock = false;
      job.product_ids.clear();
    }
  } else {
    ProductsPage page = read_products_page(result);
    verdict = page.verdict;
    error = std::move(page.error);
    retry_after = page.retry_after_ms;
    calls_counter("products_search", verdict).inc();
    if (verdict == ApiVerdict::kOk) {
      job.page_token = std::move(page.next_page_token);
      job.more_pages = !job.page_token.empty();
      job.product_ids = std::move(page.product_ids);
      job.reading_stock = !job.product_ids.empty();
    }
  }
  if (verdict == ApiVerdict::kOk) {
    job.attempts = 0;
    state.failure_streak = 0;
    if (!job.reading_stock && !job.more_pages) end_sync(shop_id, state, "completed");
  } else {
    if (verdict == ApiVerdict::kUnauthorized) state.token_refused = true;
    const double unit = std::uniform_real_distribution<double>(0, 1)(jitter_);
    job.not_before_ms = now + (retry_after ? std::min<int64_t>(*retry_after, settings_.retry_max_ms)
                                           : retry_delay_ms(job.attempts, settings_.retry_base_ms,
                                                            settings_.retry_max_ms, unit));
    if (++job.attempts >= settings_.max_attempts) {
      // Not a loss: the next round reads every page again.
      spdlog::warn("inventory sync of shop {} (round {}) ends after {} failed calls: {}", shop_id,
                   job.round, job.attempts, error);
      end_sync(shop_id, state, "failed");
    }
  }
  pump();
}

void EnrichmentHandler::end_sync(const std::string& shop_id, ShopState& state,
                                 const char* outcome) {
  metrics()
      .counter("cf_channel_api_sync_rounds_total", "shops' inventory sync rounds, by outcome",
               label("outcome", outcome))
      .inc();
  const SyncJob job = std::move(state.syncs.front());
  state.syncs.pop_front();
  spdlog::debug("inventory sync of shop {} round {}: {} ({} counts)", shop_id, job.round, outcome,
                job.counts);
  auto it = sync_tickets_.find(job.ticket);
  if (it == sync_tickets_.end() || --it->second.remaining > 0) return;
  results_.finish(job.ticket, std::move(it->second.outputs));
  sync_tickets_.erase(it);
}

void EnrichmentHandler::call_shopify(const std::string& key, ShopState& state) {
  SyncJob& job = state.syncs.front();
  job.in_flight = true;
  const std::string domain = key.substr(8);
  std::string target;
  switch (job.step) {
    case SyncJob::Step::kLocations:
      target = shopify_locations_target();
      break;
    case SyncJob::Step::kLevels:
      // Sales before this moment are in the counts (see finish_shopify).
      if (job.read_s == 0) job.read_s = wall_clock_ms() / 1000;
      target = !job.next_target.empty() ? job.next_target
                                        : shopify_levels_target(job.locations[job.location]);
      break;
    case SyncJob::Step::kItems: {
      const size_t n = std::min(kShopifyItemsPerCall, job.unknown_items.size());
      target = shopify_items_target(
          std::vector<std::string>(job.unknown_items.begin(), job.unknown_items.begin() + n));
      break;
    }
  }
  client_.get(shopify_endpoints_.at(key), target,
              {{"x-shopify-access-token", settings_.shopify_tokens.at(domain)}},
              std::chrono::milliseconds(settings_.call_timeout_ms),
              [this, key](HttpResult result) mutable {
                asio::post(ioc_, [this, key, result = std::move(result)]() mutable {
                  on_shopify_answer(key, std::move(result));
                });
              });
}

void EnrichmentHandler::on_shopify_answer(const std::string& key, HttpResult result) {
  ShopState& state = states_[key];
  SyncJob& job = state.syncs.front();
  job.in_flight = false;
  const int64_t now = steady_clock_ms();
  ShopifyAnswer outcome;
  switch (job.step) {
    case SyncJob::Step::kLocations: {
      LocationsAnswer a = read_shopify_locations(result);
      calls_counter("shopify_locations", a.verdict).inc();
      if (a.verdict == ApiVerdict::kOk) {
        job.locations = std::move(a.location_ids);
        job.step = SyncJob::Step::kLevels;
        job.location = 0;
      }
      outcome = std::move(a);
      break;
    }
    case SyncJob::Step::kLevels: {
      LevelsAnswer a = read_shopify_levels(result);
      calls_counter("shopify_inventory_levels", a.verdict).inc();
      if (a.verdict == ApiVerdict::kOk) {
        for (const auto& [item, units] : a.available) job.available[item] += units;
        job.next_target = a.next_page;
        if (job.next_target.empty()) ++job.location;
      }
      outcome = std::move(a);
      break;
    }
    case SyncJob::Step::kItems: {
      ItemsAnswer a = read_shopify_items(result);
      calls_counter("shopify_inventory_items", a.verdict).inc();
      if (a.verdict == ApiVerdict::kOk) {
        const std::string domain = key.substr(8);
        const size_t n = std::min(kShopifyItemsPerCall, job.unknown_items.size());
        SyncTicket& ticket = sync_tickets_[job.ticket];
        for (size_t i = 0; i < n; ++i) {
          // An item the API does not return keeps an empty SKU (the mapping
          // file or "shopify:<item>" names it downstream), cached all the same.
          auto found = a.skus.find(job.unknown_items[i]);
          const std::string sku = found == a.skus.end() ? std::string() : found->second;
          settings_.shopify_skus[domain + "|" + job.unknown_items[i]] = sku;
          ticket.outputs.push_back(shopify_item_changelog_record(
              settings_.shopify_items_changelog, domain, job.unknown_items[i], sku));
        }
        job.unknown_items.erase(job.unknown_items.begin(), job.unknown_items.begin() + n);
      }
      outcome = std::move(a);
      break;
    }
  }
  if (outcome.verdict == ApiVerdict::kOk) {
    job.attempts = 0;
    job.not_before_ms = now + outcome.wait_ms;  // the store's leaky bucket
    if (job.step == SyncJob::Step::kLevels && job.location >= job.locations.size()) {
      job.step = SyncJob::Step::kItems;
      const std::string domain = key.substr(8);
      for (const auto& [item, units] : job.available)
        if (!settings_.shopify_skus.count(domain + "|" + item)) job.unknown_items.push_back(item);
    }
    if (job.step == SyncJob::Step::kItems && job.unknown_items.empty()) finish_shopify(key, state);
  } else {
    const double unit = std::uniform_real_distribution<double>(0, 1)(jitter_);
    job.not_before_ms =
        now + std::max(outcome.wait_ms,
                       outcome.retry_after_ms
                           ? std::min<int64_t>(*outcome.retry_after_ms, settings_.retry_max_ms)
                           : retry_delay_ms(job.attempts, settings_.retry_base_ms,
                                            settings_.retry_max_ms, unit));
    if (++job.attempts >= settings_.max_attempts) {
      spdlog::warn("inventory sync of Shopify store {} (round {}) ends after {} failed calls: {}",
                   key.substr(8), job.round, job.attempts, outcome.error);
      end_sync(key, state, "failed");
    }
  }
  pump();
}

void EnrichmentHandler::finish_shopify(const std::string& key, ShopState& state) {
  static Counter& counts = metrics().counter("cf_channel_api_sync_counts_total",
                                             "stock counts written by scheduled inventory sync");
  SyncJob& job = state.syncs.front();
  const std::string domain = key.substr(8);
  SyncTicket& ticket = sync_tickets_[job.ticket];
  const std::string location = job.locations.empty() ? "1" : job.locations.front();
  for (const auto& [item, units] : job.available) {
    ticket.outputs.push_back(shopify_stock_record(
        settings_.shopify_output_topic, domain, job.round, item, location, units,
        settings_.shopify_skus[domain + "|" + item], job.read_s, wall_clock_ms()));
  }
  job.counts = job.available.size();
  counts.inc(job.available.size());
  end_sync(key, state, "completed");
}

void EnrichmentHandler::enqueue_in_order(int32_t partition, uint64_t ticket) {
  std::lock_guard<std::mutex> lock(order_mutex_);
  in_order_[partition].emplace(ticket, Slot{});
  partition_of_[ticket] = partition;
}

void EnrichmentHandler::finish(uint64_t ticket, OutputRecord output, int64_t started_ms) {
  static Histogram& latency = metrics().histogram(
      "cf_channel_api_enrichment_seconds",
      "notification read to enriched record handed over (after the earlier ones of its partition)");
  std::lock_guard<std::mutex> lock(order_mutex_);
  auto where = partition_of_.find(ticket);
  if (where == partition_of_.end()) return;  // cannot happen: every ticket is enqueued first
  auto& slots = in_order_[where->second];
  partition_of_.erase(where);
  Slot& slot = slots[ticket];
  slot.done = true;
  slot.output = std::move(output);
  slot.started_ms = started_ms;
  // Hand over every finished output at the head of the partition's queue.
  const int64_t now = steady_clock_ms();
  while (!slots.empty() && slots.begin()->second.done) {
    if (slots.begin()->second.started_ms >= 0)
      latency.observe(static_cast<double>(now - slots.begin()->second.started_ms) / 1000.0);
    std::vector<OutputRecord> outputs;
    outputs.push_back(std::move(slots.begin()->second.output));
    results_.finish(slots.begin()->first, std::move(outputs));
    slots.erase(slots.begin());
  }
}

void EnrichmentHandler::maintain(int64_t, const std::function<bool()>&,
                                 const std::function<bool()>&) {
  static Gauge& waiting = metrics().gauge("cf_channel_api_notifications_waiting",
                                          "notifications waiting for their order detail");
  waiting.set(static_cast<double>(results_.in_flight()));
}

}  // namespace cf
