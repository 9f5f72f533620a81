#pragma once
// Reference data loaded from files: which creator owns a shop, and the
// webhook secrets. Secret values are never printed.
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cf {

/// shop_id -> creator_id, from JSON {"shops": {"<shop_id>": {"creator_id": "..."}}}.
class ShopDirectory {
 public:
  static ShopDirectory from_json(const std::string& json);  ///< throws std::invalid_argument
  void add(std::string shop_id, std::string creator_id);
  const std::string* creator_of(std::string_view shop_id) const;
  size_t size() const { return creators_.size(); }

 private:
  std::unordered_map<std::string, std::string> creators_;
};

struct TikTokAppCredentials {
  std::string app_key;
  std::string app_secret;
};

/// Webhook secrets, from JSON:
/// {"tiktok": {"app_key": "...", "app_secret": "...",
///             "shops": {"<shop_id>": {"app_key": "...", "app_secret": "..."}}},
///  "shipping": {"aftership": {"webhook_secret": "..."}},
///  "shopify": {"app_secret": "..."}}
/// A shop without its own entry uses the app-wide credentials, as TikTok signs
/// every shop's notifications with the app's secret.
class WebhookSecrets {
 public:
  static WebhookSecrets from_json(const std::string& json);  ///< throws std::invalid_argument
  /// Credentials for the shop, else the app-wide ones; nullptr if neither.
  const TikTokAppCredentials* tiktok_for(std::string_view shop_id) const;
  /// Every distinct TikTok app credential configured (app-wide first): the
  /// ingest tries them in turn, so nothing of a body is read before it is
  /// authenticated.
  std::vector<const TikTokAppCredentials*> tiktok_apps() const;
  /// The webhook secret of a tracking provider (AfterShip's scheme:
  /// base64 HMAC-SHA256 of the body); nullptr if none.
  const std::string* shipping_webhook_secret(std::string_view provider) const;
  /// The Shopify app's secret (signs every shop's webhooks); nullptr if none.
  const std::string* shopify_secret() const {
    return shopify_secret_.empty() ? nullptr : &shopify_secret_;
  }
  void set_shopify_secret(std::string secret) { shopify_secret_ = std::move(secret); }
  void set_tiktok_default(TikTokAppCredentials credentials) {
    tiktok_default_ = std::move(credentials);
  }
  void set_tiktok_shop(std::string shop_id, TikTokAppCredentials credentials);
  void set_shipping_secret(std::string provider, std::string webhook_secret);

 private:
  TikTokAppCredentials tiktok_default_;
  std::unordered_map<std::string, TikTokAppCredentials> tiktok_shops_;
  std::unordered_map<std::string, std::string> shipping_keys_;
  std::string shopify_secret_;
};

}  // namespace cf
