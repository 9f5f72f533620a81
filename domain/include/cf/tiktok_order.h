#pragma once
// TikTok Shop order notifications and the order detail behind them.
//
// TikTok's ORDER_STATUS_CHANGE notification (type 1) carries only the order
// id, its status, update_time and is_on_hold_order: line items and payment
// come from the Get Order Detail API (GET /order/202309/orders, up to 50 ids
// per call). channel-api fetches them and writes, to webhooks.tiktok.enriched:
//
//   {"notification": "<the webhook body, byte for byte, as a JSON string>",
//    "order": {<the API's order, reduced to the fields below>},
//    "fetched_at": <ms, when the detail was fetched>}
//
// with header cf-enrichment: order_detail. Other notifications (and bodies
// that are not a type-1 notification at all) pass through unchanged with
// cf-enrichment: none, so the validator gives them their precise rejection.
//
// Versions. The notification is the event: its update_time is the event time
// and the order's version, and its status is the status the event reports.
// The detail is the order's state when fetched, which may be newer (the order
// moved on meanwhile) but never older: channel-api refetches (bounded) until
// detail.update_time >= notification.update_time and, since update_time
// counts seconds and an order can change twice in one, until a notification of
// a paid status finds paid_time in the detail; the validator refuses a record
// that breaks either (stale_order_detail). From the detail the pipeline
// takes only what does not change once the order is placed (line items,
// amounts, paid_time), so enriching an old notification with a newer detail
// yields the same events as enriching it at once, and a late notification
// carries its own, older update_time and never overwrites a newer state.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cf/json_parse.h"

namespace cf {

inline constexpr const char* kEnrichmentHeader = "cf-enrichment";
inline constexpr std::string_view kEnrichedOrderDetail = "order_detail";
inline constexpr std::string_view kNotEnriched = "none";
/// A stock count the scheduled inventory sync read (type 1001).
inline constexpr std::string_view kScheduledSync = "scheduled_sync";
/// Get Order Detail takes at most this many ids per call.
inline constexpr size_t kMaxOrderIdsPerDetailCall = 50;

/// True for the statuses of an order that has been paid (all but UNPAID and
/// CANCELLED; ON_HOLD is TikTok's remorse period after payment).
inline bool tiktok_status_is_paid(std::string_view status) {
  return status != "UNPAID" && status != "CANCELLED";
}

/// The fields of one Get Order Detail order the pipeline uses, as JSON:
/// id, status, create_time, update_time, paid_time, payment {currency,
/// sub_total, total_amount} and line_items [{id, sku_id, seller_sku,
/// sale_price, currency}]. Nothing personal (recipient, buyer, messages) is
/// copied; members of an unexpected type are left out for the schema to judge.
std::string order_detail_subset(const rapidjson::Value& order);

/// The enriched record (see above).
std::string enriched_notification_json(std::string_view notification,
                                       std::string_view order_subset_json, int64_t fetched_at_ms);

}  // namespace cf
