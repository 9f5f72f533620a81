#pragma once
// Structured JSON logs on stderr: one object per line with ts, level, logger,
// msg and, while a record is being handled, its correlation_id. Never put
// names, addresses, emails or phone numbers into a message.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace cf {

/// Sets the default logger (named after the component) and the level.
void init_logging(const std::string& component, const std::string& level);

/// A named logger that shares the default sink and format.
std::shared_ptr<spdlog::logger> component_logger(const std::string& name);

/// Sets the thread's correlation id for the scope's lifetime; logs carry it.
class CorrelationScope {
 public:
  explicit CorrelationScope(std::string_view correlation_id);
  ~CorrelationScope();
  CorrelationScope(const CorrelationScope&) = delete;
  CorrelationScope& operator=(const CorrelationScope&) = delete;

 private:
  std::string previous_;
};

/// Routes librdkafka's own logs into the "kafka" logger (log_cb).
void route_kafka_logs(rd_kafka_conf_t* conf);

}  // namespace cf
