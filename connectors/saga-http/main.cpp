// saga-http: calls the saga's participants (payment, shipping, channel) for
// each command on saga.commands and writes their answers to saga.replies.
#include <fstream>
#include <sstream>

#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "saga_http_handler.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings settings;
  settings.name = "saga-http";
  std::string commands_topic = "saga.commands";
  std::string participants_file;
  cf::SagaHttpSettings http;
  cf::HttpClientSettings client_settings;
  return cf::guarded_main("saga-http", [&]() -> int {
    cf::OptionsParser options("saga-http",
                              "Calls the saga's participants over HTTP and writes their replies.");
    options.add_worker_options(settings);
    options.add()("commands-topic", po::value(&commands_topic)->default_value(commands_topic),
                  "input: participant commands (order-saga)")(
        "replies-topic", po::value(&http.replies_topic)->default_value(http.replies_topic),
        "output: participant replies (order-saga)")(
        "participants-file", po::value(&participants_file),
        "JSON file of participant endpoints and token files (docs/processors.md); "
        "CF_SAGA_<PAYMENT|SHIPPING|CHANNEL>_URL and _TOKEN in the environment win over it")(
        "call-timeout-ms", po::value(&http.call_timeout_ms)->default_value(http.call_timeout_ms),
        "deadline of one call (connect, send, answer); keep it under the saga's step timeout")(
        "max-in-flight", po::value(&http.max_in_flight)->default_value(http.max_in_flight),
        "calls running at once; reading stops at this limit")(
        "breaker-window", po::value(&client_settings.window)->default_value(client_settings.window),
        "an endpoint's circuit judges its last this many calls")(
        "breaker-min-calls",
        po::value(&client_settings.min_calls)->default_value(client_settings.min_calls),
        "and only once it has made at least this many")(
        "breaker-failure-share",
        po::value(&client_settings.failure_share)->default_value(client_settings.failure_share),
        "share of failed calls (5xx, timeouts, transport errors) in the window that opens it")(
        "breaker-open-ms",
        po::value(&client_settings.open_ms)->default_value(client_settings.open_ms),
        "how long an open circuit refuses calls before one trial call");
    if (!options.parse(argc, argv)) return 0;
    if (http.call_timeout_ms < 1) throw cf::ConfigError("--call-timeout-ms: must be positive");
    if (http.max_in_flight < 1) throw cf::ConfigError("--max-in-flight: must be positive");
    if (client_settings.window < 1 || client_settings.min_calls < 1 ||
        client_settings.min_calls > client_settings.window || client_settings.open_ms < 1 ||
        !(client_settings.failure_share > 0 && client_settings.failure_share <= 1))
      throw cf::ConfigError(
          "--breaker-*: need 1 <= min-calls <= window, open-ms > 0, 0 < failure-share <= 1");
    cf::init_logging("saga-http", settings.log_level);
    std::string file_text;
    if (!participants_file.empty()) {
      std::ifstream in(participants_file);
      if (!in) throw cf::ConfigError("--participants-file: cannot read " + participants_file);
      std::stringstream text;
      text << in.rdbuf();
      file_text = text.str();
    }
    cf::HttpClient client(client_settings);
    cf::SagaHttpHandler handler(cf::load_participants(file_text), http, client);
    cf::Worker worker(settings, {commands_topic}, handler);
    worker.run(cf::stop_requested_by_signal());
    if (worker.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
