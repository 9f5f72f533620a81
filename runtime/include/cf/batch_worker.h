#pragma once
// The runtime's batch mode: for sinks whose positions live in the store they
// write (PostgreSQL), not in Kafka.
//
//   open partitions -> start offsets read from the store (BatchHandler::positions)
//   collect a batch -> BatchHandler::write stores its data and the offsets
//                      after it in one atomic step (one transaction)
//   close partitions -> the held batch is written first (revoke), or dropped
//                      without writing (lost assignment: another instance
//                      may own them already)
//
// Exactly once: a crash between batches re-reads from the stored positions; a
// write that raced a newer owner is refused by the store (BatchFenced) and
// the worker resumes from the positions the store holds. Kafka's committed
// offsets are informational only (lag dashboards).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cf/config.h"
#include "cf/group_consumer.h"
#include "cf/kafka_handles.h"
#include "cf/metrics_server.h"
#include "cf/producer.h"
#include "cf/records.h"

namespace cf {

/// Offsets per (topic, partition).
using PartitionOffsets = std::map<std::pair<std::string, int32_t>, int64_t>;

/// The store's position of one of the batch's partitions is already past the
/// batch's first record: another instance (the partition's new owner, while
/// this one was paused or cut off) wrote it. Nothing was written; the worker
/// drops the batch and resumes from the stored positions.
class BatchFenced : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a BatchHandler may ask of the runtime during a write.
class BatchContext {
 public:
  virtual ~BatchContext() = default;
  /// Sends `input` to the dead-letter topic with the reason (once per record
  /// and batch, however often the batch is rebuilt).
  virtual void dead_letter(const InputRecord& input, const std::string& error_class,
                           const std::string& error) = 0;
  /// Waits until every dead letter sent so far is acknowledged by Kafka; call
  /// it before committing positions past them. Throws KafkaError when one
  /// cannot be delivered (the worker stops, nothing committed).
  virtual void await_dead_letters() = 0;
};

/// A sink's logic as the batch runtime sees it. Called on the worker thread only.
class BatchHandler {
 public:
  virtual ~BatchHandler() = default;
  /// Where each of `partitions` resumes: the next offset the store holds;
  /// partitions absent from the result start at the log's beginning. Throw
  /// RetriableError while the store is unreachable (retried with backoff).
  virtual PartitionOffsets positions(const std::vector<TopicPartition>& partitions) = 0;
  /// Writes `records` (consumption order, possibly several partitions) and,
  /// atomically with them, each partition's offset after its last record.
  /// RetriableError: retried with backoff, same records (never dead-lettered);
  /// BatchFenced: dropped, positions re-read; anything else stops the worker.
  virtual void write(const std::vector<InputRecord>& records, BatchContext& context) = 0;
};

class BatchWorker : private DeliveryListener, private BatchContext {
 public:
  BatchWorker(WorkerSettings settings, BatchSettings batch, std::vector<std::string> input_topics,
              BatchHandler& handler);
  ~BatchWorker() override;
  BatchWorker(const BatchWorker&) = delete;
  BatchWorker& operator=(const BatchWorker&) = delete;

  /// Runs until `stop` turns true, then writes the held batch (bounded by
  /// --shutdown-timeout-ms) and leaves the group. Throws on a fatal error
  /// (nothing of the unwritten batch is lost: its positions were not stored).
  void run(const std::atomic<bool>& stop);

  const WorkerStats& stats() const { return stats_; }
  /// See Worker::abandoned().
  bool abandoned() const { return abandoned_; }
  int metrics_port() const { return metrics_server_ ? metrics_server_->port() : -1; }

 private:
  struct Held {
    MessageHandle message;
    std::pair<std::string, int32_t> partition;
  };
  void on_delivery(rd_kafka_resp_err_t error, void* token) override;
  void dead_letter(const InputRecord& input, const std::string& error_class,
                   const std::string& error) override;
  void await_dead_letters() override;
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t error,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  void rebalance(rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions);
  void assign(rd_kafka_topic_partition_list_t* partitions);
  void release(rd_kafka_topic_partition_list_t* partitions);
  PartitionOffsets positions_with_retry(const std::vector<TopicPartition>& partitions);
  void collect(const std::atomic<bool>& stop);
  /// Writes the held batch, retrying transient failures until `deadline_ms`
  /// (steady clock; -1 none) or a stop. True when written or fenced (held
  /// batch handled); false when given up (held batch kept, nothing stored).
  bool flush(int64_t deadline_ms);
  void fenced(const char* why);
  void drop_held(const std::set<std::pair<std::string, int32_t>>& partitions);
  void maybe_heartbeat();

  WorkerSettings settings_;
  BatchSettings batch_;
  std::vector<std::string> input_topics_;
  BatchHandler& handler_;
  WorkerStats stats_;
  std::unique_ptr<Producer> producer_;
  KafkaHandle consumer_;
  std::unique_ptr<MetricsServer> metrics_server_;
  /// Assigned partitions and the offset expected next (-1 unknown), for the data-loss check.
  std::map<std::pair<std::string, int32_t>, int64_t> assigned_;
  std::vector<Held> held_;
  std::set<const rd_kafka_message_t*> dead_lettered_;  ///< of the held batch
  std::atomic<uint64_t> dead_letter_failures_{0};
  const std::atomic<bool>* stop_ = nullptr;
  int64_t next_heartbeat_ms_ = 0;
  std::atomic<int64_t> last_loop_ms_{0};
  std::atomic<bool> store_ok_{false};
  std::atomic<bool> failed_{false};
  bool closing_ = false;
  bool abandoned_ = false;
  std::string failure_;
};

}  // namespace cf
