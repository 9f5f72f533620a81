// The gateway's plain parts: tokens (HS256 JWT), cursors, and the fan-out
// hub's resume decisions.
#include <gtest/gtest.h>

#include "cf/jwt.h"
#include "fanout_hub.h"

namespace cf {
namespace {

constexpr const char* kSecret = "a-secret-of-at-least-16-bytes";

std::string token(const std::string& creator, int64_t exp, std::vector<std::string> channels = {}) {
  TokenClaims c;
  c.creator_id = creator;
  c.expires_at_s = exp;
  c.channels = std::move(channels);
  return issue_token(c, kSecret);
}

TEST(GatewayToken, AValidTokenNamesItsCreatorAndChannels) {
  std::string why;
  auto claims = verify_token(token("creator-7", 2000, {"order_metrics"}), kSecret, 1000, why);
  ASSERT_TRUE(claims) << why;
  EXPECT_EQ(claims->creator_id, "creator-7");
  EXPECT_EQ(claims->expires_at_s, 2000);
  EXPECT_TRUE(claims->allows("order_metrics"));
  EXPECT_FALSE(claims->allows("critical_stock"));
  auto all = verify_token(token("creator-7", 2000), kSecret, 1000, why);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->allows("system_health"));
}

TEST(GatewayToken, ExpiredForgedOrAlgNoneTokensAreRefusedWithTheirReason) {
  std::string why;
  EXPECT_FALSE(verify_token(token("c", 1000), kSecret, 1000, why));
  EXPECT_EQ(why, "expired");
  EXPECT_FALSE(verify_token(token("c", 2000), "another-secret-of-16+", 1000, why));
  EXPECT_EQ(why, "bad_signature");
  // Another creator's payload under a valid token's signature.
  const std::string mine = token("creator-1", 2000), theirs = token("creator-2", 2000);
  const std::string spliced =
      mine.substr(0, mine.find('.')) +
      theirs.substr(theirs.find('.'), theirs.rfind('.') - theirs.find('.')) +
      mine.substr(mine.rfind('.'));
  EXPECT_FALSE(verify_token(spliced, kSecret, 1000, why));
  EXPECT_EQ(why, "bad_signature");
  // alg "none" with no signature, and HS512: refused before any signature check.
  const std::string payload = mine.substr(mine.find('.') + 1, mine.rfind('.') - mine.find('.') - 1);
  EXPECT_FALSE(verify_token(base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".",
                            kSecret, 1000, why));
  EXPECT_EQ(why, "alg_not_hs256");
  EXPECT_FALSE(verify_token(base64url_encode(R"({"alg":"HS512"})") + "." + payload + ".x", kSecret,
                            1000, why));
  EXPECT_EQ(why, "alg_not_hs256");
  for (const char* junk : {"", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.e30"}) {
    EXPECT_FALSE(verify_token(junk, kSecret, 1000, why)) << junk;
  }
  // A signed token without a subject or with a wrong-typed expiry.
  TokenClaims nobody;
  nobody.expires_at_s = 2000;
  EXPECT_FALSE(verify_token(issue_token(nobody, kSecret), kSecret, 1000, why));
  EXPECT_EQ(why, "no_subject");
}

TEST(GatewayToken, Base64UrlRoundTripsAndRefusesNonCanonicalText) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba",
                                                       "foobar", std::string("\0\xff\xfe", 3)}) {
    auto back = base64url_decode(base64url_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(base64url_decode("Zm9v+"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("Zg=="));   // padding
  EXPECT_FALSE(base64url_decode("Zh"));     // non-zero leftover bits
}

TEST(GatewayCursor, EncodesPartitionAndOffset) {
  PushCursor c{3, 1234};
  EXPECT_EQ(c.text(), "3:1234");
  auto back = parse_cursor("3:1234");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->partition, 3);
  EXPECT_EQ(back->offset, 1234);
  for (const char* bad :
       {"", "3", ":5", "3:", "-1:5", "3:-5", "3:5x", "x:5", "3:5:6", "99999999999999999999:1"}) {
    EXPECT_FALSE(parse_cursor(bad)) << bad;
  }
}

HubMessage msg(int32_t p, int64_t o) { return {{p, o}, "order_metrics", "{}"}; }

TEST(FanoutHub, ACursorInsideTheWindowResumesWithNoGapAndNoDuplicate) {
  FanoutHub hub(100);
  for (int64_t o = 10; o < 20; ++o) hub.publish(msg(2, o), o % 2 ? "a" : "b");
  auto sub = hub.subscribe(1, "a", PushCursor{2, 13});
  ASSERT_EQ(sub.start, FanoutHub::Start::kReplay);
  std::vector<int64_t> replayed;
  for (const auto& m : sub.replay) replayed.push_back(m.cursor.offset);
  EXPECT_EQ(replayed, (std::vector<int64_t>{15, 17, 19})) << "creator a's, after the cursor";
  EXPECT_EQ(hub.publish(msg(2, 20), "b").to.size(), 0u) << "never another creator's";
  EXPECT_EQ(hub.publish(msg(2, 21), "a").to, std::vector<FanoutHub::SubscriberId>{1});
}

TEST(FanoutHub, ACursorOlderThanTheWindowGetsASnapshot) {
  FanoutHub hub(5);
  for (int64_t o = 0; o < 20; ++o) hub.publish(msg(0, o), "a");
  EXPECT_EQ(hub.first_held(0), 15);
  EXPECT_EQ(hub.subscribe(1, "a", PushCursor{0, 3}).start, FanoutHub::Start::kSnapshot);
  EXPECT_EQ(hub.subscribe(2, "a", std::nullopt).start, FanoutHub::Start::kSnapshot);
  EXPECT_EQ(hub.subscribe(3, "a", PushCursor{0, 14}).start, FanoutHub::Start::kReplay);
  // Everyone gets live messages from here on.
  EXPECT_EQ(hub.publish(msg(0, 20), "a").to.size(), 3u);
}

TEST(FanoutHub, ACursorIntoAPartitionNotReadYetIsCheckedAgainstItsFirstRecord) {
  FanoutHub hub(100);
  // A gateway that just started: the client is ahead of it; records up to
  // its cursor are skipped, the rest delivered.
  auto ahead = hub.subscribe(1, "a", PushCursor{4, 50});
  EXPECT_EQ(ahead.start, FanoutHub::Start::kReplay);
  auto first = hub.publish(msg(4, 40), "a");
  EXPECT_TRUE(first.snapshot.empty());
  EXPECT_TRUE(first.to.empty());
  EXPECT_TRUE(hub.publish(msg(4, 50), "a").to.empty());
  EXPECT_EQ(hub.publish(msg(4, 51), "a").to.size(), 1u);
  // The gateway reads from later than a cursor: it would miss 11..59 -> snapshot.
  FanoutHub late(100);
  late.subscribe(1, "a", PushCursor{5, 10});
  auto d = late.publish(msg(5, 60), "a");
  EXPECT_EQ(d.snapshot, std::vector<FanoutHub::SubscriberId>{1});
  EXPECT_EQ(d.to, std::vector<FanoutHub::SubscriberId>{1}) << "after the snapshot";
}

TEST(FanoutHub, ACursorIntoAnotherPartitionThanItsCreatorsGetsASnapshot) {
  FanoutHub hub(100);
  for (int64_t o = 0; o < 10; ++o) hub.publish(msg(1, o), "other");
  for (int64_t o = 0; o < 10; ++o) hub.publish(msg(2, o), "a");
  // Partition 1 holds the cursor's offset, but creator a lives in partition 2.
  auto sub = hub.subscribe(1, "a", PushCursor{1, 5});
  EXPECT_EQ(sub.start, FanoutHub::Start::kReplay);
  EXPECT_TRUE(sub.replay.empty());
  auto d = hub.publish(msg(2, 10), "a");
  EXPECT_EQ(d.snapshot, std::vector<FanoutHub::SubscriberId>{1});
  EXPECT_EQ(d.to, std::vector<FanoutHub::SubscriberId>{1}) << "after the snapshot";
  EXPECT_TRUE(hub.publish(msg(2, 11), "a").snapshot.empty()) << "once";
}

}  // namespace
}  // namespace cf
