#include "cf/directory.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <stdexcept>

#include "cf/json_parse.h"

namespace cf {
namespace {

rapidjson::Document parse_or_throw(const std::string& json, const char* what) {
  rapidjson::Document doc;
  cf::JsonParseError error;
  if (!cf::parse_json(doc, json, error)) {
    throw std::invalid_argument(std::string(what) + ": " + error.detail);
  }
  if (!doc.IsObject()) throw std::invalid_argument(std::string(what) + ": expected an object");
  return doc;
}

std::string required_string(const rapidjson::Value& object, const char* member,
                            const std::string& where) {
  if (!object.IsObject()) throw std::invalid_argument(where + ": expected an object");
  auto it = object.FindMember(member);
  if (it == object.MemberEnd() || !it->value.IsString()) {
    throw std::invalid_argument(where + ": missing string '" + member + "'");
  }
  return it->value.GetString();
}

}  // namespace

ShopDirectory ShopDirectory::from_json(const std::string& json) {
  auto doc = parse_or_throw(json, "shop directory");
  ShopDirectory directory;
  auto shops = doc.FindMember("shops");
  if (shops == doc.MemberEnd() || !shops->value.IsObject()) {
    throw std::invalid_argument("shop directory: missing object 'shops'");
  }
  for (auto& shop : shops->value.GetObject()) {
    directory.add(shop.name.GetString(),
                  required_string(shop.value, "creator_id",
                                  std::string("shop directory: shops.") + shop.name.GetString()));
  }
  return directory;
}

void ShopDirectory::add(std::string shop_id, std::string creator_id) {
  creators_[std::move(shop_id)] = std::move(creator_id);
}

const std::string* ShopDirectory::creator_of(std::string_view shop_id) const {
  auto it = creators_.find(std::string(shop_id));
  return it == creators_.end() ? nullptr : &it->second;
}

WebhookSecrets WebhookSecrets::from_json(const std::string& json) {
  auto doc = parse_or_throw(json, "webhook secrets");
  WebhookSecrets secrets;
  auto tiktok = doc.FindMember("tiktok");
  if (tiktok != doc.MemberEnd()) {
    const auto& t = tiktok->value;
    if (!t.IsObject()) throw std::invalid_argument("webhook secrets: tiktok must be an object");
    if (t.HasMember("app_key") || t.HasMember("app_secret")) {
      secrets.tiktok_default_ = {required_string(t, "app_key", "webhook secrets: tiktok"),
                                 required_string(t, "app_secret", "webhook secrets: tiktok")};
    }
    auto shops = t.FindMember("shops");
    if (shops != t.MemberEnd() && shops->value.IsObject()) {
      for (auto& shop : shops->value.GetObject()) {
        std::string where = std::string("webhook secrets: tiktok.shops.") + shop.name.GetString();
        secrets.set_tiktok_shop(shop.name.GetString(),
                                {required_string(shop.value, "app_key", where),
                                 required_string(shop.value, "app_secret", where)});
      }
    }
  }
  auto shipping = doc.FindMember("shipping");
  if (shipping != doc.MemberEnd() && shipping->value.IsObject()) {
    for (auto& provider : shipping->value.GetObject()) {
      const std::string where =
          std::string("webhook secrets: shipping.") + provider.name.GetString();
      // Tracking webhooks are taken in AfterShip's format and signature only.
      if (std::string_view(provider.name.GetString()) != "aftership")
        throw std::invalid_argument(where + ": only aftership is supported");
      secrets.set_shipping_secret(provider.name.GetString(),
                                  required_string(provider.value, "webhook_secret", where));
    }
  }
  auto shopify = doc.FindMember("shopify");
  if (shopify != doc.MemberEnd()) {
    secrets.shopify_secret_ =
        required_string(shopify->value, "app_secret", "webhook secrets: shopify");
  }
  return secrets;
}

const TikTokAppCredentials* WebhookSecrets::tiktok_for(std::string_view shop_id) const {
  auto it = tiktok_shops_.find(std::string(shop_id));
  if (it != tiktok_shops_.end()) return &it->second;
  return tiktok_default_.app_secret.empty() ? nullptr : &tiktok_default_;
}

std::vector<const TikTokAppCredentials*> WebhookSecrets::tiktok_apps() const {
  std::vector<const TikTokAppCredentials*> apps;
  auto add = [&](const TikTokAppCredentials& c) {
    for (const auto* known : apps) {
      if (known->app_key == c.app_key && known->app_secret == c.app_secret) return;
    }
    apps.push_back(&c);
  };
  if (!tiktok_default_.app_secret.empty()) add(tiktok_default_);
  for (const auto& [shop, credentials] : tiktok_shops_) add(credentials);
  return apps;
}

const std::string* WebhookSecrets::shipping_webhook_secret(std::string_view provider) const {
  auto it = shipping_keys_.find(std::string(provider));
  return it == shipping_keys_.end() ? nullptr : &it->second;
}

void WebhookSecrets::set_tiktok_shop(std::string shop_id, TikTokAppCredentials credentials) {
  tiktok_shops_[std::move(shop_id)] = std::move(credentials);
}

void WebhookSecrets::set_shipping_secret(std::string provider, std::string webhook_secret) {
  shipping_keys_[std::move(provider)] = std::move(webhook_secret);
}

}  // namespace cf
