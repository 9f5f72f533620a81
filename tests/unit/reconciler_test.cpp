// reconciler's rules: transitions, source priority, immutable payments and
// shipments, stock decreases, escalation thresholds, replay. No broker.
#include "reconciler.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>

#include "cf/event_envelope.h"
#include "event_fixtures.h"

namespace cf {
namespace {

using test::kT0;

std::string order(const std::string& status, int64_t at, std::string_view source,
                  const std::string& id, int64_t total = 2000) {
  return test::event_json(
      "order.received_from_tiktok", "c1", at,
      R"({"channel":"tiktok","order_id":"O1","status":")" + status +
          R"(","on_hold":false,"line_items":[{"sku_id":"17","seller_sku":"CF-1","quantity":2,"unit_price_minor":1000,"currency":"USD"}],"total_minor":)" +
          std::to_string(total) + R"(,"currency":"USD","updated_at":"x"})",
      id, source, "tiktok:O1");
}

std::string stock(int64_t available, int64_t at, std::string_view source, const std::string& id) {
  return test::event_json("inventory.stock_updated", "c1", at,
                          R"({"channel":"tiktok","sku_id":"17","seller_sku":"CF-1","available":)" +
                              std::to_string(available) + R"(,"updated_at":"x"})",
                          id, source, "tiktok:17");
}

std::string payment(int64_t amount, int64_t at, const std::string& id) {
  return test::event_json("payment.completed", "c1", at,
                          R"({"channel":"tiktok","order_id":"O1","amount_minor":)" +
                              std::to_string(amount) + R"(,"currency":"USD","paid_at":"x"})",
                          id, "tiktok_webhook", "tiktok:O1");
}

std::string shipment(const std::string& tracking, const std::string& status, int64_t at,
                     const std::string& id) {
  // As the validator writes it once the carrier's update joined its label.
  return test::event_json("shipment.tracking_updated", "c1", at,
                          R"({"provider":"aftership","carrier":"usps","tracking_number":")" +
                              tracking + R"(","status":")" + status +
                              R"(","channel":"tiktok","order_id":"tiktok:O1"})",
                          id, "shipping_provider", "aftership:" + tracking);
}

struct Rig {
  Reconciler reconciler{ReconcilerSettings{}, ReconcilerTopics{}, SkuMapping{}};
  EntityStore store{"reconciler.entities.changelog", 0};
  std::vector<OutputRecord> out;
  int64_t offset = 0;
  void feed(const std::string& json) {
    reconciler.on_event(store, json, offset, offset, out), ++offset;
  }
  std::vector<rapidjson::Document> on(const std::string& topic) const {
    std::vector<rapidjson::Document> docs;
    for (auto& o : out) {
      if (o.topic != topic) continue;
      docs.emplace_back();
      docs.back().Parse(o.value.c_str());
    }
    return docs;
  }
};

TEST(Transitions, TableOfValidAndInvalidSteps) {
  EXPECT_TRUE(valid_order_transition("UNPAID", "AWAITING_SHIPMENT"));
  EXPECT_TRUE(valid_order_transition("UNPAID", "ON_HOLD"));
  EXPECT_TRUE(valid_order_transition("AWAITING_SHIPMENT", "IN_TRANSIT"));
  EXPECT_TRUE(valid_order_transition("DELIVERED", "COMPLETED"));
  EXPECT_TRUE(valid_order_transition("AWAITING_COLLECTION", "CANCELLED"));
  EXPECT_FALSE(valid_order_transition("DELIVERED", "AWAITING_SHIPMENT"));
  EXPECT_FALSE(valid_order_transition("IN_TRANSIT", "CANCELLED"));
  EXPECT_FALSE(valid_order_transition("CANCELLED", "AWAITING_SHIPMENT"));
  EXPECT_FALSE(valid_order_transition("COMPLETED", "DELIVERED"));
  EXPECT_FALSE(valid_order_transition("UNPAID", "UNPAID"));
  EXPECT_FALSE(valid_order_transition("UNPAID", "LOST"));
}

TEST(Priorities, FollowTheDesign) {
  EXPECT_GT(source_priority("tiktok_webhook"), source_priority("payment_processor"));
  EXPECT_GT(source_priority("payment_processor"), source_priority("shipping_provider"));
  EXPECT_GT(source_priority("shipping_provider"), source_priority("manual_admin"));
  EXPECT_GT(source_priority("manual_admin"), source_priority("automated_system"));
  EXPECT_GT(source_priority("automated_system"), source_priority("scheduled_sync"));
}

TEST(Orders, VersionsSaleAndCancellationRestock) {
  Rig r;
  r.feed(order("UNPAID", kT0, "tiktok_webhook", "e1"));
  r.feed(order("AWAITING_SHIPMENT", kT0 + 60000, "tiktok_webhook", "e2"));
  r.feed(order("AWAITING_SHIPMENT", kT0 + 70000, "tiktok_webhook", "e3"));  // repeat: nothing
  r.feed(order("CANCELLED", kT0 + 90000, "tiktok_webhook", "e4"));
  auto orders = r.on("orders.events");
  ASSERT_EQ(orders.size(), 3u);
  EXPECT_EQ(orders[0]["version"].GetInt64(), 1);
  EXPECT_EQ(orders[2]["version"].GetInt64(), 3);
  EXPECT_STREQ(orders[2]["data"]["previous_status"].GetString(), "AWAITING_SHIPMENT");
  auto inventory = r.on("inventory.events");
  ASSERT_EQ(inventory.size(), 2u);
  EXPECT_STREQ(inventory[0]["event_type"].GetString(), "inventory.sale_recorded");
  EXPECT_STREQ(inventory[0]["data"]["items"][0]["product_sku"].GetString(), "CF-1");
  EXPECT_EQ(inventory[0]["data"]["items"][0]["quantity"].GetInt64(), 2);
  EXPECT_STREQ(inventory[1]["event_type"].GetString(), "inventory.sale_cancelled");
  EXPECT_TRUE(inventory[1]["data"]["restock"].GetBool());
  EXPECT_TRUE(r.on("conflicts.audit").empty());
}

TEST(Orders, NonsenseTransitionIsAConflictNotAnOverwrite) {
  Rig r;
  r.feed(order("DELIVERED", kT0, "tiktok_webhook", "e1"));
  r.feed(order("AWAITING_SHIPMENT", kT0 + 60000, "tiktok_webhook", "e2"));
  EXPECT_EQ(r.on("orders.events").size(), 1u);
  auto audit = r.on("conflicts.audit");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_STREQ(audit[0]["kind"].GetString(), "invalid_transition");
  EXPECT_STREQ(audit[0]["winner"].GetString(), "current");
  EXPECT_STREQ(audit[0]["states"]["current"]["status"].GetString(), "DELIVERED");
  EXPECT_STREQ(audit[0]["states"]["incoming"]["status"].GetString(), "AWAITING_SHIPMENT");
  EXPECT_FALSE(audit[0]["escalated"].GetBool());
}

TEST(Orders, ShippedOrdersAreImmutableAndExpensiveOnesEscalate) {
  Rig r;
  r.feed(order("AWAITING_SHIPMENT", kT0, "tiktok_webhook", "e1", 150000));
  r.feed(shipment("T1", "picked_up", kT0 + 60000, "s1"));
  r.feed(order("CANCELLED", kT0 + 120000, "tiktok_webhook", "e2", 150000));
  auto audit = r.on("conflicts.audit");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_STREQ(audit[0]["strategy"].GetString(), "shipped_orders_immutable");
  EXPECT_TRUE(audit[0]["escalated"].GetBool());  // $1500 > $1000
  EXPECT_EQ(r.on("conflicts.manual").size(), 1u);
  EXPECT_EQ(r.on("inventory.events").size(), 1u);  // the sale, never a cancellation
}

TEST(Orders, ConcurrentUpdatesResolveBySourcePriority) {
  Rig r;
  r.feed(order("AWAITING_SHIPMENT", kT0, "tiktok_webhook", "e1"));
  // 2 s later a lower-priority source moves it on: conflict, the webhook's state stays.
  r.feed(order("AWAITING_COLLECTION", kT0 + 2000, "automated_system", "e2"));
  auto audit = r.on("conflicts.audit");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_STREQ(audit[0]["strategy"].GetString(), "last_write_wins_by_source_priority");
  EXPECT_STREQ(audit[0]["winner"].GetString(), "current");
  EXPECT_EQ(r.on("orders.events").size(), 1u);
  // 6 s later (outside the window) the same update is no conflict.
  r.feed(order("AWAITING_COLLECTION", kT0 + 8000, "automated_system", "e3"));
  EXPECT_EQ(r.on("orders.events").size(), 2u);
  EXPECT_EQ(r.on("conflicts.audit").size(), 1u);
}

TEST(Shipments, FirstSuccessfulShipmentWinsAndFieldsMerge) {
  Rig r;
  r.feed(order("AWAITING_SHIPMENT", kT0, "tiktok_webhook", "e1"));
  r.feed(shipment("T1", "picked_up", kT0 + 1000, "s1"));  // 1 s after the status: merge
  r.feed(shipment("T2", "in_transit", kT0 + 60000, "s2"));
  auto audit = r.on("conflicts.audit");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_STREQ(audit[0]["strategy"].GetString(), "field_level_merge");
  EXPECT_STREQ(audit[0]["winner"].GetString(), "merged");
  EXPECT_STREQ(audit[1]["strategy"].GetString(), "first_successful_shipment_wins");
  auto orders = r.on("orders.events");
  EXPECT_EQ(orders.size(), 2u);  // status, first shipment; not the second
}

TEST(Payments, CompletedPaymentsAreImmutable) {
  Rig r;
  r.feed(payment(2000, kT0, "p1"));
  r.feed(payment(2000, kT0 + 60000, "p2"));  // repeated: nothing
  EXPECT_EQ(r.on("orders.events").size(), 1u);
  r.feed(payment(2500, kT0 + 90000, "p3"));
  auto audit = r.on("conflicts.audit");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_STREQ(audit[0]["strategy"].GetString(), "completed_payments_immutable");
  EXPECT_FALSE(audit[0]["escalated"].GetBool());
  r.feed(payment(60000, kT0 + 99000, "p4"));  // $600 > $500
  EXPECT_TRUE(r.on("conflicts.audit").back()["escalated"].GetBool());
  EXPECT_EQ(r.on("orders.events").size(), 1u);
}

TEST(Inventory, StockDecreasesWinAndBigDiscrepanciesEscalate) {
  Rig r;
  r.feed(stock(100, kT0, "scheduled_sync", "i1"));
  r.feed(stock(105, kT0 + 1000, "manual_admin", "i2"));  // higher, within 5 s: kept out
  r.feed(stock(95, kT0 + 2000, "tiktok_webhook",
               "i3"));  // lower, within 5 s of manual? no: of i1's entity state
  auto inventory = r.on("inventory.events");
  ASSERT_EQ(inventory.size(), 2u);
  EXPECT_EQ(inventory[0]["data"]["available"].GetInt64(), 100);
  EXPECT_EQ(inventory[1]["data"]["available"].GetInt64(), 95);
  auto audit = r.on("conflicts.audit");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_STREQ(audit[0]["winner"].GetString(), "current");
  EXPECT_STREQ(audit[1]["winner"].GetString(), "incoming");
  EXPECT_FALSE(audit[1]["escalated"].GetBool());
  r.feed(stock(50, kT0 + 3000, "scheduled_sync", "i4"));  // 47% under: escalated
  EXPECT_TRUE(r.on("conflicts.audit").back()["escalated"].GetBool());
  EXPECT_EQ(r.on("conflicts.manual").size(), 1u);
}

TEST(Replay, ReReadInputResendsTheSameOutputsAndAppliesNothing) {
  Rig r;
  std::string e1 = order("AWAITING_SHIPMENT", kT0, "tiktok_webhook", "e1");
  r.reconciler.on_event(r.store, e1, 5, 0, r.out);
  std::vector<OutputRecord> first = r.out;
  std::vector<OutputRecord> again;
  r.reconciler.on_event(r.store, e1, 5, 0, again);
  ASSERT_EQ(again.size(), first.size() - 1);  // all but the changelog write
  for (size_t i = 0; i < again.size(); ++i) EXPECT_EQ(again[i].value, first[i].value);
  EXPECT_EQ(r.store.find("order|c1|tiktok:O1")->version, 1);
}

// Two creators on one partition with the same channel order id keep two
// entities: keys carry the creator.
TEST(Isolation, TwoCreatorsNeverShareAnEntity) {
  Rig r;
  std::string mine = order("AWAITING_SHIPMENT", kT0, "tiktok_webhook", "e1");
  std::string theirs = mine;
  for (size_t at = theirs.find("\"c1\""); at != std::string::npos; at = theirs.find("\"c1\""))
    theirs.replace(at, 4, "\"c2\"");
  r.feed(mine);
  r.feed(theirs);
  ASSERT_NE(r.store.find("order|c1|tiktok:O1"), nullptr);
  ASSERT_NE(r.store.find("order|c2|tiktok:O1"), nullptr);
  EXPECT_EQ(r.store.find("order|c1|tiktok:O1")->version, 1);
  EXPECT_EQ(r.store.find("order|c2|tiktok:O1")->version, 1);
}

TEST(Determinism, SameInputTwiceGivesByteIdenticalOutputs) {
  std::vector<std::string> input = {order("UNPAID", kT0, "tiktok_webhook", "a"),
                                    order("AWAITING_SHIPMENT", kT0 + 1000, "tiktok_webhook", "b"),
                                    shipment("T1", "picked_up", kT0 + 2000, "c"),
                                    order("CANCELLED", kT0 + 3000, "tiktok_webhook", "d"),
                                    stock(10, kT0, "scheduled_sync", "e"),
                                    payment(1, kT0, "f")};
  auto run = [&] {
    Rig r;
    for (auto& e : input) r.feed(e);
    return r.out;
  };
  auto a = run(), b = run();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].value, b[i].value);
}

// Finished entities leave the state once the retention has passed in event
// time, on ticks, with tombstones on the changelog: a store restored from
// that changelog holds exactly the same keys, and re-reading the tick
// changes nothing.
TEST(Eviction, FinishedEntitiesLeaveOnTicksAndARestoreAgrees) {
  Rig r;
  const int64_t retention = ReconcilerSettings{}.entity_retention_ms;
  std::string open_order = order("UNPAID", kT0, "tiktok_webhook", "o2");
  for (size_t at = open_order.find("O1"); at != std::string::npos; at = open_order.find("O1"))
    open_order.replace(at, 2, "O2");
  r.feed(order("COMPLETED", kT0, "tiktok_webhook", "o1"));
  r.feed(payment(2000, kT0 + 10, "p1"));
  r.feed(shipment("T1", "delivered", kT0 + 20, "s1"));
  r.feed(stock(10, kT0, "scheduled_sync", "i1"));
  r.feed(open_order);
  const size_t entities = r.store.size();
  ASSERT_EQ(entities, 5u);

  r.feed(tick_json(kT0 + retention - 1));  // not yet: scans, evicts nothing, sets the clock
  EXPECT_EQ(r.reconciler.counters().evicted, 0u);
  EXPECT_EQ(r.store.size(), entities + 1);  // + the eviction clock
  r.out.clear();
  r.feed(tick_json(kT0 + retention + 60 * 1000));  // within the scan interval: nothing to do
  EXPECT_TRUE(r.out.empty());

  r.feed(tick_json(kT0 + retention + 11 * 60 * 1000));
  EXPECT_EQ(r.reconciler.counters().evicted, 3u);
  EXPECT_EQ(r.store.find("order|c1|tiktok:O1"), nullptr);
  EXPECT_EQ(r.store.find("payment|c1|tiktok:O1"), nullptr);
  EXPECT_EQ(r.store.find("shipment|c1|tiktok:O1"), nullptr);
  EXPECT_NE(r.store.find("order|c1|tiktok:O2"), nullptr);  // not finished: kept
  std::vector<std::string> tombstones;
  for (const auto& o : r.out) {
    EXPECT_EQ(o.topic, "reconciler.entities.changelog");  // no downstream output
    if (o.tombstone) tombstones.push_back(o.key);
  }
  EXPECT_EQ(tombstones, (std::vector<std::string>{"order|c1|tiktok:O1", "payment|c1|tiktok:O1",
                                                  "shipment|c1|tiktok:O1"}));

  // The whole changelog, replayed into an empty store: the same keys.
  Rig all;
  for (const auto& e :
       {order("COMPLETED", kT0, "tiktok_webhook", "o1"), payment(2000, kT0 + 10, "p1"),
        shipment("T1", "delivered", kT0 + 20, "s1"), stock(10, kT0, "scheduled_sync", "i1"),
        open_order, tick_json(kT0 + retention - 1), tick_json(kT0 + retention + 60 * 1000),
        tick_json(kT0 + retention + 11 * 60 * 1000)}) {
    all.feed(e);
  }
  EntityStore restored{"reconciler.entities.changelog", 0};
  for (const auto& o : all.out) {
    if (o.topic != "reconciler.entities.changelog") continue;
    std::string_view value(o.value);
    restored.apply_encoded(o.key, o.tombstone ? nullptr : &value);
  }
  std::vector<std::string> kept, restored_keys;
  for (const auto& [key, e] : r.store.entries()) kept.push_back(key);
  for (const auto& [key, e] : restored.entries()) restored_keys.push_back(key);
  std::sort(kept.begin(), kept.end());
  std::sort(restored_keys.begin(), restored_keys.end());
  EXPECT_EQ(restored_keys, kept);

  // The same tick read again after a crash: already applied, nothing written.
  std::vector<OutputRecord> again;
  r.reconciler.on_event(r.store, tick_json(kT0 + retention + 11 * 60 * 1000), r.offset - 1,
                        r.offset - 1, again);
  EXPECT_TRUE(again.empty());
}

TEST(Eviction, OnlyFinishedEntitiesPastTheRetention) {
  const int64_t day = 24 * 3600 * 1000LL;
  EntityState e;
  e.updated_ms = kT0;
  e.value = "COMPLETED";
  EXPECT_TRUE(evictable("order|c|1", e, kT0 + 7 * day, 7 * day));
  EXPECT_FALSE(evictable("order|c|1", e, kT0 + 7 * day - 1, 7 * day));
  e.value = "CANCELLED";
  EXPECT_TRUE(evictable("order|c|1", e, kT0 + 8 * day, 7 * day));
  e.value = "IN_TRANSIT";
  EXPECT_FALSE(evictable("order|c|1", e, kT0 + 80 * day, 7 * day));
  e.value = "12";
  EXPECT_TRUE(evictable("payment|c|1", e, kT0 + 8 * day, 7 * day));
  EXPECT_TRUE(evictable("shipment|c|1", e, kT0 + 8 * day, 7 * day));
  EXPECT_FALSE(evictable("inventory|c|sku", e, kT0 + 80 * day, 7 * day));
  e.updated_ms = -1;  // never updated
  EXPECT_FALSE(evictable("payment|c|1", e, kT0 + 80 * day, 7 * day));
}

TEST(SkuMapping, ChannelIdsMapToOneProduct) {
  auto m = SkuMapping::from_json(R"({"tiktok":{"17":"CASE-PRO"},"shopify":{"4711":"CASE-PRO"}})");
  EXPECT_EQ(m.product_sku("tiktok", "17", "CF-1"), "CASE-PRO");
  EXPECT_EQ(m.product_sku("shopify", "4711", ""), "CASE-PRO");
  EXPECT_EQ(m.product_sku("tiktok", "18", "CF-2"), "CF-2");
  EXPECT_EQ(m.product_sku("shopify", "9", ""), "shopify:9");
  EXPECT_THROW(SkuMapping::from_json(R"({"tiktok":{"17":5}})"), std::invalid_argument);
}

TEST(SkuMapping, ShopifyItemsLearnTheirSkuFromTheScheduledSync) {
  auto shopify = [](const std::string& extra, int64_t available, int64_t at,
                    std::string_view source, const std::string& id) {
    return test::event_json("inventory.stock_updated", "c1", at,
                            R"({"channel":"shopify","sku_id":"88100299",)" + extra +
                                R"("available":)" + std::to_string(available) +
                                R"(,"updated_at":"x"})",
                            id, source, "shopify:88100299");
  };
  Rig r;
  // Before any sync, a webhook's item has no SKU: a ledger entry of its own.
  r.feed(shopify("", 10, kT0, "shopify_webhook", "s0"));
  // The sync's count carries the SKU the Admin API gave; the webhooks after
  // it land on the same product SKU.
  r.feed(shopify(R"("seller_sku":"SHOP-SKU-299",)", 12, kT0 + 60000, "scheduled_sync", "s1"));
  r.feed(shopify("", 11, kT0 + 120000, "shopify_webhook", "s2"));
  auto inventory = r.on("inventory.events");
  ASSERT_EQ(inventory.size(), 3u);
  EXPECT_STREQ(inventory[0]["data"]["product_sku"].GetString(), "shopify:88100299");
  EXPECT_STREQ(inventory[1]["data"]["product_sku"].GetString(), "SHOP-SKU-299");
  EXPECT_STREQ(inventory[2]["data"]["product_sku"].GetString(), "SHOP-SKU-299");
  EXPECT_EQ(inventory[2]["data"]["available"].GetInt64(), 11);
  // Learned per creator: another creator's item of the same id knows nothing.
  r.feed(test::event_json(
      "inventory.stock_updated", "c2", kT0 + 130000,
      R"({"channel":"shopify","sku_id":"88100299","available":3,"updated_at":"x"})", "s3",
      "shopify_webhook", "shopify:88100299"));
  EXPECT_STREQ(r.on("inventory.events").back()["data"]["product_sku"].GetString(),
               "shopify:88100299");
  // The mapping file wins over what was learned.
  Reconciler mapped{ReconcilerSettings{}, ReconcilerTopics{},
                    SkuMapping::from_json(R"({"shopify":{"88100299":"CASE-PRO"}})")};
  EntityStore store{"reconciler.entities.changelog", 0};
  std::vector<OutputRecord> out;
  mapped.on_event(store,
                  shopify(R"("seller_sku":"SHOP-SKU-299",)", 12, kT0, "scheduled_sync", "m1"), 0, 0,
                  out);
  mapped.on_event(store, shopify("", 11, kT0 + 60000, "shopify_webhook", "m2"), 1, 1, out);
  size_t case_pro = 0;
  for (const auto& o : out)
    if (o.topic == "inventory.events")
      case_pro += o.value.find("\"product_sku\":\"CASE-PRO\"") != std::string::npos;
  EXPECT_EQ(case_pro, 2u);
}

}  // namespace
}  // namespace cf
