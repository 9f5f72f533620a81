#include "cf/signature.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

const std::string kKey = "app-key";
const std::string kSecret = "app-secret";
const std::string kBody = R"({"type":1,"shop_id":"s"})";

TEST(TikTokSignature, AcceptsHexHmacOfAppKeyAndBody) {
  std::string signature = hmac_sha256_hex(kSecret, kKey + kBody);
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, signature), SignatureCheck::kValid);
}

TEST(TikTokSignature, MatchesAKnownVector) {
  // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style vector.
  EXPECT_EQ(hmac_sha256_hex("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  EXPECT_EQ(hmac_sha256_base64("key", "The quick brown fox jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=");
}

TEST(TikTokSignature, RejectsTamperedBody) {
  std::string signature = hmac_sha256_hex(kSecret, kKey + kBody);
  std::string tampered = kBody;
  tampered[tampered.size() - 3] = 'x';
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, tampered, signature), SignatureCheck::kMismatch);
}

TEST(TikTokSignature, RejectsWrongSecretAndWrongAppKey) {
  std::string signature = hmac_sha256_hex("other-secret", kKey + kBody);
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, signature), SignatureCheck::kMismatch);
  std::string other_key = hmac_sha256_hex(kSecret, "other-key" + kBody);
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, other_key), SignatureCheck::kMismatch);
}

TEST(TikTokSignature, ReportsMissingAndMalformedHeaders) {
  std::string signature = hmac_sha256_hex(kSecret, kKey + kBody);
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, ""), SignatureCheck::kMissing);
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, signature.substr(0, 63)),
            SignatureCheck::kMalformed);
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, signature + "0"),
            SignatureCheck::kMalformed);
  std::string upper = signature;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper != signature) {
    EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, upper), SignatureCheck::kMalformed);
  }
  EXPECT_EQ(verify_tiktok_signature(kKey, kSecret, kBody, std::string(64, 'z')),
            SignatureCheck::kMalformed);
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(DeterministicUuid, IsStableVersion8AndDistinct) {
  std::string a = deterministic_uuid("tiktok:1:0");
  EXPECT_EQ(a, deterministic_uuid("tiktok:1:0"));
  EXPECT_NE(a, deterministic_uuid("tiktok:1:1"));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '8');
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);
}

}  // namespace
}  // namespace cf
