// The channel APIs' schemes (channel_api_auth.h). TikTok Shop signatures are
// checked against HMACs computed independently by the openssl command line
// over strings written out by hand from the platform's documented recipe.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "cf/channel_api_auth.h"

namespace cf {
namespace {

// `openssl dgst -sha256 -hmac SECRET` over `data` (through a file: any bytes).
std::string openssl_hmac(const std::string& secret, const std::string& data) {
  char path[] = "/tmp/cf-hmac-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  { std::ofstream(path, std::ios::binary) << data; }
  std::string cmd = "openssl dgst -sha256 -hmac '" + secret + "' -r " + path;
  FILE* pipe = popen(cmd.c_str(), "r");
  char buffer[256] = {0};
  std::string out = fgets(buffer, sizeof buffer, pipe) ? buffer : "";
  pclose(pipe);
  close(fd);
  std::remove(path);
  return out.substr(0, out.find(' '));
}

const std::map<std::string, std::string> kQuery = {{"app_key", "6a6qy4a1h7b1k"},
                                                   {"timestamp", "1764770400"},
                                                   {"ids", "576946195401412345,576946195401412346"},
                                                   {"shop_cipher", "ROW_Y-vWAAAA"},
                                                   {"version", "202309"},
                                                   {"access_token", "TTP_never_signed"},
                                                   {"sign", "stale"}};
const std::string kSecret = "4eb3c1a5e1f9d0b2";

TEST(TikTokSigning, GetRequestSignsPathAndSortedParametersWithoutTokenOrSign) {
  const std::string expected_input = kSecret + "/order/202309/orders" + "app_key6a6qy4a1h7b1k" +
                                     "ids576946195401412345,576946195401412346" +
                                     "shop_cipherROW_Y-vWAAAA" + "timestamp1764770400" +
                                     "version202309" + kSecret;
  EXPECT_EQ(tiktok_string_to_sign("/order/202309/orders", kQuery, "", "", kSecret), expected_input);
  const std::string sign = tiktok_sign("/order/202309/orders", kQuery, "", "", kSecret);
  EXPECT_EQ(sign.size(), 64U);
  EXPECT_EQ(sign, openssl_hmac(kSecret, expected_input));
}

TEST(TikTokSigning, JsonBodiesAreSignedAndMultipartBodiesAreNot) {
  const std::string body = R"({"sku_ids":["1729384756"],"warehouse_ids":["7068517275539719942"]})";
  const std::string path = "/product/202309/inventory/search";
  std::map<std::string, std::string> q = {
      {"app_key", "6a6qy4a1h7b1k"}, {"timestamp", "1764770401"}, {"shop_cipher", "ROW_Y-vWAAAA"}};
  EXPECT_EQ(tiktok_sign(path, q, body, "application/json", kSecret),
            openssl_hmac(kSecret, kSecret + path + "app_key6a6qy4a1h7b1kshop_cipherROW_Y-vWAAAA" +
                                      "timestamp1764770401" + body + kSecret));
  EXPECT_EQ(tiktok_sign(path, q, "--boundary\r\nfile", "multipart/form-data; boundary=b", kSecret),
            openssl_hmac(kSecret, kSecret + path + "app_key6a6qy4a1h7b1kshop_cipherROW_Y-vWAAAA" +
                                      "timestamp1764770401" + kSecret));
}

TEST(TikTokSigning, SignedTargetEncodesValuesAndKeepsTheTokenOut) {
  const std::string target = tiktok_signed_target("/order/202309/orders", kQuery, "", "", kSecret);
  EXPECT_EQ(target.find("access_token"), std::string::npos);
  EXPECT_EQ(target.find("stale"), std::string::npos);
  EXPECT_NE(target.find("ids=576946195401412345%2C576946195401412346"), std::string::npos);
  auto without_token = kQuery;
  without_token.erase("access_token");
  without_token.erase("sign");
  EXPECT_EQ(target.substr(target.size() - 70),
            "&sign=" + tiktok_sign("/order/202309/orders", without_token, "", "", kSecret));
}

TEST(AccessTokens, RefreshBeforeExpiryAndNeverAfterTheRefreshTokenExpires) {
  AccessToken t;
  t.access_expires_ms = 1'000'000'000;
  t.refresh_expires_ms = 5'000'000'000;
  EXPECT_EQ(refresh_due_ms(t, 3'600'000), 1'000'000'000 - 3'600'000);
  t.refresh_expires_ms = 999'000'000;  // the refresh token ends first
  EXPECT_EQ(refresh_due_ms(t, 3'600'000), 996'400'000);
  EXPECT_FALSE(needs_reauthorization(t, 998'999'999));
  EXPECT_TRUE(needs_reauthorization(t, 999'000'000));
}

TEST(ShopifyCallLimits, TheLeakyBucketHeaderSaysHowLongToWait) {
  auto limit = parse_shopify_call_limit("32/40");
  ASSERT_TRUE(limit);
  EXPECT_EQ(shopify_wait_ms(*limit, 2.0), 0);
  limit = parse_shopify_call_limit("40/40");
  ASSERT_TRUE(limit);
  EXPECT_EQ(shopify_wait_ms(*limit, 2.0), 500);  // one call leaks out in 0.5 s
  EXPECT_FALSE(parse_shopify_call_limit("41/40"));
  EXPECT_FALSE(parse_shopify_call_limit("x/40"));
  EXPECT_FALSE(parse_shopify_call_limit("40"));
  EXPECT_EQ(parse_retry_after_ms("2.0"), 2000);
  EXPECT_EQ(parse_retry_after_ms("1"), 1000);
  EXPECT_FALSE(parse_retry_after_ms("Wed, 21 Oct 2026 07:28:00 GMT"));
  EXPECT_FALSE(parse_retry_after_ms(""));
}

}  // namespace
}  // namespace cf
