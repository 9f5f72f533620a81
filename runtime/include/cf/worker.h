#pragma once
// The consume -> transform -> produce loop every processor runs.
//
// Delivery guarantee: an input offset is stored (and later committed) only
// after every output derived from it -- changelog writes and dead letters
// included -- has been acknowledged by Kafka (acks=all), and only when every
// earlier input of the same partition is done too. A crash therefore replays
// inputs whose outputs may already exist (at-least-once); outputs carry
// deterministic ids so sinks de-duplicate them.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cf/config.h"
#include "cf/group_consumer.h"
#include "cf/kafka_handles.h"
#include "cf/metrics.h"
#include "cf/metrics_server.h"
#include "cf/offset_tracker.h"
#include "cf/producer.h"
#include "cf/records.h"

namespace cf {

/// A processor's logic as the runtime sees it. Called on the worker thread only.
class RecordHandler {
 public:
  virtual ~RecordHandler() = default;
  /// Appends the outputs of one input. Throw RetriableError for a transient
  /// failure (retried with backoff, then dead-lettered); any other exception
  /// dead-letters the record at once. Rejections that are part of the domain
  /// (e.g. invalid webhooks) are ordinary outputs, not exceptions.
  virtual void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) = 0;
  /// Partitions were assigned: restore their state before returning.
  virtual void on_assigned(const std::vector<TopicPartition>& partitions) { (void)partitions; }
  /// Partitions were revoked after their outputs were acknowledged: drop
  /// their state. (A revoke whose outputs could not all be acknowledged in
  /// time is reported as on_lost: memory then holds writes the log may never
  /// get, or get after the next owner's.)
  virtual void on_revoked(const std::vector<TopicPartition>& partitions) { (void)partitions; }
  /// Partitions were lost (session timeout, a paused process): another
  /// instance may own them already. Forget their state without writing
  /// anything (no snapshot, no flush): what is in memory may be stale.
  virtual void on_lost(const std::vector<TopicPartition>& partitions) { (void)partitions; }
  /// Every output of the inputs of `partition` below `next_offset` is
  /// acknowledged: those inputs can never need their outputs re-sent.
  virtual void on_inputs_completed(std::string_view topic, int32_t partition, int64_t next_offset) {
    (void)topic;
    (void)partition;
    (void)next_offset;
  }
  /// Kafka acknowledged (`ok`, at `offset`) or refused an output; per
  /// partition in produce order, on the worker thread.
  virtual void on_output_delivered(std::string_view topic, int32_t partition, int64_t offset,
                                   bool ok) {
    (void)topic;
    (void)partition;
    (void)offset;
    (void)ok;
  }
  // Deferred handlers (connectors that call remote services): the outputs of
  // an input come when its call finishes, while later inputs are read. The
  // input stays in flight (its offset is not committed) until its outputs
  // are acknowledged, so a crash re-reads it: the remote call must be
  // idempotent. Results are collected on the worker thread whenever it polls.
  /// True: the worker calls start() and take_finished(), never handle().
  virtual bool deferred() const { return false; }
  /// Starts the work of `input` (copy what is needed: the record goes away);
  /// its outputs come back from take_finished() under `ticket`. Throwing
  /// dead-letters the input at once.
  virtual void start(const InputRecord& input, uint64_t ticket) {
    (void)input;
    (void)ticket;
  }
  /// Moves the outputs of finished work into `finished`.
  virtual void take_finished(
      std::vector<std::pair<uint64_t, std::vector<OutputRecord>>>& finished) {
    (void)finished;
  }
  /// True while no more work may start (bounded concurrency): the worker
  /// stops reading until it is false.
  virtual bool saturated() const { return false; }
  /// Called between records about every 256 records or when idle, on the
  /// worker thread: periodic housekeeping such as local state snapshots.
  /// `confirm_ownership` is true while librdkafka has not reported the
  /// assignment lost (call it right before writing anything derived from
  /// the partitions' state). `quiesce` waits (bounded) until every output
  /// produced so far is acknowledged and reported; false when it could not.
  virtual void maintain(int64_t steady_now_ms, const std::function<bool()>& confirm_ownership,
                        const std::function<bool()>& quiesce) {
    (void)steady_now_ms;
    (void)confirm_ownership;
    (void)quiesce;
  }
};

/// What a deferred handler's asynchronous work has finished, handed from the
/// threads that finish it to the worker thread (take_finished()), and how much
/// work is still running (for saturated()).
class DeferredResults {
 public:
  void started() { in_flight_.fetch_add(1); }
  void finish(uint64_t ticket, std::vector<OutputRecord> outputs) {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_.emplace_back(ticket, std::move(outputs));
    in_flight_.fetch_sub(1);
  }
  void take(std::vector<std::pair<uint64_t, std::vector<OutputRecord>>>& finished) {
    std::lock_guard<std::mutex> lock(mutex_);
    finished.swap(finished_);
    finished_.clear();
  }
  size_t in_flight() const { return in_flight_.load(); }

 private:
  std::atomic<size_t> in_flight_{0};
  std::mutex mutex_;
  std::vector<std::pair<uint64_t, std::vector<OutputRecord>>> finished_;
};

/// The base of deferred handlers (connectors calling remote services): the
/// plumbing between their asynchronous work and the worker. Subclasses
/// implement start() and call results_.started() / results_.finish().
class DeferredHandler : public RecordHandler {
 public:
  explicit DeferredHandler(size_t max_in_flight) : max_in_flight_(max_in_flight) {}
  void handle(const InputRecord&, std::vector<OutputRecord>&) final {}
  bool deferred() const final { return true; }
  void take_finished(std::vector<std::pair<uint64_t, std::vector<OutputRecord>>>& finished) final {
    results_.take(finished);
  }
  bool saturated() const final { return results_.in_flight() >= max_in_flight_; }

 protected:
  DeferredResults results_;

 private:
  size_t max_in_flight_;
};

/// Backoff before retry `attempt` (0-based): base * 2^attempt capped at max,
/// scaled by jitter in [0.5, 1.0] from `unit_random` in [0, 1).
int retry_delay_ms(int attempt, int base_ms, int max_ms, double unit_random);

/// The dead-letter record for `input`: original key and bytes, original
/// headers, plus cf-dlq-* headers naming the error, processor and source.
OutputRecord make_dead_letter(const InputRecord& input, const std::string& dead_letter_topic,
                              const std::string& processor, const std::string& error_class,
                              const std::string& error);

/// A dead letter that names the input instead of carrying it (for inputs too
/// large for the dead-letter topic): source topic/partition/offset, size and
/// SHA-256 of the original bytes, which stay readable at that offset.
OutputRecord make_dead_letter_reference(const InputRecord& input,
                                        const std::string& dead_letter_topic,
                                        const std::string& processor,
                                        const std::string& error_class, const std::string& error);

class Worker : private DeliveryListener {
 public:
  Worker(WorkerSettings settings, std::vector<std::string> input_topics, RecordHandler& handler);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Runs until `stop` turns true, then shuts down gracefully: stops fetching,
  /// waits for in-flight outputs, stores and commits offsets, leaves the group.
  /// Throws KafkaError on a fatal error (after committing what is safe).
  void run(const std::atomic<bool>& stop);

  const WorkerStats& stats() const { return stats_; }
  /// True when shutdown could not leave the group in time and the consumer
  /// handle was abandoned: exit the process promptly (exit_after_abandoned_shutdown).
  bool abandoned() const { return abandoned_; }
  /// Port of /metrics and /healthz, or -1 when disabled.
  int metrics_port() const;

 private:
  using PendingInput = OffsetTracker::Input;  // the delivery token of its outputs
  /// Offsets of one input partition (a revoked one is retired and kept
  /// alive until its deliveries return).
  struct PartitionProgress : OffsetTracker {
    using OffsetTracker::OffsetTracker;
    int64_t expected_next = -1;  // next offset we expect to read; -1 unknown
  };
  static PartitionProgress& owner(PendingInput* input) {
    return static_cast<PartitionProgress&>(*input->tracker);
  }
  /// An output the broker refused at delivery, waiting to be re-sent or given up.
  struct Refusal {
    PendingInput* pending;
    OutputRecord record;
    std::string error;
  };

  void on_delivery(rd_kafka_resp_err_t error, void* token) override;
  void on_delivery_message(const rd_kafka_message_t& message) override;
  /// Serves delivery reports, then re-sends or gives up refused outputs,
  /// then sends the outputs of finished deferred work.
  void poll_producer(int timeout_ms);
  void collect_deferred();
  void start_deferred(const InputRecord& input, PartitionProgress& progress);
  /// Deferred mode: waits while the handler is saturated; false when stopping.
  bool wait_for_capacity();
  void serve_refusals();
  void give_up_refused(const Refusal& refusal);
  /// Backpressure: waits until `progress` is under max_unacknowledged_bytes;
  /// false when the worker is stopping or failed first.
  bool wait_for_acknowledgements(PartitionProgress& progress);
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t error,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t error,
                 rd_kafka_topic_partition_list_t* partitions);
  void assign(rd_kafka_topic_partition_list_t* partitions);
  void revoke(rd_kafka_topic_partition_list_t* partitions);
  void process(const rd_kafka_message_t* message);
  void dead_letter_refused(const InputRecord& input, const OutputRecord& refused,
                           const std::string& error, PendingInput* pending);
  PartitionProgress& progress_of(const rd_kafka_message_t* message);
  /// `n` outputs of `input` are done; completed inputs count, and a moved
  /// commit position is stored at the next store_offsets().
  void complete(PendingInput& input, uint32_t n);
  void store_offsets();
  bool drain(const std::vector<PartitionProgress*>& partitions, int timeout_ms);
  /// Drains every partition, retired ones included (bounded).
  bool quiesce();
  void send_heartbeat();
  /// False once librdkafka reported the assignment lost.
  bool confirm_ownership();
  void release_retired();

  WorkerSettings settings_;
  std::vector<std::string> input_topics_;
  RecordHandler& handler_;
  WorkerStats stats_;
  std::unique_ptr<Producer> producer_;
  KafkaHandle consumer_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::map<std::pair<std::string, int32_t>, std::unique_ptr<PartitionProgress>> partitions_;
  std::vector<std::unique_ptr<PartitionProgress>> retired_;
  std::vector<PartitionProgress*> dirty_;
  const rd_kafka_topic_t* cached_topic_ = nullptr;
  int32_t cached_partition_ = -1;
  PartitionProgress* cached_progress_ = nullptr;
  std::vector<OutputRecord> outputs_;
  std::vector<Refusal> refusals_;
  std::unordered_map<uint64_t, PendingInput*> deferred_;  ///< ticket -> input in flight
  std::vector<std::pair<uint64_t, std::vector<OutputRecord>>> finished_;
  uint64_t next_ticket_ = 0;
  const std::atomic<bool>* stop_ = nullptr;  // run()'s flag, for waits inside process()
  /// Partitions whose state is restored and whose records are being processed.
  Gauge& assigned_partitions_ =
      metrics().gauge("cf_assigned_partitions", "input partitions assigned, state restored");
  std::atomic<int64_t> last_loop_ms_{0};
  std::atomic<bool> failed_{false};
  bool closing_ = false;
  bool abandoned_ = false;
  std::string failure_;
};

/// Installs SIGINT/SIGTERM handlers once and returns the flag they set.
const std::atomic<bool>& stop_requested_by_signal();

/// True once SIGINT/SIGTERM arrived (long operations such as restores poll it).
bool shutdown_requested();

/// Flushes logs and ends the process at once, skipping destructors that would
/// wait on an abandoned Kafka handle. Call after run() when abandoned().
[[noreturn]] void exit_after_abandoned_shutdown(int code);

/// host-pid, for instance ids.
std::string default_instance_id();

}  // namespace cf
