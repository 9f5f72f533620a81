// The saga's records against the code on the other side of each topic: order
// events made by the real validator and reconciler from generated TikTok Shop
// and Shopify webhooks start sagas; the inventory commands a saga writes are
// answered by the real inventory-velocity transform and its replies read
// back; saga replies as the saga-http connector writes them; hostile records
// are refused with a reason.
#include "saga_messages.h"

#include <gtest/gtest.h>

#include <map>

#include "cf/json_parse.h"
#include "cf/webhook_generator.h"
#include "inventory_state.h"
#include "order_events.h"
#include "velocity_engine.h"

namespace cf::saga {
namespace {

// order.status_changed events of the first `webhooks` generated webhooks, as
// the reconciler writes them to orders.events.
std::vector<std::string> order_events(int webhooks, GeneratorSettings& settings) {
  settings.seed = 11;
  settings.oversize_share = 0;
  std::vector<std::string> values;
  for (auto& r : test::reconciled_order_events(webhooks, settings, CF_SCHEMA_DIR))
    values.push_back(std::move(r.value));
  return values;
}

TEST(SagaMessages, PaidOrdersFromBothChannelsStartSagasAndCancellationsAreSeen) {
  GeneratorSettings settings;
  auto events = order_events(4000, settings);
  SagaMachine machine;
  std::map<std::string, int> paid_by_channel;
  int cancelled = 0, other = 0;
  for (const auto& json : events) {
    auto update = read_order_event(json);
    if (!update) {
      ++other;  // payments and other order events
      continue;
    }
    if (update->cancelled) ++cancelled;
    if (!update->paid) continue;
    ++paid_by_channel[update->order.channel];
    std::vector<Effect> effects;
    SagaState saga = machine.start(update->order, update->occurred_at_ms, effects);
    ASSERT_EQ(saga.status, Status::kRunning) << saga.failure << "\n" << json;
    EXPECT_EQ(saga.step, Step::kAllocateInventory);
    EXPECT_FALSE(update->order.items.empty());
    EXPECT_GT(update->order.total_minor, 0);
  }
  EXPECT_GT(paid_by_channel["tiktok"], 50);
  EXPECT_GT(paid_by_channel["shopify"], 50);
  EXPECT_GT(cancelled, 0);
  EXPECT_GT(other, 0);
}

// The saga's reserve and release commands, answered by inventory-velocity's
// own transform: the replies move the saga, and the ledger's reserved units
// go back to zero after the release.
TEST(SagaMessages, InventoryCommandsAreAnsweredByTheRealLedger) {
  SagaMachine machine;
  VelocityEngine velocity(VelocitySettings{}, VelocityTopics{});
  InventoryPartitionState ledger("l", 0);
  Order order{"creator-7", "tiktok", "578426314126459219",
              "USD",       4598,     {{"CF-TEE-0", 2}, {"CF-MUG-1", 1}}};
  int64_t offset = 0;
  std::vector<OutputRecord> ignored;
  for (const auto& item : order.items) {  // a channel count of 10 for each SKU
    velocity.on_event(
        ledger,
        R"({"event_id":"e)" + item.product_sku +
            R"(","event_type":"inventory.stock_set","aggregate_type":"inventory","aggregate_id":"x","creator_id":"creator-7","version":1,"occurred_at":"2026-12-03T10:00:00.000Z","source":"tiktok_webhook","data":{"product_sku":")" +
            item.product_sku + R"(","available":10}})",
        offset++, ignored);
  }
  auto round_trip = [&](SagaState& saga, const std::vector<Effect>& effects, int64_t now) {
    std::vector<Effect> next;
    for (const auto& e : effects) {
      if (e.kind != Effect::Kind::kCommand) continue;
      OutputRecord command = command_record(saga, e, now, SagaTopics{});
      EXPECT_EQ(command.topic, "inventory.commands");
      EXPECT_EQ(command.key, "creator-7");
      std::vector<OutputRecord> replies;
      velocity.on_command(ledger, command.value, replies);
      for (const auto& r : replies) {
        if (r.topic != "inventory.replies") continue;
        auto reply = read_inventory_reply(r.value, now);
        EXPECT_TRUE(reply) << r.value;
        if (!reply) continue;
        EXPECT_EQ(reply->saga_id, saga.saga_id);
        machine.on_reply(saga, reply->reply, now, next);
      }
    }
    return next;
  };
  std::vector<Effect> effects;
  SagaState saga = machine.start(order, 1'780'000'000'000, effects);
  round_trip(saga, effects, 1'780'000'000'100);
  ASSERT_EQ(saga.step, Step::kProcessPayment);
  EXPECT_EQ(ledger.find("creator-7", "CF-TEE-0")->reserved, 2);
  // Payment declined: the reservation is released through the ledger.
  std::vector<Effect> declined;
  machine.on_reply(saga, {Step::kProcessPayment, 1, -1, Outcome::kFailed, "card_declined"},
                   1'780'000'000'200, declined);
  ASSERT_EQ(saga.step, Step::kReleaseInventory);
  round_trip(saga, declined, 1'780'000'000'300);
  EXPECT_EQ(saga.status, Status::kCompensated);
  EXPECT_EQ(ledger.find("creator-7", "CF-TEE-0")->reserved, 0);
  EXPECT_EQ(ledger.find("creator-7", "CF-MUG-1")->reserved, 0);

  // A second order that wants more than there is: the reconciler records its
  // sale when it arrives, the ledger is oversold, and insufficient_stock fails it.
  Order big = order;
  big.order_id = "578426314126459220";
  big.items = {{"CF-TEE-0", 11}};
  velocity.on_event(
      ledger,
      R"({"event_id":"sale-big","event_type":"inventory.sale_recorded","aggregate_type":"inventory","aggregate_id":"tiktok:578426314126459220","creator_id":"creator-7","version":1,"occurred_at":"2026-12-03T10:00:01.000Z","source":"tiktok_webhook","data":{"channel":"tiktok","order_id":"tiktok:578426314126459220","items":[{"product_sku":"CF-TEE-0","quantity":11}]}})",
      offset++, ignored);
  std::vector<Effect> big_effects;
  SagaState refused = machine.start(big, 1'780'000'001'000, big_effects);
  round_trip(refused, big_effects, 1'780'000'001'100);
  EXPECT_EQ(refused.status, Status::kCompensated);
  EXPECT_NE(refused.failure.find("insufficient_stock"), std::string::npos) << refused.failure;
}

TEST(SagaMessages, ParticipantCommandsCarryWhatTheConnectorNeeds) {
  SagaMachine machine;
  Order order{"creator-7", "shopify", "6112348291\"x", "EUR", 1999, {{"CF-TEE-0", 1}}};
  std::vector<Effect> effects;
  SagaState saga = machine.start(order, 1'780'000'000'000, effects);
  machine.on_reply(saga, {Step::kAllocateInventory, 0, 0, Outcome::kSucceeded, {}},
                   1'780'000'000'010, effects);
  const Effect& pay = effects.back();
  ASSERT_EQ(pay.step, Step::kProcessPayment);
  OutputRecord r = command_record(saga, pay, 1'780'000'000'010, SagaTopics{});
  rapidjson::Document d;
  ASSERT_TRUE(parse_json(d, r.value)) << r.value;
  EXPECT_EQ(r.topic, "saga.commands");
  EXPECT_STREQ(d["action"].GetString(), "payment.capture");
  EXPECT_STREQ(d["order_id"].GetString(), "6112348291\"x") << "escaped, not broken";
  EXPECT_EQ(d["amount_minor"].GetInt64(), 1999);
  EXPECT_EQ(d["deadline_ms"].GetInt64(), 1'780'000'030'010);
  EXPECT_FALSE(d.HasMember("undoes"));
  std::vector<Effect> cancel;
  machine.on_cancelled(saga, 1'780'000'000'020, cancel);
  OutputRecord refund = command_record(saga, cancel.back(), 1'780'000'000'020, SagaTopics{});
  ASSERT_TRUE(parse_json(d, refund.value));
  EXPECT_STREQ(d["action"].GetString(), "payment.refund");
  EXPECT_EQ(std::string(d["undoes"].GetString()), command_id(saga, Step::kProcessPayment));
}

TEST(SagaMessages, RepliesAreReadStrictly) {
  SagaState saga;
  saga.saga_id = saga_id_for("creator-7", "tiktok", "578426314126459219");
  const std::string id = command_id(saga, Step::kProcessPayment);
  auto reply = read_saga_reply(
      R"({"command_id":")" + id +
      R"(","creator_id":"creator-7","attempt":2,"outcome":"retriable","detail":"HTTP 503","replied_at_ms":1780000000500})");
  EXPECT_EQ(reply.saga_id, saga.saga_id);
  EXPECT_EQ(reply.reply.step, Step::kProcessPayment);
  EXPECT_EQ(reply.reply.attempt, 2);
  EXPECT_EQ(reply.reply.outcome, Outcome::kRetriable);
  EXPECT_EQ(reply.at_ms, 1'780'000'000'500);
  const std::vector<std::string> bad = {
      "[",
      std::string(300, '['),
      R"({"command_id":"x","creator_id":"c","attempt":1,"outcome":"succeeded","replied_at_ms":1})",
      R"({"command_id":")" + id +
          R"(","creator_id":"c","attempt":0,"outcome":"succeeded","replied_at_ms":1})",
      R"({"command_id":")" + id +
          R"(","creator_id":"c","attempt":1,"outcome":"maybe","replied_at_ms":1})",
      R"({"command_id":")" + id + R"(","creator_id":"c","attempt":1,"outcome":"succeeded"})",
      R"({"command_id":")" + command_id(saga, Step::kAllocateInventory, 0) +
          R"(","creator_id":"c","attempt":1,"outcome":"succeeded","replied_at_ms":1})",
      "{\"command_id\":\"" + id + "\",\"creator_id\":\"\xff\"}",
  };
  for (const auto& json : bad) EXPECT_THROW(read_saga_reply(json), std::invalid_argument) << json;
  // A label's reply carries the number carriers will name; a number that
  // could not be one is refused rather than recorded.
  const std::string label = command_id(saga, Step::kGenerateShippingLabel);
  auto labelled = read_saga_reply(
      R"({"command_id":")" + label +
      R"(","creator_id":"creator-7","attempt":1,"outcome":"succeeded","replied_at_ms":1,"tracking_number":"9400111202555842761234","carrier_slug":"usps"})");
  EXPECT_EQ(labelled.reply.tracking_number, "9400111202555842761234");
  EXPECT_EQ(labelled.reply.carrier_slug, "usps");
  EXPECT_THROW(
      read_saga_reply(
          R"({"command_id":")" + label +
          R"(","creator_id":"creator-7","attempt":1,"outcome":"succeeded","replied_at_ms":1,"tracking_number":"94 00\"x"})"),
      std::invalid_argument);
  // Inventory replies to other clients' commands are not the saga's business.
  EXPECT_FALSE(
      read_inventory_reply(R"({"command_id":"ops-42","creator_id":"c","status":"reserved"})", 1));
  EXPECT_THROW(read_inventory_reply(
                   R"({"command_id":")" + id + R"(","creator_id":"c","status":"reserved"})", 1),
               std::invalid_argument);
  EXPECT_THROW(
      read_inventory_reply(R"({"command_id":")" + command_id(saga, Step::kAllocateInventory, 0) +
                               R"(","creator_id":"c","status":"released"})",
                           1),
      std::invalid_argument)
      << "a release answer to a reserve command";
  EXPECT_THROW(read_order_event(R"({"event_type":"order.status_changed"})"), std::invalid_argument);
}

}  // namespace
}  // namespace cf::saga
