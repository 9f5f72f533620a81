#include "cf/clients.h"

#include <chrono>

#include "cf/errors.h"
#include "cf/logging.h"

namespace cf {

KafkaHandle make_client(const KafkaSettings& settings, ClientRole role,
                        const Properties& overrides) {
  ConfHandle conf(rd_kafka_conf_new());
  for (const auto& [key, value] : overrides) set_kafka_property(conf.get(), key, value);
  apply_kafka_settings(conf.get(), settings, role);
  route_kafka_logs(conf.get());
  return create_handle(role == ClientRole::kConsumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER,
                       std::move(conf), "Kafka client");
}

KafkaHandle create_handle(rd_kafka_type_t type, ConfHandle conf, const std::string& what) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk) throw ConfigError("cannot create " + what + ": " + err);
  conf.release();  // rd_kafka_new took ownership
  return KafkaHandle(rk);
}

KafkaHandle make_reader(const KafkaSettings& settings, const std::string& group_id) {
  return make_client(
      settings, ClientRole::kConsumer,
      {{"group.id", group_id}, {"enable.auto.commit", "false"}, {"enable.partition.eof", "true"}});
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t steady_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace cf
