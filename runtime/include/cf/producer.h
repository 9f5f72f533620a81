#pragma once
#include <string>
#include <utility>
#include <vector>

#include "cf/config.h"
#include "cf/kafka_handles.h"
#include "cf/records.h"

namespace cf {

/// Receives delivery reports. Called from Producer::poll()/flush() on the
/// calling thread, with the token given to produce() (nullptr: untracked).
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  virtual void on_delivery(rd_kafka_resp_err_t error, void* token) = 0;
  /// The whole report (topic, partition, key, value, headers of the record):
  /// for listeners that re-send a refused record. Defaults to on_delivery.
  virtual void on_delivery_message(const rd_kafka_message_t& message) {
    on_delivery(message.err, message._private);
  }
};

/// Idempotent producer (acks=all, lz4, batching). It hands `this` to librdkafka
/// as the opaque of delivery reports, so it is neither copyable nor movable.
class Producer {
 public:
  /// `overrides` are applied after the profile and before -X settings.
  Producer(const KafkaSettings& settings, const std::string& client_id, DeliveryListener* listener,
           const std::vector<std::pair<std::string, std::string>>& overrides = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  /// Enqueues a copy of the record. When the local queue is full it serves
  /// delivery reports and retries for up to block_ms (-1: forever) and then
  /// returns false. Other errors throw KafkaError.
  bool produce(const OutputRecord& record, void* token, int block_ms = -1);
  /// Serves delivery reports; returns how many were served.
  int poll(int timeout_ms);
  /// Waits for every queued record; returns RD_KAFKA_RESP_ERR__TIMED_OUT if any remain.
  rd_kafka_resp_err_t flush(int timeout_ms);
  /// Records queued or in flight.
  int outq_len() const;
  rd_kafka_t* handle() const { return handle_.get(); }

 private:
  static void on_delivery_report(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque);
  DeliveryListener* listener_;
  KafkaHandle handle_;
};

}  // namespace cf
