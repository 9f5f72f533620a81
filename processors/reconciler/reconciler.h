#pragma once
// reconciler's transform: per-entity conflict detection and resolution over
// events.validated; resolved events go to orders.events and inventory.events
// with per-aggregate versions, conflicts to conflicts.audit (and escalated
// ones to conflicts.manual). Plain code; README "Reconciler rules".
#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cf/keyed_state.h"
#include "cf/order_status.h"
#include "cf/output_journal.h"
#include "cf/records.h"

namespace cf {

/// Priority of a source in last-write-wins (DESIGN.md section 5).
int source_priority(std::string_view source);

/// Channel SKU ids -> one product SKU, from JSON
/// {"tiktok": {"<sku_id>": "<product_sku>"}, "shopify": {"<id>": "<product_sku>"}}.
/// Unmapped TikTok SKUs use their seller_sku; other unmapped ids stay "<channel>:<id>".
class SkuMapping {
 public:
  static SkuMapping from_json(const std::string& json);  ///< throws std::invalid_argument
  std::string product_sku(std::string_view channel, std::string_view channel_sku_id,
                          std::string_view seller_sku) const;

 private:
  std::unordered_map<std::string, std::string> by_channel_id_;  ///< "<channel>:<id>" -> product
};

struct EntityState {
  int64_t applied_offset = -1;
  int64_t version = 0;
  int64_t updated_ms = -1;
  std::string source;
  std::string value;           ///< order status | payment amount | tracking number | stock level
  bool shipped = false;        ///< orders: no cancellation any more
  bool sale_recorded = false;  ///< orders: the ledger counted this order's units
  int64_t total_minor = 0;     ///< orders: value, for escalation
  std::string items;           ///< orders: items JSON as sent to the ledger
  OutputJournal journal;
};

struct EntityCodec {
  using Value = EntityState;
  static std::string encode(const Value& v);
  static bool decode(std::string_view text, Value& v);
};
using EntityStore = KeyedStore<EntityCodec>;

struct ReconcilerSettings {
  int64_t conflict_window_ms = 5000;
  int64_t escalate_order_minor = 100000;   ///< $1000
  int64_t escalate_payment_minor = 50000;  ///< $500
  double escalate_inventory_ratio = 0.10;
  /// Event time after its last update at which a finished entity is evicted:
  /// a COMPLETED or CANCELLED order, a payment, a shipment (inventory
  /// entities are bounded by the catalog and stay). Longer than the
  /// validator's dedup horizon (96 h), past which a platform's re-send is
  /// refused as stale anyway.
  int64_t entity_retention_ms = 7 * 24 * 3600 * 1000LL;
  /// Ticks scan the store for evictable entities at most once per this much
  /// event time.
  int64_t eviction_interval_ms = 10 * 60 * 1000;
};

struct ReconcilerTopics {
  std::string orders = "orders.events";
  std::string inventory = "inventory.events";
  std::string audit = "conflicts.audit";
  std::string manual = "conflicts.manual";
};

struct ReconcilerCounters {
  uint64_t events_out = 0;
  uint64_t conflicts = 0;
  uint64_t escalated = 0;
  uint64_t replays = 0;
  uint64_t ignored = 0;  ///< repeats that change nothing
  uint64_t evicted = 0;  ///< finished entities removed from the store
};

/// Key of the store's eviction clock (its updated_ms: the event time from
/// which the next tick scans again). Never an entity.
inline constexpr const char* kEvictionClockKey = "meta|eviction";

/// True when `key`'s entity is finished and has seen no update for the
/// retention at event time `now_ms`.
bool evictable(const std::string& key, const EntityState& entity, int64_t now_ms,
               int64_t retention_ms);

class Reconciler {
 public:
  Reconciler(ReconcilerSettings settings, ReconcilerTopics topics, SkuMapping mapping);
  /// One events.validated record at `offset`; inputs of the partition below
  /// `completed_below` are acknowledged. Throws std::invalid_argument for a
  /// malformed event.
  void on_event(EntityStore& store, std::string_view json, int64_t offset, int64_t completed_below,
                std::vector<OutputRecord>& outputs);
  const ReconcilerCounters& counters() const { return counters_; }
  struct Context;  ///< one input being reconciled

 private:
  void order(Context& c);
  void payment(Context& c);
  void shipment(Context& c);
  void inventory(Context& c);
  /// The product SKU of an inventory event: the mapping file, else the
  /// event's seller SKU, else (Shopify) the SKU learned from the scheduled
  /// sync for that item, else "<channel>:<id>".
  std::string inventory_sku(EntityStore& store, const std::string& creator,
                            const rapidjson::Value& data) const;
  /// A tick: evicts finished entities (tombstones on the changelog, so a
  /// restore or a replay of the same ticks evicts the same keys).
  void evict(EntityStore& store, int64_t tick_ms, int64_t offset,
             std::vector<OutputRecord>& outputs);
  ReconcilerSettings settings_;
  ReconcilerTopics topics_;
  SkuMapping mapping_;
  ReconcilerCounters counters_;
};

}  // namespace cf
