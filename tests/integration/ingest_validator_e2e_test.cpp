// A generated stream with duplicates, bad signatures, malformed JSON, schema
// violations and oversize bodies, posted over HTTP to the real ingest, through
// the real validator, on the development broker.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <set>

#include "cf/signature.h"
#include "harness.h"

namespace cf::test {
namespace {

std::unique_ptr<Process> start_ingest(const TempDir& dir, const std::string& bootstrap, int port,
                                      const std::string& log, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {bin("webhook-ingest"), "--brokers", bootstrap, "--port",
                                   std::to_string(port), "--secrets-file", dir.file("secrets.json")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = std::make_unique<Process>(argv, dir.file(log));
  EXPECT_TRUE(wait_until([&] {
    return status_of(raw_http(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200;
  }, 10000)) << p->log();
  return p;
}

std::string post(const std::string& path, const std::string& body, const std::string& extra_headers) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(IngestValidatorEndToEnd, EveryStatusAsSpecifiedAndOutputsEqualValidInputs) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  int port = free_port();
  auto ingest = start_ingest(dir, broker.bootstrap(), port, "ingest.log",
                             {"--rate-per-shop", "100000", "--burst-per-shop", "100000"});
  int metrics_port = free_port();
  Process validator({bin("validator"), "--brokers", broker.bootstrap(), "--shops-file",
                     dir.file("shops.json"), "--schema-dir", source_dir() + "/schemas",
                     "--metrics-port", std::to_string(metrics_port)},
                    dir.file("validator.log"));

  // HTTP edge cases, answered by the real server.
  EXPECT_EQ(status_of(raw_http(port, "POST /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")), 400);
  EXPECT_EQ(status_of(raw_http(port, "GET /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")), 405);
  EXPECT_EQ(status_of(raw_http(port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")), 404);
  EXPECT_EQ(status_of(raw_http(port, post("/webhooks/shipping/nobody", "{}", "X-Api-Key: k\r\n"))), 404);

  Process loadgen({bin("cf-loadgen"), "--target", "127.0.0.1:" + std::to_string(port), "--count",
                   "3000", "--rate", "3000", "--connections", "8", "--seed", "11", "--oversize",
                   "0.01", "--report", dir.file("report.jsonl")},
                  dir.file("loadgen.log"));
  ASSERT_EQ(loadgen.wait(120000), 0) << loadgen.log();

  auto report = read_report(dir.file("report.jsonl"));
  ASSERT_EQ(report.size(), 3000u);
  std::map<std::string, int> kinds;
  std::set<std::string> expected_ids;
  std::map<std::string, std::string> invalid_by_request;  // request id -> reject code
  for (const auto& r : report) {
    ++kinds[r.expect];
    int want = r.expect == "bad_signature" ? 401 : r.expect == "oversize" ? 413 : r.expect == "malformed" ? 400 : 200;
    EXPECT_EQ(r.status, want) << "seq " << r.seq << " (" << r.expect << ")";
    if (r.status != 200) continue;
    for (auto& id : r.event_ids) expected_ids.insert(id);
    if (r.expect == "invalid") invalid_by_request[r.request_id] = r.reject_code;
  }
  for (const char* kind : {"valid", "duplicate", "invalid", "bad_signature", "oversize"}) {
    EXPECT_GT(kinds[kind], 0) << "the stream should contain " << kind << " webhooks";
  }

  // The set of event ids on events.validated equals the valid distinct inputs, each once.
  std::map<std::string, int> counts;
  bool complete = wait_until([&] {
    counts = event_id_counts(broker.bootstrap(), "events.validated");
    return counts.size() >= expected_ids.size();
  }, 60000, 500);
  EXPECT_TRUE(complete) << counts.size() << " of " << expected_ids.size() << "\n" << validator.log();
  std::set<std::string> got;
  for (auto& [id, n] : counts) {
    got.insert(id);
    EXPECT_EQ(n, 1) << "event " << id << " appears " << n << " times without any crash";
  }
  EXPECT_EQ(got, expected_ids);

  // Every rejected input is on webhooks.rejected, original bytes, with its reason.
  std::map<std::string, std::string> rejected_codes;
  ASSERT_TRUE(wait_until([&] {
    rejected_codes.clear();
    for (const auto& rec : read_all(broker.bootstrap(), "webhooks.rejected")) {
      rapidjson::Document reason;
      reason.Parse(rec.headers.at("cf-reject-reason").c_str());
      EXPECT_FALSE(reason.HasParseError());
      EXPECT_TRUE(reason.HasMember("field") && reason.HasMember("rule") && reason.HasMember("detail"));
      EXPECT_FALSE(rec.value.empty());
      rejected_codes[rec.headers.at("cf-request-id")] = reason["code"].GetString();
    }
    return rejected_codes.size() >= invalid_by_request.size();
  }, 30000, 500));
  for (auto& [request_id, code] : invalid_by_request) {
    ASSERT_TRUE(rejected_codes.count(request_id)) << "request " << request_id << " not on webhooks.rejected";
    EXPECT_EQ(rejected_codes[request_id], code) << request_id;
  }
  EXPECT_EQ(rejected_codes.size(), invalid_by_request.size());
  EXPECT_EQ(scrape_metric(metrics_port, "cf_validator_duplicates_total"), kinds["duplicate"]);

  validator.signal(SIGTERM);
  EXPECT_EQ(validator.wait(30000), 0) << "graceful shutdown exits 0";
  ingest->signal(SIGTERM);
  EXPECT_EQ(ingest->wait(30000), 0);
}

TEST(IngestValidatorEndToEnd, RateLimitAnswers429WithRetryAfter) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  int port = free_port();
  auto ingest = start_ingest(dir, broker.bootstrap(), port, "ingest.log",
                             {"--rate-per-shop", "0.5", "--burst-per-shop", "2"});
  std::string body = R"({"type":1,"tts_notification_id":"n1","shop_id":"shop-7000","timestamp":1795000000,"data":{}})";
  std::string signature = hmac_sha256_hex("cf-dev-app-secret", "cf-dev-app" + body);
  std::string request = post("/webhooks/tiktok", body, "Authorization: " + signature + "\r\n");
  EXPECT_EQ(status_of(raw_http(port, request)), 200);
  EXPECT_EQ(status_of(raw_http(port, request)), 200);
  std::string limited = raw_http(port, request);
  EXPECT_EQ(status_of(limited), 429);
  EXPECT_NE(limited.find("Retry-After: 2"), std::string::npos) << limited;
  EXPECT_NE(limited.find("rate_limited"), std::string::npos);
  // Another shop has its own bucket.
  std::string other = R"({"type":1,"tts_notification_id":"n2","shop_id":"shop-7001","timestamp":1795000000,"data":{}})";
  std::string other_signature = hmac_sha256_hex("cf-dev-app-secret", "cf-dev-app" + other);
  EXPECT_EQ(status_of(raw_http(port, post("/webhooks/tiktok", other, "Authorization: " + other_signature + "\r\n"))), 200);
}

}  // namespace
}  // namespace cf::test
