#pragma once
// Per-key token buckets (one per shop, provider or client address; one per
// shop and one per app for the channel APIs). Thread-safe.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace cf {

class TokenBucketRateLimiter {
 public:
  /// `rate_per_second` tokens refill continuously up to `burst`. At most
  /// `max_keys` buckets are kept: a full bucket is the same as no bucket, so
  /// full ones are swept when the map is at its cap, and if it is still at
  /// its cap a new key is refused (memory stays bounded whatever keys come).
  TokenBucketRateLimiter(double rate_per_second, double burst, size_t max_keys = 100000);
  struct Decision {
    bool allowed;
    int64_t retry_after_ms;  ///< when refused: until one token is back
  };
  /// Takes one token for `key` at monotonic time `now_ms`.
  Decision acquire(const std::string& key, int64_t now_ms);
  /// Whether `key` has a token now, without taking it.
  Decision peek(const std::string& key, int64_t now_ms);
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ms;
  };
  Decision take(const std::string& key, int64_t now_ms, bool consume);
  void refill(Bucket& b, int64_t now_ms) const;
  void sweep(int64_t now_ms);
  double rate_per_ms_;
  double burst_;
  size_t max_keys_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace cf
