#pragma once
#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cf {

/// One Kafka header to write.
struct Header {
  std::string name;
  std::string value;
};

/// A record to produce. partition -1 lets the partitioner pick by key.
struct OutputRecord {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int32_t partition = RD_KAFKA_PARTITION_UA;
  /// Sends a null value: a tombstone that compaction removes with its key.
  bool tombstone = false;
};

/// Read-only view of a consumed record; valid only during the handler call.
class InputRecord {
 public:
  explicit InputRecord(const rd_kafka_message_t* message) : message_(message) {}
  std::string_view topic() const { return rd_kafka_topic_name(message_->rkt); }
  int32_t partition() const { return message_->partition; }
  int64_t offset() const { return message_->offset; }
  std::string_view key() const {
    return {static_cast<const char*>(message_->key), message_->key_len};
  }
  std::string_view value() const {
    return {static_cast<const char*>(message_->payload), message_->len};
  }
  /// Producer or broker timestamp in ms, -1 when absent.
  int64_t timestamp_ms() const { return rd_kafka_message_timestamp(message_, nullptr); }
  /// Last header of that name.
  std::optional<std::string_view> header(const char* name) const;
  /// Every header, in order.
  std::vector<std::pair<std::string, std::string>> headers() const;
  const rd_kafka_message_t* raw() const { return message_; }

 private:
  const rd_kafka_message_t* message_;
};

/// Topic and partition.
struct TopicPartition {
  std::string topic;
  int32_t partition;
  bool operator==(const TopicPartition& o) const {
    return partition == o.partition && topic == o.topic;
  }
};

}  // namespace cf
