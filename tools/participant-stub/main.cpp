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
  std::string secrets_file, shops_file;
  return cf::guarded_main("cf-participant-stub", [&]() -> int {
    cf::OptionsParser options(
        "cf-participant-stub",
        "Participant stub (payment, shipping, channel) for the saga, and TikTok Shop's API.");
    options.add_logging_options(log_level);
    options.add()(
        "listen", po::value(&settings.listen_address)->default_value(settings.listen_address),
        "address to listen on")("port", po::value(&settings.port)->default_value(settings.port),
                                "port (0: any free port, printed on stdout)")(
        "seed", po::value(&settings.seed)->default_value(settings.seed),
        "seed of the injected faults")(
        "tiktok-secrets-file", po::value(&secrets_file),
        "TikTok app key and secret (the ingest's secrets file) for the TikTok Shop API")(
        "tiktok-shops-file", po::value(&shops_file),
        "TikTok shop ciphers and first access tokens, and Shopify stores' Admin API tokens "
        "(channel-api's shops file)")(
        "tiktok-token-ttl-s",
        po::value(&settings.tiktok_token_ttl_s)->default_value(settings.tiktok_token_ttl_s),
        "lifetime of the access tokens it issues on refresh");
    if (!options.parse(argc, argv)) return 0;
    if (!secrets_file.empty())
      settings.tiktok_secrets_json = cf::read_file_or_throw(secrets_file, "--tiktok-secrets-file");
    if (!shops_file.empty())
      settings.tiktok_tokens_json = cf::read_file_or_throw(shops_file, "--tiktok-shops-file");
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
