#pragma once
// Per-key token buckets (one per shop or provider). Thread-safe.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace cf {

class TokenBucketRateLimiter {
 public:
  /// `rate_per_second` tokens refill continuously up to `burst`.
  TokenBucketRateLimiter(double rate_per_second, double burst);
  struct Decision {
    bool allowed;
    int64_t retry_after_ms;  ///< when refused: until one token is back
  };
  /// Takes one token for `key` at monotonic time `now_ms`.
  Decision acquire(const std::string& key, int64_t now_ms);

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ms;
  };
  double rate_per_ms_;
  double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace cf
