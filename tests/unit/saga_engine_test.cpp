// The saga engine over a partition's store (no broker): exactly-once
// application per saga and input with journalled outputs re-sent on a
// re-read, timers fired by ticks, completion releasing the reservations; and
// saga-http's transform (command -> call, result -> reply the saga reads).
#include "saga_engine.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "participant_call.h"
#include "saga_handler.h"
#include "sink_projection.h"

namespace cf::saga {
namespace {

constexpr int64_t kStart = 1'764'000'000'000;

std::string paid_order(const std::string& order_id,
                       const std::string& status = "AWAITING_SHIPMENT") {
  return R"({"event_id":"e-)" + order_id + status +
         R"(","event_type":"order.status_changed","aggregate_type":"order","aggregate_id":"tiktok:)" +
         order_id +
         R"(","creator_id":"creator-101","version":2,"occurred_at":"2026-11-24T16:00:00.000Z","source":"tiktok_webhook","metadata":{"correlation_id":"r","causation_id":"n","user_id":null,"received_at":"2026-11-24T16:00:01.000Z"},"data":{"channel":"tiktok","order_id":")" +
         order_id + R"(","status":")" + status +
         R"(","currency":"USD","total_minor":3998,"items":[{"product_sku":"CF-1","quantity":2}]}})";
}

std::vector<OutputRecord> only(const std::vector<OutputRecord>& all, const std::string& topic) {
  std::vector<OutputRecord> out;
  for (const auto& o : all)
    if (o.topic == topic) out.push_back(o);
  return out;
}

std::string inventory_reply(const std::string& command_id, const char* status) {
  return R"({"command_id":")" + command_id +
         R"(","command":"reserve","creator_id":"creator-101","status":")" + status + R"("})";
}

struct Fixture : ::testing::Test {
  EngineSettings settings;
  EngineTopics topics;
  std::unique_ptr<SagaEngine> engine;
  SagaPartitionState store{"order-saga.state.changelog", 0, 3600000};
  void SetUp() override {
    settings.machine.step_timeout_ms = 1000;
    settings.machine.backoff_base_ms = 100;
    settings.machine.backoff_max_ms = 400;
    engine = std::make_unique<SagaEngine>(settings, topics);
  }
  std::vector<OutputRecord> apply(Input input, const std::string& value, int64_t offset,
                                  int64_t at_ms) {
    std::vector<OutputRecord> out;
    engine->on_record(store, input, value, offset, at_ms, 0, out);
    return out;
  }
  const SagaEntry& only_saga() {
    EXPECT_EQ(store.entries().size(), 1U);
    return store.entries().begin()->second;
  }
};

TEST_F(Fixture, APaidOrderStartsOneSagaAndAReReadResendsItsOutputsWithoutApplyingTwice) {
  auto first = apply(Input::kOrders, paid_order("576"), 10, kStart);
  ASSERT_EQ(only(first, "inventory.commands").size(), 1U);
  ASSERT_EQ(only(first, "saga.events").size(), 1U);
  ASSERT_EQ(only(first, "order-saga.state.changelog").size(), 1U);
  EXPECT_EQ(only_saga().saga.step, Step::kAllocateInventory);
  EXPECT_NE(first[0].value.find("\"sale_counted\":true"), std::string::npos);
  // The same record read again after a crash: the same outputs, byte for byte,
  // and no state change (no changelog write, same version).
  auto again = apply(Input::kOrders, paid_order("576"), 10, kStart + 5);
  EXPECT_TRUE(only(again, "order-saga.state.changelog").empty());
  ASSERT_EQ(only(again, "inventory.commands").size(), 1U);
  EXPECT_EQ(only(again, "inventory.commands")[0].value, only(first, "inventory.commands")[0].value);
  EXPECT_EQ(only(again, "saga.events")[0].value, only(first, "saga.events")[0].value);
  EXPECT_EQ(only_saga().version, 1);
  EXPECT_EQ(engine->counters().replays, 1U);
  // A later status of the same order (shipped) starts nothing new.
  EXPECT_TRUE(apply(Input::kOrders, paid_order("576", "IN_TRANSIT"), 11, kStart + 10).empty());
  EXPECT_EQ(engine->counters().started, 1U);
}

TEST_F(Fixture, TicksFireTheTimeoutAndTheRetryWithTheSameCommandIdAndARereadTickResends) {
  auto start = apply(Input::kOrders, paid_order("577"), 1, kStart);
  const std::string command = only(start, "inventory.commands")[0].value;
  // A tick before the deadline changes nothing.
  EXPECT_TRUE(apply(Input::kOrders, tick_json(kStart + 500), 2, kStart + 500).empty());
  // At the deadline the attempt times out (backing off: no command yet) ...
  auto timed_out = apply(Input::kOrders, tick_json(kStart + 1000), 3, kStart + 1000);
  EXPECT_TRUE(only(timed_out, "inventory.commands").empty());
  EXPECT_EQ(only(timed_out, "saga.events").size(), 1U);
  const int64_t retry_at = only_saga().saga.retry_at_ms;
  ASSERT_GT(retry_at, kStart + 1000);
  // ... and the retry goes out on the first tick past its instant, same id.
  auto retried = apply(Input::kOrders, tick_json(retry_at), 4, retry_at);
  ASSERT_EQ(only(retried, "inventory.commands").size(), 1U);
  EXPECT_EQ(only_saga().saga.attempt, 2);
  const std::string id = command.substr(command.find("\"command_id\""), 60);
  EXPECT_NE(only(retried, "inventory.commands")[0].value.find(id), std::string::npos);
  // The tick read again after a crash re-sends exactly what it caused.
  auto reread = apply(Input::kOrders, tick_json(retry_at), 4, retry_at + 7);
  EXPECT_TRUE(only(reread, "order-saga.state.changelog").empty());
  ASSERT_EQ(only(reread, "inventory.commands").size(), 1U);
  EXPECT_EQ(only(reread, "inventory.commands")[0].value,
            only(retried, "inventory.commands")[0].value);
}

TEST_F(Fixture, ACompletedSagaReleasesItsReservationsAndRepliesAreAppliedOncePerOffset) {
  apply(Input::kOrders, paid_order("578"), 1, kStart);
  const SagaState& s = only_saga().saga;
  const std::string reserve_id = command_id(s, Step::kAllocateInventory, 0);
  auto reserved =
      apply(Input::kInventoryReplies, inventory_reply(reserve_id, "reserved"), 1, kStart + 10);
  EXPECT_EQ(only_saga().saga.step, Step::kProcessPayment);
  ASSERT_EQ(only(reserved, "saga.commands").size(), 1U);
  // Participant replies as saga-http writes them.
  int64_t offset = 1;
  for (Step step :
       {Step::kProcessPayment, Step::kGenerateShippingLabel, Step::kUpdateChannelStatus}) {
    ParticipantCall call;
    call.command_id = command_id(only_saga().saga, step);
    call.creator_id = "creator-101";
    call.attempt = only_saga().saga.attempt;
    call.participant = step == Step::kGenerateShippingLabel ? "shipping" : "payment";
    HttpResult ok;
    ok.status = 200;
    if (step == Step::kGenerateShippingLabel) {
      ok.body = R"({"result":"applied","tracking_number":"9400111202555842761234","slug":"usps"})";
    }
    const int64_t reply_offset = offset++;
    auto out = apply(Input::kSagaReplies, reply_record(call, ok, kStart + 20, "saga.replies").value,
                     reply_offset, kStart + 20 + offset);
    // The label goes to shipping.labels once, keyed by its number.
    const auto labels = only(out, "shipping.labels");
    ASSERT_EQ(labels.size(), step == Step::kGenerateShippingLabel ? 1U : 0U);
    if (!labels.empty()) {
      EXPECT_EQ(labels[0].key, "9400111202555842761234");
      EXPECT_NE(labels[0].value.find(R"("creator_id":"creator-101","channel":"tiktok")"),
                std::string::npos)
          << labels[0].value;
    }
    if (step != Step::kProcessPayment) {
      // From the label on, saga.events names the label too.
      ASSERT_EQ(only(out, "saga.events").size(), 1U);
      EXPECT_NE(
          only(out, "saga.events")[0].value.find(
              R"("tracking_number":"9400111202555842761234","carrier_slug":"usps","label_cancelled":false)"),
          std::string::npos)
          << only(out, "saga.events")[0].value;
    }
    if (step == Step::kUpdateChannelStatus) {
      EXPECT_EQ(only_saga().saga.status, Status::kCompleted);
      auto releases = only(out, "inventory.commands");
      ASSERT_EQ(releases.size(), 1U);
      EXPECT_NE(releases[0].value.find("\"command\":\"release\""), std::string::npos);
      EXPECT_EQ(engine->counters().completed, 1U);
    }
  }
  // The same reply offset again: nothing applied twice.
  const int64_t version = only_saga().version;
  ParticipantCall call;
  call.command_id = command_id(only_saga().saga, Step::kUpdateChannelStatus);
  call.creator_id = "creator-101";
  call.attempt = 1;
  HttpResult ok;
  ok.status = 200;
  apply(Input::kSagaReplies, reply_record(call, ok, kStart + 20, "saga.replies").value, offset - 1,
        kStart + 99);
  EXPECT_EQ(only_saga().version, version);
}

TEST_F(Fixture, RecordsThatCannotBeReadAreRefusedWithAReason) {
  EXPECT_THROW(apply(Input::kOrders, "{\"event_type\":", 1, kStart), std::invalid_argument);
  EXPECT_THROW(
      apply(Input::kOperator, R"({"action":"explode","saga_id":"x","creator_id":"c"})", 1, kStart),
      std::invalid_argument);
  // An operator command for a saga this partition does not hold: a dead letter with the reason.
  OperatorCommand abort{OperatorCommand::Action::kAbort, saga_id_for("creator-101", "tiktok", "1"),
                        "creator-101", "ops"};
  EXPECT_THROW(apply(Input::kOperator, operator_command_json(abort), 1, kStart),
               std::invalid_argument);
}

TEST_F(Fixture, SagaEventsProjectToTheSinksReadModelRowNewestVersionFirst) {
  auto start = apply(Input::kOrders, paid_order("579"), 1, kStart);
  const SagaState& s = only_saga().saga;
  const std::string reserve_id = command_id(s, Step::kAllocateInventory, 0);
  auto next = apply(Input::kInventoryReplies, inventory_reply(reserve_id, "insufficient_stock"), 1,
                    kStart + 10);
  auto no_headers = [](const char*) -> std::optional<std::string> { return std::nullopt; };
  SinkBatch batch;
  // Newest first, then the older record: the row keeps the newest.
  for (const auto& r : only(next, "saga.events"))
    project_record("saga.events", r.value, no_headers, batch);
  for (const auto& r : only(start, "saga.events"))
    project_record("saga.events", r.value, no_headers, batch);
  ASSERT_EQ(batch.sagas.size(), 1U);
  const SagaRow& row = batch.sagas.begin()->second;
  EXPECT_EQ(row.creator_id, "creator-101");
  EXPECT_EQ(row.order_id, "579");
  EXPECT_EQ(row.status, "compensated");
  EXPECT_NE(row.failure.find("insufficient_stock"), std::string::npos);
  EXPECT_EQ(row.version, only_saga().version);
  ASSERT_TRUE(row.finished_ms.has_value());
  EXPECT_EQ(*row.finished_ms, kStart + 10);
  EXPECT_FALSE(row.captured);
  EXPECT_EQ(row.history.front(), '[');
  // A record the sink cannot store is refused with a reason.
  EXPECT_THROW(project_record("saga.events", R"({"saga_id":"x"})", no_headers, batch),
               ProjectionError);
}

TEST(SagaClock, RecordTimeUnlessCatchingUp) {
  EXPECT_EQ(saga_clock(10'000, 12'000, 5'000), 10'000);
  EXPECT_EQ(saga_clock(1'000, 12'000, 5'000), 12'000);  // a backlog record: the wall clock
  EXPECT_EQ(saga_clock(-1, 12'000, 5'000), 12'000);
}

TEST(ParticipantCall, OutcomesCommandsAndConfiguration) {
  HttpResult r;
  r.status = 201;
  EXPECT_EQ(outcome_of(r), "succeeded");
  for (int refused : {400, 402, 409, 422}) {
    r.status = refused;
    EXPECT_EQ(outcome_of(r), "failed") << refused;
  }
  for (int transient : {0, 401, 404, 408, 429, 500, 503}) {
    r.status = transient;
    EXPECT_EQ(outcome_of(r), "retriable") << transient;
  }
  EXPECT_THROW(
      plan_call(R"({"action":"payment.steal","command_id":"a","creator_id":"c","attempt":1})"),
      std::invalid_argument);
  EXPECT_THROW(plan_call(std::string(100000, '[')), std::invalid_argument);
  const std::string id = saga_id_for("creator-1", "tiktok", "9") + ".refund_payment";
  ParticipantCall call = plan_call(R"({"action":"payment.refund","command_id":")" + id +
                                   R"(","creator_id":"creator-1","attempt":3})");
  EXPECT_EQ(call.participant, "payment");
  EXPECT_EQ(call.target, "/v1/refunds");
  r.status = 402;
  r.body = R"({"error":"card declined \u00e9"})";
  // The reply reads back as the saga reads it, with the participant's reason.
  ReplyRecord back = read_saga_reply(reply_record(call, r, 5, "saga.replies").value);
  EXPECT_EQ(back.reply.outcome, Outcome::kFailed);
  EXPECT_EQ(back.reply.attempt, 3);
  EXPECT_NE(back.reply.detail.find("card declined"), std::string::npos);
  EXPECT_FALSE(back.reply.uncertain);
  // No answer after sending: the participant may have acted.
  HttpResult lost;
  lost.error = "timeout";
  ReplyRecord timed_out = read_saga_reply(reply_record(call, lost, 6, "saga.replies").value);
  EXPECT_EQ(timed_out.reply.outcome, Outcome::kRetriable);
  EXPECT_TRUE(timed_out.reply.uncertain);
  lost.circuit_open = true;  // nothing was sent
  EXPECT_FALSE(read_saga_reply(reply_record(call, lost, 7, "saga.replies").value).reply.uncertain);
  r.status = 503;  // the participant's own answer: it did not act
  EXPECT_FALSE(read_saga_reply(reply_record(call, r, 8, "saga.replies").value).reply.uncertain);

  setenv("CF_SAGA_PAYMENT_URL", "http://127.0.0.1:9/pay/", 1);
  setenv("CF_SAGA_SHIPPING_URL", "http://127.0.0.1:9", 1);
  unsetenv("CF_SAGA_CHANNEL_URL");
  EXPECT_THROW(load_participants(""), ConfigError);  // the channel has no URL
  Participants p = load_participants(R"({"channel":{"url":"http://channel.internal:8443"}})");
  EXPECT_EQ(p.at("payment").endpoint.base_path, "/pay");
  EXPECT_EQ(p.at("channel").endpoint.host, "channel.internal");
  EXPECT_EQ(p.at("channel").endpoint.port, "8443");
  EXPECT_THROW(parse_http_url("x", "https://user:pw@host"), ConfigError);
}

}  // namespace
}  // namespace cf::saga
