#include "cf/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace cf {

TokenBucketRateLimiter::TokenBucketRateLimiter(double rate_per_second, double burst,
                                               size_t max_keys)
    : rate_per_ms_(rate_per_second / 1000.0),
      burst_(std::max(1.0, burst)),
      max_keys_(std::max<size_t>(1, max_keys)) {}

void TokenBucketRateLimiter::refill(Bucket& b, int64_t now_ms) const {
  if (now_ms > b.updated_ms) {
    b.tokens =
        std::min(burst_, b.tokens + static_cast<double>(now_ms - b.updated_ms) * rate_per_ms_);
    b.updated_ms = now_ms;
  }
}

void TokenBucketRateLimiter::sweep(int64_t now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now_ms);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
}

TokenBucketRateLimiter::Decision TokenBucketRateLimiter::take(const std::string& key,
                                                              int64_t now_ms, bool consume) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (!consume) return {true, 0};  // an absent bucket is a full one
    if (buckets_.size() >= max_keys_) sweep(now_ms);
    if (buckets_.size() >= max_keys_) return {false, 1000};
    it = buckets_.emplace(key, Bucket{burst_, now_ms}).first;
  }
  Bucket& b = it->second;
  refill(b, now_ms);
  if (b.tokens >= 1.0) {
    if (consume) b.tokens -= 1.0;
    return {true, 0};
  }
  double missing = 1.0 - b.tokens;
  auto wait = rate_per_ms_ > 0 ? static_cast<int64_t>(std::ceil(missing / rate_per_ms_)) : 60000;
  return {false, std::max<int64_t>(1, wait)};
}

TokenBucketRateLimiter::Decision TokenBucketRateLimiter::acquire(const std::string& key,
                                                                 int64_t now_ms) {
  return take(key, now_ms, true);
}

TokenBucketRateLimiter::Decision TokenBucketRateLimiter::peek(const std::string& key,
                                                              int64_t now_ms) {
  return take(key, now_ms, false);
}

size_t TokenBucketRateLimiter::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return buckets_.size();
}

}  // namespace cf
