#pragma once
// Integration-test harness: runs the real binaries as child processes against
// a development broker, and reads topics back.
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cf::test {

/// Path of a built binary ($CF_BIN_DIR/<name>).
std::string bin(const std::string& name);
/// The source tree ($CF_SOURCE_DIR).
std::string source_dir();

/// A temporary directory removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A child process; killed with SIGKILL if still running when destroyed.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log_path, bool pipe_stdin = false);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  void signal(int sig);
  /// Waits for exit; returns the exit code (128+signal if killed), or nullopt on timeout.
  std::optional<int> wait(int timeout_ms);
  void kill9();
  bool running();
  void write_stdin(const std::string& text);
  pid_t pid() const { return pid_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

/// Waits for `condition` with a deadline, polling; never a bare sleep.
bool wait_until(const std::function<bool()>& condition, int timeout_ms, int poll_ms = 100);

/// The development broker, with fault commands.
class DevBroker {
 public:
  explicit DevBroker(const TempDir& dir, const std::vector<std::string>& extra_args = {});
  const std::string& bootstrap() const { return bootstrap_; }
  /// Sends a fault command and waits for the broker's "ok" answer.
  void command(const std::string& line);
  /// kill -9 the broker process: every broker and all data gone at once.
  void kill() { process_->kill9(); }

 private:
  std::string log_path_;
  std::unique_ptr<Process> process_;
  std::string bootstrap_;
  int commands_sent_ = 0;
};

/// A throwaway PostgreSQL cluster (tools/lib/embedded_postgres.sh), stopped
/// and removed with the object.
class TempPostgres {
 public:
  explicit TempPostgres(const TempDir& dir);
  ~TempPostgres();
  TempPostgres(const TempPostgres&) = delete;
  TempPostgres& operator=(const TempPostgres&) = delete;
  const std::string& url() const { return url_; }
  void stop();
  void start();

 private:
  std::string dir_;
  std::string url_;
};

/// A record read back, copied.
struct Record {
  int32_t partition;
  int64_t offset;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};
std::vector<Record> read_all(const std::string& bootstrap, const std::string& topic);
/// event_id -> number of times it appears on the topic.
std::map<std::string, int> event_id_counts(const std::string& bootstrap, const std::string& topic);

/// A free TCP port on 127.0.0.1.
int free_port();
/// Sends raw bytes to 127.0.0.1:port and returns the whole response (connection: close).
std::string raw_http(int port, const std::string& request);
/// Status code of a raw HTTP response, 0 if none.
int status_of(const std::string& response);
/// Value of a metric line "name value" (labels included in name) from /metrics, or -1.
double scrape_metric(int port, const std::string& name);

/// One line of cf-loadgen's --report.
struct ReportLine {
  uint64_t seq;
  std::string kind, expect, request_id, reject_code, idempotency_key;
  int status;
  std::vector<std::string> event_ids;
  /// Tracking updates: the label's number and the events that appear once it is joined.
  std::string tracking_number;
  std::vector<std::string> joined_event_ids;
};
std::vector<ReportLine> read_report(const std::string& path);

/// Writes the generator's shop directory, secrets, channel-api's shops file
/// and the reconciler's SKU mapping (dir/shops.json, dir/secrets.json,
/// dir/channel-shops.json, dir/skus.json).
void write_reference_files(const TempDir& dir);

/// The command line of a pipeline worker (validator, reconciler, ...) on
/// `bootstrap` with its state under `state_dir`: the validator gets
/// dir/shops.json and the schemas, the reconciler dir/skus.json (written by
/// cf-loadgen --write-shops-file / --write-sku-mapping-file), channel-api
/// the secrets and dir/channel-shops.json (add --tiktok-api-url).
std::vector<std::string> worker_command(const std::string& name, const std::string& bootstrap,
                                        const TempDir& dir, const std::string& state_dir,
                                        const std::string& metrics_port = "0");

/// cf-participant-stub on a free port, playing the saga's participants and
/// TikTok Shop's API with the reference files of `dir`; killed with the object.
class ApiStub {
 public:
  explicit ApiStub(const TempDir& dir, const std::string& log_name = "stub.log");
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// The body of GET `path` (e.g. /tiktok/stats).
  std::string get(const std::string& path) const;
  /// POSTs a JSON body; returns the status.
  int post(const std::string& path, const std::string& body) const;
  Process& process() { return *process_; }

 private:
  std::string get_response(const std::string& path) const;
  int port_;
  std::unique_ptr<Process> process_;
};

}  // namespace cf::test
