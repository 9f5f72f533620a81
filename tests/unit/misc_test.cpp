// Small pure pieces: time formats, the topic catalog, fault commands, metrics,
// retry backoff, reference data and the load generator.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "cf/carrier_tracking.h"
#include "cf/directory.h"
#include "cf/errors.h"
#include "cf/json_builder.h"
#include "cf/metrics.h"
#include "cf/signature.h"
#include "cf/time_format.h"
#include "cf/topic_catalog.h"
#include "cf/webhook_generator.h"
#include "cf/worker.h"
#include "fault_commands.h"

namespace cf {
namespace {

TEST(TimeFormat, FormatsAndParsesRfc3339) {
  EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_ms(1795000000123), "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(parse_rfc3339_ms("2026-11-18T11:06:40.123Z"), 1795000000123);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-18T12:06:40+01:00"), 1795000000000);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_FALSE(parse_rfc3339_ms("2026-11-19 08:26:40Z"));
  EXPECT_FALSE(parse_rfc3339_ms("2026-13-19T08:26:40Z"));
  EXPECT_FALSE(parse_rfc3339_ms("2026-11-19T08:26:40"));
  EXPECT_FALSE(parse_rfc3339_ms("2026-11-19T08:26:40.Z"));
}

TEST(CarrierTracking, NumbersAndSlugsAreCheckedAndStubLabelsAreStable) {
  EXPECT_TRUE(valid_tracking_number("9400111202555842761234"));
  EXPECT_TRUE(valid_tracking_number("1Z999AA10123456784"));
  EXPECT_FALSE(valid_tracking_number(""));
  EXPECT_FALSE(valid_tracking_number("94 00"));
  EXPECT_FALSE(valid_tracking_number("a\"b"));
  EXPECT_FALSE(valid_tracking_number(std::string(65, '1')));
  EXPECT_TRUE(valid_carrier_slug("royal-mail"));
  EXPECT_FALSE(valid_carrier_slug("USPS"));
  const std::string a = stub_label_tracking_number("tiktok", "578426314126459219");
  EXPECT_EQ(a.size(), 22U);
  EXPECT_EQ(a.substr(0, 4), "9400");
  EXPECT_TRUE(valid_tracking_number(a));
  EXPECT_EQ(a, stub_label_tracking_number("tiktok", "578426314126459219"));
  EXPECT_NE(a, stub_label_tracking_number("shopify", "578426314126459219"));
}

TEST(TopicCatalog, ProjectCatalogCoversTheTopology) {
  std::ifstream in(CF_CATALOG);
  std::stringstream text;
  text << in.rdbuf();
  auto specs = parse_topic_catalog(text.str());
  std::set<std::string> names;
  for (auto& s : specs) names.insert(s.name);
  for (const char* required :
       {"webhooks.tiktok.raw", "webhooks.shipping.raw", "webhooks.rejected", "events.validated",
        "validator.dedup.changelog", "orders.events", "inventory.events", "conflicts.audit",
        "conflicts.manual", "inventory.velocity", "inventory.predictions", "inventory.alerts",
        "saga.commands", "saga.replies", "realtime.push", "system.metrics", "system.health",
        "system.alerts", "dlq.validator"}) {
    EXPECT_TRUE(names.count(required)) << required;
  }
  for (auto& s : specs) {
    if (s.name.find("changelog") != std::string::npos) {
      EXPECT_EQ(s.cleanup_policy, "compact") << s.name;
    }
  }
  // channel-api writes each notification to the partition it was read from.
  auto partitions = [&](const std::string& name) {
    for (auto& s : specs)
      if (s.name == name) return s.partitions;
    return -1;
  };
  EXPECT_EQ(partitions("webhooks.tiktok.enriched"), partitions("webhooks.tiktok.raw"));
}

TEST(TopicCatalog, BadEntriesAreNamed) {
  EXPECT_THROW(parse_topic_catalog("{"), ConfigError);
  // Fuzz finding: an entry that is not an object reached HasMember (UB).
  EXPECT_THROW(parse_topic_catalog(R"({"topics":[1]})"), ConfigError);
  try {
    parse_topic_catalog(R"({"topics":[{"name":"t","partitions":0}]})");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("t: partitions"), std::string::npos);
  }
  EXPECT_THROW(parse_topic_catalog(R"({"topics":[{"name":"t","cleanup_policy":"shred"}]})"),
               ConfigError);
}

TEST(FaultCommands, ParsesEveryVerb) {
  std::string error;
  auto down = parse_fault_command("down 2", error);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->kind, FaultCommand::Kind::kDown);
  EXPECT_EQ(down->broker, 2);
  auto all = parse_fault_command("up all", error);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->broker, 0);
  auto rtt = parse_fault_command("rtt all 250", error);
  ASSERT_TRUE(rtt);
  EXPECT_EQ(rtt->rtt_ms, 250);
  auto err = parse_fault_command("error Produce 7 3", error);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->api_key, 0);
  EXPECT_EQ(err->error_code, 7);
  EXPECT_EQ(err->count, 3);
  EXPECT_EQ(parse_fault_command("error 1 6 1", error)->api_key, 1);
  EXPECT_FALSE(parse_fault_command("down", error));
  EXPECT_FALSE(parse_fault_command("down 0", error));
  EXPECT_FALSE(parse_fault_command("rtt 1 -5", error));
  EXPECT_FALSE(parse_fault_command("error Bogus 1 1", error));
  EXPECT_NE(error.find("Bogus"), std::string::npos);
  EXPECT_FALSE(parse_fault_command("explode", error));
  EXPECT_EQ(error, "unknown command 'explode'");
}

TEST(Metrics, RendersPrometheusText) {
  MetricsRegistry registry;
  registry.counter("cf_test_total", "a test counter", label("topic", "a\"b")).inc(3);
  registry.gauge("cf_test_gauge", "a gauge").set(1.5);
  auto& h = registry.histogram("cf_test_seconds", "a histogram");
  h.observe(0.001);
  h.observe(0.002);
  h.observe(5);
  std::string text = registry.render_prometheus();
  EXPECT_NE(text.find("# TYPE cf_test_total counter\ncf_test_total{topic=\"a\\\"b\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("cf_test_gauge 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("cf_test_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("cf_test_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_LE(h.quantile(0.5), 0.003);
  EXPECT_GE(h.quantile(0.99), 5.0);
  EXPECT_NE(registry.render_json().find("\"cf_test_gauge\":1.5"), std::string::npos);
}

TEST(RetryDelay, DoublesWithJitterUpToTheCap) {
  EXPECT_EQ(retry_delay_ms(0, 100, 10000, 1.0), 100);
  EXPECT_EQ(retry_delay_ms(0, 100, 10000, 0.0), 50);
  EXPECT_EQ(retry_delay_ms(3, 100, 10000, 1.0), 800);
  EXPECT_EQ(retry_delay_ms(20, 100, 10000, 1.0), 10000);
  EXPECT_EQ(retry_delay_ms(20, 100, 10000, 0.0), 5000);
}

TEST(ReferenceData, ParsesAndExplainsErrors) {
  auto shops = ShopDirectory::from_json(R"({"shops":{"s1":{"creator_id":"c1"}}})");
  ASSERT_NE(shops.creator_of("s1"), nullptr);
  EXPECT_EQ(*shops.creator_of("s1"), "c1");
  EXPECT_EQ(shops.creator_of("s2"), nullptr);
  try {
    ShopDirectory::from_json(R"({"shops":{"s1":{}}})");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("shops.s1"), std::string::npos);
  }
  auto secrets = WebhookSecrets::from_json(
      R"({"tiktok":{"app_key":"k","app_secret":"s","shops":{"v":{"app_key":"vk","app_secret":"vs"}}},"shipping":{"aftership":{"webhook_secret":"a"}}})");
  EXPECT_EQ(secrets.tiktok_for("any")->app_secret, "s");
  EXPECT_EQ(secrets.tiktok_for("v")->app_secret, "vs");
  EXPECT_EQ(*secrets.shipping_webhook_secret("aftership"), "a");
  EXPECT_EQ(secrets.shipping_webhook_secret("dhl"), nullptr);
  // Tracking webhooks are taken in AfterShip's scheme only.
  EXPECT_THROW(WebhookSecrets::from_json(R"({"shipping":{"ups":{"api_key":"u"}}})"),
               std::invalid_argument);
  try {
    WebhookSecrets::from_json(R"({"tiktok":{"app_key":"k"}})");
    FAIL();
  } catch (const std::invalid_argument& e) {
    // Names the missing field, never echoes a secret value.
    EXPECT_NE(std::string(e.what()).find("app_secret"), std::string::npos);
  }
  EXPECT_EQ(WebhookSecrets::from_json("{}").tiktok_for("x"), nullptr);
}

TEST(LoadGenerator, IsSeededSkewedAndCorrectlySigned) {
  GeneratorSettings s;
  s.seed = 3;
  s.burst_every = 0;
  WebhookGenerator a(s), b(s);
  std::map<std::string, int> sku_counts;
  std::map<Expectation, int> expectations;
  for (int i = 0; i < 5000; ++i) {
    auto wa = a.next();
    auto wb = b.next();
    ASSERT_EQ(wa.body, wb.body);
    ++expectations[wa.expect];
    if (wa.kind == "order" && wa.expect == Expectation::kValid) ++sku_counts[wa.sku_id];
    if (wa.sync_count) {
      // channel-api's own record, never a request: unsigned, never forged.
      EXPECT_TRUE(wa.authorization.empty());
      EXPECT_EQ(wa.expect, Expectation::kValid);
      EXPECT_NE(wa.body.find("\"type\":1001"), std::string::npos);
    } else if (wa.path == "/webhooks/tiktok" && wa.expect != Expectation::kBadSignature) {
      EXPECT_EQ(verify_tiktok_signature(s.app_key, s.app_secret, wa.body, wa.authorization),
                SignatureCheck::kValid);
    }
    if (wa.expect == Expectation::kBadSignature && !wa.authorization.empty()) {
      EXPECT_EQ(verify_tiktok_signature(s.app_key, s.app_secret, wa.body, wa.authorization),
                SignatureCheck::kMismatch);
    }
  }
  // Zipf: the most popular SKU sells far more than the median one.
  std::vector<int> counts;
  for (auto& [sku, n] : sku_counts) counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  ASSERT_GT(counts.size(), 20u);
  EXPECT_GT(counts[0], 10 * counts[counts.size() / 2]);
  EXPECT_GT(expectations[Expectation::kDuplicate], 150);
  EXPECT_GT(expectations[Expectation::kBadSignature], 50);
  EXPECT_GT(expectations[Expectation::kInvalid], 50);
  EXPECT_GT(expectations[Expectation::kMalformed], 50);
  GeneratorSettings other = s;
  other.seed = 4;
  EXPECT_NE(WebhookGenerator(other).next().body, WebhookGenerator(s).next().body);
}

// What the API stub is told: every change of stock, on both platforms, with
// the record's sequence as version; the newest level of each SKU is the
// ground truth, which is what a scheduled sync after the run must read.
TEST(LoadGenerator, TheStubsNewestLevelsAreTheGroundTruth) {
  GeneratorSettings s;
  s.seed = 11;
  s.skus = 40;
  s.shops = 4;
  WebhookGenerator g(s);
  std::map<std::string, std::pair<int64_t, int64_t>> tiktok, shopify;  // key -> (version, units)
  int64_t last_version = -1;
  size_t posts = 0;
  for (int i = 0; i < 6000; ++i) {
    auto w = g.next();
    if (w.expect != Expectation::kValid) {
      EXPECT_TRUE(w.stock_levels.empty()) << w.body;
    }
    for (const auto& [target, body] : w.stock_levels) {
      ++posts;
      rapidjson::Document d;
      d.Parse(body.c_str());
      ASSERT_TRUE(d.IsObject()) << body;
      const bool tt = target.rfind("/tiktok/inventory?shop_id=shop-", 0) == 0;
      ASSERT_TRUE(tt || target.rfind("/shopify-stub/inventory?shop=", 0) == 0) << target;
      const int shop = tt ? std::stoi(target.substr(target.rfind('-') + 1)) - 7000 : -1;
      for (const auto& level : d[tt ? "skus" : "items"].GetArray()) {
        const int64_t version = level["version"].GetInt64();
        EXPECT_EQ(version, static_cast<int64_t>(w.sequence));
        EXPECT_GE(version, last_version);
        if (tt) {
          tiktok[g.creator_of_shop(shop) + "|" + level["seller_sku"].GetString()] = {
              version, level["quantity"].GetInt64()};
        } else {
          shopify[target.substr(target.find('=') + 1) + "|" + level["sku"].GetString()] = {
              version, level["available"].GetInt64()};
        }
      }
      last_version = static_cast<int64_t>(w.sequence);
    }
  }
  rapidjson::Document truth;
  const std::string json = g.stock_json();
  truth.Parse(json.c_str());
  ASSERT_GT(truth.MemberCount(), 100u);
  EXPECT_EQ(tiktok.size(), truth.MemberCount()) << "every SKU that moved has a level";
  EXPECT_EQ(shopify.size(), truth.MemberCount());
  for (const auto& m : truth.GetObject()) {
    auto it = tiktok.find(m.name.GetString());
    ASSERT_NE(it, tiktok.end()) << m.name.GetString();
    EXPECT_EQ(it->second.second, std::max<int64_t>(0, m.value.GetInt64())) << m.name.GetString();
  }
  EXPECT_GT(posts, 2000u);
}

TEST(LoadGenerator, ViralBurstConcentratesOnOneSku) {
  GeneratorSettings s;
  s.burst_every = 100;
  s.burst_length = 50;
  s.duplicate_share = s.bad_signature_share = s.malformed_share = s.schema_invalid_share = 0;
  s.shipping_share = s.stock_sync_share = s.shopify_share = 0;
  WebhookGenerator g(s);
  for (int i = 0; i < 100; ++i) g.next();
  std::map<std::string, int> skus;
  for (int i = 0; i < 50; ++i) {
    auto w = g.next();
    if (w.sku_id.size()) ++skus[w.sku_id];
  }
  int top = 0;
  for (auto& [sku, n] : skus) top = std::max(top, n);
  EXPECT_GE(top, 25);  // new orders in the burst all take the hot SKU
}

}  // namespace
}  // namespace cf

namespace cf {
namespace {

// Regression (processor_decoders fuzz target): fixed() of a huge value read
// past its buffer, and of inf wrote "inf", which is not JSON.
TEST(JsonBuilder, FixedDecimalsStayJsonForAnyDouble) {
  for (double v : {1e300, -1e300, std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN(), 7.333e18, 12.5}) {
    JsonBuilder b;
    b.begin_array().fixed(v, 2).end_array();
    rapidjson::Document d;
    d.Parse(b.str().c_str());
    ASSERT_FALSE(d.HasParseError()) << b.str();
    if (std::isfinite(v)) {
      EXPECT_DOUBLE_EQ(d[0].GetDouble(), v) << b.str();
    } else {
      EXPECT_TRUE(d[0].IsNull()) << b.str();
    }
  }
  JsonBuilder b;
  b.fixed(12.5, 2);
  EXPECT_EQ(b.str(), "12.50");
}

TEST(JsonBuilder, WritesValidJsonAndEscapesValues) {
  JsonBuilder b;
  b.begin_object()
      .key("s")
      .string("plain")
      .key("q")
      .string("a\"b\\c\n\t\x01z")
      .key("n")
      .number(-42)
      .key("t")
      .boolean(true)
      .key("x")
      .null()
      .key("a")
      .begin_array()
      .number(1)
      .string("é")
      .begin_object()
      .end_object()
      .end_array()
      .end_object();
  EXPECT_EQ(b.str(),
            R"({"s":"plain","q":"a\"b\\c\n\t\u0001z","n":-42,"t":true,"x":null,"a":[1,"é",{}]})");
  rapidjson::Document doc;
  doc.Parse(b.str().c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["q"].GetString(), "a\"b\\c\n\t\x01z");
}

}  // namespace
}  // namespace cf
