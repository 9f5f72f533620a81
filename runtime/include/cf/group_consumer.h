#pragma once
// What both loops of the runtime (Worker: record at a time, offsets in Kafka;
// BatchWorker: batches, offsets in an external store) do the same way: the
// group consumer's configuration, heartbeats, the data-loss check on
// positions, and leaving the group within a deadline.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "cf/config.h"
#include "cf/kafka_handles.h"
#include "cf/records.h"

namespace cf {

/// Counters a caller (tests, benchmarks, the demo) may read from any thread.
struct WorkerStats {
  std::atomic<uint64_t> records_in{0};
  std::atomic<uint64_t> records_completed{0};  ///< every output acknowledged / written
  std::atomic<uint64_t> outputs_acknowledged{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> data_loss_records{0};
};

using RebalanceCallback = void (*)(rd_kafka_t*, rd_kafka_resp_err_t,
                                   rd_kafka_topic_partition_list_t*, void*);

/// A consumer-group member: offsets stored by hand only, `auto_commit` of
/// stored offsets or none, earliest reset, consumer lag published as
/// cf_consumer_lag, rebalances delivered to `on_rebalance` with `opaque`.
KafkaHandle make_group_consumer(const WorkerSettings& settings,
                                const std::string& assignment_strategy, bool auto_commit,
                                RebalanceCallback on_rebalance, void* opaque);

/// The worker's heartbeat for settings.heartbeat_topic: name, instance,
/// wall-clock time, assigned partitions and every metric of the process.
OutputRecord heartbeat_record(const WorkerSettings& settings, int64_t assigned_partitions);

/// Checks a consumed offset against the one expected next (-1: unknown).
/// A jump forward means records were removed before the group read them
/// (retention, or the development broker's cap): counted in
/// cf_data_loss_records_total and stats, logged as DATA LOSS. Returns the
/// number of records skipped.
uint64_t check_position(const std::string& topic, int32_t partition, int64_t expected_next,
                        int64_t offset, WorkerStats& stats);

/// Leaves the group: rebalance events that arrive meanwhile go to
/// `on_rebalance` (revokes, so partitions are released cleanly). Gives up at
/// `deadline_steady_ms` (brokers unreachable): the handle is then abandoned
/// (released, never destroyed, since destroying it would wait for the
/// brokers) and false is returned; exit the process soon after.
bool close_group_consumer(
    KafkaHandle& consumer, int64_t deadline_steady_ms,
    const std::function<void(rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*)>& on_rebalance);

}  // namespace cf
