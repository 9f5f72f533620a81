#include "cf/main_guard.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <stdexcept>

#include "cf/errors.h"

namespace cf {

int guarded_main(const char* program, const std::function<int()>& body) {
  // A peer that closes a socket (a scraper, a database going away) must cost
  // an error code on the write, never the process.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return body();
  } catch (const ConfigError& e) {
    std::cerr << program << ": configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {  // reference files that do not parse
    std::cerr << program << ": configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("{} failed: {}", program, e.what());
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace cf
