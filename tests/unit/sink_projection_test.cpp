// postgres-sink's projection of records into rows: what each topic becomes,
// newest-per-key within a batch, and which records are poison. No database.
#include "sink_projection.h"

#include <gtest/gtest.h>

#include "event_fixtures.h"

namespace cf {
namespace {

auto no_headers = [](const char*) -> std::optional<std::string> { return std::nullopt; };

std::string velocity(int64_t version, int64_t as_of, int64_t available) {
  return R"({"event_type":"inventory.velocity_updated","creator_id":"c1","product_sku":"A","version":)" +
         std::to_string(version) + R"(,"as_of":"x","as_of_ms":)" + std::to_string(as_of) +
         R"(,"total":100,"reserved":0,"sold":1,"available":)" + std::to_string(available) +
         R"(,"counted":true,"sales_1h":1,"sales_24h":1,"velocity_1h":1.0000,"velocity_24h":0.0417,"spike_ratio":24.0000,"viral":false})";
}

TEST(SinkProjection, DomainEventsBecomeEventStoreRows) {
  SinkBatch batch;
  std::string e = test::event_json("order.status_changed", "c1", test::kT0,
                                   R"({"status":"UNPAID","total_minor":5})", "seed",
                                   "tiktok_webhook", "tiktok:1");
  project_record("orders.events", e, no_headers, batch);
  ASSERT_EQ(batch.events.size(), 1u);
  const EventRow& row = batch.events[0];
  EXPECT_EQ(row.event_type, "order.status_changed");
  EXPECT_EQ(row.aggregate_id, "tiktok:1");
  EXPECT_EQ(row.creator_id, "c1");
  EXPECT_EQ(row.occurred_at_ms, test::kT0);
  EXPECT_NE(row.metadata.find("\"source\":\"tiktok_webhook\""), std::string::npos);
  EXPECT_NE(row.metadata.find("\"correlation_id\":\"test\""), std::string::npos);
  EXPECT_EQ(row.event_data, R"({"status":"UNPAID","total_minor":5})");
  // Ticks are skipped, not stored.
  project_record("inventory.events", R"({"event_type":"tick","tick_ms":1})", no_headers, batch);
  EXPECT_EQ(batch.events.size(), 1u);
  EXPECT_EQ(batch.records, 2u);
}

TEST(SinkProjection, ReadModelRowsKeepTheNewestVersionPerKey) {
  SinkBatch batch;
  project_record("inventory.velocity", velocity(3, 3000, 97), no_headers, batch);
  project_record("inventory.velocity", velocity(5, 5000, 95), no_headers, batch);
  project_record("inventory.velocity", velocity(4, 4000, 96), no_headers,
                 batch);  // older, arrives later
  ASSERT_EQ(batch.levels.size(), 1u);
  EXPECT_EQ(batch.levels.begin()->second.version, 5);
  EXPECT_EQ(batch.levels.begin()->second.available, 95);
  EXPECT_EQ(batch.levels.begin()->second.velocity_24h, "0.0417");  // decimals kept as sent
  // Same version, later stream time (a snapshot re-sent after a tick) wins.
  project_record("inventory.velocity", velocity(5, 6000, 95), no_headers, batch);
  EXPECT_EQ(batch.levels.begin()->second.as_of_ms, 6000);
}

TEST(SinkProjection, AlertsConflictsAndDeadLetters) {
  SinkBatch batch;
  project_record(
      "inventory.alerts",
      R"({"alert_id":"0aaaaaaa-0000-8000-8000-000000000001","alert":"low_stock","state":"raised","severity":"warning","creator_id":"c1","product_sku":"A","as_of":"2026-11-18T00:00:00.000Z"})",
      no_headers, batch);
  project_record(
      "inventory.alerts",
      R"({"alert_id":"0aaaaaaa-0000-8000-8000-000000000002","alert":"low_stock","state":"cleared","severity":"warning","creator_id":"c1","product_sku":"A","as_of":"2026-11-18T00:01:00.000Z"})",
      no_headers, batch);
  ASSERT_EQ(batch.alerts.size(), 1u);
  EXPECT_EQ(batch.alerts.begin()->second.state, "cleared");  // the later transition
  project_record(
      "conflicts.audit",
      R"({"conflict_id":"0aaaaaaa-0000-8000-8000-000000000003","kind":"invalid_transition","creator_id":"c1","entity_type":"order","entity_id":"tiktok:1","strategy":"reject_invalid_transition","winner":"current","escalated":true,"detected_at":"2026-11-18T00:00:00.000Z","resolved_at":null})",
      no_headers, batch);
  ASSERT_EQ(batch.conflicts.size(), 1u);
  EXPECT_FALSE(batch.conflicts[0].resolved_at_ms.has_value());
  auto headers = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "cf-dlq-error-class") return std::string("invalid_argument");
    if (std::string(name) == "cf-dlq-error") return std::string("boom");
    return std::nullopt;
  };
  project_record("dlq.reconciler", "anything", headers, batch);
  project_record("dlq.reconciler", "anything", headers, batch);
  project_record("webhooks.rejected", "bytes", headers, batch);
  EXPECT_EQ((batch.dead_letters[{"dlq.reconciler", "invalid_argument"}]), 2);
  EXPECT_EQ((batch.dead_letters[{"webhooks.rejected", "boom"}]), 1);
}

TEST(SinkProjection, PoisonRecordsAreRejectedWithTheReason) {
  SinkBatch batch;
  auto reason = [&](const std::string& topic, const std::string& value) {
    try {
      project_record(topic, value, no_headers, batch);
    } catch (const ProjectionError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(reason("orders.events", "{not json"), "record is not a JSON object");
  EXPECT_NE(reason("orders.events", R"({"event_type":"order.status_changed"})")
                .find("missing field event_id"),
            std::string::npos);
  std::string bad_id = test::event_json("x", "c1", test::kT0, "{}", "s");
  bad_id.replace(bad_id.find("\"event_id\":\"") + 12, 8, "zzzzzzzz");
  EXPECT_EQ(reason("orders.events", bad_id), "domain event: event_id is not a UUID");
  EXPECT_NE(reason("inventory.velocity",
                   velocity(1, 1, 1).replace(velocity(1, 1, 1).find("\"viral\":false"), 13,
                                             "\"viral\":3"))
                .find("viral must be a boolean"),
            std::string::npos);
  EXPECT_NE(reason("some.topic", "{}").find("does not read topic"), std::string::npos);
}

}  // namespace
}  // namespace cf
