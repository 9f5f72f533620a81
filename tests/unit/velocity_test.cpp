// inventory-velocity's transform: ledger arithmetic, windows, ticks, replays,
// commands, determinism and state round trips. No broker.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <tuple>

#include "cf/event_envelope.h"
#include "event_fixtures.h"
#include "velocity_engine.h"

namespace cf {
namespace {

using test::kHour;
using test::kMinute;
using test::kT0;

struct Rig {
  VelocityEngine engine{VelocitySettings{}, VelocityTopics{}};
  InventoryPartitionState state{"inventory-velocity.ledger.changelog", 0};
  std::vector<OutputRecord> out;
  int64_t offset = 0;
  void feed(const std::string& json) { engine.on_event(state, json, offset++, out); }
  void tick(int64_t at) { feed(tick_json(at)); }
  SkuLedger& sku(const std::string& s) { return *state.find("c1", s); }
  std::vector<OutputRecord> on(const std::string& topic) const {
    std::vector<OutputRecord> r;
    for (auto& o : out)
      if (o.topic == topic) r.push_back(o);
    return r;
  }
  rapidjson::Document last_snapshot() const {
    rapidjson::Document d;
    auto v = on("inventory.velocity");
    EXPECT_FALSE(v.empty());
    d.Parse(v.back().value.c_str());
    return d;
  }
};

TEST(Ledger, SetsSalesCancellationsAndAdjustments) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1"));
  r.feed(test::sale("c1", kT0 + 1000, {{"A", 3}, {"B", 1}, {"A", 2}}, "o1"));
  EXPECT_EQ(r.sku("A").sold, 5);
  EXPECT_EQ(r.sku("A").available(), 95);
  EXPECT_EQ(r.sku("B").available(), -1);  // sold before any count arrived: the ledger says so
  r.feed(test::cancel("c1", kT0 + 2000, {{"A", 2}}, true, "o1"));
  EXPECT_EQ(r.sku("A").available(), 97);
  r.feed(test::cancel("c1", kT0 + 3000, {{"A", 1}}, false, "o2"));  // shipped: no restock
  EXPECT_EQ(r.sku("A").available(), 97);
  r.feed(test::event_json("inventory.stock_adjusted", "c1", kT0 + 4000,
                          R"({"product_sku":"A","delta":10,"reason":"returned to shelf"})", "adj"));
  EXPECT_EQ(r.sku("A").total, 110);
  EXPECT_EQ(r.sku("A").available(), 107);
  // A newer count resets sold; an older one is ignored.
  r.feed(test::stock_set("c1", kT0 + 5000, "A", 100, "s2"));
  EXPECT_EQ(r.sku("A").available(), 100);
  r.feed(test::stock_set("c1", kT0 + 4500, "A", 7, "s0"));
  EXPECT_EQ(r.sku("A").available(), 100);
  EXPECT_EQ(r.engine.counters().stale_syncs, 1u);
}

// Regression: a repeat of the latest count (a replay, or a platform retry
// that reached the ledger) recomputed `sold` from the 60 s recent window and
// erased every older sale since that count, inflating stock.
TEST(Ledger, TheSameCountTwiceIsTheSameCountOnce) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1"));
  r.feed(test::sale("c1", kT0 + 1000, {{"A", 4}}, "o1"));
  r.tick(kT0 + 120000);  // two minutes on: the sale has left the recent window
  r.feed(test::sale("c1", kT0 + 121000, {{"A", 1}}, "o2"));
  ASSERT_EQ(r.sku("A").available(), 95);
  const int64_t version = r.sku("A").version;
  // Outputs other than the remembered event id of each input.
  auto effects = [&] {
    return std::count_if(r.out.begin(), r.out.end(),
                         [](const OutputRecord& o) { return o.key.rfind("E|", 0) != 0; });
  };
  const auto outputs = effects();
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1-again"));  // the same count, under another id
  EXPECT_EQ(r.sku("A").available(), 95);
  EXPECT_EQ(r.sku("A").sold, 5);
  EXPECT_EQ(r.sku("A").version, version);  // nothing changed, nothing sent
  EXPECT_EQ(effects(), outputs);
  r.feed(test::stock_set("c1", kT0, "A", 130,
                         "s1-other-value"));  // same time, other value: still the first wins
  EXPECT_EQ(r.sku("A").available(), 95);
}

TEST(Ledger, DiscrepancyOverTenPercentIsAuditedAndEscalated) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1"));
  r.feed(test::sale("c1", kT0 + 1000, {{"A", 10}}, "o1"));   // ledger: 90
  r.feed(test::stock_set("c1", kT0 + 2000, "A", 85, "s2"));  // 5.6%: fine
  EXPECT_TRUE(r.on("conflicts.audit").empty());
  r.feed(test::stock_set("c1", kT0 + 3000, "A", 70, "s3"));  // 17.6% under the ledger's 85
  ASSERT_EQ(r.on("conflicts.audit").size(), 1u);
  ASSERT_EQ(r.on("conflicts.manual").size(), 1u);
  rapidjson::Document d;
  d.Parse(r.on("conflicts.audit")[0].value.c_str());
  EXPECT_STREQ(d["kind"].GetString(), "inventory_discrepancy");
  EXPECT_EQ(d["states"]["ledger"]["available"].GetInt64(), 85);
  EXPECT_EQ(d["states"]["reported"]["available"].GetInt64(), 70);
  EXPECT_STREQ(d["discrepancy_ratio"].IsNumber() ? "ok" : "no", "ok");
  EXPECT_EQ(r.sku("A").available(), 70);  // the physical count is applied
}

TEST(Windows, BucketsAcrossHourAndDayBoundaries) {
  SkuLedger l;
  VelocitySettings s;
  // 2026-11-18T23:59:30Z (minute index m) and the next day's 00:00:30Z.
  const int64_t midnight = (kT0 / (24 * kHour) + 1) * 24 * kHour;
  l.minute_sales[minute_of(midnight - 30000)] = 4;
  l.minute_sales[minute_of(midnight + 30000)] = 6;
  auto f = compute_velocity(l, midnight + 30000, s);
  EXPECT_EQ(f.sales_1h, 10);
  EXPECT_EQ(f.sales_24h, 10);
  // 59 minutes after the first sale's minute began: both still in the hour.
  f = compute_velocity(l, midnight - 60000 + 59 * kMinute + 59999, s);
  EXPECT_EQ(f.sales_1h, 10);
  // One minute later the 23:59 bucket leaves the hour but not the day.
  f = compute_velocity(l, midnight - 60000 + 60 * kMinute, s);
  EXPECT_EQ(f.sales_1h, 6);
  EXPECT_EQ(f.sales_24h, 10);
  // 24 h after 23:59 that bucket leaves the day.
  f = compute_velocity(l, midnight - 60000 + 24 * kHour, s);
  EXPECT_EQ(f.sales_24h, 6);
  // Buckets after stream time are not counted yet.
  f = compute_velocity(l, midnight - 40000, s);
  EXPECT_EQ(f.sales_1h, 4);
}

TEST(Windows, VelocityAndSpikeAgainstHandComputedValues) {
  SkuLedger l;
  VelocitySettings s;
  const int64_t now = kT0;
  for (int h = 1; h < 24; ++h)
    l.minute_sales[minute_of(now - h * kHour)] = 2;  // 46 units over 23 h
  l.minute_sales[minute_of(now)] = 2;
  auto f = compute_velocity(l, now, s);
  EXPECT_EQ(f.sales_24h, 48);
  EXPECT_DOUBLE_EQ(f.velocity_24h, 2.0);
  EXPECT_DOUBLE_EQ(f.velocity_1h, 2.0);
  EXPECT_DOUBLE_EQ(f.spike_ratio, 1.0);
  EXPECT_FALSE(f.viral);
  l.minute_sales[minute_of(now)] = 40;  // 40 in the last hour, 86 in the day
  f = compute_velocity(l, now, s);
  EXPECT_DOUBLE_EQ(f.velocity_1h, 40.0);
  EXPECT_NEAR(f.velocity_24h, 86.0 / 24, 1e-12);
  EXPECT_NEAR(f.spike_ratio, 40.0 / (86.0 / 24), 1e-12);
  EXPECT_TRUE(f.viral);                 // 40 > 3 * 3.58 and >= 20 units
  l.minute_sales[minute_of(now)] = 12;  // ratio high but under spike_min_units
  EXPECT_FALSE(compute_velocity(l, now, s).viral);
}

TEST(Ticks, CloseWindowsOfQuietSkusAndExpireBuckets) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1"));
  r.feed(test::sale("c1", kT0 + 1000, {{"A", 30}}, "o1"));
  EXPECT_EQ(r.last_snapshot()["sales_1h"].GetInt64(), 30);
  r.out.clear();
  r.tick(kT0 + 2 * kHour);  // no sale for 2 h: the hour window is empty now
  auto d = r.last_snapshot();
  EXPECT_EQ(d["sales_1h"].GetInt64(), 0);
  EXPECT_EQ(d["sales_24h"].GetInt64(), 30);
  r.out.clear();
  r.tick(kT0 + 2 * kHour + 1000);  // nothing changed: nothing sent
  EXPECT_TRUE(r.on("inventory.velocity").empty());
  r.tick(kT0 + 25 * kHour);
  EXPECT_EQ(r.last_snapshot()["sales_24h"].GetInt64(), 0);
  bool tombstone = false;
  for (auto& o : r.out) tombstone |= o.tombstone && o.key.rfind("B|", 0) == 0;
  EXPECT_TRUE(tombstone);
  EXPECT_TRUE(r.sku("A").minute_sales.empty());
  EXPECT_TRUE(r.state.active().empty());
}

TEST(Ticks, CoalesceSnapshotsPerSkuAndFlushOnTick) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 1000, "s"));
  for (int i = 0; i < 50; ++i)
    r.feed(test::sale("c1", kT0 + 10 * i, {{"A", 1}}, "o" + std::to_string(i)));
  EXPECT_EQ(r.on("inventory.velocity").size(), 1u);  // the first one; the rest within 1 s
  r.tick(kT0 + 1500);
  auto v = r.on("inventory.velocity");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(r.last_snapshot()["available"].GetInt64(), 950);
}

TEST(Replay, AnInputReadAgainAfterACrashIsNotAppliedTwice) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1"));
  std::string s = test::sale("c1", kT0 + 1000, {{"A", 4}}, "o1");
  r.engine.on_event(r.state, s, 7, r.out);
  r.out.clear();
  r.engine.on_event(r.state, s, 7, r.out);  // same offset: a re-read
  EXPECT_EQ(r.sku("A").available(), 96);
  EXPECT_EQ(r.on("inventory.velocity").size(), 1u);  // its snapshot is sent again
  EXPECT_EQ(r.engine.counters().replays, 1u);
}

TEST(Late, BeyondAllowedLatenessChangesLedgerNotWindows) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1"));
  r.feed(test::sale("c1", kT0 + 10 * kMinute, {{"A", 1}}, "o1"));
  r.feed(test::sale("c1", kT0 + kMinute, {{"A", 5}}, "late"));  // 9 min late, lateness 1 min
  EXPECT_EQ(r.engine.counters().late_events, 1u);
  EXPECT_EQ(r.sku("A").sold, 6);
  EXPECT_EQ(compute_velocity(r.sku("A"), r.state.stream_time_ms(), {}).sales_1h, 1);
}

// Regression: one record dated far ahead (a forged or unvalidated event
// written to the topic) moved stream time years on, so every later sale was
// "late" and the windows emptied. Stream time now stops at the record's Kafka
// timestamp plus the validator's skew, and the clamp is counted.
TEST(Late, AFarFutureRecordCannotDragStreamTimeAhead) {
  Rig r;
  const int64_t skew = VelocitySettings{}.max_future_skew_ms;
  auto feed_at = [&](const std::string& json, int64_t kafka_ts) {
    r.engine.on_event(r.state, json, r.offset++, r.out, kafka_ts);
  };
  feed_at(test::stock_set("c1", kT0, "A", 100, "s1"), kT0);
  const int64_t year_5138 = 99999999999999;
  feed_at(test::sale("c1", year_5138, {{"A", 1}}, "forged"), kT0 + 1000);
  EXPECT_EQ(r.engine.counters().clamped, 1u);
  EXPECT_EQ(r.state.stream_time_ms(), kT0 + 1000 + skew);
  // Within the bound the forged record still counts (as a valid one dated
  // 10 minutes ahead would): a sale 11 minutes on is not late.
  feed_at(test::sale("c1", kT0 + 11 * kMinute, {{"A", 3}}, "o1"), kT0 + 11 * kMinute);
  EXPECT_EQ(r.engine.counters().late_events, 0u)
      << "an ordinary sale after the forged one is not late";
  EXPECT_EQ(compute_velocity(r.sku("A"), r.state.stream_time_ms(), {}).sales_1h, 3);
  // A tick dated far ahead is bounded the same way.
  feed_at(tick_json(year_5138), kT0 + 12 * kMinute);
  EXPECT_EQ(r.engine.counters().clamped, 2u);
  EXPECT_EQ(r.state.stream_time_ms(), kT0 + 12 * kMinute + skew);
}

// Regression (found by the fault campaign): an upstream processor that lost
// its assignment or was killed re-reads its input and re-sends the outputs
// it had journalled: the same sale (same event id) arrives again at a new
// offset, and the ledger counted it twice.
TEST(Replay, TheSameEventAtAnotherOffsetCountsOnce) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 100, "s1"));
  const std::string sale = test::sale("c1", kT0 + 1000, {{"A", 3}}, "o1");
  r.feed(sale);
  r.feed(test::sale("c1", kT0 + 2000, {{"A", 1}}, "o2"));
  r.feed(sale);  // re-sent upstream: a new offset here
  EXPECT_EQ(r.sku("A").sold, 4);
  EXPECT_EQ(r.engine.counters().duplicate_events, 1u);
  // The id survives a restore from the changelog...
  InventoryPartitionState restored("t", 0);
  for (auto& o : r.out) {
    if (o.topic != "inventory-velocity.ledger.changelog") continue;
    std::string_view v = o.value;
    restored.apply_encoded(o.key, o.tombstone ? nullptr : &v);
  }
  EXPECT_EQ(restored.applied_event_offset(deterministic_uuid("sale:o1")), 1);
  // ...and is forgotten once stream time passes its horizon (by a tick).
  r.tick(kT0 + 2000 + VelocitySettings{}.event_dedup_ms + 1);
  EXPECT_EQ(r.state.applied_event_offset(deterministic_uuid("sale:o1")), -1);
  EXPECT_EQ(r.state.remembered_events(), 0u);
}

TEST(Ledger, CountAndSalesGiveTheSameStockInAnyOrder) {
  // A count at T covers everything before T: sales before it are in it,
  // sales after it are not, whichever arrives first.
  std::vector<std::string> events = {
      test::sale("c1", kT0 + 1000, {{"A", 2}}, "before"),
      test::stock_set("c1", kT0 + 2000, "A", 50, "count"),
      test::sale("c1", kT0 + 3000, {{"A", 3}}, "after"),
      test::cancel("c1", kT0 + 4000, {{"A", 1}}, true, "return"),
      test::sale("c1", kT0 + 2000, {{"A", 4}}, "same-ms"),  // at the count's time: after it
  };
  std::vector<int> order = {0, 1, 2, 3, 4};
  do {
    Rig r;
    for (int i : order) r.feed(events[static_cast<size_t>(i)]);
    EXPECT_EQ(r.sku("A").available(), 50 - 3 + 1 - 4);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(Commands, ReserveReleaseAndRepeats) {
  Rig r;
  r.feed(test::stock_set("c1", kT0, "A", 10, "s1"));
  auto cmd = [&](const std::string& id, const std::string& kind, int q) {
    return R"({"command_id":")" + id + R"(","command":")" + kind +
           R"(","creator_id":"c1","reservation_id":"saga-1","product_sku":"A","quantity":)" +
           std::to_string(q) + "}";
  };
  auto reply = [&]() {
    rapidjson::Document d;
    d.Parse(r.on("inventory.replies").back().value.c_str());
    return std::string(d["status"].GetString());
  };
  r.engine.on_command(r.state, cmd("k1", "reserve", 11), r.out);
  EXPECT_EQ(reply(), "insufficient_stock");
  r.engine.on_command(r.state, cmd("k2", "reserve", 4), r.out);
  EXPECT_EQ(reply(), "reserved");
  EXPECT_EQ(r.sku("A").available(), 6);
  std::string first = r.on("inventory.replies").back().value;
  r.engine.on_command(r.state, cmd("k2", "reserve", 4), r.out);  // repeated command
  EXPECT_EQ(r.on("inventory.replies").back().value, first);
  EXPECT_EQ(r.sku("A").available(), 6);
  r.engine.on_command(r.state, cmd("k3", "release", 0), r.out);
  EXPECT_EQ(reply(), "released");
  EXPECT_EQ(r.sku("A").available(), 10);
  r.engine.on_command(r.state, cmd("k4", "release", 0), r.out);
  EXPECT_EQ(reply(), "not_reserved");
  EXPECT_EQ(r.sku("A").available(), 10);
  EXPECT_THROW(r.engine.on_command(r.state, R"({"command":"reserve"})", r.out),
               std::invalid_argument);
}

// Finished reservations leave the state a retention after they finished (in
// stream time, on ticks, tombstoned on the changelog); a live one stays, a
// repeated command within the retention still gets its first reply, and a
// store restored from the changelog holds the same reservations.
TEST(Commands, FinishedReservationsAreDeletedAfterTheRetention) {
  Rig r;
  const int64_t retention = VelocitySettings{}.reservation_retention_ms;
  r.feed(test::stock_set("c1", kT0, "A", 10, "s1"));
  auto cmd = [&](const std::string& id, const std::string& kind, const std::string& reservation,
                 int q) {
    return R"({"command_id":")" + id + R"(","command":")" + kind +
           R"(","creator_id":"c1","reservation_id":")" + reservation +
           R"(","product_sku":"A","quantity":)" + std::to_string(q) + "}";
  };
  r.engine.on_command(r.state, cmd("k1", "reserve", "done", 2), r.out);
  r.engine.on_command(r.state, cmd("k2", "release", "done", 0), r.out);      // finished at kT0
  r.engine.on_command(r.state, cmd("k3", "reserve", "refused", 50), r.out);  // rejected at kT0
  r.engine.on_command(r.state, cmd("k4", "reserve", "live", 3), r.out);      // still held
  EXPECT_EQ(r.state.reservations(), 3u);

  r.tick(kT0 + retention - 1);
  EXPECT_EQ(r.state.reservations(), 3u);
  const std::string released = r.on("inventory.replies")[1].value;
  r.engine.on_command(r.state, cmd("k2", "release", "done", 0), r.out);  // a repeat, still known
  EXPECT_EQ(r.on("inventory.replies").back().value, released);

  r.tick(kT0 + retention);
  EXPECT_EQ(r.state.reservations(), 1u);
  EXPECT_NE(r.state.reservation("c1", "live"), nullptr);
  EXPECT_EQ(r.state.reservation("c1", "done"), nullptr);
  EXPECT_EQ(r.sku("A").available(), 7);  // the live one still holds its 3 units
  size_t tombstones = 0;
  for (const auto& o : r.out) tombstones += o.tombstone && o.key.rfind("R|", 0) == 0 ? 1 : 0;
  EXPECT_EQ(tombstones, 2u);

  InventoryPartitionState restored{"inventory-velocity.ledger.changelog", 0};
  for (const auto& o : r.out) {
    if (o.topic != "inventory-velocity.ledger.changelog") continue;
    std::string_view value(o.value);
    restored.apply_encoded(o.key, o.tombstone ? nullptr : &value);
  }
  EXPECT_EQ(restored.reservations(), 1u);
  ASSERT_NE(restored.reservation("c1", "live"), nullptr);
  EXPECT_EQ(restored.reservation("c1", "live")->status, "reserved");
}

TEST(Poison, MalformedEventsThrowSpecificErrors) {
  Rig r;
  EXPECT_THROW(r.feed("{not json"), std::invalid_argument);
  EXPECT_THROW(r.feed(R"({"event_type":"inventory.sale_recorded"})"), std::invalid_argument);
  try {
    r.feed(test::event_json("inventory.sale_recorded", "c1", kT0, R"({"items":[]})", "x"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("/data/items"), std::string::npos);
  }
  EXPECT_THROW(r.feed(test::event_json("inventory.teleported", "c1", kT0, "{}", "y")),
               std::invalid_argument);
}

std::vector<std::string> generated_stream(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> events;
  for (int i = 0; i < n; ++i) {
    int64_t at = kT0 + i * 3000;
    std::string sku = "S" + std::to_string(rng() % 7);
    if (i % 50 == 0) {
      events.push_back(test::stock_set("c1", at, sku, 500, "set" + std::to_string(i)));
    } else {
      events.push_back(
          test::sale("c1", at, {{sku, static_cast<int>(1 + rng() % 3)}}, "o" + std::to_string(i)));
    }
    if (i % 100 == 99) events.push_back(tick_json(at + 1000));
  }
  return events;
}

TEST(Determinism, SameInputTwiceGivesByteIdenticalOutputs) {
  auto events = generated_stream(2000, 1);
  auto run = [&] {
    Rig r;
    for (auto& e : events) r.feed(e);
    return r.out;
  };
  auto a = run(), b = run();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].topic, b[i].topic);
    ASSERT_EQ(a[i].key, b[i].key);
    ASSERT_EQ(a[i].value, b[i].value) << i;
  }
}

TEST(Determinism, ShuffledWithinLatenessGivesTheSameVelocity) {
  std::vector<std::string> sales;
  std::mt19937_64 rng(3);
  std::vector<int64_t> times;
  for (int i = 0; i < 3000; ++i) {
    int64_t at = kT0 + i * 1000;
    sales.push_back(test::sale("c1", at,
                               {{"S" + std::to_string(rng() % 5), 1 + static_cast<int>(rng() % 4)}},
                               "o" + std::to_string(i)));
  }
  auto shuffled = sales;
  // Shuffle within windows of 50 s: every record stays within 50 s of its
  // place, under the 60 s lateness.
  for (size_t start = 0; start < shuffled.size(); start += 50) {
    std::shuffle(shuffled.begin() + static_cast<long>(start),
                 shuffled.begin() + static_cast<long>(std::min(start + 50, shuffled.size())), rng);
  }
  auto final_figures = [](const std::vector<std::string>& input) {
    Rig r;
    for (auto& e : input) r.feed(e);
    r.tick(kT0 + 3000 * 1000 + 5000);
    std::map<std::string, std::tuple<int64_t, int64_t, int64_t>> out;
    for (auto& [key, l] : r.state.ledgers()) {
      auto f = compute_velocity(l, r.state.stream_time_ms(), {});
      out[key] = {f.sales_1h, f.sales_24h, l.available()};
    }
    EXPECT_EQ(r.engine.counters().late_events, 0u);
    return out;
  };
  auto sorted_result = final_figures(sales);
  EXPECT_EQ(sorted_result, final_figures(shuffled));
  EXPECT_EQ(sorted_result.size(), 5u);
}

TEST(State, SnapshotRoundTripRestoresEveryKey) {
  Rig r;
  for (auto& e : generated_stream(500, 2)) r.feed(e);
  r.engine.on_command(
      r.state,
      R"({"command_id":"k","command":"reserve","creator_id":"c1","reservation_id":"r","product_sku":"S1","quantity":1})",
      r.out);
  auto dir = std::filesystem::temp_directory_path() / ("cf-velocity-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "0.snap").string();
  r.state.set_epoch(1200);  // the marker offset this owner claimed the partition at
  write_snapshot_file(path, 1234, r.state);
  InventoryPartitionState restored("t", 0);
  EXPECT_EQ(load_snapshot_file(path, restored), 1234);
  EXPECT_EQ(restored.epoch(), 1200) << "the snapshot must keep the epoch it was taken under";
  EXPECT_EQ(restored.size(), r.state.size());
  EXPECT_EQ(restored.stream_time_ms(), r.state.stream_time_ms());
  for (auto& [key, l] : r.state.ledgers()) {
    const SkuLedger& other = restored.ledgers().at(key);
    EXPECT_EQ(encode_ledger(other), encode_ledger(l));
    EXPECT_EQ(other.minute_sales, l.minute_sales);
  }
  ASSERT_NE(restored.reservation("c1", "r"), nullptr);
  EXPECT_EQ(restored.reservation("c1", "r")->quantity, 1);
  // Replaying the changelog records over the snapshot changes nothing.
  for (auto& o : r.out) {
    if (o.topic != "inventory-velocity.ledger.changelog") continue;
    std::string_view v = o.value;
    restored.apply_encoded(o.key, o.tombstone ? nullptr : &v);
  }
  for (auto& [key, l] : r.state.ledgers())
    EXPECT_EQ(encode_ledger(restored.ledgers().at(key)), encode_ledger(l));
  // A corrupted file is refused, not half-loaded.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  InventoryPartitionState corrupt("t", 0);
  EXPECT_EQ(load_snapshot_file(path, corrupt), -1);
  EXPECT_EQ(corrupt.size(), 1u);  // only the empty stream-time record
  std::filesystem::remove_all(dir);
}

TEST(State, ChangelogAloneRebuildsTheSameLedger) {
  Rig r;
  for (auto& e : generated_stream(800, 5)) r.feed(e);
  InventoryPartitionState rebuilt("t", 0);
  for (auto& o : r.out) {
    if (o.topic != "inventory-velocity.ledger.changelog") continue;
    std::string_view v = o.value;
    rebuilt.apply_encoded(o.key, o.tombstone ? nullptr : &v);
  }
  ASSERT_EQ(rebuilt.ledgers().size(), r.state.ledgers().size());
  for (auto& [key, l] : r.state.ledgers()) {
    EXPECT_EQ(encode_ledger(rebuilt.ledgers().at(key)), encode_ledger(l));
    EXPECT_EQ(rebuilt.ledgers().at(key).minute_sales, l.minute_sales);
  }
}

}  // namespace
}  // namespace cf

namespace cf {
namespace {

// A crash can keep a sale's bucket write and lose its ledger write (separate
// changelog records): after the restore, the re-read sale must not be
// counted twice in the window.
TEST(Replay, BucketWrittenButLedgerLostCountsTheSaleOnce) {
  VelocityEngine engine(VelocitySettings{}, VelocityTopics{});
  InventoryPartitionState live("c", 0);
  std::vector<OutputRecord> out;
  engine.on_event(live, test::stock_set("c1", test::kT0, "A", 100, "s"), 0, out);
  std::vector<OutputRecord> sale_out;
  std::string sale = test::sale("c1", test::kT0 + 1000, {{"A", 3}}, "o1");
  engine.on_event(live, sale, 1, sale_out);
  // Restore from everything before the sale plus only the sale's bucket record.
  InventoryPartitionState restored("c", 0);
  for (auto* outputs : {&out, &sale_out}) {
    for (auto& o : *outputs) {
      if (o.topic != "c") continue;
      if (outputs == &sale_out && o.key.rfind("B|", 0) != 0) continue;  // the ledger write was lost
      std::string_view v = o.value;
      restored.apply_encoded(o.key, o.tombstone ? nullptr : &v);
    }
  }
  std::vector<OutputRecord> again;
  engine.on_event(restored, sale, 1, again);
  const SkuLedger& l = *restored.find("c1", "A");
  EXPECT_EQ(l.sold, 3);
  EXPECT_EQ(compute_velocity(l, restored.stream_time_ms(), {}).sales_1h, 3);
}

}  // namespace
}  // namespace cf

namespace cf {
namespace {

// Found by fuzz_snapshot_loader: a reservation record with a negative SKU
// length read far outside its bytes.
TEST(Ledger, CorruptReservationRecordsAreIgnored) {
  InventoryPartitionState state{"c", 0};
  for (std::string value :
       {"-5|x|1|reserved|c|{}", "-1|", "99|short", "3|abc|notanumber|reserved|c|{}"}) {
    std::string_view v(value);
    state.apply_encoded("R|c1|r1", &v);
    EXPECT_EQ(state.reservation("c1", "r1"), nullptr) << value;
  }
  std::string good = "3|abc|2|reserved|cmd-1|{}";
  std::string_view g(good);
  state.apply_encoded("R|c1|r1", &g);
  ASSERT_NE(state.reservation("c1", "r1"), nullptr);
  EXPECT_EQ(state.reservation("c1", "r1")->quantity, 2);
}

}  // namespace
}  // namespace cf
