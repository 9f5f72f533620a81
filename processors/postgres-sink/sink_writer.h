#pragma once
// postgres-sink's logic on the runtime's batch mode: each batch's event-store
// rows, read-model rows and consumed offsets are one PostgreSQL transaction;
// positions are read back from PostgreSQL on every assignment.
#include <memory>
#include <string>
#include <vector>

#include "cf/batch_worker.h"
#include "cf/sink_store.h"
#include "sink_projection.h"

namespace cf {

struct SinkWriterSettings {
  std::string postgres_url;  ///< from CF_POSTGRES_URL or --postgres-url-file; never a flag value
  std::string group;         ///< the consumer group whose positions are stored
  std::string dead_letter_topic;
  std::string migrations_dir;
  int retry_max_ms = 10000;  ///< connection retries at start
};

class PostgresSinkWriter : public BatchHandler {
 public:
  /// Connects (retrying with backoff until PostgreSQL answers or a stop
  /// signal arrives) and applies pending migrations.
  explicit PostgresSinkWriter(SinkWriterSettings settings);

  PartitionOffsets positions(const std::vector<TopicPartition>& partitions) override;
  /// Connection trouble of any kind is a RetriableError (the runtime retries
  /// the batch; a commit whose answer was lost is checked against the stored
  /// positions first). Rows PostgreSQL refuses split the batch record by
  /// record; a refused record is dead-lettered alone.
  void write(const std::vector<InputRecord>& records, BatchContext& context) override;

 private:
  SinkBatch build(const std::vector<const InputRecord*>& records, BatchContext& context);
  /// Writes one built batch; false when PostgreSQL refused its rows.
  bool write_batch(const SinkBatch& batch);
  bool already_written(const SinkBatch& batch);
  [[noreturn]] void connection_trouble(const char* what);
  void connect();

  SinkWriterSettings settings_;
  std::unique_ptr<SinkStore> store_;
  bool in_doubt_ = false;  ///< the last commit's answer was lost
};

}  // namespace cf
