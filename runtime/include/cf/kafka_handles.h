#pragma once
// Owning aliases for every librdkafka handle the project touches.
// The runtime uses librdkafka's C API under these owners rather than the C++
// API: the mock cluster (rdkafka_mock.h), the Admin API and batch consume
// exist only in C in librdkafka 2.0.2, and one handle style beats two.
#include <librdkafka/rdkafka.h>

#include <memory>

namespace cf {

struct KafkaDeleter {
  void operator()(rd_kafka_t* h) const { rd_kafka_destroy(h); }
  void operator()(rd_kafka_conf_t* h) const { rd_kafka_conf_destroy(h); }
  void operator()(rd_kafka_topic_partition_list_t* h) const {
    rd_kafka_topic_partition_list_destroy(h);
  }
  void operator()(rd_kafka_message_t* h) const { rd_kafka_message_destroy(h); }
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
  void operator()(rd_kafka_queue_t* h) const { rd_kafka_queue_destroy(h); }
  void operator()(rd_kafka_event_t* h) const { rd_kafka_event_destroy(h); }
  void operator()(rd_kafka_AdminOptions_t* h) const { rd_kafka_AdminOptions_destroy(h); }
  void operator()(rd_kafka_NewTopic_t* h) const { rd_kafka_NewTopic_destroy(h); }
  void operator()(rd_kafka_NewPartitions_t* h) const { rd_kafka_NewPartitions_destroy(h); }
  void operator()(rd_kafka_ConfigResource_t* h) const { rd_kafka_ConfigResource_destroy(h); }
  void operator()(const rd_kafka_metadata_t* h) const { rd_kafka_metadata_destroy(h); }
  void operator()(rd_kafka_error_t* h) const { rd_kafka_error_destroy(h); }
  void operator()(rd_kafka_topic_t* h) const { rd_kafka_topic_destroy(h); }
};

/// Owned client handle (producer or consumer).
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
/// Owned configuration; release() it only after rd_kafka_new succeeded.
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
/// Move-only owner of a consumed message.
using MessageHandle = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;
using HeadersHandle = std::unique_ptr<rd_kafka_headers_t, KafkaDeleter>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, KafkaDeleter>;
using EventHandle = std::unique_ptr<rd_kafka_event_t, KafkaDeleter>;
using AdminOptionsHandle = std::unique_ptr<rd_kafka_AdminOptions_t, KafkaDeleter>;
using NewTopicHandle = std::unique_ptr<rd_kafka_NewTopic_t, KafkaDeleter>;
using NewPartitionsHandle = std::unique_ptr<rd_kafka_NewPartitions_t, KafkaDeleter>;
using ConfigResourceHandle = std::unique_ptr<rd_kafka_ConfigResource_t, KafkaDeleter>;
using MetadataHandle = std::unique_ptr<const rd_kafka_metadata_t, KafkaDeleter>;
using KafkaErrorHandle = std::unique_ptr<rd_kafka_error_t, KafkaDeleter>;

}  // namespace cf
