// cf-channel-sync: asks channel-api for an inventory sync round now, for one
// shop or every shop, by writing a sync_inventory command to its sync topic.
// The command is in the log like the ticks, so its round is replay-safe the
// same way (docs/processors.md).
#include <unistd.h>

#include <atomic>
#include <iostream>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/producer.h"
#include "cf/signature.h"
#include "tiktok_inventory_api.h"

namespace {

class DeliveryResult : public cf::DeliveryListener {
 public:
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failed.store(true);
  }
  std::atomic<bool> failed{false};
};

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::KafkaSettings kafka;
  std::string topic = "channel.sync.commands";
  std::string shop_id;
  std::string log_level = "warn";
  return cf::guarded_main("cf-channel-sync", [&]() -> int {
    cf::OptionsParser options("cf-channel-sync",
                              "Starts an inventory sync round now (channel-api), for one shop "
                              "or every shop in channel-api's shops file.");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()("topic", po::value(&topic)->default_value(topic), "channel-api's sync topic")(
        "shop", po::value(&shop_id), "the shop id to sync (default: every shop)");
    if (!options.parse(argc, argv)) return 0;
    if (shop_id.size() > 64) throw cf::ConfigError("--shop: at most 64 characters");
    cf::init_logging("cf-channel-sync", log_level);
    const int64_t now = cf::wall_clock_ms();
    // Unique per request: the command's round label, so two requests are two rounds.
    const std::string command_id =
        cf::sha256_hex(std::to_string(now) + "|" + shop_id + "|" + std::to_string(::getpid()))
            .substr(0, 16);
    DeliveryResult result;
    cf::Producer producer(kafka, "cf-channel-sync", &result);
    cf::OutputRecord command{topic,
                             shop_id,
                             cf::sync_command_json(command_id, now, shop_id),
                             {{"cf-event-type", "sync_inventory"}}};
    producer.produce(command, nullptr);
    producer.flush(10000);
    if (result.failed.load()) {
      std::cerr << "cf-channel-sync: the command was not delivered to " << topic << "\n";
      return 1;
    }
    std::cout << "sync command " << command_id << " written to " << topic << " for "
              << (shop_id.empty() ? std::string("every shop") : "shop " + shop_id)
              << "; channel-api reads it within a second (it is ignored after one sync "
                 "interval)\n";
    return 0;
  });
}
