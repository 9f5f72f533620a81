// postgres-sink: domain topics -> event store and dashboard read models in
// PostgreSQL, exactly once: each batch's rows and the offsets it consumed are
// one transaction, and the sink resumes from the offsets in PostgreSQL.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/metrics.h"
#include "cf/metrics_server.h"
#include "cf/producer.h"
#include "cf/worker.h"
#include "sink_store.h"

namespace cf {
namespace {

struct SinkSettings {
  KafkaSettings kafka;
  std::string group = "cf.postgres-sink";
  std::string postgres_url;  ///< from CF_POSTGRES_URL or --postgres-url-file; never a flag value
  std::string migrations_dir;
  std::string dead_letter_topic = "dlq.postgres-sink";
  int batch_max_records = 10000;
  int batch_max_ms = 100;
  int metrics_port = 0;
  int retry_max_ms = 10000;
  std::string log_level = "info";
};

struct HeldRecord {
  std::string topic;
  int32_t partition;
  int64_t offset;
  MessageHandle message;  // kept for splitting a refused batch and for dead letters
};

class DeliveryWaiter : public DeliveryListener {
 public:
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failures.fetch_add(1);
  }
  std::atomic<uint64_t> failures{0};
};

class PostgresSink {
 public:
  explicit PostgresSink(SinkSettings settings) : settings_(std::move(settings)) {
    producer_ = std::make_unique<Producer>(settings_.kafka, "postgres-sink", &deliveries_,
                                           std::vector<std::pair<std::string, std::string>>{{"message.timeout.ms", "0"}});
    connect_with_retry();
    auto applied = apply_migrations(store_->connection(), settings_.migrations_dir);
    spdlog::info("schema up to date ({} migration(s) applied now)", applied.size());
    ConfHandle conf(rd_kafka_conf_new());
    set_kafka_property(conf.get(), "group.id", settings_.group);
    set_kafka_property(conf.get(), "enable.auto.commit", "false");
    set_kafka_property(conf.get(), "enable.auto.offset.store", "false");
    set_kafka_property(conf.get(), "auto.offset.reset", "earliest");
    set_kafka_property(conf.get(), "partition.assignment.strategy", "range");
    apply_kafka_settings(conf.get(), settings_.kafka);
    route_kafka_logs(conf.get());
    rd_kafka_conf_set_rebalance_cb(conf.get(), &PostgresSink::on_rebalance);
    rd_kafka_conf_set_opaque(conf.get(), this);
    consumer_ = create_handle(RD_KAFKA_CONSUMER, std::move(conf), "consumer");
    rd_kafka_poll_set_consumer(consumer_.get());
    if (settings_.metrics_port >= 0) {
      metrics_server_ = std::make_unique<MetricsServer>(settings_.metrics_port, [this] { return healthy_.load(); });
    }
  }

  void run(const std::atomic<bool>& stop) {
    PartitionListHandle topics(rd_kafka_topic_partition_list_new(16));
    for (const auto& t : sink_input_topics()) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    if (auto e = rd_kafka_subscribe(consumer_.get(), topics.get())) throw KafkaError("subscribe", e);
    spdlog::info("postgres-sink started: group {}, metrics port {}", settings_.group,
                 metrics_server_ ? metrics_server_->port() : -1);
    while (!stop.load()) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.batch_max_ms);
      while (held_.size() < static_cast<size_t>(settings_.batch_max_records) && !stop.load()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        MessageHandle m(rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(left.count())));
        if (!m) continue;
        if (m->err) {
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) spdlog::warn("consumer: {}", rd_kafka_message_errstr(m.get()));
          continue;
        }
        if (!assigned_.count({rd_kafka_topic_name(m->rkt), m->partition})) continue;  // revoked meanwhile
        held_.push_back({rd_kafka_topic_name(m->rkt), m->partition, m->offset, std::move(m)});
      }
      flush_batch();
      producer_->poll(0);
    }
    flush_batch();
    rd_kafka_consumer_close(consumer_.get());
    producer_->flush(10000);
    spdlog::info("postgres-sink stopped: {} record(s) written", written_);
  }

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions,
                           void* opaque) {
    auto* self = static_cast<PostgresSink*>(opaque);
    try {
      if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        // Resume exactly where PostgreSQL says this group is.
        auto stored = self->stored_offsets_with_retry();
        for (int i = 0; i < partitions->cnt; ++i) {
          auto& tp = partitions->elems[i];
          auto it = stored.find({tp.topic, tp.partition});
          tp.offset = it == stored.end() ? RD_KAFKA_OFFSET_BEGINNING : it->second;
          self->assigned_.insert({tp.topic, tp.partition});
        }
        spdlog::info("assigned {} partition(s); positions from PostgreSQL", partitions->cnt);
        rd_kafka_assign(rk, partitions);
      } else {
        self->flush_batch();  // what was read of them is written before they go
        for (int i = 0; i < partitions->cnt; ++i) {
          self->assigned_.erase({partitions->elems[i].topic, partitions->elems[i].partition});
        }
        rd_kafka_assign(rk, nullptr);
      }
    } catch (const std::exception& e) {
      spdlog::error("rebalance: {}", e.what());
      self->healthy_ = false;
    }
  }

  void connect_with_retry() {
    for (int attempt = 0;; ++attempt) {
      try {
        store_ = std::make_unique<SinkStore>(settings_.postgres_url, settings_.group);
        healthy_ = true;
        return;
      } catch (const std::exception& e) {
        healthy_ = false;
        int delay = retry_delay_ms(attempt, 200, settings_.retry_max_ms, unit_(rng_));
        spdlog::warn("PostgreSQL unreachable ({}); retrying in {} ms", first_line(e.what()), delay);
        if (shutdown_requested()) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
    }
  }

  std::map<std::pair<std::string, int32_t>, int64_t> stored_offsets_with_retry() {
    for (int attempt = 0;; ++attempt) {
      try {
        return store_->stored_offsets();
      } catch (const pqxx::broken_connection& e) {
        retry_after_connection_loss(attempt, e.what());
      }
    }
  }

  void retry_after_connection_loss(int attempt, const char* what) {
    static Counter& retries = metrics().counter("cf_sink_connection_retries_total",
                                                "batches retried after losing PostgreSQL (never dead-lettered)");
    retries.inc();
    healthy_ = false;
    int delay = retry_delay_ms(attempt, 200, settings_.retry_max_ms, unit_(rng_));
    spdlog::warn("PostgreSQL connection lost ({}); retrying in {} ms", first_line(what), delay);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    connect_with_retry();
  }

  static std::string first_line(const char* text) {
    std::string s(text);
    return s.substr(0, s.find('\n'));
  }

  // Builds the batch of `records`; projection failures go to the dead-letter
  // topic (acknowledged before the batch commits) and still advance offsets.
  SinkBatch build(const std::vector<HeldRecord*>& records) {
    SinkBatch batch;
    for (HeldRecord* r : records) {
      InputRecord input(r->message.get());
      auto header = [&](const char* name) -> std::optional<std::string> {
        auto h = input.header(name);
        return h ? std::optional<std::string>(std::string(*h)) : std::nullopt;
      };
      try {
        project_record(r->topic, input.value(), header, batch);
      } catch (const ProjectionError& e) {
        dead_letter(*r, "projection_error", e.what(), batch);
      }
      batch.next_offsets[{r->topic, r->partition}] = r->offset + 1;
      batch.first_offsets.emplace(std::make_pair(r->topic, r->partition), r->offset);
    }
    return batch;
  }

  void dead_letter(const HeldRecord& r, const std::string& error_class, const std::string& error, SinkBatch& batch) {
    static Counter& dead = metrics().counter("cf_dead_letters_total", "records sent to the dead-letter topic");
    ++batch.dead_letters[{settings_.dead_letter_topic, error_class}];
    // A batch rebuilt after a refusal meets the same record again: send it once.
    if (!dead_lettered_.insert(&r).second) return;
    InputRecord input(r.message.get());
    producer_->produce(make_dead_letter(input, settings_.dead_letter_topic, "postgres-sink", error_class, error),
                       nullptr);
    dead.inc();
    spdlog::error("dead-lettered {}/{}@{}: {}", r.topic, r.partition, r.offset, error);
  }

  bool already_written(const SinkBatch& batch) {
    auto stored = store_->stored_offsets();
    for (const auto& [tp, next] : batch.next_offsets) {
      auto it = stored.find(tp);
      if (it == stored.end() || it->second < next) return false;
    }
    return true;
  }

  // Writes `batch`; true when done, false when PostgreSQL refused its data.
  bool write_with_retry(const SinkBatch& batch) {
    if (producer_->flush(60000) != RD_KAFKA_RESP_ERR_NO_ERROR || deliveries_.failures.load() > 0) {
      throw KafkaError("dead letters not acknowledged", RD_KAFKA_RESP_ERR__FAIL, true);
    }
    for (int attempt = 0;; ++attempt) {
      try {
        // A commit whose answer was lost may have happened: ask PostgreSQL.
        if (attempt > 0 && already_written(batch)) return true;
        store_->write(batch);
        healthy_ = true;
        return true;
      } catch (const RowRejected&) {
        return false;
      } catch (const BatchRaced& e) {
        spdlog::warn("batch raced another writer; retrying: {}", first_line(e.what()));
      } catch (const pqxx::broken_connection& e) {
        retry_after_connection_loss(attempt, e.what());
      } catch (const pqxx::in_doubt_error& e) {
        retry_after_connection_loss(attempt, e.what());
      } catch (const pqxx::sql_error& e) {
        // Anything else (server shutting down, serialization): retried, never dead-lettered.
        retry_after_connection_loss(attempt, e.what());
      } catch (const pqxx::failure& e) {
        // libpqxx's other runtime failures (e.g. a COPY cut off by the server going away).
        retry_after_connection_loss(attempt, e.what());
      }
    }
  }

  void flush_batch() {
    if (held_.empty()) return;
    try {
      write_held();
    } catch (const BatchFenced& e) {
      fenced_batch(e.what());
      return;
    }
    held_.clear();
    dead_lettered_.clear();
  }

  // Another instance wrote past what this one holds (it lost the partitions
  // while paused or cut off): drop the batch and go on from the stored
  // positions of the partitions still assigned.
  void fenced_batch(const char* why) {
    static Counter& fenced = metrics().counter(
        "cf_sink_fenced_batches_total", "batches dropped because another sink instance had written past them");
    fenced.inc();
    spdlog::warn("batch of {} record(s) dropped: {}; resuming from the positions in PostgreSQL", held_.size(), why);
    held_.clear();
    dead_lettered_.clear();
    auto stored = stored_offsets_with_retry();
    PartitionListHandle seek(rd_kafka_topic_partition_list_new(static_cast<int>(assigned_.size())));
    for (const auto& tp : assigned_) {
      auto it = stored.find(tp);
      if (it != stored.end()) rd_kafka_topic_partition_list_add(seek.get(), tp.first.c_str(), tp.second)->offset = it->second;
    }
    if (seek->cnt > 0) {
      KafkaErrorHandle error(rd_kafka_seek_partitions(consumer_.get(), seek.get(), 10000));
      if (error) spdlog::warn("seek after a fenced batch: {}", rd_kafka_error_string(error.get()));
    }
  }

  void write_held() {
    static Counter& rows = metrics().counter("cf_sink_records_total", "records written to PostgreSQL");
    static Counter& batches = metrics().counter("cf_sink_batches_total", "batches committed");
    static Histogram& seconds = metrics().histogram("cf_sink_batch_seconds", "time to write one batch");
    auto started = std::chrono::steady_clock::now();
    std::vector<HeldRecord*> all;
    for (auto& r : held_) all.push_back(&r);
    SinkBatch batch = build(all);
    if (!write_with_retry(batch)) {
      // Split around the refused record(s): each record alone, in order.
      spdlog::warn("PostgreSQL refused a batch of {} record(s); writing them one by one", all.size());
      for (HeldRecord* r : all) {
        SinkBatch single = build({r});
        if (write_with_retry(single)) continue;
        SinkBatch skip;
        dead_letter(*r, "postgres_rejected", "PostgreSQL refused the record's rows", skip);
        skip.next_offsets = single.next_offsets;
        skip.first_offsets = single.first_offsets;
        skip.records = 1;
        if (!write_with_retry(skip)) throw std::runtime_error("PostgreSQL refused an offsets-only batch");
      }
    }
    written_ += held_.size();
    rows.inc(held_.size());
    batches.inc();
    seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    // Informational only (lag dashboards); the positions that count are in PostgreSQL.
    rd_kafka_commit_message(consumer_.get(), held_.back().message.get(), 1);
  }

  SinkSettings settings_;
  DeliveryWaiter deliveries_;
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<SinkStore> store_;
  KafkaHandle consumer_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::set<std::pair<std::string, int32_t>> assigned_;
  std::vector<HeldRecord> held_;
  std::set<const HeldRecord*> dead_lettered_;
  uint64_t written_ = 0;
  std::atomic<bool> healthy_{false};
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

}  // namespace
}  // namespace cf

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::SinkSettings s;
  std::string url_file;
  bool migrate_only = false;
  s.migrations_dir = std::filesystem::is_directory("migrations") ? "migrations" : CF_SOURCE_DIR "/migrations";
  return cf::guarded_main("postgres-sink", [&]() -> int {
    cf::OptionsParser options("postgres-sink",
                              "Writes domain topics to the PostgreSQL event store and read models, exactly once.");
    options.add_kafka_options(s.kafka);
    options.add_logging_options(s.log_level);
    options.add()("group", po::value(&s.group)->default_value(s.group), "consumer group (offsets live in PostgreSQL)")(
        "postgres-url-file", po::value(&url_file),
        "file holding the libpq connection string (default: env CF_POSTGRES_URL); never a flag value")(
        "migrations-dir", po::value(&s.migrations_dir)->default_value(s.migrations_dir), "versioned SQL files")(
        "batch-max-records", po::value(&s.batch_max_records)->default_value(s.batch_max_records),
        "records per transaction at most")(
        "batch-max-ms", po::value(&s.batch_max_ms)->default_value(s.batch_max_ms),
        "how long a batch collects records before it is written")(
        "metrics-port", po::value(&s.metrics_port)->default_value(s.metrics_port),
        "port of /metrics and /healthz; 0 picks a free one, -1 disables")(
        "dead-letter-topic", po::value(&s.dead_letter_topic)->default_value(s.dead_letter_topic),
        "records PostgreSQL refuses, with the reason")(
        "migrate-only", po::bool_switch(&migrate_only), "apply migrations and exit");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("postgres-sink", s.log_level);
    s.postgres_url = cf::secret_from_file_or_env(url_file, "--postgres-url-file", "CF_POSTGRES_URL");
    if (s.batch_max_records < 1) throw cf::ConfigError("--batch-max-records: at least 1");
    if (migrate_only) {
      pqxx::connection connection(s.postgres_url);
      auto applied = cf::apply_migrations(connection, s.migrations_dir);
      std::printf("applied %zu migration(s)\n", applied.size());
      return 0;
    }
    cf::PostgresSink sink(s);
    sink.run(cf::stop_requested_by_signal());
    return 0;
  });
}
