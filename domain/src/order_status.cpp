#include "cf/order_status.h"

#include <iterator>
#include <string_view>

namespace cf {
namespace {

constexpr std::string_view kStatuses[] = {
    "UNPAID",     "ON_HOLD",   "AWAITING_SHIPMENT", "AWAITING_COLLECTION",
    "IN_TRANSIT", "DELIVERED", "COMPLETED"};

}  // namespace

int order_status_rank(std::string_view status) {
  for (int i = 0; i < static_cast<int>(std::size(kStatuses)); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return status == "CANCELLED" ? 100 : -1;
}

bool order_status_shipped(std::string_view status) {
  int rank = order_status_rank(status);
  return rank >= order_status_rank("IN_TRANSIT") && rank < 100;
}

bool order_status_paid(std::string_view status) {
  int rank = order_status_rank(status);
  return rank >= order_status_rank("AWAITING_SHIPMENT") && rank < 100;
}

bool valid_order_transition(std::string_view from, std::string_view to) {
  const int a = order_status_rank(from), b = order_status_rank(to);
  if (a < 0 || b < 0 || from == to) return false;
  if (from == "CANCELLED" || from == "COMPLETED") return false;
  if (to == "CANCELLED") return a <= order_status_rank("AWAITING_COLLECTION");
  // ON_HOLD is a pause between UNPAID and AWAITING_SHIPMENT; any other step goes forward.
  return b > a;
}

}  // namespace cf
