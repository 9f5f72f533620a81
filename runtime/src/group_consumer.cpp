#include "cf/group_consumer.h"

#include <rapidjson/document.h>

#include "cf/clients.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/logging.h"
#include "cf/metrics.h"

namespace cf {
namespace {

// librdkafka's statistics (every statistics.interval.ms): consumer lag per
// input topic, the figure lag dashboards and the health rules read.
int on_statistics(rd_kafka_t*, char* json, size_t json_len, void*) {
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, std::string_view(json, json_len));
  if (!doc_ok || !doc.HasMember("topics") || !doc["topics"].IsObject()) return 0;
  for (auto& topic : doc["topics"].GetObject()) {
    int64_t lag = 0;
    if (!topic.value.IsObject() || !topic.value.HasMember("partitions")) continue;
    for (auto& part : topic.value["partitions"].GetObject()) {
      if (part.name.GetString()[0] == '-') continue;  // the internal UA partition
      auto it = part.value.FindMember("consumer_lag");
      if (it != part.value.MemberEnd() && it->value.IsInt64() && it->value.GetInt64() > 0) {
        lag += it->value.GetInt64();
      }
    }
    metrics()
        .gauge("cf_consumer_lag", "records behind the end of the log, per input topic",
               label("topic", topic.name.GetString()))
        .set(static_cast<double>(lag));
  }
  return 0;
}

}  // namespace

KafkaHandle make_group_consumer(const WorkerSettings& settings,
                                const std::string& assignment_strategy, bool auto_commit,
                                RebalanceCallback on_rebalance, void* opaque) {
  ConfHandle conf(rd_kafka_conf_new());
  set_kafka_property(conf.get(), "group.id", settings.group);
  set_kafka_property(conf.get(), "client.id", settings.name + "-" + settings.instance_id);
  set_kafka_property(conf.get(), "partition.assignment.strategy", assignment_strategy);
  set_kafka_property(conf.get(), "enable.auto.offset.store", "false");
  set_kafka_property(conf.get(), "enable.auto.commit", auto_commit ? "true" : "false");
  set_kafka_property(conf.get(), "auto.offset.reset", "earliest");
  set_kafka_property(conf.get(), "statistics.interval.ms", "5000");
  set_kafka_property(conf.get(), "log.connection.close", "false");
  apply_kafka_settings(conf.get(), settings.kafka);
  route_kafka_logs(conf.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), on_rebalance);
  rd_kafka_conf_set_stats_cb(conf.get(), &on_statistics);
  rd_kafka_conf_set_opaque(conf.get(), opaque);
  KafkaHandle consumer = create_handle(RD_KAFKA_CONSUMER, std::move(conf), "consumer");
  rd_kafka_poll_set_consumer(consumer.get());
  return consumer;
}

OutputRecord heartbeat_record(const WorkerSettings& settings, int64_t assigned_partitions) {
  JsonBuilder w(4096);
  w.begin_object();
  w.key("worker").string(settings.name);
  w.key("instance").string(settings.instance_id);
  w.key("ts_ms").number(wall_clock_ms());
  w.key("assigned_partitions").number(assigned_partitions);
  w.key("metrics").raw(metrics().render_json());  // the registry escapes its names and labels
  w.end_object();
  return OutputRecord{settings.heartbeat_topic, settings.name, w.take()};
}

uint64_t check_position(const std::string& topic, int32_t partition, int64_t expected_next,
                        int64_t offset, WorkerStats& stats) {
  static Counter& data_loss = metrics().counter(
      "cf_data_loss_records_total",
      "records skipped because the log no longer held them (offset reset on a known position)");
  if (expected_next < 0 || offset <= expected_next) return 0;
  auto lost = static_cast<uint64_t>(offset - expected_next);
  data_loss.inc(lost);
  stats.data_loss_records.fetch_add(lost);
  spdlog::error(
      "DATA LOSS: {}/{} jumped from offset {} to {}: {} record(s) were removed "
      "before this group read them (retention, or the development broker's cap)",
      topic, partition, expected_next, offset, lost);
  return lost;
}

bool close_group_consumer(
    KafkaHandle& consumer, int64_t deadline_steady_ms,
    const std::function<void(rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*)>&
        on_rebalance) {
  QueueHandle close_queue(rd_kafka_queue_new(consumer.get()));
  KafkaErrorHandle close_error(rd_kafka_consumer_close_queue(consumer.get(), close_queue.get()));
  bool closed = !close_error;
  if (close_error) spdlog::warn("consumer close: {}", rd_kafka_error_string(close_error.get()));
  while (closed && !rd_kafka_consumer_closed(consumer.get())) {
    if (steady_clock_ms() > deadline_steady_ms) {
      closed = false;
      break;
    }
    // Events, not callbacks: serving this queue with callbacks trips a
    // librdkafka assertion on ops that have none (seen with the broker dying
    // during the close).
    EventHandle event(rd_kafka_queue_poll(close_queue.get(), 100));
    if (event && rd_kafka_event_type(event.get()) == RD_KAFKA_EVENT_REBALANCE) {
      try {
        on_rebalance(rd_kafka_event_error(event.get()),
                     rd_kafka_event_topic_partition_list(event.get()));
      } catch (const std::exception& e) {
        spdlog::warn("rebalance during close: {}", e.what());
      }
    }
  }
  if (!closed) {
    // Destroying the handle would wait for the close already under way, which
    // needs the brokers: abandon it instead (the process exits right after).
    close_queue.release();
    (void)consumer.release();
  }
  return closed;
}

}  // namespace cf
