#pragma once
// The validator's transform: raw webhook bytes -> domain events or a precise
// rejection. Pure: no Kafka, no clock (event time comes from the webhook).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cf/directory.h"
#include "cf/schemas.h"

namespace cf {

/// A raw record as webhook-ingest wrote it.
struct RawWebhook {
  std::string_view body;                ///< exact HTTP body bytes
  std::string_view source;              ///< header cf-source: "tiktok" or "shipping"
  std::string_view provider;            ///< header cf-provider (shipping only)
  std::string_view request_id;          ///< header cf-request-id: the correlation id
  int64_t received_at_ms = -1;          ///< header cf-received-at
  std::string_view shopify_topic;       ///< header cf-shopify-topic
  std::string_view shopify_webhook_id;  ///< header cf-shopify-webhook-id
  std::string_view shop_domain;         ///< header cf-shop-domain
  std::string_view enrichment;          ///< header cf-enrichment (from channel-api)
  std::string_view shopify_sku;  ///< header cf-shopify-sku: the item's SKU (channel-api's sync)
};

/// Why a webhook was refused; serialised as the cf-reject-reason header.
struct Rejection {
  std::string code;   ///< malformed_json | json_too_deep | invalid_utf8 | event_time_out_of_range |
                      ///< stale_event | schema_violation | unknown_shop | unsupported_type |
                      ///< missing_header | not_enriched | enrichment_mismatch | stale_order_detail
  std::string field;  ///< JSON pointer of the offending field
  std::string rule;   ///< the rule broken
  std::string detail;  ///< human-readable, never containing personal data
};

/// One normalised domain event, keyed by creator.
struct DomainEvent {
  std::string event_id;
  std::string event_type;
  std::string creator_id;
  std::string json;  ///< the full envelope
  int64_t occurred_at_ms = 0;
};

/// How far an event time may stray from the ingest's received_at.
struct EventTimeWindow {
  /// Ahead of received_at: senders' clocks drift by seconds, not minutes.
  int64_t max_future_ms = 10 * 60 * 1000;
  /// Behind received_at: the dedup horizon (TTL) minus max_future, so an id
  /// is still remembered whenever a copy of it can be accepted.
  int64_t max_age_ms = (96LL * 3600 - 10 * 60) * 1000;
};

/// A carrier's tracking update as AfterShip sends it: valid, but naming no
/// order or creator. It becomes an event once joined to its label.
struct ShipmentUpdate {
  std::string event_id;  ///< AfterShip's
  std::string tracking_number;
  std::string carrier_slug;
  std::string tag;     ///< AfterShip's delivery tag (InTransit, Delivered, ...)
  std::string status;  ///< the project's shipment status (shipment_status_of_tag)
  int64_t occurred_at_ms = 0;
  int64_t received_at_ms = -1;
  std::string request_id;
};

/// The label the order saga had made (a shipping.labels record).
struct ShipmentLabel {
  std::string tracking_number;
  std::string carrier_slug;
  std::string creator_id;
  std::string channel;
  std::string order_id;  ///< the channel's order id
};

/// AfterShip tag -> the project's shipment status (label_created, in_transit,
/// out_for_delivery, delivered, exception).
std::string_view shipment_status_of_tag(std::string_view tag);
/// The shipment.tracking_updated event of `update` joined to `label`: keyed
/// by the label's creator, naming its order as "<channel>:<order id>".
DomainEvent shipment_event(const ShipmentUpdate& update, const ShipmentLabel& label);
/// A shipping.labels record; nullopt with `error` when it is not one.
std::optional<ShipmentLabel> read_shipment_label(std::string_view json, std::string& error);

struct ValidationOutcome {
  bool valid = false;
  Rejection rejection;              ///< when !valid
  std::vector<DomainEvent> events;  ///< when valid
  std::string idempotency_key;      ///< "tiktok:<tts_notification_id>", "shopify:<webhook id>" or
                                    ///< "shipping:<provider>:<event_id>"
  int64_t event_time_ms = 0;        ///< drives dedup expiry
  /// The bytes a repeated body is recognised by, when not the record's value:
  /// an enriched TikTok record is deduplicated on the notification it wraps
  /// (the detail fetched for two copies may differ).
  std::string dedup_body;
  /// A valid tracking update: no events until it is joined to its label.
  std::optional<ShipmentUpdate> shipment;
};

class WebhookValidator {
 public:
  WebhookValidator(const SchemaRegistry& schemas, const ShopDirectory& shops,
                   EventTimeWindow window = {});
  ValidationOutcome validate(const RawWebhook& raw) const;

 private:
  ValidationOutcome validate_tiktok(const RawWebhook& raw) const;
  ValidationOutcome validate_shipping(const RawWebhook& raw) const;
  ValidationOutcome validate_shopify(const RawWebhook& raw) const;
  const SchemaRegistry& schemas_;
  const ShopDirectory& shops_;
  EventTimeWindow window_;
};

/// Parses a decimal money string ("12.34", "7", "0.5") into minor units; -1 if invalid.
int64_t parse_minor_units(std::string_view amount);

/// JSON text of a rejection plus where the record came from.
std::string rejection_json(const Rejection& rejection, const std::string& processor,
                           std::string_view source_topic, int32_t partition, int64_t offset);

}  // namespace cf
