#pragma once
// Reads a whole topic (every partition) without a consumer group: for the tap,
// the tests and the demo's summary.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "cf/config.h"
#include "cf/records.h"

namespace cf {

struct ReadOptions {
  /// beginning | end | offset:<n> | time:<RFC 3339> | time:-<n>{s,m,h} (relative to now)
  std::string start = "beginning";
  /// false: stop at the end each partition had when the read began.
  bool follow = false;
  int64_t max_records = -1;
};

/// Calls `on_record` per record in per-partition order; it returns false to stop.
/// Returns how many records were passed. Throws ConfigError for a bad start
/// and KafkaError when the topic cannot be read.
int64_t read_topic(const KafkaSettings& settings, const std::string& topic,
                   const ReadOptions& options,
                   const std::function<bool(const InputRecord&)>& on_record,
                   const std::atomic<bool>* stop = nullptr);

/// Reads the single record at topic/partition/offset and passes it to
/// `on_record`. Returns false when it is no longer (or not yet) in the log or
/// cannot be read within `timeout_ms`.
bool read_record_at(const KafkaSettings& settings, const std::string& topic, int32_t partition,
                    int64_t offset, int timeout_ms,
                    const std::function<void(const InputRecord&)>& on_record);

}  // namespace cf
