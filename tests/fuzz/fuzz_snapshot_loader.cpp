// Snapshot files as the runtime loads them, into each processor's store. The
// fuzzer's bytes get a valid checksum appended (half the time), so the
// decoder behind the checksum is explored, not just the checksum.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "cf/keyed_state.h"
#include "cf/state_store.h"
#include "inventory_state.h"
#include "reconciler.h"
#include "shipment_join.h"
#include "stockout_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string file = "CFSNAP01";
  file.append(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    uint64_t hash = cf::snapshot_checksum(file);
    file.append(reinterpret_cast<const char*>(&hash), sizeof hash);
  } else {
    file.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  }
  std::string why;
  switch ((data[0] >> 1) % 4) {
    case 0: {
      cf::InventoryPartitionState state{"c", 0};
      (void)cf::decode_snapshot(file, state, why);
      break;
    }
    case 1: {
      cf::EntityStore store{"c", 0};
      (void)cf::decode_snapshot(file, store, why);
      break;
    }
    case 2: {
      cf::ValidatorPartition partition("c", 0, 3600 * 1000);  // dedup ids and the shipment join
      (void)cf::decode_snapshot(file, partition, why);
      break;
    }
    default: {
      cf::PredictorStore store("c", 0);
      (void)cf::decode_snapshot(file, store, why);
    }
  }
  return 0;
}
