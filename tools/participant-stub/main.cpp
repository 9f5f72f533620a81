// cf-participant-stub: payment provider, shipping provider and channel API in
// one small HTTP server, for the saga's tests, benchmarks and the main job.
#include <iostream>
#include <thread>

#include "cf/config.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/worker.h"
#include "stub_server.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::StubSettings settings;
  std::string log_level = "info";
  return cf::guarded_main("cf-participant-stub", [&]() -> int {
    cf::OptionsParser options("cf-participant-stub",
                              "Participant stub (payment, shipping, channel) for the saga.");
    options.add_logging_options(log_level);
    options.add()(
        "listen", po::value(&settings.listen_address)->default_value(settings.listen_address),
        "address to listen on")("port", po::value(&settings.port)->default_value(settings.port),
                                "port (0: any free port, printed on stdout)")(
        "seed", po::value(&settings.seed)->default_value(settings.seed),
        "seed of the injected faults");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("cf-participant-stub", log_level);
    cf::StubServer server(settings);
    std::cout << "listening on port " << server.port() << std::endl;
    // Stops on SIGINT/SIGTERM.
    const auto& stop = cf::stop_requested_by_signal();
    std::thread watcher([&] {
      while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      server.stop();
    });
    server.run();
    watcher.join();
    return 0;
  });
}
