#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "cf/keyed_state.h"
#include "cf/state_store.h"

namespace cf {
namespace {

constexpr int64_t kHour = 3600 * 1000;

// The changelog key of `id`: the prefix and the id's 64-bit hash in hex.
std::string key_of(const std::string& prefix, const std::string& id) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(TtlDedupStore::id_hash(id)));
  return prefix + hex;
}

TEST(TtlDedupStore, FirstDuplicateAndReplay) {
  TtlDedupStore store("changelog", 3, "raw|", 24 * kHour);
  std::vector<OutputRecord> out;
  EXPECT_EQ(store.check("tiktok:1", 1000, 10, out), DedupVerdict::kFirst);
  ASSERT_EQ(out.size(), 1u);  // the changelog write
  EXPECT_EQ(out[0].topic, "changelog");
  EXPECT_EQ(out[0].partition, 3);
  EXPECT_EQ(out[0].key, key_of("raw|", "tiktok:1"));
  EXPECT_FALSE(out[0].tombstone);
  out.clear();
  EXPECT_EQ(store.check("tiktok:1", 2000, 11, out), DedupVerdict::kDuplicate);
  EXPECT_EQ(store.check("tiktok:1", 2000, 10, out), DedupVerdict::kReplay);  // same offset again
  EXPECT_TRUE(out.empty());
}

TEST(TtlDedupStore, ExpiresOnStreamTimeAndTombstones) {
  TtlDedupStore store("cl", 0, "", kHour);
  std::vector<OutputRecord> out;
  store.check("a", 0, 1, out);
  out.clear();
  EXPECT_EQ(store.check("a", kHour - 1, 2, out), DedupVerdict::kDuplicate);
  // Another id moves stream time past a's expiry: a is forgotten and tombstoned.
  EXPECT_EQ(store.check("b", kHour, 3, out), DedupVerdict::kFirst);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, key_of("", "a"));
  EXPECT_TRUE(out[0].tombstone);
  EXPECT_EQ(out[1].key, key_of("", "b"));
  out.clear();
  EXPECT_EQ(store.check("a", kHour, 4, out), DedupVerdict::kFirst);
  EXPECT_EQ(store.size(), 2u);
}

TEST(TtlDedupStore, LateEventDoesNotRewindStreamTime) {
  TtlDedupStore store("cl", 0, "", kHour);
  std::vector<OutputRecord> out;
  store.check("new", 10 * kHour, 1, out);
  // An event from long ago is remembered for a TTL from the stream time, not
  // expired at once (that would let its duplicate through).
  EXPECT_EQ(store.check("old", 0, 2, out), DedupVerdict::kFirst);
  EXPECT_EQ(store.check("old", 0, 3, out), DedupVerdict::kDuplicate);
  EXPECT_EQ(store.stream_time_ms(), 10 * kHour);
}

TEST(TtlDedupStore, RestoredFromItsChangelogGivesTheSameVerdicts) {
  TtlDedupStore original("cl", 0, "t|", kHour);
  std::vector<OutputRecord> changelog;
  original.check("x", 0, 1, changelog);
  original.check("y", 10, 2, changelog);
  original.check("z", kHour + 1010, 3, changelog);  // expires x and y (1 s granularity, rounded up)
  TtlDedupStore restored("cl", 0, "t|", kHour);
  std::string foreign_value = "99|1";
  std::string_view foreign(foreign_value);
  EXPECT_FALSE(restored.apply_changelog("other|x", &foreign));  // another topic's entry
  for (const auto& r : changelog) {
    std::string_view value(r.value);
    EXPECT_TRUE(restored.apply_changelog(r.key, r.tombstone ? nullptr : &value));
  }
  EXPECT_EQ(restored.size(), 1u);
  std::vector<OutputRecord> out;
  EXPECT_EQ(restored.check("z", kHour + 1011, 4, out), DedupVerdict::kDuplicate);
  EXPECT_EQ(restored.check("z", kHour + 1011, 3, out), DedupVerdict::kReplay);
  EXPECT_EQ(restored.check("x", kHour + 1011, 5, out), DedupVerdict::kFirst);
}

// An id recorded again after it expired, restored from a changelog that
// holds both sightings and the tombstone between them: the later sighting
// must survive the earlier one's expiry.
TEST(TtlDedupStore, ReRecordedIdSurvivesRestoreOfItsEarlierLife) {
  TtlDedupStore original("cl", 0, "t|", kHour);
  std::vector<OutputRecord> changelog;
  original.check("x", 0, 1, changelog);
  original.check("x", 2 * kHour, 2, changelog);  // x expired (tombstone), then recorded anew
  TtlDedupStore restored("cl", 0, "t|", kHour);
  for (const auto& r : changelog) {
    std::string_view value(r.value);
    restored.apply_changelog(r.key, r.tombstone ? nullptr : &value);
  }
  std::vector<OutputRecord> out;
  EXPECT_EQ(restored.check("x", 2 * kHour + 5, 3, out), DedupVerdict::kDuplicate);
  EXPECT_EQ(restored.size(), 1u);
}

// The memory the issue asks for: at most 64 bytes per remembered id, at any
// fill (measured from the containers' capacities, not estimated).
TEST(TtlDedupStore, HoldsAnIdInAtMost64Bytes) {
  TtlDedupStore store("cl", 0, "t|", 96 * kHour);
  std::vector<OutputRecord> out;
  double worst = 0;
  for (int i = 1; i <= 1 << 20; ++i) {
    store.check("tiktok:" + std::to_string(i), i, i, out);
    out.clear();
    if (i >= (1 << 16) && (i % 4093 == 0 || (i & (i - 1)) == 0)) {  // past the initial table
      worst = std::max(worst, static_cast<double>(store.memory_bytes()) / store.size());
    }
  }
  EXPECT_EQ(store.size(), 1u << 20);
  std::printf(
      "dedup store: %zu ids in %zu bytes = %.1f bytes/id (worst from 65,536 ids on: %.1f)\n",
      store.size(), store.memory_bytes(), static_cast<double>(store.memory_bytes()) / store.size(),
      worst);
  EXPECT_LE(worst, 64.0);
}

// The validator's state in the runtime's state model: a DedupPartition
// written as a snapshot file and loaded back gives the same verdicts, the same
// stream time and the same expiries as the original, for every input topic
// sharing the changelog partition.
TEST(DedupPartition, SnapshotRoundTripKeepsVerdictsStreamTimeAndExpiryOrder) {
  DedupPartition original("validator.dedup.changelog", 4, kHour);
  std::vector<OutputRecord> changelog;
  auto& tiktok = original.store("webhooks.tiktok.raw");
  auto& shopify = original.store("webhooks.shopify.raw");
  tiktok.check("a", 1000, 10, changelog);
  tiktok.check("b", 1500, 11, changelog);
  tiktok.check("late", 200, 12, changelog);   // late: remembered a full TTL from stream time 1500
  shopify.check("a", 90'000, 20, changelog);  // same id, another topic: its own store
  EXPECT_EQ(original.size(), 4u);
  for (const auto& r : changelog) EXPECT_EQ(r.partition, 4);

  const std::string path = ::testing::TempDir() + "/dedup-partition.snap";
  original.set_epoch(77);
  write_snapshot_file(path, 100, original);  // covers the changelog up to 100; claimed at 77
  DedupPartition loaded("validator.dedup.changelog", 4, kHour);
  ASSERT_EQ(load_snapshot_file(path, loaded), 100);
  EXPECT_EQ(loaded.epoch(), 77);
  EXPECT_EQ(loaded.size(), 4u);
  EXPECT_EQ(loaded.store("webhooks.tiktok.raw").stream_time_ms(), 1500);  // exact, not rounded
  EXPECT_EQ(loaded.store("webhooks.shopify.raw").stream_time_ms(), 90'000);

  std::vector<OutputRecord> out_original, out_loaded;
  for (auto* partition : {&original, &loaded}) {
    auto& out = partition == &original ? out_original : out_loaded;
    auto& t = partition->store("webhooks.tiktok.raw");
    EXPECT_EQ(t.check("a", 1600, 13, out), DedupVerdict::kDuplicate);
    EXPECT_EQ(t.check("b", 1600, 11, out), DedupVerdict::kReplay);
    EXPECT_EQ(partition->store("webhooks.shipping.raw").check("a", 1600, 30, out),
              DedupVerdict::kFirst);
    // One TTL later a and b expire (their second, rounded up), "late" a
    // moment after: both copies tombstone the same keys in the same order.
    EXPECT_EQ(t.check("c", kHour + 1500, 14, out), DedupVerdict::kFirst);
    EXPECT_EQ(t.check("late", kHour + 2000, 15, out), DedupVerdict::kFirst);
  }
  ASSERT_EQ(out_loaded.size(), out_original.size());
  for (size_t i = 0; i < out_original.size(); ++i) {
    EXPECT_EQ(out_loaded[i].key, out_original[i].key) << i;
    EXPECT_EQ(out_loaded[i].tombstone, out_original[i].tombstone) << i;
  }
  std::remove(path.c_str());
}

TEST(DedupPartition, IgnoresRecordsThatAreNotItsOwn) {
  DedupPartition partition("cl", 0, kHour);
  std::string value = "5000|1";
  std::string_view v(value);
  partition.apply_encoded("no-prefix", &v);
  partition.apply_encoded("|0123456789abcdef", &v);
  partition.apply_encoded("webhooks.tiktok.raw|not-hex", &v);
  partition.apply_encoded("webhooks.tiktok.raw|0000000000000000", &v);  // hash 0 is never written
  EXPECT_EQ(partition.size(), 0u);
  partition.apply_encoded(key_of("webhooks.tiktok.raw|", "x"), &v);
  EXPECT_EQ(partition.size(), 1u);
  partition.apply_encoded(key_of("webhooks.tiktok.raw|", "x"), nullptr);
  EXPECT_EQ(partition.size(), 0u);
}

// A snapshot covers exactly the owner's own contiguous changelog writes since
// its epoch marker: a write by anyone else in between (a newer owner: this
// one is a zombie) or a refused write means the memory may not match the log,
// and no snapshot is written until the next claim. (CI found the old rule,
// "cover the changelog's end", losing a paused copy's window sales.)
TEST(SnapshotCoverage, CoversOwnContiguousWritesAndRefusesAfterAForeignOne) {
  StateOptions options;
  options.changelog_topic = "validator.dedup.changelog";
  options.snapshot_dir = ::testing::TempDir() + "/snapshot-coverage";
  const std::string path = options.snapshot_dir + "/validator.dedup.changelog/3.snap";
  std::remove(path.c_str());
  DedupPartition store("validator.dedup.changelog", 3, kHour);
  std::vector<OutputRecord> changelog;
  store.store("webhooks.tiktok.raw").check("a", 1000, 10, changelog);
  std::string why;

  EXPECT_EQ(store.snapshot_offset(why), -1) << "never claimed: nothing to vouch for";
  EXPECT_FALSE(snapshot_partition(options, 3, store));

  store.claim(100);  // the epoch marker landed at offset 100
  EXPECT_EQ(store.snapshot_offset(why), 101);
  store.on_changelog_delivery(97, true);  // an earlier tenure's write, read at restore
  store.on_changelog_delivery(101, true);
  store.on_changelog_delivery(102, true);
  ASSERT_EQ(store.snapshot_offset(why), 103) << why;
  ASSERT_TRUE(snapshot_partition(options, 3, store));
  DedupPartition loaded("validator.dedup.changelog", 3, kHour);
  EXPECT_EQ(load_snapshot_file(path, loaded), 103) << "covers the own writes, not a later end";
  EXPECT_EQ(loaded.epoch(), 100);

  store.on_changelog_delivery(105, true);  // 103 and 104 were someone else's
  EXPECT_EQ(store.snapshot_offset(why), -1);
  EXPECT_NE(why.find("another writer"), std::string::npos) << why;
  store.on_changelog_delivery(106, true);  // stays refused
  EXPECT_EQ(store.snapshot_offset(why), -1);
  EXPECT_FALSE(snapshot_partition(options, 3, store));
  EXPECT_EQ(load_snapshot_file(path, loaded), 103) << "the last good snapshot stays";

  store.claim(200);  // restored and claimed again
  store.on_changelog_delivery(201, false);
  EXPECT_EQ(store.snapshot_offset(why), -1) << "a refused write is memory the log lacks";
  EXPECT_NE(why.find("refused"), std::string::npos) << why;

  store.claim(300);
  store.on_changelog_delivery(301, true);
  EXPECT_EQ(store.snapshot_offset(why), 302);
  store.set_epoch(300);  // what a snapshot load does: an epoch, not a claim
  EXPECT_EQ(store.snapshot_offset(why), -1);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace cf
