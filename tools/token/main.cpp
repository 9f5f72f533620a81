// cf-token: issues a dashboard token (HS256 JWT) for one creator, for
// development and operators. The secret comes from a file or the
// environment, never a flag.
#include <iostream>
#include <sstream>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/jwt.h"
#include "cf/main_guard.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  std::string creator, channels, secret_file;
  int64_t ttl_s = 3600;
  return cf::guarded_main("cf-token", [&]() -> int {
    cf::OptionsParser options("cf-token",
                              "Prints a dashboard token for one creator (HS256 JWT: sub, exp, "
                              "channels), for realtime-gateway.");
    options.add()("creator", po::value(&creator), "the creator id (the token's sub)")(
        "ttl-s", po::value(&ttl_s)->default_value(ttl_s), "seconds until it expires")(
        "channels", po::value(&channels), "comma-separated channels it may receive (default: all)")(
        "jwt-secret-file", po::value(&secret_file),
        "the gateway's secret (default: env CF_GATEWAY_JWT_SECRET)");
    if (!options.parse(argc, argv)) return 0;
    if (creator.empty()) throw cf::ConfigError("--creator is required");
    if (ttl_s < 1) throw cf::ConfigError("--ttl-s: must be positive");
    cf::TokenClaims claims;
    claims.creator_id = creator;
    claims.expires_at_s = cf::wall_clock_ms() / 1000 + ttl_s;
    std::stringstream list(channels);
    for (std::string c; std::getline(list, c, ',');)
      if (!c.empty()) claims.channels.push_back(c);
    const std::string secret =
        cf::secret_from_file_or_env(secret_file, "--jwt-secret-file", "CF_GATEWAY_JWT_SECRET");
    std::cout << cf::issue_token(claims, secret) << "\n";
    return 0;
  });
}
