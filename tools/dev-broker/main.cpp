// cf-dev-broker: the development Kafka broker on librdkafka's mock cluster.
// Creates every catalog topic (the mock has no CreateTopics), writes the
// bootstrap address to a file, and takes fault commands on stdin or a FIFO.
#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must follow rdkafka.h
#include <librdkafka/rdkafka_mock.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/kafka_handles.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/topic_catalog.h"
#include "cf/worker.h"
#include "fault_commands.h"

namespace po = boost::program_options;

namespace {

class MockCluster {
 public:
  explicit MockCluster(int brokers) {
    cf::ConfHandle conf(rd_kafka_conf_new());
    cf::route_kafka_logs(conf.get());
    host_ = cf::create_handle(RD_KAFKA_PRODUCER, std::move(conf), "mock host handle");
    cluster_ = rd_kafka_mock_cluster_new(host_.get(), brokers);
    if (!cluster_) throw cf::ConfigError("cannot create the mock cluster");
    brokers_ = brokers;
  }
  ~MockCluster() { rd_kafka_mock_cluster_destroy(cluster_); }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void create_topic(const cf::TopicSpec& spec) {
    int rf = std::min(spec.replication_factor, brokers_);
    if (auto e = rd_kafka_mock_topic_create(cluster_, spec.name.c_str(), spec.partitions, rf)) {
      throw cf::KafkaError("create topic " + spec.name, e);
    }
  }
  std::string apply(const cf::FaultCommand& cmd) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto each_broker = [&](auto fn) {
      for (int b = 1; b <= brokers_; ++b)
        if (cmd.broker == 0 || cmd.broker == b) fn(b);
    };
    switch (cmd.kind) {
      case cf::FaultCommand::Kind::kDown:
        each_broker([&](int b) { rd_kafka_mock_broker_set_down(cluster_, b); });
        return "ok down";
      case cf::FaultCommand::Kind::kUp:
        each_broker([&](int b) { rd_kafka_mock_broker_set_up(cluster_, b); });
        return "ok up";
      case cf::FaultCommand::Kind::kRtt:
        each_broker([&](int b) { rd_kafka_mock_broker_set_rtt(cluster_, b, cmd.rtt_ms); });
        return "ok rtt";
      case cf::FaultCommand::Kind::kError: {
        std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(cmd.count),
                                                static_cast<rd_kafka_resp_err_t>(cmd.error_code));
        rd_kafka_mock_push_request_errors_array(cluster_, cmd.api_key, errors.size(),
                                                errors.data());
        return "ok error";
      }
      case cf::FaultCommand::Kind::kQuit:
        return "ok quit";
    }
    return "?";
  }

 private:
  cf::KafkaHandle host_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  int brokers_ = 0;
  std::mutex mutex_;
};

std::atomic<bool> g_quit{false};

void serve_commands(std::istream& in, std::ostream& out, MockCluster& cluster) {
  std::string line;
  while (!g_quit && std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string error;
    auto cmd = cf::parse_fault_command(line, error);
    if (!cmd) {
      out << "error " << error << std::endl;
      continue;
    }
    out << cluster.apply(*cmd) << std::endl;
    spdlog::info("fault command: {}", line);
    if (cmd->kind == cf::FaultCommand::Kind::kQuit) g_quit = true;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  std::string catalog_path = cf::default_topic_catalog_path();
  std::string bootstrap_file;
  std::string control_fifo;
  std::string log_level = "warn";
  int partitions_override = 0;
  std::vector<std::string> extra_topics;
  return cf::guarded_main("cf-dev-broker", [&]() -> int {
    cf::OptionsParser options("cf-dev-broker",
                              "Development Kafka broker on librdkafka's mock cluster (in memory; "
                              "keeps about 5 MiB per partition and drops older records).");
    options.add_logging_options(log_level);
    options.add()("brokers-count", po::value(&brokers)->default_value(3), "number of brokers")(
        "catalog", po::value(&catalog_path)->default_value(catalog_path),
        "topic catalog to create")("bootstrap-file", po::value(&bootstrap_file),
                                   "write the bootstrap address here")(
        "control-fifo", po::value(&control_fifo),
        "also read fault commands from this FIFO (created if missing)")(
        "partitions", po::value(&partitions_override)->default_value(0),
        "override every topic's partition count (0: as in the catalog)")(
        "extra-topic", po::value(&extra_topics)->composing(),
        "also create NAME:PARTITIONS (repeatable), e.g. for benchmarks");
    if (!options.parse(argc, argv)) return 0;
    if (brokers < 1 || brokers > 9) throw cf::ConfigError("--brokers-count: 1..9");
    cf::init_logging("dev-broker", log_level);
    const auto& stop = cf::stop_requested_by_signal();

    auto specs = cf::parse_topic_catalog(cf::read_file_or_throw(catalog_path, "--catalog"));
    for (const auto& extra : extra_topics) {
      auto colon = extra.rfind(':');
      cf::TopicSpec spec;
      spec.name = extra.substr(0, colon);
      try {
        spec.partitions = colon == std::string::npos ? 1 : std::stoi(extra.substr(colon + 1));
      } catch (const std::exception&) {
        throw cf::ConfigError("--extra-topic: expected NAME:PARTITIONS, got '" + extra + "'");
      }
      specs.push_back(spec);
    }
    MockCluster cluster(brokers);
    for (auto spec : specs) {
      if (partitions_override > 0) spec.partitions = partitions_override;
      cluster.create_topic(spec);
    }
    std::string bootstraps = cluster.bootstraps();
    if (!bootstrap_file.empty()) {
      std::string tmp = bootstrap_file + ".tmp";
      std::ofstream(tmp) << bootstraps << "\n";
      std::rename(tmp.c_str(), bootstrap_file.c_str());  // readers never see half a file
    }
    std::cout << "ready " << bootstraps << " topics=" << specs.size() << std::endl;

    std::thread stdin_reader([&] { serve_commands(std::cin, std::cout, cluster); });
    stdin_reader.detach();  // blocks in getline; the process exit ends it
    if (!control_fifo.empty()) {
      mkfifo(control_fifo.c_str(), 0600);
      std::thread fifo_reader([&] {
        while (!g_quit) {
          std::ifstream fifo(control_fifo);  // blocks until a writer opens it
          serve_commands(fifo, std::cout, cluster);
        }
      });
      fifo_reader.detach();
    }
    while (!stop && !g_quit) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!bootstrap_file.empty()) std::remove(bootstrap_file.c_str());
    std::cout << "stopped" << std::endl;
    std::_Exit(0);  // detached readers may sit in blocking reads; skip their teardown
    return 0;
  });
}
