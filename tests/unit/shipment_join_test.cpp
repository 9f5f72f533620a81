// The validator's shipment join (processors/validator/shipment_join.h):
// carriers' updates meet the labels the order saga recorded, in either order,
// once each, and the state survives a rebuild from its changelog records.
#include "shipment_join.h"

#include <gtest/gtest.h>

#include <set>

namespace cf {
namespace {

const ShipmentLabel kLabel{"9400111202555842761234", "usps", "creator-1", "tiktok", "576"};

ShipmentUpdate update(const std::string& event_id, const std::string& tag = "InTransit") {
  ShipmentUpdate u;
  u.event_id = event_id;
  u.tracking_number = kLabel.tracking_number;
  u.carrier_slug = "usps";
  u.tag = tag;
  u.status = std::string(shipment_status_of_tag(tag));
  u.occurred_at_ms = 1795073200000;
  u.received_at_ms = 1795073201000;
  u.request_id = "req-" + event_id;
  return u;
}

std::vector<std::string> ids(const std::vector<DomainEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.event_id);
  return out;
}

/// A store rebuilt from the changelog records `outputs` holds (tombstones included).
ShipmentJoin rebuilt(const std::vector<OutputRecord>& outputs) {
  ShipmentJoin join("validator.dedup.changelog", 3);
  for (const auto& r : outputs) {
    std::string_view value = r.value;
    join.apply_encoded(r.key, r.tombstone ? nullptr : &value);
  }
  return join;
}

TEST(ShipmentJoin, UpdatesBeforeTheirLabelWaitAndAreReleasedInArrivalOrder) {
  ShipmentJoin join("validator.dedup.changelog", 3);
  std::vector<OutputRecord> changelog;
  EXPECT_TRUE(join.on_update(update("e1", "InfoReceived"), 10, changelog).events.empty());
  EXPECT_TRUE(join.on_update(update("e2"), 11, changelog).events.empty());
  EXPECT_EQ(join.waiting_numbers(), 1U);
  // The first update read again after a crash does not wait twice.
  EXPECT_TRUE(join.on_update(update("e1", "InfoReceived"), 10, changelog).events.empty());
  JoinResult released = join.on_label(kLabel, 5, changelog);
  EXPECT_EQ(ids(released.events), ids({shipment_event(update("e1", "InfoReceived"), kLabel),
                                       shipment_event(update("e2"), kLabel)}));
  EXPECT_EQ(released.events[0].creator_id, "creator-1");
  EXPECT_EQ(join.waiting_numbers(), 0U);
  // Later updates join at once.
  JoinResult later = join.on_update(update("e3", "Delivered"), 12, changelog);
  ASSERT_EQ(later.events.size(), 1U);
  EXPECT_NE(later.events[0].json.find(R"("order_id":"tiktok:576")"), std::string::npos);
  // The label read again after a crash sends what it released again (same
  // ids); the same label at a later offset (the saga re-sent it) sends nothing.
  EXPECT_EQ(ids(join.on_label(kLabel, 5, changelog).events), ids(released.events));
  EXPECT_TRUE(join.on_label(kLabel, 9, changelog).events.empty());
}

TEST(ShipmentJoin, TheStateRebuiltFromItsChangelogJoinsTheSame) {
  ShipmentJoin join("validator.dedup.changelog", 3);
  std::vector<OutputRecord> changelog;
  join.on_update(update("e1"), 10, changelog);
  ShipmentJoin waiting = rebuilt(changelog);
  EXPECT_EQ(waiting.waiting_numbers(), 1U);
  JoinResult a = join.on_label(kLabel, 5, changelog);
  JoinResult b = waiting.on_label(kLabel, 5, changelog);
  EXPECT_EQ(ids(a.events), ids(b.events));
  ASSERT_EQ(a.events.size(), 1U);
  // After the release: no waiting entry (tombstoned), the label and its journal kept.
  ShipmentJoin after = rebuilt(changelog);
  EXPECT_EQ(after.waiting_numbers(), 0U);
  EXPECT_EQ(ids(after.on_label(kLabel, 5, changelog).events), ids(a.events));
  EXPECT_EQ(after.on_update(update("e4"), 20, changelog).events.size(), 1U);
  // Damaged records are refused, never half-read.
  LabelEntry entry;
  EXPECT_FALSE(decode_label_entry("not binary", entry));
  std::vector<WaitingUpdate> updates;
  const std::string encoded = encode_waiting({{10, update("e1")}});
  for (size_t cut = 0; cut < encoded.size(); ++cut)
    EXPECT_FALSE(decode_waiting(encoded.substr(0, cut), updates)) << cut;
  EXPECT_TRUE(decode_waiting(encoded, updates));
}

TEST(ShipmentJoin, ANumberNoLabelNamesHoldsAtMostItsCapOfUpdates) {
  ShipmentJoin join("validator.dedup.changelog", 3);
  std::vector<OutputRecord> changelog;
  for (size_t i = 0; i < kMaxWaiting; ++i)
    EXPECT_FALSE(join.on_update(update("e" + std::to_string(i)), 100 + i, changelog).refused);
  EXPECT_TRUE(join.on_update(update("over"), 500, changelog).refused);
  EXPECT_EQ(join.on_label(kLabel, 1, changelog).events.size(), kMaxWaiting);
}

}  // namespace
}  // namespace cf
