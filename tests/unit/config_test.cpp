#include "cf/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "cf/errors.h"
#include "cf/kafka_handles.h"

namespace cf {
namespace {

struct Parsed {
  WorkerSettings settings;
  std::string extra = "default";
};

bool parse(Parsed& p, std::vector<const char*> args) {
  OptionsParser options("test", "test");
  options.add_worker_options(p.settings);
  options.add()("extra", boost::program_options::value(&p.extra)->default_value("default"), "x");
  args.insert(args.begin(), "test");
  return options.parse(static_cast<int>(args.size()), args.data());
}

class ConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("CF_BROKERS");
    unsetenv("CF_METRICS_PORT");
    unsetenv("CF_EXTRA");
  }
};

TEST_F(ConfigTest, FlagsFillTheSettings) {
  Parsed p;
  ASSERT_TRUE(parse(p, {"--brokers", "k1:9092,k2:9092", "--group", "g", "-X", "linger.ms=7", "-X",
                        "acks=all", "--max-retries", "3"}));
  EXPECT_EQ(p.settings.kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(p.settings.group, "g");
  EXPECT_EQ(p.settings.max_retries, 3);
  ASSERT_EQ(p.settings.kafka.properties.size(), 2u);
  EXPECT_EQ(p.settings.kafka.properties[0], "linger.ms=7");
}

TEST_F(ConfigTest, PrecedenceIsFlagThenEnvironmentThenFile) {
  std::string file = ::testing::TempDir() + "/cf-config-test.ini";
  std::ofstream(file) << "brokers=from-file:1\nmetrics-port=1111\nextra=file\n";
  setenv("CF_METRICS_PORT", "2222", 1);
  setenv("CF_EXTRA", "env", 1);
  Parsed p;
  ASSERT_TRUE(parse(p, {"--config", file.c_str(), "--extra", "flag"}));
  EXPECT_EQ(p.settings.kafka.brokers, "from-file:1");
  EXPECT_EQ(p.settings.metrics_port, 2222);
  EXPECT_EQ(p.extra, "flag");
}

TEST_F(ConfigTest, ASecondParseStartsFromDefaults) {
  // The config fuzz target reuses one parser for every input.
  Parsed p;
  OptionsParser options("test", "test");
  options.add_worker_options(p.settings);
  std::vector<const char*> first{"test", "--group", "g1", "--max-retries", "3"};
  ASSERT_TRUE(options.parse(static_cast<int>(first.size()), first.data()));
  EXPECT_EQ(p.settings.group, "g1");
  std::vector<const char*> second{"test", "--group", "g2"};
  ASSERT_TRUE(options.parse(static_cast<int>(second.size()), second.data()));
  EXPECT_EQ(p.settings.group, "g2");
  EXPECT_EQ(p.settings.max_retries, WorkerSettings{}.max_retries);
}

TEST_F(ConfigTest, ErrorsNameTheOption) {
  Parsed p;
  try {
    parse(p, {"--max-retries", "many"});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("max-retries"), std::string::npos) << e.what();
  }
  try {
    parse(p, {"--no-such-option"});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-option"), std::string::npos) << e.what();
  }
  Parsed q;
  EXPECT_THROW(parse(q, {"--config", "/nonexistent/cf.ini"}), ConfigError);
}

TEST_F(ConfigTest, HelpReturnsFalse) {
  Parsed p;
  testing::internal::CaptureStdout();
  EXPECT_FALSE(parse(p, {"--help"}));
  std::string help = testing::internal::GetCapturedStdout();
  EXPECT_NE(help.find("--brokers"), std::string::npos);
  EXPECT_NE(help.find("-X [ --kafka-property ]"), std::string::npos);
}

TEST_F(ConfigTest, KafkaSettingsReachLibrdkafkaAndBadOnesAreNamed) {
  KafkaSettings s;
  s.brokers = "b:1";
  s.properties = {"linger.ms=9"};
  ConfHandle conf(rd_kafka_conf_new());
  apply_kafka_settings(conf.get(), s);
  char value[64];
  size_t size = sizeof value;
  ASSERT_EQ(rd_kafka_conf_get(conf.get(), "linger.ms", value, &size), RD_KAFKA_CONF_OK);
  EXPECT_STREQ(value, "9");
  size = sizeof value;
  ASSERT_EQ(rd_kafka_conf_get(conf.get(), "fetch.wait.max.ms", value, &size), RD_KAFKA_CONF_OK);
  EXPECT_STREQ(value, "5");  // development profile

  s.properties = {"no.such.property=1"};
  try {
    apply_kafka_settings(conf.get(), s);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.property"), std::string::npos);
  }
  s.properties = {"sasl.password"};
  try {
    apply_kafka_settings(conf.get(), s);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key=value"), std::string::npos);
  }
  s.properties = {};
  s.profile = "staging";
  EXPECT_THROW(apply_kafka_settings(conf.get(), s), ConfigError);
  s.profile = "dev";
  s.brokers = "";
  EXPECT_THROW(apply_kafka_settings(conf.get(), s), ConfigError);
}

// Regression: -X sasl.password=... was accepted and visible in the process list.
TEST_F(ConfigTest, SecretsOnTheCommandLineAreRefusedAndPointToThePropertiesFile) {
  for (const char* assignment : {"sasl.password=hunter2", "ssl.key.password=x",
                                 "SASL.OAUTHBEARER.CLIENT.SECRET=s3cr3t-value",
                                 "sasl.oauthbearer.config=principal=a", "ssl.key.pem=-----BEGIN"}) {
    Parsed p;
    try {
      parse(p, {"-X", assignment});
      ADD_FAILURE() << assignment << " was accepted";
    } catch (const ConfigError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("--kafka-properties-file"), std::string::npos) << what;
      EXPECT_EQ(what.find(std::string(assignment).substr(std::string(assignment).find('=') + 1)),
                std::string::npos)
          << "the value must not be echoed: " << what;
    }
  }
  Parsed ok;
  EXPECT_TRUE(parse(ok, {"-X", "ssl.key.location=/etc/cf/client.key", "-X", "sasl.username=cf"}));
  // The properties file is the place for them.
  const std::string path = ::testing::TempDir() + "/cf-kafka.properties";
  std::ofstream(path) << "sasl.password=hunter2\n";
  ConfHandle conf(rd_kafka_conf_new());
  KafkaSettings s;
  s.properties_file = path;
  EXPECT_NO_THROW(apply_kafka_settings(conf.get(), s));
}

TEST_F(ConfigTest, SecretKeysAreRecognised) {
  EXPECT_TRUE(is_secret_key("sasl.password"));
  EXPECT_TRUE(is_secret_key("ssl.key.password"));
  EXPECT_TRUE(is_secret_key("SASL.OAUTHBEARER.CLIENT.SECRET"));
  EXPECT_FALSE(is_secret_key("bootstrap.servers"));
  EXPECT_FALSE(is_secret_key("linger.ms"));
}

TEST_F(ConfigTest, SplitPropertyKeepsEqualsInValue) {
  auto [k, v] = split_property("sasl.jaas.config=a=b");
  EXPECT_EQ(k, "sasl.jaas.config");
  EXPECT_EQ(v, "a=b");
  EXPECT_THROW(split_property("=x"), ConfigError);
}

}  // namespace
}  // namespace cf
