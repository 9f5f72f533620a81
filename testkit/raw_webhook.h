#pragma once
// A generated webhook as the validator receives it: the body plus what the
// ingest stamps on the raw record (source, shipping provider, Shopify
// headers, receive time 250 ms after the event); a TikTok order notification
// comes with its order detail, as channel-api writes it (the detail the
// generator gave the API stub for it, fetched 100 ms after receipt), and a
// stock count as channel-api's scheduled sync writes it. The result holds views into `w` and
// `storage`: keep both alive while it is used.
#include <string>
#include <string_view>

#include "cf/tiktok_order.h"
#include "cf/webhook_generator.h"
#include "webhook_validator.h"

namespace cf::test {

inline RawWebhook raw_webhook(const GeneratedWebhook& w, std::string_view shipping_provider,
                              std::string& storage) {
  RawWebhook raw;
  raw.body = w.body;
  raw.source = w.path == "/webhooks/tiktok" ? "tiktok"
               : w.shopify_topic.empty()    ? "shipping"
                                            : "shopify";
  raw.provider = raw.source == "shipping" ? shipping_provider : std::string_view();
  raw.shopify_topic = w.shopify_topic;
  raw.shopify_webhook_id = w.shopify_webhook_id;
  raw.shop_domain = w.shop_domain;
  raw.received_at_ms = w.event_time_ms + 250;
  storage = enriched_record(w, raw.received_at_ms + 100);
  if (!storage.empty()) {
    raw.body = storage;
    raw.enrichment = kEnrichedOrderDetail;
  } else if (w.sync_count) {
    raw.enrichment = kScheduledSync;
  }
  return raw;
}

}  // namespace cf::test
