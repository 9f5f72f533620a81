#pragma once
#include <librdkafka/rdkafka.h>

#include <stdexcept>
#include <string>

namespace cf {

/// Setup or API failure from librdkafka, with its code and how bad it is.
class KafkaError : public std::runtime_error {
 public:
  KafkaError(const std::string& what, rd_kafka_resp_err_t code, bool fatal = false,
             bool retriable = false)
      : std::runtime_error(what + ": " + rd_kafka_err2str(code)),
        code_(code),
        fatal_(fatal),
        retriable_(retriable) {}
  /// Builds from an rd_kafka_error_t (consumes nothing; caller still owns it).
  KafkaError(const std::string& what, const rd_kafka_error_t* error)
      : KafkaError(what, rd_kafka_error_code(error), rd_kafka_error_is_fatal(error),
                   rd_kafka_error_is_retriable(error)) {}
  rd_kafka_resp_err_t code() const { return code_; }
  bool fatal() const { return fatal_; }
  bool retriable() const { return retriable_; }

 private:
  rd_kafka_resp_err_t code_;
  bool fatal_;
  bool retriable_;
};

/// Bad configuration; the message names the option. Binaries exit 2 on it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown by a record handler for a transient failure: the runtime retries the
/// record with exponential backoff and jitter, then dead-letters it.
class RetriableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// State a worker needs is gone: its changelog no longer holds the records a
/// restore must read (retention, or the development broker's per-partition
/// cap). Running on would silently compute from partial state, so workers stop.
class StateLossError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The first line of an error message: PostgreSQL's and others' messages go
/// on with detail lines that would split a log record.
inline std::string first_line(const char* text) {
  std::string s(text);
  return s.substr(0, s.find('\n'));
}

}  // namespace cf
