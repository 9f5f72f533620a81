#pragma once
// Shipment tracking numbers as the pipeline handles them: the saga's label
// step records the number the label provider answers with, and carriers'
// tracking webhooks name only that number (never our order), so the number
// is what joins a carrier's update to its order (docs/processors.md,
// "Shipping updates").
#include <string>
#include <string_view>

namespace cf {

/// A tracking number the pipeline accepts: 1-64 characters of [A-Za-z0-9-].
/// Anything else is refused, never escaped into a key.
bool valid_tracking_number(std::string_view number);

/// A carrier slug (AfterShip's courier code: "usps", "royal-mail"):
/// 1-32 characters of [a-z0-9-].
bool valid_carrier_slug(std::string_view slug);

/// The number the participant stub's label provider gives the label of a
/// channel's order: "9400" and 18 digits derived from channel and order id
/// (a USPS-shaped 22-digit number). The stub and the load generator (playing
/// the carrier) both use it; real label providers choose their own numbers.
std::string stub_label_tracking_number(std::string_view channel, std::string_view order_id);

}  // namespace cf
