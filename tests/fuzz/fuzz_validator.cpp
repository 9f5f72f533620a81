// The validator's transform on any raw record: the first byte picks the
// source and headers (0x20: an enriched TikTok record from channel-api), the
// rest is the body. Every accepted webhook's events
// must be valid JSON that our own strict parse reads back. With 0x40 the body
// is a shipping.labels record or a shipment-join changelog value instead.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cf/json_parse.h"
#include "cf/webhook_generator.h"
#include "shipment_join.h"
#include "webhook_validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cf::SchemaRegistry schemas = cf::SchemaRegistry::load_directory(CF_SCHEMA_DIR);
  // The load generator's shops, so its seed corpus reaches the whole transform.
  static cf::ShopDirectory shops = cf::ShopDirectory::from_json(
      cf::WebhookGenerator(cf::GeneratorSettings{}).shop_directory_json());
  static cf::WebhookValidator validator(schemas, shops);
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  cf::RawWebhook raw;
  raw.body = body;
  static const char* kSources[] = {"tiktok", "shopify", "shipping", ""};
  static const char* kTopics[] = {"orders/create", "orders/cancelled", "inventory_levels/update",
                                  "x"};
  raw.source = kSources[mode & 3];
  if (mode & 0x40) {
    // The join's decoders: a label the saga wrote, and its changelog values
    // (what a decoded value encodes to decodes and encodes to itself; the
    // input itself may differ, e.g. in over-long varints).
    std::string error;
    if (auto label = cf::read_shipment_label(body, error)) {
      cf::ShipmentJoin join("validator.dedup.changelog", 0);
      std::vector<cf::OutputRecord> changelog;
      (void)join.on_label(*label, 1, changelog);
    }
    cf::LabelEntry entry, entry_again;
    if (cf::decode_label_entry(body, entry)) {
      const std::string encoded = cf::encode_label_entry(entry);
      if (!cf::decode_label_entry(encoded, entry_again) ||
          cf::encode_label_entry(entry_again) != encoded)
        __builtin_trap();
    }
    std::vector<cf::WaitingUpdate> waiting, waiting_again;
    if (cf::decode_waiting(body, waiting)) {
      const std::string encoded = cf::encode_waiting(waiting);
      if (!cf::decode_waiting(encoded, waiting_again) ||
          cf::encode_waiting(waiting_again) != encoded)
        __builtin_trap();
    }
    return 0;
  }
  raw.provider = "aftership";
  raw.shopify_topic = kTopics[(mode >> 2) & 3];
  raw.shopify_webhook_id = "wh-1";
  raw.shop_domain = "cases.myshopify.com";
  raw.request_id = "req";
  raw.received_at_ms = (mode & 0x10) ? -1 : 1795000000000;
  if (mode & 0x20) raw.enrichment = "order_detail";
  cf::ValidationOutcome out = validator.validate(raw);
  if (out.valid && out.shipment) {
    // A tracking update joined to a label: the event is the builder's JSON.
    const cf::ShipmentLabel label{out.shipment->tracking_number, "usps", "creator-1", "tiktok",
                                  "576\"x"};
    out.events.push_back(cf::shipment_event(*out.shipment, label));
  }
  if (out.valid) {
    for (const auto& e : out.events) {
      rapidjson::Document doc;
      if (!cf::parse_json(doc, e.json)) __builtin_trap();
    }
  } else {
    (void)cf::rejection_json(out.rejection, "validator", "webhooks.tiktok.raw", 0, 0);
  }
  return 0;
}
