#include "cf/signature.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

namespace cf {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string to_hex(const unsigned char* data, size_t size) {
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 15];
  }
  return out;
}

// OpenSSL 3's one-shot HMAC() and SHA256() look the algorithm up on every
// call, which costs more than hashing a webhook; fetch once, keep a context
// per thread.
struct MacContext {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  ~MacContext() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
};

struct DigestContext {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

size_t hmac(std::string_view secret, std::string_view data, unsigned char* out) {
  thread_local MacContext mac;
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
                         OSSL_PARAM_END};
  size_t size = 0;
  if (!EVP_MAC_init(mac.ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                    params) ||
      !EVP_MAC_update(mac.ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) ||
      !EVP_MAC_final(mac.ctx, out, &size, EVP_MAX_MD_SIZE)) {
    return 0;  // an empty digest never matches a signature
  }
  return size;
}

void sha256(std::string_view data, unsigned char* out) {
  thread_local DigestContext digest;
  unsigned int size = 0;
  EVP_DigestInit_ex2(digest.ctx, digest.md, nullptr);
  EVP_DigestUpdate(digest.ctx, data.data(), data.size());
  EVP_DigestFinal_ex(digest.ctx, out, &size);
}

}  // namespace

std::string hmac_sha256_hex(std::string_view secret, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  return to_hex(digest, hmac(secret, data, digest));
}

std::string hmac_sha256_base64(std::string_view secret, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t size = hmac(secret, data, digest);
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), digest, static_cast<int>(size));
  out.resize(static_cast<size_t>(written));
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

const char* to_string(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kValid:
      return "valid";
    case SignatureCheck::kMissing:
      return "missing_signature";
    case SignatureCheck::kMalformed:
      return "malformed_signature";
    case SignatureCheck::kMismatch:
      return "signature_mismatch";
  }
  return "unknown";
}

SignatureCheck verify_tiktok_signature(std::string_view app_key, std::string_view app_secret,
                                       std::string_view body, std::string_view authorization) {
  if (authorization.empty()) return SignatureCheck::kMissing;
  if (authorization.size() != 64) return SignatureCheck::kMalformed;
  for (char c : authorization) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex) return SignatureCheck::kMalformed;
  }
  std::string signed_data;
  signed_data.reserve(app_key.size() + body.size());
  signed_data.append(app_key).append(body);
  return constant_time_equal(hmac_sha256_hex(app_secret, signed_data), authorization)
             ? SignatureCheck::kValid
             : SignatureCheck::kMismatch;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  sha256(data, digest);
  return to_hex(digest, sizeof digest);
}

std::string deterministic_uuid(std::string_view name) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  sha256(name, digest);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x80);  // version 8
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 9562 variant
  std::string hex = to_hex(digest, 16);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20, 12);
}

}  // namespace cf
