// The whole pipeline into PostgreSQL on real binaries: generated webhooks ->
// validator -> reconciler -> inventory-velocity -> stockout-predictor ->
// postgres-sink. The test computes its own ground truth from the generated
// webhooks (orders and revenue per creator, stock per creator and SKU) and
// checks the tables match it exactly: after a clean run, after kill -9 of the
// sink mid-stream, after a PostgreSQL restart mid-stream, with duplicates and
// poison records injected, and across a broker outage.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "cf/directory.h"
#include "cf/event_store.h"
#include "cf/migrations.h"
#include "cf/producer.h"
#include "cf/sink_store.h"
#include "cf/webhook_generator.h"
#include "harness.h"
#include "pipeline_truth.h"

namespace cf::test {
namespace {

constexpr int kWebhooks = 12000;

GeneratorSettings generator_settings(int64_t start_time_s) {
  return pipeline_generator_settings(start_time_s);
}
Truth ground_truth(const GeneratorSettings& settings) {
  return cf::test::ground_truth(settings, kWebhooks);
}

/// What feeds the pipeline: the load generator in channel-api's place
/// (orders pre-enriched, the sync's counts written as it writes them), or
/// what the platforms send, through channel-api and the API stub.
enum class Traffic { kStandIn, kRealShaped };

struct Pipeline {
  TempDir dir;
  TempPostgres postgres{dir};
  DevBroker broker{dir};
  std::unique_ptr<ApiStub> stub;
  std::vector<std::unique_ptr<Process>> workers;
  std::unique_ptr<Process> sink;
  int sink_port = 0;
  int channel_port = 0;

  explicit Pipeline(Traffic traffic = Traffic::kStandIn) {
    write_reference_files(dir);
    std::ofstream(dir.file("pg.url")) << postgres.url();
    for (const char* name :
         {"validator", "reconciler", "inventory-velocity", "stockout-predictor"}) {
      workers.push_back(std::make_unique<Process>(
          worker_command(name, broker.bootstrap(), dir, dir.file("state"), "-1"),
          dir.file(std::string(name) + ".log")));
    }
    if (traffic == Traffic::kRealShaped) {
      stub = std::make_unique<ApiStub>(dir);
      channel_port = free_port();
      auto args = worker_command("channel-api", broker.bootstrap(), dir, dir.file("state"),
                                 std::to_string(channel_port));
      args.insert(args.end(), {"--tiktok-api-url", stub->url(), "--shopify-api-url",
                               stub->url() + "/shopify/{shop}"});
      workers.push_back(std::make_unique<Process>(args, dir.file("channel-api.log")));
    }
    start_sink("sink-1.log");
  }
  ~Pipeline() {
    for (auto& w : workers) w->signal(SIGTERM);
    if (sink) sink->signal(SIGTERM);
    for (auto& w : workers) w->wait(30000);
    if (sink) sink->wait(30000);
  }
  void start_sink(const std::string& log) {
    sink_port = free_port();
    sink = std::make_unique<Process>(
        std::vector<std::string>{bin("postgres-sink"), "--brokers", broker.bootstrap(),
                                 "--postgres-url-file", dir.file("pg.url"), "--migrations-dir",
                                 source_dir() + "/migrations", "--metrics-port",
                                 std::to_string(sink_port), "--batch-max-records", "2000"},
        dir.file(log));
  }
  std::unique_ptr<Process> feed(const GeneratorSettings& g) {
    auto args = std::vector<std::string>{bin("cf-loadgen"),  "--to-kafka", "--brokers",
                                         broker.bootstrap(), "--rate",     "3000"};
    if (stub) args.insert(args.end(), {"--raw-tiktok", "--tiktok-api", stub->address()});
    auto more = loadgen_args(g, kWebhooks);
    args.insert(args.end(), more.begin(), more.end());
    return std::make_unique<Process>(args, dir.file("feed.log"));
  }
  /// Real-shaped traffic carries no stock counts: once the wall clock is past
  /// the last event's second, an operator's sync reads both platforms' stock.
  void final_sync(const GeneratorSettings& g) {
    const int64_t last_event_s =
        g.start_time_s + static_cast<int64_t>(kWebhooks * g.event_seconds_per_webhook);
    ASSERT_TRUE(wait_until([&] { return std::time(nullptr) > last_event_s + 1; }, 30000, 100));
    ASSERT_TRUE(wait_until(
        [&] { return scrape_metric(channel_port, "cf_assigned_partitions") > 0; }, 30000));
    ASSERT_EQ(Process({bin("cf-channel-sync"), "--brokers", broker.bootstrap()},
                      dir.file("sync-command.log"))
                  .wait(30000),
              0);
  }
  void tick() {
    Process({bin("cf-ticker"), "--brokers", broker.bootstrap(), "--topic", "inventory.events",
             "--count", "1"},
            dir.file("ticker.log"))
        .wait(30000);
  }
};

// Reads the tables and compares them with the truth; `why` says what differs.
bool tables_match(const std::string& url, const Truth& truth, std::string& why) {
  TableCheck check = check_tables(url, truth);
  why = check.first_difference;
  return check.matches();
}

void expect_converges(Pipeline& p, const Truth& truth) {
  std::string why;
  bool ok = wait_until(
      [&] {
        p.tick();
        return tables_match(p.postgres.url(), truth, why);
      },
      150000, 2000);
  std::string log = p.sink->log();
  EXPECT_TRUE(ok) << why << "\nsink running: " << p.sink->running() << "\nsink log (tail):\n"
                  << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
}

// Fencing: two sink instances of one group, as when one is paused past the
// session timeout (or cut off from the broker) and its partitions move on.
// The replaced one comes back holding a batch the new owner has already
// written: its write is refused whole, so the positions never move back and
// counters such as dead_letter_counts are not doubled.
TEST(PostgresSink, AReplacedInstanceCannotWriteAStaleBatch) {
  TempDir dir;
  TempPostgres postgres(dir);
  {
    pqxx::connection c(postgres.url());
    apply_migrations(c, source_dir() + "/migrations");
  }
  auto batch_of = [](int64_t first, int64_t next) {
    SinkBatch b;
    b.first_offsets[{"orders.events", 0}] = first;
    b.next_offsets[{"orders.events", 0}] = next;
    b.dead_letters[{"dlq.postgres-sink", "projection_error"}] = 1;
    b.records = static_cast<size_t>(next - first);
    return b;
  };
  SinkStore zombie(postgres.url(), "cf.postgres-sink");
  SinkStore owner(postgres.url(), "cf.postgres-sink");
  zombie.write(batch_of(0, 100));   // before the pause
  owner.write(batch_of(100, 250));  // the new owner resumed from PostgreSQL's position
  // The paused instance wakes up with the batch it read before losing the partition.
  EXPECT_THROW(zombie.write(batch_of(100, 180)), BatchFenced);
  auto stored = owner.stored_offsets();
  EXPECT_EQ((stored[{"orders.events", 0}]), 250) << "the position moved back";
  pqxx::connection c(postgres.url());
  pqxx::work t(c);
  EXPECT_EQ(t.exec1("SELECT records FROM dead_letter_counts WHERE reason = 'projection_error'")[0]
                .as<int64_t>(),
            2)
      << "a stale batch's counters were applied";
  // The owner goes on as usual; a batch starting exactly at the position is fine.
  t.abort();
  EXPECT_NO_THROW(owner.write(batch_of(250, 300)));
  EXPECT_EQ((owner.stored_offsets()[{"orders.events", 0}]), 300);
}

TEST(PostgresSink, TablesEqualTheGroundTruth) {
  Pipeline p;
  auto settings = generator_settings(std::time(nullptr));
  Truth truth = ground_truth(settings);
  ASSERT_GT(truth.orders.size(), 10u);
  auto feed = p.feed(settings);
  ASSERT_EQ(feed->wait(120000), 0) << feed->log();
  expect_converges(p, truth);
  // The sink runs on the runtime's batch mode: it sends heartbeats like every worker.
  EXPECT_TRUE(wait_until(
      [&] {
        for (const auto& r : read_all(p.broker.bootstrap(), "system.metrics")) {
          if (r.key == "postgres-sink" && r.value.find("cf_batches_total") != std::string::npos)
            return true;
        }
        return false;
      },
      20000, 500));
  // Migrations are idempotent: a second sink start applies none.
  EXPECT_NE(p.sink->log().find("schema up to date (4 migration(s) applied now)"),
            std::string::npos);
  Process again({bin("postgres-sink"), "--postgres-url-file", p.dir.file("pg.url"),
                 "--migrations-dir", source_dir() + "/migrations", "--migrate-only"},
                p.dir.file("migrate.log"));
  EXPECT_EQ(again.wait(30000), 0);
  EXPECT_NE(again.log().find("applied 0 migration(s)"), std::string::npos) << again.log();
}

// What the platforms send, end to end: TikTok notifications with only id,
// status and times, enriched by channel-api from the API stub's order
// details, and stock known only through one scheduled-sync round of both
// platforms. The read models equal the same ground truth.
TEST(PostgresSink, RealShapedTrafficThroughChannelApiEqualsTheGroundTruth) {
  Pipeline p(Traffic::kRealShaped);
  auto settings = generator_settings(std::time(nullptr));
  Truth truth = ground_truth(settings);
  auto feed = p.feed(settings);
  ASSERT_EQ(feed->wait(120000), 0) << feed->log();
  p.final_sync(settings);
  expect_converges(p, truth);
  EXPECT_GT(scrape_metric(p.channel_port, "cf_channel_api_sync_counts_total"), 100);
}

TEST(PostgresSink, KillNineMidStreamThenRestart) {
  Pipeline p;
  auto settings = generator_settings(std::time(nullptr));
  Truth truth = ground_truth(settings);
  auto feed = p.feed(settings);
  ASSERT_TRUE(
      wait_until([&] { return scrape_metric(p.sink_port, "cf_batches_total") >= 3; }, 60000))
      << p.sink->log();
  p.sink->kill9();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  p.start_sink("sink-2.log");
  ASSERT_EQ(feed->wait(120000), 0) << feed->log();
  expect_converges(p, truth);
}

TEST(PostgresSink, PostgresRestartMidStream) {
  Pipeline p;
  auto settings = generator_settings(std::time(nullptr));
  Truth truth = ground_truth(settings);
  auto feed = p.feed(settings);
  ASSERT_TRUE(
      wait_until([&] { return scrape_metric(p.sink_port, "cf_batches_total") >= 3; }, 60000))
      << p.sink->log();
  p.postgres.stop();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  p.postgres.start();
  ASSERT_EQ(feed->wait(120000), 0) << feed->log();
  expect_converges(p, truth);
  EXPECT_GT(scrape_metric(p.sink_port, "cf_sink_connection_retries_total"), 0)
      << "the outage was noticed";
  EXPECT_EQ(scrape_metric(p.sink_port, "cf_dead_letters_total"), -1)
      << "a lost connection is never dead-lettered";
}

TEST(PostgresSink, DuplicatesAndPoisonRecords) {
  Pipeline p;
  auto settings = generator_settings(std::time(nullptr));
  Truth truth = ground_truth(settings);
  auto feed = p.feed(settings);
  ASSERT_EQ(feed->wait(120000), 0) << feed->log();
  expect_converges(p, truth);
  // Re-send 500 resolved events (as a processor does after a crash) and two
  // poison records: one the sink cannot read, one PostgreSQL refuses.
  struct Listener : DeliveryListener {
    void on_delivery(rd_kafka_resp_err_t, void*) override {}
  } listener;
  KafkaSettings kafka;
  kafka.brokers = p.broker.bootstrap();
  Producer producer(kafka, "test", &listener);
  auto events = read_all(p.broker.bootstrap(), "orders.events");
  ASSERT_GT(events.size(), 500u);
  for (size_t i = 0; i < 500; ++i)
    producer.produce({"orders.events", events[i].key, events[i].value}, nullptr);
  size_t status_event = 0;
  while (events[status_event].value.find("\"total_minor\":") == std::string::npos) ++status_event;
  std::string refused = events[status_event].value;
  // Same shape, a fresh id, and a total PostgreSQL cannot take as bigint.
  refused.replace(refused.find("\"event_id\":\"") + 12, 36, "0aaaaaaa-0000-8000-8000-000000000000");
  auto total = refused.find("\"total_minor\":");
  refused.replace(total, refused.find(',', total) - total, "\"total_minor\":\"lots\"");
  producer.produce({"orders.events", events[0].key, refused}, nullptr);
  producer.produce(
      {"orders.events", events[0].key, "{\"event_type\":\"order.status_changed\",\"oops\":true}"},
      nullptr);
  ASSERT_EQ(producer.flush(10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::vector<Record> dead;
  ASSERT_TRUE(wait_until(
      [&] { return (dead = read_all(p.broker.bootstrap(), "dlq.postgres-sink")).size() >= 2; },
      60000, 1000))
      << p.sink->log();
  EXPECT_EQ(dead.size(), 2u);
  std::set<std::string> classes;
  for (auto& d : dead) classes.insert(d.headers["cf-dlq-error-class"]);
  EXPECT_EQ(classes, (std::set<std::string>{"projection_error", "postgres_rejected"}));
  expect_converges(p, truth);  // nothing doubled, the refused record left no row

  // Re-drive the dead letters to their source (as after a fix): still poison,
  // so they come back to the dead-letter topic; nothing else changes.
  Process dry({bin("cf-recover"), "redrive", "--brokers", p.broker.bootstrap(), "--dlq-topic",
               "dlq.postgres-sink"},
              p.dir.file("redrive-dry.log"));
  ASSERT_EQ(dry.wait(60000), 0) << dry.log();
  EXPECT_NE(dry.log().find("-> orders.events: 2"), std::string::npos) << dry.log();
  Process redrive({bin("cf-recover"), "redrive", "--brokers", p.broker.bootstrap(), "--dlq-topic",
                   "dlq.postgres-sink", "--apply"},
                  p.dir.file("redrive.log"));
  ASSERT_EQ(redrive.wait(60000), 0) << redrive.log();
  EXPECT_TRUE(
      wait_until([&] { return read_all(p.broker.bootstrap(), "dlq.postgres-sink").size() == 4; },
                 60000, 1000));
  auto redriven = read_all(p.broker.bootstrap(), "orders.events");
  size_t marked = 0;
  for (auto& r : redriven) marked += r.headers.count("cf-redriven-from");
  EXPECT_EQ(marked, 2u);
  expect_converges(p, truth);
}

TEST(PostgresSink, BrokerOutageMidStream) {
  Pipeline p;
  auto settings = generator_settings(std::time(nullptr));
  Truth truth = ground_truth(settings);
  auto feed = p.feed(settings);
  ASSERT_TRUE(
      wait_until([&] { return scrape_metric(p.sink_port, "cf_batches_total") >= 3; }, 60000));
  p.broker.command("down all");
  std::this_thread::sleep_for(std::chrono::seconds(4));
  p.broker.command("up all");
  ASSERT_EQ(feed->wait(180000), 0) << feed->log();
  expect_converges(p, truth);
}

}  // namespace
}  // namespace cf::test

namespace cf::test {
namespace {

std::string run_tool(const std::vector<std::string>& argv, const TempDir& dir,
                     const std::string& log, int expect_code = 0) {
  Process p(argv, dir.file(log));
  auto code = p.wait(120000);
  EXPECT_EQ(code, expect_code) << p.log();
  return p.log();
}

TEST(PostgresSink, RecoveryToolsKeepTheTablesExact) {
  Pipeline p;
  auto settings = generator_settings(std::time(nullptr));
  Truth truth = ground_truth(settings);
  auto feed = p.feed(settings);
  ASSERT_EQ(feed->wait(120000), 0) << feed->log();
  expect_converges(p, truth);
  const std::string pg = p.dir.file("pg.url");

  // Rebuild from the event store: the checksums of the rebuilt tables equal the live ones.
  std::string out = run_tool({bin("cf-recover"), "rebuild-read-models", "--postgres-url-file", pg},
                             p.dir, "rebuild.log");
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n') > 0, true);
  size_t equal = 0;
  for (size_t at = out.find("EQUAL"); at != std::string::npos; at = out.find("EQUAL", at + 1))
    ++equal;
  // orders, creator_daily_metrics, sync_status, creator_daily_revenue, order_refunds
  EXPECT_EQ(equal, 5u) << out;
  EXPECT_NE(out.find("order_refunds"), std::string::npos) << out;
  EXPECT_EQ(out.find("DIFFERENT"), std::string::npos) << out;
  {
    // A damaged read model: the rebuild reports it (exit 3) and --apply
    // restores it from the event store with the live path's statements.
    pqxx::connection damage(p.postgres.url());
    pqxx::work t(damage);
    t.exec(
        "UPDATE creator_daily_metrics SET revenue_minor = revenue_minor + 1 WHERE (creator_id, "
        "day) = "
        "(SELECT creator_id, day FROM creator_daily_metrics ORDER BY creator_id, day LIMIT 1)");
    t.exec(
        "DELETE FROM orders WHERE (creator_id, aggregate_id) = "
        "(SELECT creator_id, aggregate_id FROM orders ORDER BY creator_id, aggregate_id LIMIT 1)");
    t.commit();
  }
  out = run_tool({bin("cf-recover"), "rebuild-read-models", "--postgres-url-file", pg}, p.dir,
                 "rebuild-damaged.log", 3);
  size_t different = 0;
  for (size_t at = out.find("DIFFERENT"); at != std::string::npos;
       at = out.find("DIFFERENT", at + 1))
    ++different;
  EXPECT_EQ(different, 2u) << out;  // orders and creator_daily_metrics; the others are intact
  run_tool({bin("cf-recover"), "rebuild-read-models", "--postgres-url-file", pg, "--apply"}, p.dir,
           "rebuild-apply.log");
  out = run_tool({bin("cf-recover"), "rebuild-read-models", "--postgres-url-file", pg}, p.dir,
                 "rebuild-after.log");
  EXPECT_EQ(out.find("DIFFERENT"), std::string::npos) << out;
  expect_converges(p, truth);

  // The event store CLI: one order's history, and the whole store page by page.
  pqxx::connection c(p.postgres.url());
  std::string order;
  int64_t versions = 0, total = 0;
  {
    pqxx::work t(c);
    auto r = t.exec1(
        "SELECT aggregate_id, count(*) FROM events WHERE event_type = 'order.status_changed' "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1");
    order = r[0].as<std::string>();
    versions = r[1].as<int64_t>();
    total = t.exec1("SELECT count(*) FROM events")[0].as<int64_t>();
  }
  out = run_tool({bin("cf-events"), "aggregate", "--id", order, "--postgres-url-file", pg}, p.dir,
                 "aggregate.log");
  size_t lines = 0;
  for (size_t at = out.find("\"aggregate_id\":\"" + order + "\""); at != std::string::npos;
       at = out.find("\"aggregate_id\":\"" + order + "\"", at + 1)) {
    ++lines;
  }
  EXPECT_GE(static_cast<int64_t>(lines), versions);
  pqxx::connection c2(p.postgres.url());
  EventStore store(c2);
  EventCursor cursor;
  int64_t streamed = 0;
  for (;;) {
    auto page = store.stream(cursor, 777);
    streamed += static_cast<int64_t>(page.size());
    if (page.size() < 777) break;
  }
  EXPECT_EQ(streamed, total) << "the cursor visits every event once";
  out = run_tool({bin("cf-events"), "retention", "--before", "2000-01-01T00:00:00Z",
                  "--postgres-url-file", pg},
                 p.dir, "retention.log");
  EXPECT_NE(out.find("0 partition(s)"), std::string::npos) << out;

  // Re-publish the event store's payments to their topic: same ids, absorbed.
  int64_t payments = 0;
  {
    pqxx::work t(c);
    payments =
        t.exec1("SELECT count(*) FROM events WHERE event_type = 'order.payment_completed'")[0]
            .as<int64_t>();
  }
  out = run_tool(
      {bin("cf-recover"), "republish", "--brokers", p.broker.bootstrap(), "--postgres-url-file", pg,
       "--to-topic", "orders.events", "--event-type", "order.payment_completed", "--apply"},
      p.dir, "republish.log");
  EXPECT_NE(out.find(std::to_string(payments) + " written"), std::string::npos) << out;
  size_t republished = 0;
  for (auto& r : read_all(p.broker.bootstrap(), "orders.events"))
    republished += r.headers.count("cf-republished-from");
  EXPECT_EQ(static_cast<int64_t>(republished), payments);
  expect_converges(p, truth);

  // Replay one creator's resolved events onto their own topic: duplicates the sink absorbs.
  out = run_tool({bin("cf-recover"), "replay", "--brokers", p.broker.bootstrap(), "--from-topic",
                  "orders.events", "--to-topic", "orders.events", "--creator", "creator-105",
                  "--apply", "--rate", "20000"},
                 p.dir, "replay.log");
  EXPECT_NE(out.find("written"), std::string::npos) << out;
  expect_converges(p, truth);

  // Reset the sink's offsets to the start of orders.events (in PostgreSQL),
  // with the sink stopped: it reads everything again and changes nothing.
  p.sink->signal(SIGTERM);
  ASSERT_EQ(p.sink->wait(30000), 0);
  out = run_tool(
      {bin("cf-recover"), "reset-offsets", "--brokers", p.broker.bootstrap(), "--group",
       "cf.postgres-sink", "--topic", "orders.events", "--to-earliest", "--postgres-url-file", pg},
      p.dir, "reset-dry.log");
  EXPECT_NE(out.find("dry run"), std::string::npos);
  run_tool({bin("cf-recover"), "reset-offsets", "--brokers", p.broker.bootstrap(), "--group",
            "cf.postgres-sink", "--topic", "orders.events", "--to-earliest", "--postgres-url-file",
            pg, "--apply"},
           p.dir, "reset.log");
  {
    pqxx::work t(c);
    EXPECT_EQ(t.exec1("SELECT max(next_offset) FROM sink_offsets WHERE topic = 'orders.events'")[0]
                  .as<int64_t>(),
              0);
  }
  p.start_sink("sink-2.log");
  ASSERT_TRUE(wait_until(
      [&] {
        pqxx::work t(c);
        return t.exec1(
                    "SELECT min(next_offset) FROM sink_offsets WHERE topic = 'orders.events' AND "
                    "partition = 0")[0]
                   .as<int64_t>() > 0;
      },
      60000));
  expect_converges(p, truth);
}

}  // namespace
}  // namespace cf::test
