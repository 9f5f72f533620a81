#pragma once
// Order statuses as the project normalises them (TikTok Shop's names; Shopify
// orders are mapped onto them by the validator), in lifecycle order.
// CANCELLED is terminal and reachable only before the order ships. Shared by
// the reconciler (transitions) and the order saga (which orders start one).
#include <string_view>

namespace cf {

int order_status_rank(std::string_view status);  ///< -1 unknown; CANCELLED 100
bool valid_order_transition(std::string_view from, std::string_view to);
bool order_status_shipped(std::string_view status);
/// Paid: AWAITING_SHIPMENT or later, not CANCELLED.
bool order_status_paid(std::string_view status);

}  // namespace cf
