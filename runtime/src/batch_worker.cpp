#include "cf/batch_worker.h"

#include <algorithm>
#include <random>
#include <thread>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/metrics.h"
#include "cf/worker.h"

namespace cf {
namespace {

double unit_random() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

}  // namespace

BatchWorker::BatchWorker(WorkerSettings settings, BatchSettings batch,
                         std::vector<std::string> input_topics, BatchHandler& handler)
    : settings_(std::move(settings)),
      batch_(batch),
      input_topics_(std::move(input_topics)),
      handler_(handler) {
  if (settings_.instance_id.empty()) settings_.instance_id = default_instance_id();
  if (settings_.group.empty()) settings_.group = "cf." + settings_.name;
  if (settings_.dead_letter_topic.empty()) settings_.dead_letter_topic = "dlq." + settings_.name;
  if (batch_.max_records < 1) throw ConfigError("--batch-max-records: at least 1");
  if (batch_.max_ms < 1) throw ConfigError("--batch-max-ms: at least 1");
  // Dead letters and heartbeats only; message.timeout.ms=0: never given up.
  producer_ = std::make_unique<Producer>(
      settings_.kafka, settings_.name + "-" + settings_.instance_id,
      static_cast<DeliveryListener*>(this),
      std::vector<std::pair<std::string, std::string>>{{"message.timeout.ms", "0"}});
  // Range (eager): a revoke takes every partition at once, so the held batch
  // is written whole before any of them leaves.
  consumer_ = make_group_consumer(settings_, "range", /*auto_commit=*/false,
                                  &BatchWorker::on_rebalance, this);
  if (settings_.metrics_port >= 0) {
    metrics_server_ = std::make_unique<MetricsServer>(settings_.metrics_port, [this] {
      return !failed_.load() && store_ok_.load() &&
             steady_clock_ms() - last_loop_ms_.load() < 30000;
    });
  }
}

BatchWorker::~BatchWorker() {
  if (producer_ && !abandoned_) producer_->flush(1000);
}

void BatchWorker::on_delivery(rd_kafka_resp_err_t error, void* token) {
  if (!error) return;
  if (token == nullptr) {
    spdlog::warn("heartbeat not delivered: {}", rd_kafka_err2str(error));
    return;
  }
  dead_letter_failures_.fetch_add(1);
  spdlog::error("dead letter not delivered: {}", rd_kafka_err2str(error));
}

void BatchWorker::dead_letter(const InputRecord& input, const std::string& error_class,
                              const std::string& error) {
  static Counter& dead =
      metrics().counter("cf_dead_letters_total", "records sent to the dead-letter topic");
  // A batch rebuilt after a refusal or a retry meets the same record again: send it once.
  if (!dead_lettered_.insert(input.raw()).second) return;
  try {
    producer_->produce(
        make_dead_letter(input, settings_.dead_letter_topic, settings_.name, error_class, error),
        &dead_letter_failures_);
  } catch (const KafkaError&) {
    // Too large for the dead-letter topic: a reference to where it stays readable.
    producer_->produce(make_dead_letter_reference(input, settings_.dead_letter_topic,
                                                  settings_.name, error_class, error),
                       &dead_letter_failures_);
  }
  dead.inc();
  stats_.dead_lettered.fetch_add(1);
  spdlog::error("dead-lettered {}/{}@{}: {}", input.topic(), input.partition(), input.offset(),
                error_class);
}

void BatchWorker::await_dead_letters() {
  // Heartbeats share the queue; they are few. A dead letter that cannot be
  // delivered in a minute stops the worker before any position moves past it.
  if (producer_->flush(60000) != RD_KAFKA_RESP_ERR_NO_ERROR || dead_letter_failures_.load() > 0) {
    throw KafkaError("dead letters not acknowledged", RD_KAFKA_RESP_ERR__FAIL, true);
  }
}

void BatchWorker::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t error,
                               rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<BatchWorker*>(opaque);
  // Called from C: no exception may leave. A failure stops the worker.
  try {
    self->rebalance(error, partitions);
  } catch (const std::exception& e) {
    if (!self->failed_.exchange(true)) self->failure_ = std::string("rebalance: ") + e.what();
    rd_kafka_assign(self->consumer_.get(), nullptr);
  }
}

void BatchWorker::rebalance(rd_kafka_resp_err_t error,
                            rd_kafka_topic_partition_list_t* partitions) {
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    assign(partitions);
  } else {
    release(partitions);
  }
}

PartitionOffsets BatchWorker::positions_with_retry(const std::vector<TopicPartition>& partitions) {
  for (int attempt = 0;; ++attempt) {
    try {
      auto positions = handler_.positions(partitions);
      store_ok_ = true;
      return positions;
    } catch (const RetriableError& e) {
      store_ok_ = false;
      if (stop_ && stop_->load()) throw;
      int delay = retry_delay_ms(attempt, settings_.retry_backoff_ms,
                                 settings_.retry_backoff_max_ms, unit_random());
      spdlog::warn("positions unavailable ({}); retrying in {} ms", first_line(e.what()), delay);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
  }
}

void BatchWorker::assign(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<TopicPartition> list;
  for (int i = 0; i < partitions->cnt; ++i)
    list.push_back({partitions->elems[i].topic, partitions->elems[i].partition});
  auto stored = positions_with_retry(list);
  for (int i = 0; i < partitions->cnt; ++i) {
    auto& tp = partitions->elems[i];
    auto it = stored.find({tp.topic, tp.partition});
    tp.offset = it == stored.end() ? RD_KAFKA_OFFSET_BEGINNING : it->second;
    assigned_[{tp.topic, tp.partition}] = it == stored.end() ? -1 : it->second;
  }
  auto err = rd_kafka_assign(consumer_.get(), partitions);
  if (err) throw KafkaError("assign", err);
  metrics()
      .gauge("cf_assigned_partitions", "input partitions assigned")
      .set(static_cast<double>(assigned_.size()));
  spdlog::info("assigned {} partition(s); positions from the store", partitions->cnt);
}

void BatchWorker::release(rd_kafka_topic_partition_list_t* partitions) {
  std::set<std::pair<std::string, int32_t>> leaving;
  for (int i = 0; i < partitions->cnt; ++i)
    leaving.insert({partitions->elems[i].topic, partitions->elems[i].partition});
  const bool lost = rd_kafka_assignment_lost(consumer_.get());
  if (lost) {
    // Another instance may own them already and may have written past what
    // is held here: write nothing.
    static Counter& lost_partitions =
        metrics().counter("cf_partitions_lost_total",
                          "partitions lost without a revoke (session timeout, paused process)");
    lost_partitions.inc(leaving.size());
  } else if (!flush(steady_clock_ms() + settings_.shutdown_timeout_ms)) {
    spdlog::error(
        "revoke: held batch not written within {} ms; the next owner re-reads it from the stored "
        "positions",
        settings_.shutdown_timeout_ms);
  }
  drop_held(leaving);
  for (const auto& tp : leaving) assigned_.erase(tp);
  auto err = rd_kafka_assign(consumer_.get(), nullptr);
  if (err) spdlog::warn("unassign: {}", rd_kafka_err2str(err));
  metrics()
      .gauge("cf_assigned_partitions", "input partitions assigned")
      .set(static_cast<double>(assigned_.size()));
  spdlog::info("released {} partition(s){}", leaving.size(),
               lost ? " (lost: held records dropped unwritten)" : "");
}

void BatchWorker::drop_held(const std::set<std::pair<std::string, int32_t>>& partitions) {
  held_.erase(std::remove_if(held_.begin(), held_.end(),
                             [&](const Held& h) { return partitions.count(h.partition) > 0; }),
              held_.end());
  if (held_.empty()) dead_lettered_.clear();
}

void BatchWorker::collect(const std::atomic<bool>& stop) {
  static Counter& records_in = metrics().counter("cf_records_in_total", "records consumed");
  const int64_t deadline = steady_clock_ms() + batch_.max_ms;
  while (held_.size() < static_cast<size_t>(batch_.max_records) && !stop.load() && !failed_) {
    last_loop_ms_.store(steady_clock_ms(), std::memory_order_relaxed);
    const int64_t left = deadline - steady_clock_ms();
    if (left <= 0) break;
    MessageHandle m(rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(left)));
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        spdlog::warn("consumer: {}", rd_kafka_message_errstr(m.get()));
      continue;
    }
    auto tp = std::make_pair(std::string(rd_kafka_topic_name(m->rkt)), m->partition);
    auto it = assigned_.find(tp);
    if (it == assigned_.end()) continue;  // released meanwhile
    check_position(tp.first, tp.second, it->second, m->offset, stats_);
    it->second = m->offset + 1;
    stats_.records_in.fetch_add(1, std::memory_order_relaxed);
    records_in.inc();
    held_.push_back({std::move(m), std::move(tp)});
  }
}

bool BatchWorker::flush(int64_t deadline_ms) {
  static Counter& written =
      metrics().counter("cf_batch_records_total", "records written by batches");
  static Counter& batches = metrics().counter("cf_batches_total", "batches written");
  static Counter& retries =
      metrics().counter("cf_batch_retries_total",
                        "batch writes retried after a transient failure (store unreachable)");
  static Histogram& seconds = metrics().histogram("cf_batch_seconds", "time to write one batch");
  if (held_.empty()) return true;
  const auto started = std::chrono::steady_clock::now();
  std::vector<InputRecord> records;
  records.reserve(held_.size());
  for (const auto& h : held_) records.emplace_back(h.message.get());
  for (int attempt = 0;; ++attempt) {
    try {
      handler_.write(records, *this);
      store_ok_ = true;
      break;
    } catch (const BatchFenced& e) {
      fenced(e.what());
      return true;
    } catch (const RetriableError& e) {
      store_ok_ = false;
      retries.inc();
      int delay = retry_delay_ms(attempt, settings_.retry_backoff_ms,
                                 settings_.retry_backoff_max_ms, unit_random());
      const bool stopping = !closing_ && stop_ && stop_->load();
      if (stopping || (deadline_ms >= 0 && steady_clock_ms() + delay > deadline_ms)) {
        spdlog::warn("batch of {} record(s) not written ({}); giving up for now", held_.size(),
                     first_line(e.what()));
        return false;
      }
      spdlog::warn("batch of {} record(s) not written ({}); retrying in {} ms", held_.size(),
                   first_line(e.what()), delay);
      const int64_t until = steady_clock_ms() + delay;
      while (steady_clock_ms() < until) {
        last_loop_ms_.store(steady_clock_ms(), std::memory_order_relaxed);
        producer_->poll(static_cast<int>(
            std::min<int64_t>(100, std::max<int64_t>(0, until - steady_clock_ms()))));
        maybe_heartbeat();  // the fleet sees this worker alive, and why it is stuck
      }
    }
  }
  stats_.records_completed.fetch_add(held_.size(), std::memory_order_relaxed);
  written.inc(held_.size());
  batches.inc();
  seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  // Informational only (lag dashboards and tools); the positions that count
  // are in the store.
  rd_kafka_commit_message(consumer_.get(), held_.back().message.get(), 1);
  held_.clear();
  dead_lettered_.clear();
  return true;
}

// Another instance wrote past what this one holds (it took the partitions
// while this one was paused or cut off): drop the batch and go on from the
// stored positions of the partitions still assigned.
void BatchWorker::fenced(const char* why) {
  static Counter& fenced = metrics().counter(
      "cf_batches_fenced_total", "batches dropped because another instance had written past them");
  fenced.inc();
  spdlog::warn("batch of {} record(s) dropped: {}; resuming from the stored positions",
               held_.size(), first_line(why));
  held_.clear();
  dead_lettered_.clear();
  std::vector<TopicPartition> list;
  for (const auto& [tp, expected] : assigned_) list.push_back({tp.first, tp.second});
  auto stored = positions_with_retry(list);
  PartitionListHandle seek(
      rd_kafka_topic_partition_list_new(static_cast<int>(assigned_.size()) + 1));
  for (auto& [tp, expected] : assigned_) {
    auto it = stored.find(tp);
    if (it == stored.end()) continue;
    rd_kafka_topic_partition_list_add(seek.get(), tp.first.c_str(), tp.second)->offset = it->second;
    expected = it->second;
  }
  if (seek->cnt > 0) {
    KafkaErrorHandle error(rd_kafka_seek_partitions(consumer_.get(), seek.get(), 10000));
    if (error) spdlog::warn("seek after a fenced batch: {}", rd_kafka_error_string(error.get()));
  }
}

void BatchWorker::maybe_heartbeat() {
  if (settings_.heartbeat_interval_ms <= 0 || steady_clock_ms() < next_heartbeat_ms_) return;
  next_heartbeat_ms_ = steady_clock_ms() + settings_.heartbeat_interval_ms;
  producer_->produce(heartbeat_record(settings_, static_cast<int64_t>(assigned_.size())), nullptr,
                     0);
}

void BatchWorker::run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  PartitionListHandle subscription(
      rd_kafka_topic_partition_list_new(static_cast<int>(input_topics_.size())));
  for (const auto& t : input_topics_) {
    rd_kafka_topic_partition_list_add(subscription.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (auto err = rd_kafka_subscribe(consumer_.get(), subscription.get()))
    throw KafkaError("subscribe", err);
  store_ok_ = true;
  spdlog::info(
      "{} started: group {}, inputs {} topic(s), batches of up to {} records / {} ms, metrics port "
      "{}",
      settings_.name, settings_.group, input_topics_.size(), batch_.max_records, batch_.max_ms,
      metrics_port());
  while (!stop.load() && !failed_) {
    collect(stop);
    if (failed_) break;
    // A write given up on a stop is tried once more, bounded, below.
    try {
      flush(-1);
    } catch (const std::exception& e) {
      if (!failed_.exchange(true)) failure_ = std::string("batch write: ") + e.what();
      break;
    }
    producer_->poll(0);
    maybe_heartbeat();
  }

  // Graceful shutdown, every step bounded by --shutdown-timeout-ms: write
  // what is held (unless failed), leave the group, deliver what is queued.
  closing_ = true;
  const int64_t deadline = steady_clock_ms() + settings_.shutdown_timeout_ms;
  if (!failed_) {
    try {
      if (!flush(deadline))
        spdlog::error("shutdown: held batch not written; re-read from the stored positions");
    } catch (const std::exception& e) {
      spdlog::error("shutdown: held batch not written: {}", e.what());
    }
  }
  held_.clear();  // whatever is left is re-read from the stored positions
  if (!close_group_consumer(
          consumer_, deadline,
          [this](rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions) {
            rebalance(error, partitions);
          })) {
    spdlog::error("shutdown: could not leave the group within {} ms (brokers unreachable?)",
                  settings_.shutdown_timeout_ms);
    abandoned_ = true;
  }
  producer_->flush(static_cast<int>(std::max<int64_t>(0, deadline - steady_clock_ms())));
  spdlog::info("{} stopped: {} in, {} written, {} dead-lettered", settings_.name,
               stats_.records_in.load(), stats_.records_completed.load(),
               stats_.dead_lettered.load());
  if (failed_) throw KafkaError(failure_, RD_KAFKA_RESP_ERR__FAIL, true);
}

}  // namespace cf
