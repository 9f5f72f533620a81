#pragma once
// The sink's side of PostgreSQL: migrations, stored offsets, and one
// transaction per batch that writes rows and consumed offsets together.
#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cf/batch_worker.h"  // BatchFenced
#include "sink_projection.h"

namespace cf {

/// Versioned SQL files NNNN_name.sql applied in order, each once, recorded in
/// schema_version; concurrent appliers serialise on an advisory lock.
/// Returns the versions applied now (empty when up to date).
std::vector<int> apply_migrations(pqxx::connection& connection, const std::string& directory);

/// PostgreSQL refused the batch's data (not the connection): split it.
class RowRejected : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Some of the batch's events are stored already: retry at once (the retry
/// looks them up and skips them).
class BatchRaced : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SinkStore {
 public:
  /// Connects; throws pqxx::broken_connection when PostgreSQL is unreachable.
  SinkStore(std::string connection_string, std::string consumer_group);

  /// Next offsets stored for the group, per topic and partition.
  std::map<std::pair<std::string, int32_t>, int64_t> stored_offsets();
  /// Writes the batch and its offsets in one transaction. Throws
  /// RowRejected for data PostgreSQL refuses, BatchFenced when another
  /// instance already wrote past the batch's start, pqxx::broken_connection
  /// (and other pqxx failures) for connection trouble: the caller retries.
  void write(const SinkBatch& batch);
  pqxx::connection& connection() { return *connection_; }

 private:
  void ensure_partitions(pqxx::work& txn, const std::vector<EventRow>& events);
  std::string connection_string_;
  std::string group_;
  std::unique_ptr<pqxx::connection> connection_;
  std::set<int64_t> months_ready_;  ///< months (epoch ms of the 1st) with a partition
  bool look_up_stored_ = true;      ///< filter out stored events before the COPY
};

}  // namespace cf
