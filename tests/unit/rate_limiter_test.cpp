#include "cf/rate_limiter.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

TEST(TokenBucket, AllowsBurstThenRefusesWithRetryAfter) {
  TokenBucketRateLimiter limiter(10, 3);  // 10/s, burst 3
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire("shop-a", 1000).allowed) << i;
  auto refused = limiter.acquire("shop-a", 1000);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_ms, 100);  // one token every 100 ms
}

TEST(TokenBucket, RefillsOverTimeUpToBurst) {
  TokenBucketRateLimiter limiter(10, 2);
  EXPECT_TRUE(limiter.acquire("s", 0).allowed);
  EXPECT_TRUE(limiter.acquire("s", 0).allowed);
  EXPECT_FALSE(limiter.acquire("s", 50).allowed);
  EXPECT_TRUE(limiter.acquire("s", 100).allowed);  // 0.5 + 0.5 tokens
  EXPECT_FALSE(limiter.acquire("s", 100).allowed);
  // A long pause refills to the burst, not beyond.
  EXPECT_TRUE(limiter.acquire("s", 100000).allowed);
  EXPECT_TRUE(limiter.acquire("s", 100000).allowed);
  EXPECT_FALSE(limiter.acquire("s", 100000).allowed);
}

TEST(TokenBucket, KeysAreIndependent) {
  TokenBucketRateLimiter limiter(1, 1);
  EXPECT_TRUE(limiter.acquire("a", 0).allowed);
  EXPECT_FALSE(limiter.acquire("a", 0).allowed);
  EXPECT_TRUE(limiter.acquire("b", 0).allowed);
}

TEST(TokenBucket, PartialTokenWaitIsRoundedUp) {
  TokenBucketRateLimiter limiter(3, 1);
  EXPECT_TRUE(limiter.acquire("s", 0).allowed);
  auto refused = limiter.acquire("s", 100);  // 0.3 tokens back; 0.7 missing at 3/s
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_ms, 234);
}

}  // namespace
}  // namespace cf
