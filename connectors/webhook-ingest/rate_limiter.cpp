#include "rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace cf {

TokenBucketRateLimiter::TokenBucketRateLimiter(double rate_per_second, double burst)
    : rate_per_ms_(rate_per_second / 1000.0), burst_(std::max(1.0, burst)) {}

TokenBucketRateLimiter::Decision TokenBucketRateLimiter::acquire(const std::string& key,
                                                                 int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst_, now_ms});
  Bucket& b = it->second;
  if (!inserted && now_ms > b.updated_ms) {
    b.tokens = std::min(burst_, b.tokens + static_cast<double>(now_ms - b.updated_ms) * rate_per_ms_);
    b.updated_ms = now_ms;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {true, 0};
  }
  double missing = 1.0 - b.tokens;
  auto wait = rate_per_ms_ > 0 ? static_cast<int64_t>(std::ceil(missing / rate_per_ms_)) : 60000;
  return {false, std::max<int64_t>(1, wait)};
}

}  // namespace cf
