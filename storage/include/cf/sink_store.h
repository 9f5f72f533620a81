#pragma once
// The sink's side of PostgreSQL: stored offsets, and one transaction per
// batch that writes the event store, the read models (cf/read_models.h) and
// the consumed offsets together.
#include <cstdint>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cf/batch_worker.h"  // BatchFenced
#include "cf/read_model_rows.h"

namespace cf {

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

/// The positions a sink group stored, per topic and partition (next offset to read).
std::map<std::pair<std::string, int32_t>, int64_t> read_sink_offsets(pqxx::work& txn,
                                                                     const std::string& group);

/// Sets a stored position, forwards or backwards (an operator's reset; the
/// live sink only ever moves them forwards).
void reset_sink_offset(pqxx::work& txn, const std::string& group, const std::string& topic,
                       int32_t partition, int64_t next_offset);

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
