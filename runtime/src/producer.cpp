#include "cf/producer.h"

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/logging.h"

namespace cf {

Producer::Producer(const KafkaSettings& settings, const std::string& client_id,
                   DeliveryListener* listener,
                   const std::vector<std::pair<std::string, std::string>>& overrides)
    : listener_(listener) {
  ConfHandle conf(rd_kafka_conf_new());
  set_kafka_property(conf.get(), "client.id", client_id);
  set_kafka_property(conf.get(), "enable.idempotence", "true");
  set_kafka_property(conf.get(), "acks", "all");
  set_kafka_property(conf.get(), "compression.codec", "lz4");
  set_kafka_property(conf.get(), "linger.ms", "5");
  set_kafka_property(conf.get(), "batch.num.messages", "10000");
  set_kafka_property(conf.get(), "queue.buffering.max.messages", "500000");
  set_kafka_property(conf.get(), "log.connection.close", "false");
  for (const auto& [key, value] : overrides) set_kafka_property(conf.get(), key, value);
  apply_kafka_settings(conf.get(), settings, ClientRole::kProducer);
  route_kafka_logs(conf.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::on_delivery_report);
  rd_kafka_conf_set_opaque(conf.get(), this);
  handle_ = create_handle(RD_KAFKA_PRODUCER, std::move(conf), "producer");
}

Producer::~Producer() {
  // Outstanding reports still reference the listener; serve what arrives quickly.
  if (handle_) rd_kafka_flush(handle_.get(), 0);
}

void Producer::on_delivery_report(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (self->listener_) self->listener_->on_delivery_message(*message);
}

bool Producer::produce(const OutputRecord& record, void* token, int block_ms) {
  int waited = 0;
  for (;;) {
    rd_kafka_headers_t* headers = nullptr;
    if (!record.headers.empty()) {
      headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& h : record.headers) {
        rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                            h.value.data(), static_cast<ssize_t>(h.value.size()));
      }
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        handle_.get(), RD_KAFKA_V_TOPIC(record.topic.c_str()),
        RD_KAFKA_V_PARTITION(record.partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(record.key.data(), record.key.size()),
        RD_KAFKA_V_VALUE(record.tombstone ? nullptr : const_cast<char*>(record.value.data()),
                         record.tombstone ? 0 : record.value.size()),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(token), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
    if (headers) rd_kafka_headers_destroy(headers);  // ownership stays with us on failure
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      throw KafkaError("produce to " + record.topic, err);
    }
    if (block_ms >= 0 && waited >= block_ms) return false;
    rd_kafka_poll(handle_.get(), 10);
    waited += 10;
  }
}

int Producer::poll(int timeout_ms) { return rd_kafka_poll(handle_.get(), timeout_ms); }

rd_kafka_resp_err_t Producer::flush(int timeout_ms) {
  return rd_kafka_flush(handle_.get(), timeout_ms);
}

int Producer::outq_len() const { return rd_kafka_outq_len(handle_.get()); }

}  // namespace cf
