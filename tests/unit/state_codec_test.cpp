// The one binary codec of state values: round trips at the edges, hostile
// bytes refused without reading past the input, and every store still
// reading the text values earlier versions wrote to their changelogs.
#include <gtest/gtest.h>

#include <climits>
#include <string>

#include "cf/binary_codec.h"
#include "cf/output_journal.h"
#include "inventory_state.h"
#include "reconciler.h"
#include "stockout_model.h"

namespace cf {
namespace {

TEST(BinaryCodec, RoundTripsIntegersCountsBooleansAndBytes) {
  std::string out;
  const std::string binary("\0\xff|:\xb1 any bytes", 15);
  BinaryWriter(out)
      .integer(0)
      .integer(-1)
      .integer(INT64_MIN)
      .integer(INT64_MAX)
      .count(UINT64_MAX)
      .boolean(true)
      .bytes(binary)
      .bytes("");
  EXPECT_TRUE(is_binary_state(out));
  BinaryReader in(out);
  int64_t a = 7, b = 0, c = 0, d = 0;
  uint64_t n = 0;
  bool flag = false;
  std::string s1, s2 = "x";
  ASSERT_TRUE(in.integer(a) && in.integer(b) && in.integer(c) && in.integer(d) &&
              in.count(n, UINT64_MAX) && in.boolean(flag) && in.bytes(s1) && in.bytes(s2));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, -1);
  EXPECT_EQ(c, INT64_MIN);
  EXPECT_EQ(d, INT64_MAX);
  EXPECT_EQ(n, UINT64_MAX);
  EXPECT_TRUE(flag);
  EXPECT_EQ(s1, binary);
  EXPECT_EQ(s2, "");
  EXPECT_TRUE(in.at_end());
  EXPECT_EQ(encode_integers({-1}).size(), 2u);  // version byte + one byte for -1
}

TEST(BinaryCodec, RefusesHostileBytes) {
  int64_t v = 0;
  uint64_t n = 0;
  std::string s;
  bool flag = false;
  EXPECT_FALSE(BinaryReader("12|3").ok());  // no version byte
  const std::string v0(1, kBinaryStateVersion);
  {
    BinaryReader in(v0 + "\x80");  // varint cut short
    EXPECT_FALSE(in.integer(v));
  }
  {
    BinaryReader in(v0 + std::string(10, '\xff') + "\x01");  // more than 64 bits
    EXPECT_FALSE(in.integer(v));
  }
  {
    BinaryReader in(v0 + "\x05" + "abc");  // length beyond the bytes left
    EXPECT_FALSE(in.bytes(s));
    EXPECT_FALSE(in.ok());
  }
  {
    // A length one past what is left after the length itself (a fuzzer
    // finding: it was checked against the bytes before the length).
    BinaryReader in(v0 + "\x03" + "ab");
    EXPECT_FALSE(in.bytes(s));
    EXPECT_FALSE(in.ok());
  }
  {
    BinaryReader in(v0 + "\x7f");  // a count over its bound
    EXPECT_FALSE(in.count(n, 100));
  }
  {
    BinaryReader in(v0 + "\x02");  // a boolean must be 0 or 1
    EXPECT_FALSE(in.boolean(flag));
  }
  {
    BinaryReader in(v0 + "\x02\x02");  // a failed read stops every later one
    EXPECT_FALSE(in.boolean(flag));
    EXPECT_FALSE(in.integer(v));
  }
  int64_t two[2];
  EXPECT_FALSE(decode_integers(encode_integers({1, 2, 3}), two, 2));  // trailing field
  EXPECT_FALSE(decode_integers(encode_integers({1}), two, 2));        // missing field
  EXPECT_FALSE(decode_integers("1|x", two, 2));
  EXPECT_FALSE(decode_integers("12", two, 2));
}

TEST(BinaryCodec, IntegersStillReadTheEarlierTextForm) {
  int64_t f[3];
  ASSERT_TRUE(decode_integers("1795000000000|42", f, 2));
  EXPECT_EQ(f[0], 1795000000000);
  EXPECT_EQ(f[1], 42);
  ASSERT_TRUE(decode_integers(encode_integers({-5, 0, 9}), f, 3));
  EXPECT_EQ(f[0], -5);
  EXPECT_EQ(f[2], 9);
}

TEST(StateCodecs, EntityRoundTripsAndReadsTheEarlierText) {
  EntityState e;
  e.applied_offset = 12;
  e.version = 3;
  e.updated_ms = 1795000000000;
  e.total_minor = 2000;
  e.shipped = true;
  e.source = "tiktok_webhook";
  e.value = "IN_TRANSIT";
  e.items = R"([{"product_sku":"CF-1","quantity":2}])";
  e.journal.record(12, {{"orders.events", "c1", "{\"a\":1}", {{"cf-event-type", "x"}}, 4}}, 0);
  EntityState back;
  ASSERT_TRUE(EntityCodec::decode(EntityCodec::encode(e), back));
  EXPECT_EQ(back.applied_offset, 12);
  EXPECT_EQ(back.version, 3);
  EXPECT_EQ(back.updated_ms, 1795000000000);
  EXPECT_TRUE(back.shipped);
  EXPECT_FALSE(back.sale_recorded);
  EXPECT_EQ(back.items, e.items);
  ASSERT_NE(back.journal.find(12), nullptr);
  EXPECT_EQ(back.journal.find(12)->at(0).headers.at(0).value, "x");
  EXPECT_EQ(back.journal.find(12)->at(0).partition, 4);
  // Every prefix of a value is refused (no partial state).
  const std::string full = EntityCodec::encode(e);
  for (size_t cut = 0; cut < full.size(); ++cut) {
    EntityState partial;
    EXPECT_FALSE(EntityCodec::decode(std::string_view(full).substr(0, cut), partial)) << cut;
  }

  EntityState legacy;
  ASSERT_TRUE(EntityCodec::decode("1|5|2|1000|2000|10|6:tiktok9:COMPLETED0:0:", legacy));
  EXPECT_EQ(legacy.applied_offset, 5);
  EXPECT_EQ(legacy.total_minor, 2000);
  EXPECT_TRUE(legacy.shipped);
  EXPECT_EQ(legacy.value, "COMPLETED");
}

TEST(StateCodecs, PredictorLedgerAndReservationReadBothForms) {
  PredictorSkuState p;
  p.applied_offset = 9;
  p.version = 4;
  p.alerts = 3;
  PredictorSkuState p_back;
  ASSERT_TRUE(PredictorCodec::decode(PredictorCodec::encode(p), p_back));
  EXPECT_EQ(p_back.alerts, 3u);
  ASSERT_TRUE(PredictorCodec::decode("1|7|3|2|0:", p_back));
  EXPECT_EQ(p_back.applied_offset, 7);
  EXPECT_EQ(p_back.alerts, 2u);

  SkuLedger l;
  l.total = 10;
  l.sold = -2;
  l.recent = {{1795000000000, 3}, {1795000060000, -1}};
  SkuLedger l_back;
  ASSERT_TRUE(decode_ledger(encode_ledger(l), l_back));
  EXPECT_EQ(l_back.total, 10);
  EXPECT_EQ(l_back.sold, -2);
  EXPECT_EQ(l_back.recent, l.recent);
  ASSERT_TRUE(decode_ledger("1|10|2|3|-1|1000|4|7|-1|-1|-1|-1|1000:2", l_back));
  EXPECT_EQ(l_back.reserved, 2);
  EXPECT_EQ(l_back.recent.at(1000), 2);

  InventoryPartitionState state("cl", 0);
  std::vector<OutputRecord> out;
  Reservation r;
  r.product_sku = "A|B";  // any bytes
  r.quantity = 4;
  r.status = "released";
  r.finished_ms = 1000;
  r.last_command_id = "k2";
  r.last_reply = R"({"status":"released"})";
  state.put_reservation("c1", "saga-1", r, out);
  InventoryPartitionState restored("cl", 0);
  std::string_view value(out.at(0).value);
  restored.apply_encoded(out.at(0).key, &value);
  ASSERT_NE(restored.reservation("c1", "saga-1"), nullptr);
  EXPECT_EQ(restored.reservation("c1", "saga-1")->product_sku, "A|B");
  EXPECT_EQ(restored.reservation("c1", "saga-1")->finished_ms, 1000);
  for (std::string legacy : {std::string(R"(1|A|4|reserved|k1|{"status":"reserved"})"),
                             std::string(R"(v2|1000|1|A|0|released|k3|{})")}) {
    std::string_view v(legacy);
    restored.apply_encoded("R|c1|old", &v);
    ASSERT_NE(restored.reservation("c1", "old"), nullptr) << legacy;
    EXPECT_EQ(restored.reservation("c1", "old")->product_sku, "A");
  }
}

}  // namespace
}  // namespace cf
