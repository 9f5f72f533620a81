#include "cf/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cf/errors.h"

namespace po = boost::program_options;

namespace cf {

OptionsParser::OptionsParser(std::string program, std::string summary)
    : program_(std::move(program)), description_(summary + "\n\nOptions") {
  description_.add_options()("help,h", "print this help and exit")(
      "config", po::value(&config_file_),
      "config file of option=value lines (flags and CF_* environment win over it)");
}

po::options_description_easy_init OptionsParser::add() { return description_.add_options(); }

void OptionsParser::add_kafka_options(KafkaSettings& s) {
  description_.add_options()("brokers", po::value(&s.brokers)->default_value(s.brokers),
                             "Kafka bootstrap servers (env CF_BROKERS)")(
      "profile", po::value(&s.profile)->default_value(s.profile),
      "dev (development broker: short fetch waits, fast commits) or prod")(
      "kafka-property,X", po::value(&s.properties)->composing(),
      "librdkafka property key=value, repeatable (TLS, SASL, tuning)")(
      "kafka-properties-file", po::value(&s.properties_file),
      "file of librdkafka key=value lines; put secrets such as sasl.password here");
}

void OptionsParser::add_logging_options(std::string& log_level) {
  has_log_level_ = true;
  description_.add_options()("log-level", po::value(&log_level)->default_value(log_level),
                             "trace, debug, info, warn, error");
}

void OptionsParser::add_worker_options(WorkerSettings& s) {
  add_common_worker_options(s);
  description_.add_options()(
      "max-retries", po::value(&s.max_retries)->default_value(s.max_retries),
      "attempts for a record that fails transiently before it is dead-lettered")(
      "state-dir", po::value(&s.state_dir),
      "directory of local state snapshots (default: $TMPDIR/creatorflow-state/<group>)")(
      "snapshot-interval-ms",
      po::value(&s.snapshot_interval_ms)->default_value(s.snapshot_interval_ms),
      "how often keyed state is snapshotted locally, so a restart replays only the changelog's "
      "tail; 0 snapshots only when partitions are revoked")(
      "allow-truncated-changelog", po::bool_switch(&s.allow_truncated_changelog),
      "restore with partial state when a changelog lost records (default: stop with an error)")(
      "max-unacknowledged-bytes",
      po::value(&s.max_unacknowledged_bytes)->default_value(s.max_unacknowledged_bytes),
      "per input partition: outputs not yet acknowledged by Kafka before the worker waits for them "
      "(backpressure; also bounds each key's output journal)")(
      "refused-delivery-retries",
      po::value(&s.refused_delivery_retries)->default_value(s.refused_delivery_retries),
      "re-sends of an output the broker refused (too large, invalid) before its input is "
      "dead-lettered");
}

void OptionsParser::add_common_worker_options(WorkerSettings& s) {
  add_kafka_options(s.kafka);
  add_logging_options(s.log_level);
  description_.add_options()("instance-id", po::value(&s.instance_id),
                             "name of this copy in logs and heartbeats (default: host-pid)")(
      "group", po::value(&s.group), "consumer group (default: cf.<processor>)")(
      "metrics-port", po::value(&s.metrics_port)->default_value(s.metrics_port),
      "port of /metrics and /healthz on 127.0.0.1; 0 picks a free one, -1 disables")(
      "heartbeat-interval-ms",
      po::value(&s.heartbeat_interval_ms)->default_value(s.heartbeat_interval_ms),
      "interval of heartbeats on the heartbeat topic")(
      "dead-letter-topic", po::value(&s.dead_letter_topic),
      "topic for records that fail after retries (default: dlq.<processor>)")(
      "retry-backoff-ms", po::value(&s.retry_backoff_ms)->default_value(s.retry_backoff_ms),
      "first retry delay; doubles per attempt, with jitter")(
      "retry-backoff-max-ms",
      po::value(&s.retry_backoff_max_ms)->default_value(s.retry_backoff_max_ms),
      "upper bound of the retry delay")(
      "shutdown-timeout-ms",
      po::value(&s.shutdown_timeout_ms)->default_value(s.shutdown_timeout_ms),
      "how long a graceful shutdown may wait for in-flight outputs (the batch mode: for the held "
      "batch's write)");
}

void OptionsParser::add_batch_options(BatchSettings& s) {
  description_.add_options()("batch-max-records",
                             po::value(&s.max_records)->default_value(s.max_records),
                             "records per batch (one write, one transaction) at most")(
      "batch-max-ms", po::value(&s.max_ms)->default_value(s.max_ms),
      "how long a batch collects records before it is written");
}

bool OptionsParser::parse(int argc, const char* const* argv) {
  // A second parse must not see the first one's values (store() keeps the
  // first value it sees).
  values_.clear();
  try {
    // store() keeps the first value it sees, so the sources go in order of precedence.
    po::store(po::command_line_parser(argc, argv).options(description_).run(), values_);
    // The command line is visible to every user of the machine (ps, /proc):
    // a secret-bearing librdkafka property there is refused, not just masked.
    if (values_.count("kafka-property")) {
      for (const auto& assignment : values_["kafka-property"].as<std::vector<std::string>>()) {
        auto [key, value] = split_property(assignment);
        if (secret_bearing_property(key)) {
          throw ConfigError("-X " + key +
                            ": secrets are not accepted on the command line (the process "
                            "list shows them); put it in --kafka-properties-file");
        }
      }
    }
    if (values_.count("help")) {
      std::cout << "Usage: " << program_ << " [options]\n" << description_ << "\n";
      return false;
    }
    auto env_to_option = [this](const std::string& env) -> std::string {
      if (env.rfind("CF_", 0) != 0) return {};
      std::string name = env.substr(3);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
        return c == '_' ? '-' : static_cast<char>(std::tolower(c));
      });
      if (name == "config" || name == "help") return {};
      return description_.find_nothrow(name, false) ? name : std::string{};
    };
    po::store(po::parse_environment(description_, env_to_option), values_);
    auto config = values_.count("config") ? values_["config"].as<std::string>() : std::string{};
    if (!config.empty()) {
      std::ifstream in(config);
      if (!in) throw ConfigError("--config: cannot read '" + config + "'");
      po::store(po::parse_config_file(in, description_, false), values_);
    }
    po::notify(values_);
  } catch (const po::error& e) {
    throw ConfigError(e.what());
  }
  return true;
}

std::pair<std::string, std::string> split_property(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("-X expects key=value, got '" +
                      (is_secret_key(assignment) ? std::string("<masked>") : assignment) + "'");
  }
  return {assignment.substr(0, eq), assignment.substr(eq + 1)};
}

bool is_secret_key(const std::string& key) {
  static const char* const kMarkers[] = {
      "password", "secret", "key.pem", "ssl.key", "sasl.oauthbearer.config", "token"};
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(std::begin(kMarkers), std::end(kMarkers),
                     [&](const char* m) { return lower.find(m) != std::string::npos; });
}

bool secret_bearing_property(const std::string& key) {
  // Paths to key files are not secrets themselves; their passwords are.
  const bool location = key.size() > 9 && key.compare(key.size() - 9, 9, ".location") == 0;
  return is_secret_key(key) && !location;
}

void set_kafka_property(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    throw ConfigError("librdkafka property '" + key + "': " + err);
  }
}

std::string read_file_or_throw(const std::string& path, const std::string& option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(option + ": cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void apply_kafka_settings(rd_kafka_conf_t* conf, const KafkaSettings& s, ClientRole role) {
  if (s.brokers.empty()) throw ConfigError("--brokers: must not be empty");
  set_kafka_property(conf, "bootstrap.servers", s.brokers);
  if (s.profile == "dev") {
    if (role == ClientRole::kConsumer) {
      // The development broker holds empty fetches for the whole fetch.wait.max.ms
      // (DESIGN.md section 6); 500 ms would cap a stage far below 100k records/s.
      set_kafka_property(conf, "fetch.wait.max.ms", "5");
      set_kafka_property(conf, "auto.commit.interval.ms", "1000");
      // A killed member leaves the group after 6 s instead of 45 s.
      set_kafka_property(conf, "session.timeout.ms", "6000");
      set_kafka_property(conf, "heartbeat.interval.ms", "1000");
    }
    set_kafka_property(conf, "topic.metadata.refresh.interval.ms", "10000");
    // Come back quickly after a staged broker outage.
    set_kafka_property(conf, "reconnect.backoff.max.ms", "1000");
  } else if (s.profile != "prod") {
    throw ConfigError("--profile: expected dev or prod, got '" + s.profile + "'");
  }
  if (!s.properties_file.empty()) {
    std::istringstream lines(read_file_or_throw(s.properties_file, "--kafka-properties-file"));
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto [key, value] = split_property(line);
      set_kafka_property(conf, key, value);
    }
  }
  for (const auto& assignment : s.properties) {
    auto [key, value] = split_property(assignment);
    set_kafka_property(conf, key, value);
  }
}

std::string secret_from_file_or_env(const std::string& file, const std::string& option,
                                    const char* env) {
  std::string value;
  if (!file.empty()) {
    value = read_file_or_throw(file, option);
  } else if (const char* from_env = std::getenv(env)) {
    value = from_env;
  } else {
    throw ConfigError(option + ": required (or set " + env + ")");
  }
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  return value;
}

}  // namespace cf
