#include "cf/worker.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/metrics.h"
#include "cf/signature.h"
#include "cf/topic_reader.h"

namespace cf {
namespace {

int64_t steady_ms() { return steady_clock_ms(); }

std::atomic<bool> g_stop{false};
extern "C" void handle_stop_signal(int) { g_stop.store(true); }

}  // namespace

int retry_delay_ms(int attempt, int base_ms, int max_ms, double unit_random) {
  double delay = base_ms;
  for (int i = 0; i < attempt && delay < max_ms; ++i) delay *= 2;
  if (delay > max_ms) delay = max_ms;
  return static_cast<int>(delay * (0.5 + 0.5 * unit_random));
}

namespace {
// What every dead letter says about where it came from and why.
void add_dead_letter_headers(OutputRecord& record, std::string_view topic, int32_t partition,
                             int64_t offset, const std::string& processor,
                             const std::string& error_class, const std::string& error) {
  record.headers.push_back({"cf-dlq-error", error});
  record.headers.push_back({"cf-dlq-error-class", error_class});
  record.headers.push_back({"cf-dlq-processor", processor});
  record.headers.push_back({"cf-dlq-source-topic", std::string(topic)});
  record.headers.push_back({"cf-dlq-source-partition", std::to_string(partition)});
  record.headers.push_back({"cf-dlq-source-offset", std::to_string(offset)});
}
void add_dead_letter_headers(OutputRecord& record, const InputRecord& input,
                             const std::string& processor, const std::string& error_class,
                             const std::string& error) {
  add_dead_letter_headers(record, input.topic(), input.partition(), input.offset(), processor,
                          error_class, error);
}

// Delivery errors that concern one record (or its batch), not the topic or
// the connection: the record can be re-sent or its input dead-lettered while
// the partition moves on. Anything else permanent (unknown topic, no
// authorization) stops the worker.
bool refused_per_record(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
      return true;
    default:
      return false;
  }
}

// A copy of the record a delivery report is about, to send it again.
OutputRecord record_of(const rd_kafka_message_t& message) {
  OutputRecord record;
  record.topic = rd_kafka_topic_name(message.rkt);
  record.partition = message.partition;
  if (message.key) record.key.assign(static_cast<const char*>(message.key), message.key_len);
  if (message.payload) {
    record.value.assign(static_cast<const char*>(message.payload), message.len);
  } else {
    record.tombstone = true;
  }
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      record.headers.push_back(
          {name, value ? std::string(static_cast<const char*>(value), size) : ""});
    }
  }
  return record;
}
}  // namespace

OutputRecord make_dead_letter(const InputRecord& input, const std::string& dead_letter_topic,
                              const std::string& processor, const std::string& error_class,
                              const std::string& error) {
  OutputRecord record;
  record.topic = dead_letter_topic;
  record.key = std::string(input.key());
  record.value = std::string(input.value());
  for (auto& [name, value] : input.headers()) record.headers.push_back({name, value});
  add_dead_letter_headers(record, input, processor, error_class, error);
  return record;
}

OutputRecord make_dead_letter_reference(const InputRecord& input,
                                        const std::string& dead_letter_topic,
                                        const std::string& processor,
                                        const std::string& error_class, const std::string& error) {
  OutputRecord record;
  record.topic = dead_letter_topic;
  record.key = std::string(input.key().substr(0, 256));
  add_dead_letter_headers(record, input, processor, error_class, error);
  record.headers.push_back({"cf-dlq-original-bytes", std::to_string(input.value().size())});
  record.headers.push_back({"cf-dlq-original-sha256", sha256_hex(input.value())});
  return record;
}

bool shutdown_requested() { return g_stop.load(std::memory_order_relaxed); }

const std::atomic<bool>& stop_requested_by_signal() {
  static bool installed = [] {
    struct sigaction action {};
    action.sa_handler = handle_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    return true;
  }();
  (void)installed;
  return g_stop;
}

void exit_after_abandoned_shutdown(int code) {
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  std::_Exit(code);
}

std::string default_instance_id() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

Worker::Worker(WorkerSettings settings, std::vector<std::string> input_topics,
               RecordHandler& handler)
    : settings_(std::move(settings)), input_topics_(std::move(input_topics)), handler_(handler) {
  if (settings_.instance_id.empty()) settings_.instance_id = default_instance_id();
  if (settings_.group.empty()) settings_.group = "cf." + settings_.name;
  if (settings_.dead_letter_topic.empty()) settings_.dead_letter_topic = "dlq." + settings_.name;
  if (settings_.max_retries < 1) throw ConfigError("--max-retries: must be at least 1");

  // message.timeout.ms=0: a worker never gives up on an output; while Kafka is
  // away it stops consuming (backpressure) instead of dropping or skipping.
  producer_ = std::make_unique<Producer>(
      settings_.kafka, settings_.name + "-" + settings_.instance_id,
      static_cast<DeliveryListener*>(this),
      std::vector<std::pair<std::string, std::string>>{{"message.timeout.ms", "0"}});

  // Stateful workers with several inputs need partition p of every input on
  // one instance (its state covers them all): the range assignor guarantees
  // that for topics of equal partition counts; cooperative-sticky does not.
  consumer_ = make_group_consumer(settings_,
                                  settings_.co_partitioned_inputs ? "range" : "cooperative-sticky",
                                  /*auto_commit=*/true, &Worker::on_rebalance, this);

  if (settings_.metrics_port >= 0) {
    metrics_server_ = std::make_unique<MetricsServer>(settings_.metrics_port, [this] {
      return !failed_.load() && steady_ms() - last_loop_ms_.load() < 30000;
    });
  }
}

Worker::~Worker() {
  // Deliveries still queued point into partitions_; flush before they go.
  if (producer_ && !abandoned_) producer_->flush(1000);
}

int Worker::metrics_port() const { return metrics_server_ ? metrics_server_->port() : -1; }

void Worker::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t error,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<Worker*>(opaque);
  // librdkafka calls this from C: no exception may leave it. A failure stops
  // the worker (run() rethrows) with nothing stored for unprocessed inputs.
  try {
    self->rebalance(rk, error, partitions);
  } catch (const std::exception& e) {
    if (!self->failed_.exchange(true)) self->failure_ = std::string("rebalance: ") + e.what();
  }
}

void Worker::rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t error,
                       rd_kafka_topic_partition_list_t* partitions) {
  bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    assign(partitions);
    if (cooperative) {
      KafkaErrorHandle e(rd_kafka_incremental_assign(rk, partitions));
      if (e) throw KafkaError("incremental assign", e.get());
    } else {
      rd_kafka_assign(rk, partitions);
    }
  } else {
    revoke(partitions);
    if (cooperative) {
      KafkaErrorHandle e(rd_kafka_incremental_unassign(rk, partitions));
      if (e) spdlog::warn("incremental unassign: {}", rd_kafka_error_string(e.get()));
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
}

void Worker::assign(rd_kafka_topic_partition_list_t* partitions) {
  PartitionListHandle committed(rd_kafka_topic_partition_list_copy(partitions));
  auto err = rd_kafka_committed(consumer_.get(), committed.get(), 10000);
  if (err)
    spdlog::warn("could not read committed offsets at assignment: {}", rd_kafka_err2str(err));
  std::vector<TopicPartition> assigned;
  for (int i = 0; i < committed->cnt; ++i) {
    const auto& tp = committed->elems[i];
    auto progress = std::make_unique<PartitionProgress>(tp.topic, tp.partition);
    progress->expected_next = (!err && tp.err == 0 && tp.offset >= 0) ? tp.offset : -1;
    assigned.push_back({tp.topic, tp.partition});
    partitions_[{tp.topic, tp.partition}] = std::move(progress);
  }
  cached_topic_ = nullptr;
  spdlog::info("assigned {} partition(s); restoring state", assigned.size());
  handler_.on_assigned(assigned);
  assigned_partitions_.set(static_cast<double>(partitions_.size()));
}

void Worker::revoke(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<PartitionProgress*> leaving;
  std::vector<TopicPartition> revoked;
  for (int i = 0; i < partitions->cnt; ++i) {
    auto it = partitions_.find({partitions->elems[i].topic, partitions->elems[i].partition});
    if (it == partitions_.end()) continue;
    leaving.push_back(it->second.get());
    revoked.push_back({it->second->topic(), it->second->partition()});
  }
  bool lost = rd_kafka_assignment_lost(consumer_.get());
  bool drained = false;
  if (!lost) {
    drained = drain(leaving, settings_.shutdown_timeout_ms);
    if (!drained) {
      spdlog::error(
          "revoking {} partition(s) with outputs still unacknowledged; the next owner "
          "re-reads those inputs (repeats, no loss); their state is dropped without a snapshot",
          leaving.size());
    }
    store_offsets();
    // While closing, commit asynchronously: the close commits stored offsets
    // itself, and a synchronous commit would hang a shutdown whose brokers
    // are gone.
    auto err = rd_kafka_commit(consumer_.get(), nullptr, closing_ ? 1 : 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      spdlog::warn("commit at revoke: {}", rd_kafka_err2str(err));
    }
  }
  if (lost) {
    static Counter& lost_partitions =
        metrics().counter("cf_partitions_lost_total",
                          "partitions lost without a revoke (session timeout, paused process)");
    lost_partitions.inc(revoked.size());
    handler_.on_lost(revoked);
  } else if (!drained) {
    handler_.on_lost(revoked);
  } else {
    handler_.on_revoked(revoked);
  }
  for (auto& tp : revoked) {
    auto it = partitions_.find({tp.topic, tp.partition});
    it->second->retire();
    retired_.push_back(std::move(it->second));
    partitions_.erase(it);
  }
  cached_topic_ = nullptr;
  dirty_.clear();
  release_retired();
  assigned_partitions_.set(static_cast<double>(partitions_.size()));
  spdlog::info("revoked {} partition(s){}", revoked.size(), lost ? " (lost)" : "");
}

bool Worker::drain(const std::vector<PartitionProgress*>& partitions, int timeout_ms) {
  auto deadline = steady_ms() + timeout_ms;
  auto busy = [&] {
    for (auto* p : partitions)
      if (!p->idle()) return true;
    return false;
  };
  while (busy()) {
    if (steady_ms() > deadline || failed_) return false;
    poll_producer(10);
  }
  return true;
}

bool Worker::quiesce() {
  std::vector<PartitionProgress*> all;
  for (auto& [key, p] : partitions_) all.push_back(p.get());
  for (auto& p : retired_) all.push_back(p.get());
  const int timeout_ms = std::min(settings_.shutdown_timeout_ms, 5000);
  const bool drained = drain(all, timeout_ms);
  if (!drained)
    spdlog::warn("outputs still unacknowledged after {} ms: snapshot postponed", timeout_ms);
  return drained;
}

void Worker::release_retired() {
  retired_.erase(
      std::remove_if(retired_.begin(), retired_.end(), [](const auto& p) { return p->idle(); }),
      retired_.end());
}

Worker::PartitionProgress& Worker::progress_of(const rd_kafka_message_t* message) {
  if (message->rkt == cached_topic_ && message->partition == cached_partition_) {
    return *cached_progress_;
  }
  auto key = std::make_pair(std::string(rd_kafka_topic_name(message->rkt)), message->partition);
  auto& slot = partitions_[key];
  if (!slot) {  // a message for a partition we were not told about: track it anyway
    slot = std::make_unique<PartitionProgress>(key.first, key.second);
  }
  cached_topic_ = message->rkt;
  cached_partition_ = message->partition;
  cached_progress_ = slot.get();
  return *slot;
}

void Worker::on_delivery_message(const rd_kafka_message_t& message) {
  handler_.on_output_delivered(rd_kafka_topic_name(message.rkt), message.partition, message.offset,
                               message.err == RD_KAFKA_RESP_ERR_NO_ERROR);
  auto* pending = static_cast<PendingInput*>(message._private);
  if (pending && message.err && refused_per_record(message.err)) {
    // Served from poll_producer(), outside librdkafka's callback: re-sending
    // or dead-lettering produces, and produce() may itself poll.
    refusals_.push_back({pending, record_of(message), rd_kafka_err2str(message.err)});
    return;
  }
  on_delivery(message.err, message._private);
}

namespace {
Counter& dead_letters_counter() {
  static Counter& counter =
      metrics().counter("cf_dead_letters_total", "records sent to the dead-letter topic");
  return counter;
}
}  // namespace

void Worker::poll_producer(int timeout_ms) {
  producer_->poll(timeout_ms);
  if (!refusals_.empty()) serve_refusals();
  if (!deferred_.empty()) collect_deferred();
}

void Worker::start_deferred(const InputRecord& input, PartitionProgress& progress) {
  // One placeholder output stands for the work until it finishes.
  PendingInput* pending = &progress.read(input.offset(), 1, 0);
  const uint64_t ticket = ++next_ticket_;
  try {
    handler_.start(input, ticket);
    deferred_[ticket] = pending;
    return;
  } catch (const std::exception& e) {
    Counter& dead_letters = dead_letters_counter();
    dead_letters.inc();
    stats_.dead_lettered.fetch_add(1);
    spdlog::warn("{}/{}@{} dead-lettered to {}: {}", input.topic(), input.partition(),
                 input.offset(), settings_.dead_letter_topic, e.what());
    OutputRecord letter = make_dead_letter(input, settings_.dead_letter_topic, settings_.name,
                                           "handler_error", e.what());
    try {
      producer_->produce(letter, pending);  // takes the placeholder's place
    } catch (const KafkaError& refused) {
      dead_letter_refused(input, letter, refused.what(), pending);  // completes on failure
    }
  }
}

void Worker::collect_deferred() {
  finished_.clear();
  handler_.take_finished(finished_);
  for (auto& [ticket, outputs] : finished_) {
    auto it = deferred_.find(ticket);
    if (it == deferred_.end()) continue;
    PendingInput* pending = it->second;
    deferred_.erase(it);
    PartitionProgress& progress = owner(pending);
    for (size_t i = 0; i < outputs.size(); ++i) progress.add_output(*pending);
    uint32_t unsent = 0;
    for (size_t i = 0; i < outputs.size(); ++i) {
      try {
        producer_->produce(outputs[i], pending);
      } catch (const KafkaError& e) {
        // Never committed past: a restart repeats the (idempotent) work.
        spdlog::error("{}/{}@{}: output to {} refused: {}", progress.topic(), progress.partition(),
                      pending->offset, outputs[i].topic, e.what());
        progress.fail(*pending);
        unsent = static_cast<uint32_t>(outputs.size() - i);
        break;
      }
    }
    complete(*pending, 1 + unsent);  // the placeholder, and what was never sent
  }
}

bool Worker::wait_for_capacity() {
  while (handler_.saturated()) {
    if (failed_ || (stop_ && stop_->load(std::memory_order_relaxed))) return false;
    last_loop_ms_.store(steady_ms(), std::memory_order_relaxed);
    poll_producer(1);
  }
  return true;
}

void Worker::serve_refusals() {
  static Counter& resent =
      metrics().counter("cf_refused_deliveries_total",
                        "outputs the broker refused at delivery (re-sent, then dead-lettered)");
  while (!refusals_.empty()) {
    std::vector<Refusal> batch;
    batch.swap(refusals_);
    for (auto& refusal : batch) {
      resent.inc();
      PendingInput* pending = refusal.pending;
      if (refusal.record.topic == settings_.dead_letter_topic) {
        // Nowhere left to put the input: re-send, then stop loudly (the
        // offset stays unstored, so the input is read again after a restart).
        if (pending->dead_letter_refusals++ >= settings_.refused_delivery_retries) {
          if (!failed_.exchange(true)) {
            failure_ = "dead letter of " + owner(pending).topic() + "/" +
                       std::to_string(owner(pending).partition()) + "@" +
                       std::to_string(pending->offset) + " refused by " +
                       settings_.dead_letter_topic + ": " + refusal.error;
          }
          continue;
        }
        try {
          producer_->produce(refusal.record, pending);
        } catch (const KafkaError& e) {
          if (!failed_.exchange(true))
            failure_ = "cannot re-send a dead letter: " + std::string(e.what());
        }
        continue;
      }
      if (!pending->dead_lettered && pending->refusals++ < settings_.refused_delivery_retries) {
        spdlog::warn("{}/{}@{}: output to {} refused at delivery ({}); re-sending",
                     owner(pending).topic(), owner(pending).partition(), pending->offset,
                     refusal.record.topic, refusal.error);
        try {
          producer_->produce(refusal.record, pending);
          continue;
        } catch (const KafkaError& e) {
          refusal.error = e.what();
        }
      }
      give_up_refused(refusal);
    }
  }
}

// The output cannot be delivered: its input goes to the dead-letter topic (at
// most one dead letter per input) and the output stops counting as pending.
void Worker::give_up_refused(const Refusal& refusal) {
  Counter& dead_letters = dead_letters_counter();
  PendingInput* pending = refusal.pending;
  PartitionProgress& progress = owner(pending);
  if (!pending->dead_lettered) {
    pending->dead_lettered = true;
    progress.add_output(*pending);  // the dead letter
    // The input is no longer in memory: read it back from its partition.
    bool found =
        read_record_at(settings_.kafka, progress.topic(), progress.partition(), pending->offset,
                       10000, [&](const InputRecord& input) {
                         dead_letter_refused(input, refusal.record, refusal.error, pending);
                       });
    if (!found) {
      spdlog::error(
          "{}/{}@{}: output to {} refused ({}) and the input is no longer readable; "
          "dead-lettering a reference",
          progress.topic(), progress.partition(), pending->offset, refusal.record.topic,
          refusal.error);
      OutputRecord reference;
      reference.topic = settings_.dead_letter_topic;
      add_dead_letter_headers(reference, progress.topic(), progress.partition(), pending->offset,
                              settings_.name, "produce_refused",
                              "output to " + refusal.record.topic + " refused: " + refusal.error +
                                  " (input no longer readable)");
      try {
        producer_->produce(reference, pending);
      } catch (const KafkaError& e) {
        if (!failed_.exchange(true))
          failure_ = "cannot dead-letter a refused output: " + std::string(e.what());
        progress.fail(*pending);  // neither output nor dead letter: never committed
        complete(*pending, 1);
      }
    }
    stats_.dead_lettered.fetch_add(1);
    dead_letters.inc();
  }
  complete(*pending, 1);
}

void Worker::on_delivery(rd_kafka_resp_err_t error, void* token) {
  if (token == nullptr) {  // heartbeat
    if (error) spdlog::warn("heartbeat not delivered: {}", rd_kafka_err2str(error));
    return;
  }
  auto* pending = static_cast<PendingInput*>(token);
  if (error) {
    // With message.timeout.ms=0 only permanent errors get here (unknown topic,
    // authorization, size). Stop: storing this offset would lose the output.
    if (!failed_.exchange(true)) {
      failure_ = std::string("output of ") + owner(pending).topic() + "/" +
                 std::to_string(owner(pending).partition()) + "@" +
                 std::to_string(pending->offset) + " not delivered: " + rd_kafka_err2str(error);
    }
    owner(pending).fail(*pending);  // storing this offset would lose the output
    return;
  }
  static Counter& acknowledged =
      metrics().counter("cf_outputs_acknowledged_total", "outputs acknowledged by Kafka");
  acknowledged.inc();
  stats_.outputs_acknowledged.fetch_add(1, std::memory_order_relaxed);
  complete(*pending, 1);
}

void Worker::complete(PendingInput& input, uint32_t n) {
  PartitionProgress& progress = owner(&input);
  const auto done = progress.done(input, n);
  stats_.records_completed.fetch_add(done.completed, std::memory_order_relaxed);
  if (done.store) {
    dirty_.push_back(&progress);
    handler_.on_inputs_completed(progress.topic(), progress.partition(),
                                 progress.commit_position());
  }
}

void Worker::store_offsets() {
  if (dirty_.empty()) return;
  PartitionListHandle list(rd_kafka_topic_partition_list_new(static_cast<int>(dirty_.size())));
  for (auto* p : dirty_) {
    if (p->commit_position() < 0) continue;
    rd_kafka_topic_partition_list_add(list.get(), p->topic().c_str(), p->partition())->offset =
        p->commit_position();
  }
  dirty_.clear();
  if (list->cnt == 0) return;
  auto err = rd_kafka_offsets_store(consumer_.get(), list.get());
  if (err) spdlog::debug("offsets_store: {}", rd_kafka_err2str(err));
}

void Worker::process(const rd_kafka_message_t* message) {
  static Counter& records_in = metrics().counter("cf_records_in_total", "records consumed");
  Counter& dead_letters = dead_letters_counter();
  static Histogram& handle_latency =
      metrics().histogram("cf_handle_seconds", "time spent in the record handler");

  PartitionProgress& progress = progress_of(message);
  // Not handled (and so never stored) when the worker stops while waiting:
  // the record is read again by the next owner.
  if (!wait_for_acknowledgements(progress)) return;
  if (handler_.deferred() && !wait_for_capacity()) return;
  stats_.records_in.fetch_add(1, std::memory_order_relaxed);
  records_in.inc();
  check_position(progress.topic(), progress.partition(), progress.expected_next, message->offset,
                 stats_);
  progress.expected_next = message->offset + 1;

  InputRecord input(message);
  if (handler_.deferred()) {
    start_deferred(input, progress);
    return;
  }
  bool dead_lettered = false;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    outputs_.clear();
    auto started = std::chrono::steady_clock::now();
    try {
      handler_.handle(input, outputs_);
      handle_latency.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      break;
    } catch (const RetriableError& e) {
      if (attempt + 1 >= settings_.max_retries) {
        outputs_.clear();
        outputs_.push_back(make_dead_letter(input, settings_.dead_letter_topic, settings_.name,
                                            "retries_exhausted", e.what()));
        dead_lettered = true;
        break;
      }
      int delay =
          retry_delay_ms(attempt, settings_.retry_backoff_ms, settings_.retry_backoff_max_ms,
                         std::uniform_real_distribution<double>(0, 1)(rng));
      spdlog::warn("{}/{}@{}: transient failure (attempt {}), retrying in {} ms: {}",
                   progress.topic(), progress.partition(), message->offset, attempt + 1, delay,
                   e.what());
      auto until = steady_ms() + delay;
      while (steady_ms() < until)
        poll_producer(static_cast<int>(std::min<int64_t>(10, until - steady_ms())));
    } catch (const std::exception& e) {
      outputs_.clear();
      outputs_.push_back(make_dead_letter(input, settings_.dead_letter_topic, settings_.name,
                                          "handler_error", e.what()));
      dead_lettered = true;
      break;
    }
  }
  if (dead_lettered) {
    stats_.dead_lettered.fetch_add(1);
    dead_letters.inc();
    spdlog::warn("{}/{}@{} dead-lettered to {}", progress.topic(), progress.partition(),
                 message->offset, settings_.dead_letter_topic);
  }

  int64_t bytes = 0;
  for (const auto& output : outputs_)
    bytes += static_cast<int64_t>(output.key.size() + output.value.size());
  PendingInput* pending =
      &progress.read(message->offset, static_cast<uint32_t>(outputs_.size()), bytes);
  if (outputs_.empty()) {
    complete(*pending, 0);
    return;
  }
  for (size_t i = 0; i < outputs_.size(); ++i) {
    try {
      producer_->produce(outputs_[i], pending);
    } catch (const KafkaError& e) {
      // Kafka refused this one record (too large, no such partition): it will
      // never be acknowledged. Outputs already queued stay; the input is
      // dead-lettered in place of the rest, so the partition moves on and a
      // restart does not die on the same record again.
      progress.add_output(*pending);  // the dead letter below
      dead_letter_refused(input, outputs_[i], e.what(), pending);
      stats_.dead_lettered.fetch_add(1);
      dead_letters.inc();
      complete(*pending, static_cast<uint32_t>(outputs_.size() - i));  // never sent
      break;
    }
  }
}

bool Worker::wait_for_acknowledgements(PartitionProgress& progress) {
  if (progress.unacknowledged_bytes() <= settings_.max_unacknowledged_bytes) return true;
  static Counter& waits = metrics().counter(
      "cf_backpressure_waits_total", "times a partition waited for its outputs to be acknowledged");
  waits.inc();
  while (progress.unacknowledged_bytes() > settings_.max_unacknowledged_bytes) {
    if (failed_ || (stop_ && stop_->load(std::memory_order_relaxed))) return false;
    last_loop_ms_.store(steady_ms(), std::memory_order_relaxed);
    poll_producer(10);
  }
  return true;
}

void Worker::dead_letter_refused(const InputRecord& input, const OutputRecord& refused,
                                 const std::string& error, PendingInput* pending) {
  static Counter& refusals = metrics().counter(
      "cf_produce_refused_total", "outputs Kafka refused per record (dead-lettered instead)");
  refusals.inc();
  const std::string detail = "output to " + refused.topic + " refused: " + error;
  spdlog::error("{}/{}@{}: {}; dead-lettering the input", input.topic(), input.partition(),
                input.offset(), detail);
  OutputRecord letter = make_dead_letter(input, settings_.dead_letter_topic, settings_.name,
                                         "produce_refused", detail);
  try {
    producer_->produce(letter, pending);
    return;
  } catch (const KafkaError&) {
    // The input itself is too large for the dead-letter topic: send a
    // reference to it (where it is, how long, its digest) instead.
  }
  OutputRecord reference = make_dead_letter_reference(input, settings_.dead_letter_topic,
                                                      settings_.name, "produce_refused", detail);
  try {
    producer_->produce(reference, pending);
  } catch (const KafkaError& e) {
    // Nowhere to put it: stop loudly rather than skip the record.
    if (!failed_.exchange(true)) {
      failure_ = "cannot dead-letter " + std::string(input.topic()) + "/" +
                 std::to_string(input.partition()) + "@" + std::to_string(input.offset()) + ": " +
                 e.what();
    }
    owner(pending).fail(*pending);  // neither output nor dead letter: never committed
    complete(*pending, 1);
  }
}

// Not a round trip: a synchronous commit would prove membership, but one that
// meets a rebalance in progress (ILLEGAL_GENERATION) makes librdkafka drop
// the assignment as lost, so every periodic snapshot could cost a rebalance
// (the fault campaign showed exactly that churn). What is checked is what
// librdkafka knows; a paused instance that has not noticed its loss yet can
// still snapshot, which is why a snapshot covers only the instance's own
// contiguous changelog writes, and the epoch fence at restore keeps its stale
// changelog writes out (see keyed_state.h).
bool Worker::confirm_ownership() { return !rd_kafka_assignment_lost(consumer_.get()); }

void Worker::send_heartbeat() {
  producer_->produce(heartbeat_record(settings_, static_cast<int64_t>(partitions_.size())), nullptr,
                     0);
}

void Worker::run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  std::vector<std::string> topics = input_topics_;
  PartitionListHandle subscription(
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (auto& t : topics) {
    rd_kafka_topic_partition_list_add(subscription.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (auto err = rd_kafka_subscribe(consumer_.get(), subscription.get())) {
    throw KafkaError("subscribe", err);
  }
  spdlog::info("{} started: group {}, inputs {} topic(s), metrics port {}", settings_.name,
               settings_.group, topics.size(), metrics_port());
  int64_t next_heartbeat = steady_ms();
  uint32_t since_store = 0;
  while (!stop.load(std::memory_order_relaxed) && !failed_) {
    last_loop_ms_.store(steady_ms(), std::memory_order_relaxed);
    MessageHandle message(rd_kafka_consumer_poll(consumer_.get(), producer_->outq_len() ? 1 : 50));
    if (message) {
      if (message->err) {
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          spdlog::warn("consumer: {}", rd_kafka_message_errstr(message.get()));
        }
      } else if (!stop.load(std::memory_order_relaxed) && !failed_) {
        // A stop during a rebalance may leave state half restored: do not
        // process; the record is not stored and is read again later.
        process(message.get());
      }
    }
    poll_producer(0);
    if (++since_store >= 256 || !message) {
      since_store = 0;
      store_offsets();
      release_retired();
      // A lost assignment is reported at the next poll; until then the
      // partitions may belong to another instance already, so no
      // housekeeping (snapshots) on state that may be stale.
      if (!rd_kafka_assignment_lost(consumer_.get())) {
        handler_.maintain(
            steady_ms(), [this] { return confirm_ownership(); }, [this] { return quiesce(); });
      }
      if (settings_.heartbeat_interval_ms > 0 && steady_ms() >= next_heartbeat) {
        next_heartbeat = steady_ms() + settings_.heartbeat_interval_ms;
        send_heartbeat();
      }
    }
  }

  // Graceful shutdown: no more fetching; wait for in-flight outputs; store
  // their offsets; leave the group (which commits them). Every step is
  // bounded by --shutdown-timeout-ms, so SIGTERM ends the process even when
  // the brokers are unreachable; what is not committed is re-read by the next
  // owner (repeats, never loss).
  closing_ = true;
  const int64_t deadline = steady_ms() + settings_.shutdown_timeout_ms;
  std::vector<PartitionProgress*> all;
  for (auto& [key, p] : partitions_) all.push_back(p.get());
  bool drained = drain(all, settings_.shutdown_timeout_ms);
  store_offsets();
  bool closed = close_group_consumer(
      consumer_, deadline,
      [this](rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions) {
        rebalance(consumer_.get(), error, partitions);
      });
  if (!closed) {
    spdlog::error(
        "shutdown: could not leave the group within {} ms (brokers unreachable?); "
        "offsets not committed are re-read by the next owner",
        settings_.shutdown_timeout_ms);
    abandoned_ = true;
  }
  producer_->flush(drained ? static_cast<int>(std::max<int64_t>(0, deadline - steady_ms())) : 0);
  spdlog::info(
      "{} stopped: {} in, {} completed, {} dead-lettered, {} output(s) left unacknowledged",
      settings_.name, stats_.records_in.load(), stats_.records_completed.load(),
      stats_.dead_lettered.load(), producer_->outq_len());
  if (failed_) throw KafkaError(failure_, RD_KAFKA_RESP_ERR__FAIL, true);
}

}  // namespace cf
