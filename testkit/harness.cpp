#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cf/topic_reader.h"

namespace cf::test {

std::string bin(const std::string& name) {
  const char* dir = std::getenv("CF_BIN_DIR");
  return std::string(dir ? dir : ".") + "/" + name;
}

std::string source_dir() {
  const char* dir = std::getenv("CF_SOURCE_DIR");
  return dir ? dir : ".";
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cf-it-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("CF_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Process::Process(std::vector<std::string> argv, const std::string& log_path, bool pipe_stdin)
    : log_path_(log_path) {
  int fds[2] = {-1, -1};
  if (pipe_stdin && pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    if (pipe_stdin) {
      dup2(fds[0], STDIN_FILENO);
      close(fds[1]);
    } else {
      int null = open("/dev/null", O_RDONLY);
      dup2(null, STDIN_FILENO);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (pipe_stdin) {
    close(fds[0]);
    stdin_fd_ = fds[1];
  }
}

Process::~Process() {
  if (running()) kill9();
  if (stdin_fd_ >= 0) close(stdin_fd_);
}

void Process::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<int> Process::wait(int timeout_ms) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Process::kill9() {
  signal(SIGKILL);
  wait(10000);
}

bool Process::running() { return pid_ > 0 && !wait(0).has_value(); }

void Process::write_stdin(const std::string& text) {
  if (stdin_fd_ < 0) throw std::runtime_error("process has no stdin pipe");
  if (::write(stdin_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw std::runtime_error("write to child stdin failed");
  }
}

std::string Process::log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool wait_until(const std::function<bool()>& condition, int timeout_ms, int poll_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return condition();
}

DevBroker::DevBroker(const TempDir& dir, const std::vector<std::string>& extra_args)
    : log_path_(dir.file("broker.log")) {
  std::string bootstrap_file = dir.file("bootstrap");
  std::vector<std::string> argv = {bin("cf-dev-broker"), "--bootstrap-file", bootstrap_file,
                                   "--catalog", source_dir() + "/topics/catalog.json"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Process>(argv, log_path_, true);
  // Generous: on a loaded 2-core machine the broker has been seen to take
  // over 10 s to create the catalog's topics.
  if (!wait_until([&] { return std::filesystem::exists(bootstrap_file); }, 60000, 20)) {
    throw std::runtime_error(std::string("development broker did not start within 60 s (") +
                             (process_->running() ? "still running" : "exited") +
                             "): " + process_->log());
  }
  std::ifstream in(bootstrap_file);
  std::getline(in, bootstrap_);
}

void DevBroker::command(const std::string& line) {
  process_->write_stdin(line + "\n");
  ++commands_sent_;
  auto answered = [&] {
    std::string log = process_->log();
    int oks = 0;
    for (size_t pos = 0; (pos = log.find("\nok ", pos)) != std::string::npos; ++pos) ++oks;
    return oks >= commands_sent_;
  };
  if (!wait_until(answered, 5000, 10)) throw std::runtime_error("broker did not answer: " + line);
}

std::vector<Record> read_all(const std::string& bootstrap, const std::string& topic) {
  KafkaSettings settings;
  settings.brokers = bootstrap;
  std::vector<Record> records;
  read_topic(settings, topic, ReadOptions{}, [&](const InputRecord& r) {
    Record copy{r.partition(), r.offset(), std::string(r.key()), std::string(r.value()), {}};
    for (auto& [name, value] : r.headers()) copy.headers[name] = value;
    records.push_back(std::move(copy));
    return true;
  });
  return records;
}

std::map<std::string, int> event_id_counts(const std::string& bootstrap, const std::string& topic) {
  std::map<std::string, int> counts;
  for (const auto& r : read_all(bootstrap, topic)) {
    rapidjson::Document doc;
    doc.Parse(r.value.c_str());
    if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("event_id")) {
      ++counts[doc["event_id"].GetString()];
    }
  }
  return counts;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string raw_http(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {};
  }
  ssize_t sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  (void)sent;
  std::string response;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

double scrape_metric(int port, const std::string& name) {
  std::string response =
      raw_http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::istringstream lines(response);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::atof(line.substr(name.size() + 1).c_str());
  }
  return -1;
}

std::vector<ReportLine> read_report(const std::string& path) {
  std::vector<ReportLine> lines;
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text)) {
    rapidjson::Document doc;
    doc.Parse(text.c_str());
    if (doc.HasParseError()) throw std::runtime_error("bad report line: " + text);
    ReportLine l;
    l.seq = doc["seq"].GetUint64();
    l.kind = doc["kind"].GetString();
    l.expect = doc["expect"].GetString();
    l.status = doc["status"].GetInt();
    l.request_id = doc["request_id"].GetString();
    l.reject_code = doc["reject_code"].GetString();
    l.idempotency_key = doc["idempotency_key"].GetString();
    for (auto& id : doc["event_ids"].GetArray()) l.event_ids.push_back(id.GetString());
    if (doc.HasMember("tracking_number")) {
      l.tracking_number = doc["tracking_number"].GetString();
      for (auto& id : doc["joined_event_ids"].GetArray())
        l.joined_event_ids.push_back(id.GetString());
    }
    lines.push_back(std::move(l));
  }
  return lines;
}

void write_reference_files(const TempDir& dir) {
  Process writer(
      {bin("cf-loadgen"), "--write-shops-file", dir.file("shops.json"), "--write-secrets-file",
       dir.file("secrets.json"), "--write-channel-tokens-file", dir.file("channel-shops.json"),
       "--write-sku-mapping-file", dir.file("skus.json")},
      dir.file("loadgen-setup.log"));
  if (writer.wait(10000) != 0)
    throw std::runtime_error("cf-loadgen could not write reference files");
}

std::vector<std::string> worker_command(const std::string& name, const std::string& bootstrap,
                                        const TempDir& dir, const std::string& state_dir,
                                        const std::string& metrics_port) {
  std::vector<std::string> args{bin(name),    "--brokers",   bootstrap, "--metrics-port",
                                metrics_port, "--state-dir", state_dir};
  if (name == "validator") {
    args.insert(args.end(), {"--shops-file", dir.file("shops.json"), "--schema-dir",
                             source_dir() + "/schemas"});
  } else if (name == "reconciler") {
    args.insert(args.end(), {"--sku-mapping", dir.file("skus.json")});
  } else if (name == "channel-api") {
    args.insert(args.end(),
                {"--secrets-file", dir.file("secrets.json"), "--shops-file",
                 dir.file("channel-shops.json"), "--schema-dir", source_dir() + "/schemas"});
  }
  return args;
}

ApiStub::ApiStub(const TempDir& dir, const std::string& log_name) : port_(free_port()) {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{bin("cf-participant-stub"), "--port", std::to_string(port_),
                               "--tiktok-secrets-file", dir.file("secrets.json"),
                               "--tiktok-shops-file", dir.file("channel-shops.json")},
      dir.file(log_name));
  if (!wait_until([&] { return status_of(get_response("/tiktok/stats")) == 200; }, 10000))
    throw std::runtime_error("cf-participant-stub did not start: " + process_->log());
}

std::string ApiStub::get_response(const std::string& path) const {
  return raw_http(port_, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

std::string ApiStub::get(const std::string& path) const {
  std::string response = get_response(path);
  auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

int ApiStub::post(const std::string& path, const std::string& body) const {
  return status_of(raw_http(port_, "POST " + path +
                                       " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                       "Content-Type: application/json\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body));
}

namespace {
std::string run_postgres_script(const std::string& command, const std::string& dir) {
  std::string cmd =
      source_dir() + "/tools/lib/embedded_postgres.sh " + command + " '" + dir + "' 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run embedded_postgres.sh");
  std::string out;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) out += buffer;
  int status = pclose(pipe);
  if (status != 0) throw std::runtime_error("embedded_postgres.sh " + command + " failed: " + out);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}
}  // namespace

TempPostgres::TempPostgres(const TempDir& dir) : dir_(dir.file("postgres")) { start(); }

TempPostgres::~TempPostgres() {
  try {
    run_postgres_script("stop", dir_);
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
  }
}

void TempPostgres::start() { url_ = run_postgres_script("start", dir_); }

void TempPostgres::stop() { run_postgres_script("stop", dir_); }

}  // namespace cf::test
