// realtime-push's transform: throttle windows, coalescing, changed-field
// diffs and versions, exactly-once re-reads, and order metrics from the
// records the real validator and reconciler write for generated webhooks.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>
#include <string>
#include <vector>

#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/time_format.h"
#include "order_events.h"
#include "push_model.h"
#include "stockout_model.h"

namespace cf {
namespace {

constexpr const char* kChangelog = "realtime-push.state.changelog";
constexpr int64_t kT0 = 1795000000000;

// A velocity snapshot as inventory-velocity writes it; the real predictor
// turns it into the prediction (and alerts) realtime-push reads.
std::string velocity(const std::string& sku, int64_t version, int64_t at_ms, int64_t available,
                     int64_t per_hour, bool viral = false) {
  return R"({"event_type":"inventory.velocity_updated","creator_id":"creator-1","product_sku":")" +
         sku + R"(","version":)" + std::to_string(version) + R"(,"as_of":")" +
         format_rfc3339_ms(at_ms) + R"(","as_of_ms":)" + std::to_string(at_ms) +
         R"(,"available":)" + std::to_string(available) + R"(,"sales_1h":)" +
         std::to_string(per_hour) + R"(,"sales_24h":)" + std::to_string(per_hour * 24) +
         R"(,"viral":)" + (viral ? "true" : "false") + R"(,"spike_ratio":)" +
         (viral ? "6.0" : "1.0") + "}";
}

struct Rig {
  RealtimePush push{PushSettings{}};
  PushStore store{kChangelog, 0};
  StockoutPredictor predictor{ReorderCatalog{}, PredictorTopics{}};
  PredictorStore predictor_store{"p", 0};
  std::map<std::string, int64_t> next_offset;

  /// Feeds one record of `topic`; returns the realtime.push messages.
  std::vector<rapidjson::Document> feed(const std::string& topic, const std::string& value) {
    std::vector<OutputRecord> out;
    const int64_t offset = next_offset[topic]++;
    push.on_record(store, topic, value, offset, offset, out);
    return messages(out);
  }
  /// A velocity snapshot through the real predictor, then its outputs here.
  std::vector<rapidjson::Document> snapshot(const std::string& v) {
    std::vector<OutputRecord> predicted;
    predictor.on_velocity(predictor_store, v, next_offset["velocity"]++, 0, predicted);
    std::vector<rapidjson::Document> all;
    for (const auto& r : predicted) {
      if (r.topic != "inventory.predictions" && r.topic != "inventory.alerts") continue;
      for (auto& m : feed(r.topic, r.value)) all.push_back(std::move(m));
    }
    return all;
  }
  std::vector<rapidjson::Document> tick(int64_t at_ms) {
    return feed("orders.events", tick_json(at_ms));
  }
  static std::vector<rapidjson::Document> messages(const std::vector<OutputRecord>& out) {
    std::vector<rapidjson::Document> docs;
    for (const auto& r : out) {
      if (r.topic != "realtime.push") continue;
      docs.emplace_back();
      EXPECT_TRUE(parse_json(docs.back(), r.value)) << r.value;
    }
    return docs;
  }
};

const rapidjson::Value* update_of(const rapidjson::Document& m, const std::string& entity) {
  for (const auto& u : m["updates"].GetArray())
    if (entity == u["entity"].GetString()) return &u;
  return nullptr;
}

TEST(RealtimePush, AChangeAfterAQuietWindowGoesAtOnceTheNextOnesWaitAndCoalesce) {
  Rig rig;
  // 100 units selling 60/h: out in under 2 h, on the critical-stock card.
  auto first = rig.snapshot(velocity("CASE-PRO", 1, kT0, 100, 60));
  ASSERT_EQ(first.size(), 2u) << "critical_stock and inventory_alerts, at once";
  const rapidjson::Document* card = nullptr;
  for (const auto& m : first)
    if (std::string(m["channel"].GetString()) == "critical_stock") card = &m;
  ASSERT_NE(card, nullptr);
  const auto* u = update_of(*card, "CASE-PRO");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ((*u)["version"].GetInt64(), 1);
  EXPECT_EQ((*u)["fields"]["available"].GetInt64(), 100);
  EXPECT_NEAR((*u)["fields"]["rate_per_hour"].GetDouble(), 60, 1e-9);
  EXPECT_FALSE((*u)["fields"]["viral"].GetBool());
  EXPECT_TRUE((*u)["fields"].HasMember("reorder_quantity"));
  // Two more within the same second: nothing sent, the latest kept.
  for (const auto& m : rig.snapshot(velocity("CASE-PRO", 2, kT0 + 300, 90, 60)))
    ADD_FAILURE() << "sent within the window: " << m["channel"].GetString();
  EXPECT_TRUE(rig.snapshot(velocity("CASE-PRO", 3, kT0 + 600, 80, 60)).empty());
  EXPECT_TRUE(rig.tick(kT0 + 900).empty()) << "the window is still open";
  auto closed = rig.tick(kT0 + 1000);
  const rapidjson::Document* next = nullptr;
  for (const auto& m : closed)
    if (std::string(m["channel"].GetString()) == "critical_stock") next = &m;
  ASSERT_NE(next, nullptr);
  EXPECT_EQ((*next)["at_ms"].GetInt64(), kT0 + 1000);
  u = update_of(*next, "CASE-PRO");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ((*u)["version"].GetInt64(), 2) << "one message per window: versions have no gaps";
  EXPECT_EQ((*u)["fields"]["available"].GetInt64(), 80) << "coalesced to the latest";
  EXPECT_FALSE((*u)["fields"].HasMember("viral")) << "only fields that changed";
  EXPECT_TRUE(rig.tick(kT0 + 5000).empty()) << "nothing pending";
  // Restocked: off the card (removed), with the next version.
  auto restocked = rig.snapshot(velocity("CASE-PRO", 4, kT0 + 6000, 100000, 60));
  bool removed = false;
  for (const auto& m : restocked) {
    if (std::string(m["channel"].GetString()) != "critical_stock") continue;
    u = update_of(m, "CASE-PRO");
    ASSERT_NE(u, nullptr);
    EXPECT_TRUE((*u)["removed"].GetBool());
    EXPECT_EQ((*u)["version"].GetInt64(), 3);
    removed = true;
  }
  EXPECT_TRUE(removed);
}

TEST(RealtimePush, TheViralCauseReachesTheCard) {
  Rig rig;
  rig.snapshot(velocity("CASE-PRO", 1, kT0, 100, 60));
  // The predictor raises viral_spike on a snapshot flagged viral with a
  // spike ratio over its threshold; the card shows it as the cause.
  rig.snapshot(velocity("CASE-PRO", 2, kT0 + 10000, 90, 60, true));
  auto sent = rig.tick(kT0 + 20000);
  bool viral = false;
  for (const auto& m : sent) {
    if (std::string(m["channel"].GetString()) != "critical_stock") continue;
    const auto* u = update_of(m, "CASE-PRO");
    ASSERT_NE(u, nullptr);
    viral = (*u)["fields"].HasMember("viral") && (*u)["fields"]["viral"].GetBool();
  }
  EXPECT_TRUE(viral);
}

TEST(RealtimePush, OrderMetricsCountOrdersAndRevenueOfTheRealRecords) {
  GeneratorSettings settings;
  settings.shops = 4;
  auto records = test::reconciled_order_events(600, settings, CF_SCHEMA_DIR);
  ASSERT_GT(records.size(), 100u);
  // The expected figures, by the read models' rules: an order counts on the
  // day of its first version, a completed payment's amount on its day.
  std::map<std::string, std::map<std::string, int64_t>> expected;  // creator -> field -> value
  Rig rig;
  std::map<std::string, std::map<std::string, int64_t>> seen;
  std::map<std::string, std::map<std::string, int64_t>> versions;
  auto collect = [&](const std::vector<rapidjson::Document>& ms) {
    for (const auto& m : ms) {
      if (std::string(m["channel"].GetString()) != "order_metrics") continue;
      const std::string creator = m["creator_id"].GetString();
      for (const auto& u : m["updates"].GetArray()) {
        const std::string entity = u["entity"].GetString();
        EXPECT_EQ(u["version"].GetInt64(), ++versions[creator][entity]) << "no gaps";
        for (const auto& f : u["fields"].GetObject())
          seen[creator][entity + "/" + f.name.GetString()] = f.value.GetInt64();
      }
    }
  };
  int64_t last_ms = 0;
  for (const auto& r : records) {
    rapidjson::Document d;
    ASSERT_TRUE(parse_json(d, r.value));
    std::string error;
    auto e = read_envelope(d, error);
    ASSERT_TRUE(e) << error;
    const std::string day = format_rfc3339_ms(e->occurred_at_ms).substr(0, 10);
    if (e->event_type == "order.status_changed" && int_member(d, "version") == 1)
      ++expected[std::string(e->creator_id)][day + "/orders"];
    if (e->event_type == "order.payment_completed") {
      expected[std::string(e->creator_id)]
              [day + "/revenue_minor." + std::string(string_member(*e->data, "currency"))] +=
          int_member(*e->data, "amount_minor");
    }
    last_ms = std::max(last_ms, e->occurred_at_ms);
    collect(rig.feed(r.topic, r.value));
  }
  collect(rig.tick(last_ms + 5000));
  EXPECT_EQ(seen, expected);
}

TEST(RealtimePush, AReReadInputResendsTheSameMessageAndAReplayIsIdentical) {
  auto run = [](bool crash) {
    Rig rig;
    std::vector<std::string> sent;
    auto keep = [&](const std::vector<OutputRecord>& out) {
      for (const auto& r : out)
        if (r.topic == "realtime.push") sent.push_back(r.value);
    };
    std::vector<OutputRecord> predicted;
    for (int i = 0; i < 20; ++i) {
      rig.predictor.on_velocity(
          rig.predictor_store,
          velocity("SKU-" + std::to_string(i % 3), i + 1, kT0 + i * 400, 200 - i * 5, 60 + i), i, 0,
          predicted);
    }
    int64_t offset = 0;
    for (const auto& r : predicted) {
      if (r.topic != "inventory.predictions") continue;
      std::vector<OutputRecord> out;
      rig.push.on_record(rig.store, r.topic, r.value, offset, 0, out);
      keep(out);
      if (crash && offset == 10) {
        // Restore from the changelog written so far, then read input 10
        // again: the journalled message, byte for byte, and no state change.
        PushStore restored(kChangelog, 0);
        for (const auto& [key, value] : rig.store.entries()) {
          std::string encoded = PushCodec::encode(value);
          std::string_view v = encoded;
          restored.apply_encoded(key, &v);
        }
        std::vector<OutputRecord> again;
        rig.push.on_record(restored, r.topic, r.value, offset, 0, again);
        std::vector<std::string> before, after;
        for (const auto& o : out)
          if (o.topic == "realtime.push") before.push_back(o.value);
        for (const auto& o : again)
          if (o.topic == "realtime.push") after.push_back(o.value);
        EXPECT_EQ(after, before);
        EXPECT_EQ(PushCodec::encode(*restored.find("creator-1|critical_stock")),
                  PushCodec::encode(*rig.store.find("creator-1|critical_stock")));
      }
      ++offset;
    }
    return sent;
  };
  auto a = run(false);
  auto b = run(true);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
}

TEST(RealtimePush, StateSurvivesItsCodecAndBadRecordsAreRefused) {
  PushChannelState s;
  s.last_sent_ms = kT0;
  s.entities["A"].current = {{"available", "3"}, {"viral", "true"}};
  s.entities["A"].sent = {{"available", "4"}};
  s.entities["A"].version = 7;
  s.entities["A"].present = s.entities["A"].sent_present = s.entities["A"].dirty = true;
  s.applied["orders.events"] = 42;
  PushChannelState back;
  ASSERT_TRUE(PushCodec::decode(PushCodec::encode(s), back));
  EXPECT_EQ(PushCodec::encode(back), PushCodec::encode(s));
  PushChannelState junk;
  EXPECT_FALSE(PushCodec::decode("\x01\x02garbage", junk));
  Rig rig;
  EXPECT_THROW(rig.feed("inventory.alerts", "[1]"), std::invalid_argument);
  EXPECT_THROW(rig.feed("inventory.alerts", R"({"creator_id":"c","alert":"x"})"),
               std::invalid_argument);
  EXPECT_THROW(rig.feed("orders.events", "{\"event_type\":\"tick\"}"), std::invalid_argument);
}

}  // namespace
}  // namespace cf
