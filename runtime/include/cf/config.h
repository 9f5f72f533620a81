#pragma once
// Command-line, environment (CF_*) and config-file settings shared by every
// binary. Precedence: flag > environment > config file > default.
#include <librdkafka/rdkafka.h>

#include <boost/program_options.hpp>
#include <string>
#include <utility>
#include <vector>

namespace cf {

/// How to reach Kafka and what to pass straight to librdkafka.
struct KafkaSettings {
  std::string brokers = "127.0.0.1:9092";
  /// "dev" tunes for the development broker (short fetch waits, fast commits);
  /// "prod" keeps librdkafka's defaults.
  std::string profile = "dev";
  /// -X key=value pairs, applied last so they override everything.
  std::vector<std::string> properties;
  /// librdkafka properties file (key=value lines); the place for SASL/TLS secrets.
  std::string properties_file;
};

/// Settings of a consume-transform-produce worker.
struct WorkerSettings {
  std::string name;         ///< processor name, fixed by the binary
  std::string instance_id;  ///< distinguishes copies in logs and heartbeats
  std::string group;        ///< consumer group; defaults to cf.<name>
  KafkaSettings kafka;
  int metrics_port = 0;  ///< /metrics and /healthz; 0 picks a free port, -1 disables
  std::string log_level = "info";
  int heartbeat_interval_ms = 5000;
  std::string heartbeat_topic = "system.metrics";
  std::string dead_letter_topic;  ///< defaults to dlq.<name>
  int max_retries = 5;
  int retry_backoff_ms = 100;
  int retry_backoff_max_ms = 10000;
  int shutdown_timeout_ms = 30000;
  /// Local snapshots of keyed state; shared safely by copies on one host
  /// (one file per changelog partition, replaced atomically).
  std::string state_dir;
  int snapshot_interval_ms = 30000;  ///< 0 disables periodic snapshots
  /// Restore from a truncated changelog with partial state instead of stopping.
  bool allow_truncated_changelog = false;
  /// Set by binaries whose state spans partition p of several inputs: the
  /// group then uses the range assignor, which keeps those together.
  bool co_partitioned_inputs = false;
  /// Backpressure: a partition whose inputs' unacknowledged outputs exceed
  /// this many bytes is not handled further until deliveries catch up. It
  /// also bounds every key's output journal (which holds only the outputs of
  /// unacknowledged inputs) below Kafka's message size limit.
  int64_t max_unacknowledged_bytes = 256 * 1024;
  /// A record refused at delivery (e.g. too large for the broker) is re-sent
  /// this many times before its input is dead-lettered.
  int refused_delivery_retries = 2;
};

/// How a batch worker (BatchWorker) groups records before one write.
struct BatchSettings {
  int max_records = 10000;  ///< records per batch at most
  int max_ms = 100;         ///< how long a batch collects records before it is written
};

/// Wraps Boost.Program_options with the project's conventions.
class OptionsParser {
 public:
  OptionsParser(std::string program, std::string summary);

  /// Binary-specific options go here.
  boost::program_options::options_description_easy_init add();
  void add_kafka_options(KafkaSettings& settings);
  /// Everything a record-at-a-time Worker reads: the common options plus
  /// retries, state stores and output backpressure.
  void add_worker_options(WorkerSettings& settings);
  /// What every worker reads, the batch mode (BatchWorker) included: Kafka,
  /// logging, identity, group, metrics, heartbeats, dead letters, retry
  /// backoff, shutdown timeout.
  void add_common_worker_options(WorkerSettings& settings);
  void add_logging_options(std::string& log_level);
  void add_batch_options(BatchSettings& settings);

  /// Parses argv, then CF_* environment, then --config. Returns false when
  /// --help was printed. Throws ConfigError naming the offending option.
  bool parse(int argc, const char* const* argv);

  const boost::program_options::variables_map& values() const { return values_; }

 private:
  std::string program_;
  boost::program_options::options_description description_;
  boost::program_options::variables_map values_;
  std::string config_file_;
  bool has_log_level_ = false;
};

enum class ClientRole { kConsumer, kProducer };

/// Applies settings to a librdkafka configuration: bootstrap servers,
/// profile defaults for the role, the properties file, then -X overrides.
/// Throws ConfigError naming the bad key.
void apply_kafka_settings(rd_kafka_conf_t* conf, const KafkaSettings& settings,
                          ClientRole role = ClientRole::kConsumer);

/// Sets one librdkafka property or throws ConfigError naming it.
void set_kafka_property(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

/// Splits "key=value"; throws ConfigError for anything else.
std::pair<std::string, std::string> split_property(const std::string& assignment);

/// True for keys whose values must never be printed (passwords, secrets, keys).
bool is_secret_key(const std::string& key);

/// True for librdkafka keys whose value is a secret (refused in -X on the
/// command line: use --kafka-properties-file). *.location paths are not.
bool secret_bearing_property(const std::string& key);

/// Reads a whole file; throws ConfigError naming the option on failure.
std::string read_file_or_throw(const std::string& path, const std::string& option);

/// A secret setting (e.g. a connection string with a password): the contents
/// of `file` when given (trailing whitespace trimmed), else environment
/// variable `env`. Throws ConfigError naming both when neither is set.
std::string secret_from_file_or_env(const std::string& file, const std::string& option,
                                    const char* env);

}  // namespace cf
