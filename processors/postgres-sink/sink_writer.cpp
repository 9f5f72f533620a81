#include "sink_writer.h"

#include <chrono>
#include <random>
#include <thread>

#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/metrics.h"
#include "cf/migrations.h"
#include "cf/worker.h"

namespace cf {

PostgresSinkWriter::PostgresSinkWriter(SinkWriterSettings settings)
    : settings_(std::move(settings)) {
  std::mt19937_64 rng{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    try {
      connect();
      break;
    } catch (const std::exception& e) {
      if (shutdown_requested()) throw;
      int delay = retry_delay_ms(attempt, 200, settings_.retry_max_ms,
                                 std::uniform_real_distribution<double>(0, 1)(rng));
      spdlog::warn("PostgreSQL unreachable ({}); retrying in {} ms", first_line(e.what()), delay);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
  }
  auto applied = apply_migrations(store_->connection(), settings_.migrations_dir);
  spdlog::info("schema up to date ({} migration(s) applied now)", applied.size());
}

void PostgresSinkWriter::connect() {
  store_ = std::make_unique<SinkStore>(settings_.postgres_url, settings_.group);
}

void PostgresSinkWriter::connection_trouble(const char* what) {
  static Counter& retries =
      metrics().counter("cf_sink_connection_retries_total",
                        "batches retried after losing PostgreSQL (never dead-lettered)");
  retries.inc();
  store_.reset();  // reconnect on the next attempt
  throw RetriableError(std::string("PostgreSQL: ") + first_line(what));
}

PartitionOffsets PostgresSinkWriter::positions(const std::vector<TopicPartition>&) {
  try {
    if (!store_) connect();
    return store_->stored_offsets();
  } catch (const pqxx::failure& e) {
    connection_trouble(e.what());
  }
}

SinkBatch PostgresSinkWriter::build(const std::vector<const InputRecord*>& records,
                                    BatchContext& context) {
  SinkBatch batch;
  for (const InputRecord* r : records) {
    auto header = [&](const char* name) -> std::optional<std::string> {
      auto h = r->header(name);
      return h ? std::optional<std::string>(std::string(*h)) : std::nullopt;
    };
    const std::string topic(r->topic());
    try {
      project_record(topic, r->value(), header, batch);
    } catch (const ProjectionError& e) {
      // Unreadable: dead-lettered (acknowledged before the batch commits)
      // and still passed, so the partition moves on.
      ++batch.dead_letters[{settings_.dead_letter_topic, "projection_error"}];
      context.dead_letter(*r, "projection_error", e.what());
    }
    batch.next_offsets[{topic, r->partition()}] = r->offset() + 1;
    batch.first_offsets.emplace(std::make_pair(topic, r->partition()), r->offset());
  }
  return batch;
}

bool PostgresSinkWriter::already_written(const SinkBatch& batch) {
  auto stored = store_->stored_offsets();
  for (const auto& [tp, next] : batch.next_offsets) {
    auto it = stored.find(tp);
    if (it == stored.end() || it->second < next) return false;
  }
  return true;
}

bool PostgresSinkWriter::write_batch(const SinkBatch& batch) {
  try {
    if (!store_) connect();
    // A commit whose answer was lost may have happened: ask PostgreSQL.
    if (in_doubt_ && already_written(batch)) {
      in_doubt_ = false;
      return true;
    }
    for (;;) {
      try {
        store_->write(batch);
        in_doubt_ = false;
        return true;
      } catch (const BatchRaced& e) {
        // Some events were stored meanwhile; the retry looks them up and skips them.
        spdlog::warn("batch raced another writer; retrying: {}", first_line(e.what()));
      }
    }
  } catch (const RowRejected&) {
    return false;
  } catch (const BatchFenced&) {
    throw;
  } catch (const pqxx::failure& e) {
    // broken_connection, in_doubt_error, a COPY cut off, the server shutting
    // down, serialization: retried, never dead-lettered.
    in_doubt_ = true;
    connection_trouble(e.what());
  }
}

void PostgresSinkWriter::write(const std::vector<InputRecord>& records, BatchContext& context) {
  std::vector<const InputRecord*> all;
  all.reserve(records.size());
  for (const auto& r : records) all.push_back(&r);
  SinkBatch batch = build(all, context);
  context.await_dead_letters();
  if (write_batch(batch)) return;
  // Split around the refused record(s): each record alone, in order. A
  // connection failure half-way is retried by the runtime; the records
  // written alone by then make the retry's batch fenced, and the runtime
  // resumes from the stored positions: nothing written twice.
  spdlog::warn("PostgreSQL refused a batch of {} record(s); writing them one by one", all.size());
  for (const InputRecord* r : all) {
    SinkBatch single = build({r}, context);
    context.await_dead_letters();
    if (write_batch(single)) continue;
    context.dead_letter(*r, "postgres_rejected", "PostgreSQL refused the record's rows");
    context.await_dead_letters();
    SinkBatch skip;
    skip.dead_letters[{settings_.dead_letter_topic, "postgres_rejected"}] = 1;
    skip.next_offsets = single.next_offsets;
    skip.first_offsets = single.first_offsets;
    skip.records = 1;
    if (!write_batch(skip)) throw std::runtime_error("PostgreSQL refused an offsets-only batch");
  }
}

}  // namespace cf
