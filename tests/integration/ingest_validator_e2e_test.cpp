// A generated stream with duplicates, bad signatures, malformed JSON, schema
// violations and oversize bodies, posted over HTTP to the real ingest, through
// channel-api (TikTok order notifications as TikTok sends them, their details
// fetched from the API stub) and the real validator, on the development broker.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "cf/signature.h"
#include "harness.h"

namespace cf::test {
namespace {

std::unique_ptr<Process> start_ingest(const TempDir& dir, const std::string& bootstrap, int port,
                                      const std::string& log, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {bin("webhook-ingest"),
                                   "--brokers",
                                   bootstrap,
                                   "--port",
                                   std::to_string(port),
                                   "--secrets-file",
                                   dir.file("secrets.json")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = std::make_unique<Process>(argv, dir.file(log));
  EXPECT_TRUE(wait_until(
      [&] {
        return status_of(raw_http(
                   port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200;
      },
      10000))
      << p->log();
  return p;
}

// A connected socket to the ingest (or -1), for holding connections open.
int open_connection(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whatever the peer sent within `timeout_ms` (a refused connection's 503).
std::string read_available(int fd, int timeout_ms) {
  if (fd < 0) return {};
  timeval timeout{0, timeout_ms * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char buf[1024];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
}

std::string post(const std::string& path, const std::string& body,
                 const std::string& extra_headers) {
  return "POST " + path +
         " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n" +
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
  Process validator(
      {bin("validator"), "--brokers", broker.bootstrap(), "--shops-file", dir.file("shops.json"),
       "--schema-dir", source_dir() + "/schemas", "--state-dir", dir.file("validator-state"),
       "--metrics-port", std::to_string(metrics_port)},
      dir.file("validator.log"));
  ApiStub stub(dir);
  auto channel_args = worker_command("channel-api", broker.bootstrap(), dir, dir.file("ch-state"));
  channel_args.insert(channel_args.end(), {"--tiktok-api-url", stub.url()});
  Process channel(channel_args, dir.file("channel-api.log"));

  // HTTP edge cases, answered by the real server.
  EXPECT_EQ(status_of(raw_http(
                port, "POST /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")),
            400);
  EXPECT_EQ(status_of(raw_http(
                port, "GET /webhooks/tiktok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            405);
  EXPECT_EQ(status_of(raw_http(port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            404);
  EXPECT_EQ(status_of(raw_http(
                port, post("/webhooks/shipping/nobody", "{}", "aftership-hmac-sha256: AAAA\r\n"))),
            404);

  Process loadgen({bin("cf-loadgen"), "--target", "127.0.0.1:" + std::to_string(port), "--count",
                   "3000", "--rate", "3000", "--connections", "8", "--seed", "11", "--oversize",
                   "0.01", "--report", dir.file("report.jsonl"), "--tiktok-api", stub.address()},
                  dir.file("loadgen.log"));
  ASSERT_EQ(loadgen.wait(120000), 0) << loadgen.log();

  auto report = read_report(dir.file("report.jsonl"));
  // One line per request; the generator's stock counts (about 10%) are not
  // requests (TikTok sends none: channel-api's sync reads the stub's stock).
  ASSERT_GT(report.size(), 2500u);
  ASSERT_LT(report.size(), 3000u);
  std::map<std::string, int> kinds;
  std::set<std::string> expected_ids;
  std::map<std::string, std::string> invalid_by_request;  // request id -> reject code
  for (const auto& r : report) {
    ++kinds[r.expect];
    int want = r.expect == "bad_signature" ? 401
               : r.expect == "oversize"    ? 413
               : r.expect == "malformed"   ? 400
                                           : 200;
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
  bool complete = wait_until(
      [&] {
        counts = event_id_counts(broker.bootstrap(), "events.validated");
        return counts.size() >= expected_ids.size();
      },
      60000, 500);
  EXPECT_TRUE(complete) << counts.size() << " of " << expected_ids.size() << "\n"
                        << validator.log() << channel.log();
  std::set<std::string> got;
  for (auto& [id, n] : counts) {
    got.insert(id);
    EXPECT_EQ(n, 1) << "event " << id << " appears " << n << " times without any crash";
  }
  EXPECT_EQ(got, expected_ids);

  // Every rejected input is on webhooks.rejected, original bytes, with its reason.
  std::map<std::string, std::string> rejected_codes;
  ASSERT_TRUE(wait_until(
      [&] {
        rejected_codes.clear();
        for (const auto& rec : read_all(broker.bootstrap(), "webhooks.rejected")) {
          rapidjson::Document reason;
          reason.Parse(rec.headers.at("cf-reject-reason").c_str());
          EXPECT_FALSE(reason.HasParseError());
          EXPECT_TRUE(reason.HasMember("field") && reason.HasMember("rule") &&
                      reason.HasMember("detail"));
          EXPECT_FALSE(rec.value.empty());
          rejected_codes[rec.headers.at("cf-request-id")] = reason["code"].GetString();
        }
        return rejected_codes.size() >= invalid_by_request.size();
      },
      30000, 500));
  for (auto& [request_id, code] : invalid_by_request) {
    ASSERT_TRUE(rejected_codes.count(request_id))
        << "request " << request_id << " not on webhooks.rejected";
    EXPECT_EQ(rejected_codes[request_id], code) << request_id;
  }
  EXPECT_EQ(rejected_codes.size(), invalid_by_request.size());
  EXPECT_EQ(scrape_metric(metrics_port, "cf_validator_duplicates_total"), kinds["duplicate"]);
  // Every order came from the API, signed and authorised, and in batches.
  rapidjson::Document stats;
  stats.Parse(stub.get("/tiktok/stats").c_str());
  ASSERT_TRUE(stats.IsObject());
  EXPECT_GT(stats["orders_returned"].GetInt64(), 0);
  EXPECT_EQ(stats["sign_failures"].GetInt64(), 0);
  EXPECT_EQ(stats["token_failures"].GetInt64(), 0);
  EXPECT_LT(stats["detail_calls"].GetInt64(), stats["ids_requested"].GetInt64())
      << "notifications of one shop share calls";
  EXPECT_LE(stats["max_ids_per_call"].GetInt64(), 50);

  channel.signal(SIGTERM);
  EXPECT_EQ(channel.wait(30000), 0) << channel.log();
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
  std::string body =
      R"({"type":1,"tts_notification_id":"n1","shop_id":"shop-7000","timestamp":1795000000,"data":{}})";
  std::string signature = hmac_sha256_hex("cf-dev-app-secret", "cf-dev-app" + body);
  std::string request = post("/webhooks/tiktok", body, "Authorization: " + signature + "\r\n");
  EXPECT_EQ(status_of(raw_http(port, request)), 200);
  EXPECT_EQ(status_of(raw_http(port, request)), 200);
  std::string limited = raw_http(port, request);
  EXPECT_EQ(status_of(limited), 429);
  EXPECT_NE(limited.find("Retry-After: 2"), std::string::npos) << limited;
  EXPECT_NE(limited.find("rate_limited"), std::string::npos);
  // Another shop has its own bucket.
  std::string other =
      R"({"type":1,"tts_notification_id":"n2","shop_id":"shop-7001","timestamp":1795000000,"data":{}})";
  std::string other_signature = hmac_sha256_hex("cf-dev-app-secret", "cf-dev-app" + other);
  EXPECT_EQ(status_of(raw_http(port, post("/webhooks/tiktok", other,
                                          "Authorization: " + other_signature + "\r\n"))),
            200);
}

// A flood of hostile requests (deep, invalid encoding, oversize, unsigned,
// forged, and more connections than the cap) against the real binary: every
// one gets a 4xx/503, the ingest keeps answering /healthz, and a signed
// request still goes through. Regression: one unsigned body of 200 KB of '['
// killed the process.
TEST(IngestValidatorEndToEnd, HostileFloodLeavesTheIngestServing) {
  TempDir dir;
  write_reference_files(dir);
  DevBroker broker(dir);
  int port = free_port();
  auto ingest = start_ingest(dir, broker.bootstrap(), port, "ingest.log",
                             {"--max-connections", "64", "--auth-failure-burst", "50",
                              "--auth-failures-per-client", "1", "--max-body-bytes", "262144"});
  auto signed_tiktok = [](const std::string& body) {
    return post(
        "/webhooks/tiktok", body,
        "Authorization: " + hmac_sha256_hex("cf-dev-app-secret", "cf-dev-app" + body) + "\r\n");
  };
  const std::string deep(200 * 1024, '[');
  const std::string bad_utf8 =
      R"({"shop_id":"shop-7000","x":")" + std::string("\xff", 1) + std::string(1000, 'a') + R"("})";
  std::map<int, int> statuses;
  for (int round = 0; round < 40; ++round) {
    ++statuses[status_of(raw_http(port, post("/webhooks/tiktok", deep, "")))];
    ++statuses[status_of(
        raw_http(port, post("/webhooks/shopify", deep, "X-Shopify-Hmac-SHA256: AAAA\r\n")))];
    ++statuses[status_of(raw_http(
        port, post("/webhooks/shipping/aftership", deep, "aftership-hmac-sha256: AAAA\r\n")))];
    ++statuses[status_of(raw_http(port, signed_tiktok(deep)))];
    ++statuses[status_of(raw_http(port, signed_tiktok(bad_utf8)))];
    ++statuses[status_of(
        raw_http(port, post("/webhooks/tiktok", std::string(300 * 1024, 'x'), "")))];
  }
  for (auto& [status, n] : statuses) {
    EXPECT_TRUE(status == 400 || status == 401 || status == 413 || status == 429)
        << n << " answered " << status;
  }
  EXPECT_GT(statuses[400], 0);
  EXPECT_GT(statuses[401], 0);
  EXPECT_GT(statuses[413], 0);
  EXPECT_GT(statuses[429], 0) << "forgeries past the burst are refused before any HMAC";
  EXPECT_GE(scrape_metric(port, "cf_ingest_responses_total{status=\"429\"}"), 1);

  // More connections than the cap: the extra ones get 503 and are closed.
  std::vector<int> held;
  for (int i = 0; i < 100; ++i) held.push_back(open_connection(port));
  int refused = 0;
  for (int fd : held) {
    std::string answer = read_available(fd, 200);
    refused += status_of(answer) == 503;
  }
  EXPECT_GE(refused, 30) << "connections beyond --max-connections 64 are answered 503";
  for (int fd : held) close(fd);

  EXPECT_TRUE(ingest->running());
  EXPECT_TRUE(wait_until(
      [&] {
        return status_of(raw_http(
                   port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200;
      },
      10000));
  // Legitimate traffic from another client still passes; from the flooding
  // one it is refused only until its bucket refills.
  std::string body =
      R"({"type":1,"tts_notification_id":"n-ok","shop_id":"shop-7000","timestamp":1795000000,"data":{}})";
  EXPECT_TRUE(wait_until([&] { return status_of(raw_http(port, signed_tiktok(body))) == 200; },
                         10000, 200));
  ingest->signal(SIGTERM);
  EXPECT_EQ(ingest->wait(30000), 0);
}

}  // namespace
}  // namespace cf::test
