#pragma once
// What the channel-api unit tests share: an HTTP answer as channel-api's
// HTTP client hands it over (header names in lower case), and the API stub
// with the load generator's app and shops.
#include <cctype>
#include <ctime>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cf/http_client.h"
#include "cf/webhook_generator.h"
#include "tiktok_api_stub.h"
#include "tiktok_order_api.h"

namespace cf {

inline HttpResult http_answer(
    int status, std::string body,
    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  HttpResult r;
  r.status = status;
  r.body = std::move(body);
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(lower), value);
  }
  return r;
}

struct StubFixture {
  GeneratorSettings settings;
  WebhookGenerator generator{settings};
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::string shops_json = generator.channel_tokens_json(now, 3600);
  TikTokApiStub stub{generator.secrets_json(), shops_json, 7 * 86400, 1};
  std::map<std::string, TikTokShop> shops = parse_tiktok_shops(shops_json);
};

}  // namespace cf
