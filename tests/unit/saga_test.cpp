// The order-fulfillment saga's transitions (processors/order-saga/saga_machine.h):
// the forward path, every compensation path, timeouts and retries fired by
// event time, late replies, dead letters after the last attempt, cancellation
// mid-saga, escalation of a failing compensation, and the state codec.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "saga_machine.h"

namespace cf::saga {
namespace {

constexpr int64_t kT0 = 1'780'000'000'000;

// A TikTok Shop order as the reconciler resolves it (ids as TikTok sends them).
Order order_with(int items) {
  Order o;
  o.creator_id = "creator-7";
  o.channel = "tiktok";
  o.order_id = "578426314126459219";
  o.currency = "USD";
  o.total_minor = 4598;
  for (int i = 0; i < items; ++i) o.items.push_back({"CF-TEE-" + std::to_string(i), 1 + i});
  return o;
}

std::vector<Effect> commands(const std::vector<Effect>& effects) {
  std::vector<Effect> out;
  for (const auto& e : effects)
    if (e.kind == Effect::Kind::kCommand) out.push_back(e);
  return out;
}

size_t count(const std::vector<Effect>& effects, Effect::Kind kind) {
  size_t n = 0;
  for (const auto& e : effects) n += e.kind == kind;
  return n;
}

// Answers every command of `effects` with `outcome`, as its participant would.
void answer(const SagaMachine& m, SagaState& s, const std::vector<Effect>& effects, Outcome outcome,
            int64_t now, std::vector<Effect>& out) {
  for (const auto& c : commands(effects)) {
    auto ref = parse_command_id(c.command_id);
    ASSERT_TRUE(ref) << c.command_id;
    m.on_reply(s, {c.step, c.attempt, c.item, outcome, {}}, now, out);
  }
}

// Drives a saga, answering each command with what `script` says for its step
// (default: succeeded); returns the steps commanded, in order.
std::vector<Step> drive(const SagaMachine& m, SagaState& s, std::vector<Effect> pending,
                        const std::map<Step, Outcome>& script, int64_t& now) {
  std::vector<Step> steps;
  for (int guard = 0; guard < 100 && !commands(pending).empty(); ++guard) {
    std::vector<Effect> next;
    for (const auto& c : commands(pending)) {
      if (steps.empty() || steps.back() != c.step) steps.push_back(c.step);
      auto it = script.find(c.step);
      auto ref = parse_command_id(c.command_id);
      now += 10;
      EXPECT_TRUE(ref) << c.command_id;
      m.on_reply(
          s, {c.step, c.attempt, c.item, it == script.end() ? Outcome::kSucceeded : it->second, {}},
          now, next);
    }
    pending = std::move(next);
  }
  return steps;
}

TEST(Saga, APaidOrderRunsEveryStepInOrderAndCompletes) {
  SagaMachine m;
  std::vector<Effect> effects;
  SagaState s = m.start(order_with(2), kT0, effects);
  EXPECT_EQ(s.saga_id, saga_id_for("creator-7", "tiktok", "578426314126459219"));
  // allocate_inventory: one reserve command per item.
  auto first = commands(effects);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].step, Step::kAllocateInventory);
  EXPECT_EQ(first[1].item, 1);
  int64_t now = kT0;
  auto steps = drive(m, s, effects, {}, now);
  EXPECT_EQ(steps, (std::vector<Step>{Step::kAllocateInventory, Step::kProcessPayment,
                                      Step::kGenerateShippingLabel, Step::kUpdateChannelStatus}));
  EXPECT_EQ(s.status, Status::kCompleted);
  EXPECT_EQ(s.finished_ms, now);
  EXPECT_EQ(SagaMachine::next_due_ms(s), -1) << "nothing left to fire";
}

TEST(Saga, TheLabelStepRecordsTheTrackingNumberItAnswers) {
  SagaMachine m;
  std::vector<Effect> effects;
  SagaState s = m.start(order_with(1), kT0, effects);
  int64_t now = kT0;
  size_t labels_recorded = 0;
  for (int guard = 0; guard < 10 && s.status == Status::kRunning; ++guard) {
    std::vector<Effect> next;
    for (const auto& c : commands(effects)) {
      Reply r{c.step, c.attempt, c.item, Outcome::kSucceeded, {}};
      if (c.step == Step::kGenerateShippingLabel) {
        r.tracking_number = "9400111202555842761234";
        r.carrier_slug = "usps";
      }
      m.on_reply(s, r, now += 10, next);
    }
    labels_recorded += count(next, Effect::Kind::kLabelRecorded);
    effects = std::move(next);
  }
  EXPECT_EQ(s.status, Status::kCompleted);
  EXPECT_EQ(labels_recorded, 1U) << "the label goes to shipping.labels once";
  EXPECT_EQ(s.tracking_number, "9400111202555842761234");
  EXPECT_EQ(s.carrier_slug, "usps");
}

TEST(Saga, TheSameOrderAlwaysGetsTheSameSagaAndCommandIds) {
  SagaMachine m;
  std::vector<Effect> a, b;
  SagaState x = m.start(order_with(1), kT0, a);
  SagaState y = m.start(order_with(1), kT0 + 5000, b);
  EXPECT_EQ(x.saga_id, y.saga_id);
  EXPECT_EQ(commands(a)[0].command_id, commands(b)[0].command_id);
  EXPECT_NE(saga_id_for("creator-7", "shopify", "578426314126459219"), x.saga_id);
  EXPECT_NE(saga_id_for("creator-8", "tiktok", "578426314126459219"), x.saga_id)
      << "another creator naming the same order id gets another saga";
  // Any order id bytes: the saga id is a digest, the command id parses back.
  auto ref = parse_command_id(command_id(x, Step::kRefundPayment, -1));
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->saga_id, x.saga_id);
  EXPECT_EQ(ref->step, Step::kRefundPayment);
  auto item = parse_command_id(command_id(x, Step::kAllocateInventory, 3));
  ASSERT_TRUE(item);
  EXPECT_EQ(item->item, 3);
  EXPECT_FALSE(parse_command_id("saga-x.process_payment"));
  EXPECT_FALSE(parse_command_id(x.saga_id + ".pay"));
  EXPECT_FALSE(parse_command_id(x.saga_id + ".allocate_inventory.-1"));
  EXPECT_FALSE(parse_command_id(x.saga_id + ".allocate_inventory.1x"));
  EXPECT_FALSE(parse_command_id(x.saga_id + ".allocate_inventory.1.2"));
}

TEST(Saga, AnInvalidOrderIsMarkedFailedWithoutCommands) {
  SagaMachine m;
  std::vector<Effect> effects;
  Order o = order_with(0);  // no line items
  SagaState s = m.start(o, kT0, effects);
  EXPECT_TRUE(commands(effects).empty());
  EXPECT_EQ(s.status, Status::kCompensated);
  EXPECT_NE(s.failure.find("no line items"), std::string::npos) << s.failure;
  EXPECT_EQ(s.compensated, 1u << static_cast<int>(Step::kMarkOrderFailed));
}

// Every point of failure compensates exactly the steps that took effect, in
// reverse, and ends with mark_order_failed.
TEST(Saga, EachFailingStepCompensatesWhatWasDoneInReverse) {
  struct Case {
    Step failing;
    std::vector<Step> expected;
  };
  const std::vector<Case> cases = {
      {Step::kAllocateInventory, {Step::kAllocateInventory}},
      {Step::kProcessPayment,
       {Step::kAllocateInventory, Step::kProcessPayment, Step::kReleaseInventory}},
      {Step::kGenerateShippingLabel,
       {Step::kAllocateInventory, Step::kProcessPayment, Step::kGenerateShippingLabel,
        Step::kRefundPayment, Step::kReleaseInventory}},
      {Step::kUpdateChannelStatus,
       {Step::kAllocateInventory, Step::kProcessPayment, Step::kGenerateShippingLabel,
        Step::kUpdateChannelStatus, Step::kCancelShipping, Step::kRefundPayment,
        Step::kReleaseInventory}},
  };
  for (const auto& c : cases) {
    SagaMachine m;
    std::vector<Effect> effects;
    SagaState s = m.start(order_with(1), kT0, effects);
    int64_t now = kT0;
    auto steps = drive(m, s, effects, {{c.failing, Outcome::kFailed}}, now);
    EXPECT_EQ(steps, c.expected) << step_name(c.failing);
    EXPECT_EQ(s.status, Status::kCompensated) << step_name(c.failing);
    EXPECT_TRUE(s.compensated & (1u << static_cast<int>(Step::kMarkOrderFailed)));
    EXPECT_NE(s.failure.find(std::string(step_name(c.failing)) + " failed"), std::string::npos)
        << s.failure;
  }
}

// Two items, the second out of stock: the first one's reservation is released.
TEST(Saga, PartialAllocationReleasesWhatWasReserved) {
  SagaMachine m;
  std::vector<Effect> effects, out;
  SagaState s = m.start(order_with(2), kT0, effects);
  auto reserve = commands(effects);
  m.on_reply(s, {Step::kAllocateInventory, 0, 0, Outcome::kSucceeded, {}}, kT0 + 5, out);
  EXPECT_TRUE(commands(out).empty()) << "waits for every item";
  m.on_reply(s, {Step::kAllocateInventory, 0, 1, Outcome::kFailed, "insufficient_stock"}, kT0 + 6,
             out);
  auto release = commands(out);
  ASSERT_EQ(release.size(), 2u);
  EXPECT_EQ(release[0].step, Step::kReleaseInventory);
  EXPECT_EQ(s.status, Status::kCompensating);
}

// A step that never answers times out at its deadline (fired by event time),
// is retried with the same command id after a deterministic backoff, and after
// the 5th attempt dead-letters and compensates; a timed-out effect step may
// have acted, so it is compensated too.
TEST(Saga, TimeoutsRetryWithBackoffThenDeadLetterAndCompensate) {
  SagaMachine m;
  std::vector<Effect> effects;
  SagaState s = m.start(order_with(1), kT0, effects);
  int64_t now = kT0;
  std::vector<Effect> out;
  answer(m, s, effects, Outcome::kSucceeded, now, out);  // allocated
  ASSERT_EQ(s.step, Step::kProcessPayment);
  const std::string id = commands(out)[0].command_id;
  std::vector<int64_t> sends = {now};
  for (int attempt = 1; attempt <= 5; ++attempt) {
    std::vector<Effect> fired;
    m.on_time(s, s.deadline_ms - 1, fired);
    EXPECT_TRUE(fired.empty()) << "nothing fires before the deadline";
    now = s.deadline_ms;
    m.on_time(s, now, fired);
    if (attempt == 5) {
      EXPECT_EQ(count(fired, Effect::Kind::kDeadLetter), 1u);
      ASSERT_FALSE(commands(fired).empty());
      EXPECT_EQ(commands(fired)[0].step, Step::kRefundPayment) << "payment may have been taken";
      break;
    }
    EXPECT_TRUE(commands(fired).empty()) << "backing off";
    const int64_t delay = s.retry_at_ms - now;
    const int64_t cap = std::min<int64_t>(60'000, 1000LL << (attempt - 1));
    EXPECT_GE(delay, cap / 2) << attempt;
    EXPECT_LT(delay, cap) << attempt;
    EXPECT_EQ(delay, retry_delay_ms(m.settings(), s.saga_id, Step::kProcessPayment, attempt));
    now = s.retry_at_ms;
    m.on_time(s, now, fired);
    ASSERT_EQ(commands(fired).size(), 1u);
    EXPECT_EQ(commands(fired)[0].command_id, id) << "the same idempotency key every attempt";
    EXPECT_EQ(commands(fired)[0].attempt, attempt + 1);
  }
  EXPECT_EQ(s.status, Status::kCompensating);
  EXPECT_NE(s.failure.find("process_payment failed after 5 attempts"), std::string::npos)
      << s.failure;
}

// Replaying the same inputs gives the same schedule, the same commands and
// the same state, byte for byte.
TEST(Saga, TheRetryScheduleIsIdenticalOnReplay) {
  auto run = [] {
    SagaMachine m;
    std::vector<Effect> all, effects;
    SagaState s = m.start(order_with(3), kT0, effects);
    all.insert(all.end(), effects.begin(), effects.end());
    for (int64_t t = kT0; t < kT0 + 10 * 60'000 && !is_terminal(s.status); t += 1000) {
      std::vector<Effect> fired;
      m.on_time(s, t, fired);  // a tick per second, no participant answers
      all.insert(all.end(), fired.begin(), fired.end());
    }
    std::string trace;
    for (const auto& e : all)
      trace += std::to_string(static_cast<int>(e.kind)) + e.command_id + "/" +
               std::to_string(e.attempt) + ";";
    return std::make_pair(trace, encode_saga(s));
  };
  auto a = run(), b = run();
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
  // Jitter differs between sagas and attempts (not one global delay).
  Settings settings;
  std::set<int64_t> delays;
  for (int i = 0; i < 20; ++i)
    delays.insert(retry_delay_ms(settings, saga_id_for("creator-7", "tiktok", std::to_string(i)),
                                 Step::kProcessPayment, 3));
  EXPECT_GT(delays.size(), 15u);
}

// A reply to an attempt that timed out is recorded and does not advance the
// saga; the retry (same key) does.
TEST(Saga, ALateReplyToATimedOutAttemptDoesNotAdvance) {
  SagaMachine m;
  std::vector<Effect> effects, out;
  SagaState s = m.start(order_with(1), kT0, effects);
  answer(m, s, effects, Outcome::kSucceeded, kT0, out);
  out.clear();
  m.on_time(s, s.deadline_ms, out);  // attempt 1 timed out
  const size_t history = s.history.size();
  m.on_reply(s, {Step::kProcessPayment, 1, -1, Outcome::kSucceeded, {}}, s.retry_at_ms - 1, out);
  EXPECT_EQ(s.step, Step::kProcessPayment) << "a late success must not advance";
  EXPECT_EQ(s.history.size(), history + 1);
  EXPECT_EQ(s.history.back().what, "late reply: succeeded");
  m.on_time(s, s.retry_at_ms, out);  // attempt 2, same key
  m.on_reply(s, {Step::kProcessPayment, 2, -1, Outcome::kSucceeded, {}}, s.deadline_ms - 1, out);
  EXPECT_EQ(s.step, Step::kGenerateShippingLabel);
}

// Every attempt of the payment failed transiently (no effect), so the saga
// compensated without a refund; then the provider captured after all: that
// late effect is refunded, once, and the saga ends compensated again.
TEST(Saga, ALateEffectTheSagaWasNotGoingToUndoIsCompensated) {
  SagaMachine m;
  std::vector<Effect> effects, out;
  SagaState s = m.start(order_with(1), kT0, effects);
  answer(m, s, effects, Outcome::kSucceeded, kT0, out);  // allocated, payment sent
  for (int attempt = 1; attempt <= 5; ++attempt) {
    std::vector<Effect> next;
    m.on_reply(s, {Step::kProcessPayment, attempt, -1, Outcome::kRetriable, "503"}, kT0 + attempt,
               next);
    if (attempt < 5) m.on_time(s, s.retry_at_ms, next);
    out = next;
  }
  int64_t now = kT0 + 10;
  auto undo = drive(m, s, out, {}, now);
  EXPECT_EQ(undo, (std::vector<Step>{Step::kReleaseInventory})) << "no refund for no capture";
  ASSERT_EQ(s.status, Status::kCompensated);

  std::vector<Effect> late;
  m.on_reply(s, {Step::kProcessPayment, 5, -1, Outcome::kSucceeded, {}}, now + 5, late);
  ASSERT_EQ(commands(late).size(), 1u) << "the late capture is refunded";
  EXPECT_EQ(commands(late)[0].step, Step::kRefundPayment);
  EXPECT_EQ(s.status, Status::kCompensating);
  std::vector<Effect> done;
  answer(m, s, late, Outcome::kSucceeded, now + 6, done);
  EXPECT_EQ(s.status, Status::kCompensated);
  EXPECT_TRUE(commands(done).empty()) << "mark_order_failed is not repeated";
  // The same reply again (the connector re-sends after a crash): covered.
  std::vector<Effect> dup;
  m.on_reply(s, {Step::kProcessPayment, 5, -1, Outcome::kSucceeded, {}}, now + 7, dup);
  EXPECT_TRUE(dup.empty());
}

// A payment that timed out counts as taken: its refund runs (and, by the
// participant contract, blocks a capture that comes later), so its late
// success changes nothing more.
TEST(Saga, ALateSuccessOfATimedOutStepIsAlreadyCovered) {
  SagaMachine m;
  std::vector<Effect> effects, out;
  SagaState s = m.start(order_with(1), kT0, effects);
  answer(m, s, effects, Outcome::kSucceeded, kT0, out);
  std::vector<Effect> fired;
  for (int guard = 0; guard < 20 && s.status == Status::kRunning; ++guard) {
    fired.clear();
    m.on_time(s, SagaMachine::next_due_ms(s), fired);
  }
  int64_t now = s.history.back().at_ms;
  auto undo = drive(m, s, fired, {}, now);
  EXPECT_EQ(undo, (std::vector<Step>{Step::kRefundPayment, Step::kReleaseInventory}));
  std::vector<Effect> late;
  m.on_reply(s, {Step::kProcessPayment, 1, -1, Outcome::kSucceeded, {}}, now + 1, late);
  EXPECT_TRUE(late.empty());
  EXPECT_EQ(s.status, Status::kCompensated);
}

// A cancellation while the label is being created: the label (it may exist),
// the payment and the reservation are undone.
TEST(Saga, ACancellationMidSagaCompensatesTheStepInFlightToo) {
  SagaMachine m;
  std::vector<Effect> effects, out;
  SagaState s = m.start(order_with(1), kT0, effects);
  answer(m, s, effects, Outcome::kSucceeded, kT0 + 1, out);  // allocated
  std::vector<Effect> pay = out;
  out.clear();
  answer(m, s, pay, Outcome::kSucceeded, kT0 + 2, out);  // paid; label requested
  ASSERT_EQ(s.step, Step::kGenerateShippingLabel);
  std::vector<Effect> cancel;
  m.on_cancelled(s, kT0 + 3, cancel);
  int64_t now = kT0 + 3;
  auto steps = drive(m, s, cancel, {}, now);
  EXPECT_EQ(steps, (std::vector<Step>{Step::kCancelShipping, Step::kRefundPayment,
                                      Step::kReleaseInventory}));
  EXPECT_EQ(s.status, Status::kCompensated);
  EXPECT_EQ(s.failure, "order cancelled");
  // The label's own reply, late: recorded; its undo already ran.
  std::vector<Effect> late;
  m.on_reply(s, {Step::kGenerateShippingLabel, 1, -1, Outcome::kSucceeded, {}}, now + 1, late);
  EXPECT_TRUE(late.empty());
  EXPECT_EQ(s.history.back().what, "late reply: succeeded");
  // A cancellation of a finished saga is only recorded.
  std::vector<Effect> none;
  SagaState done = m.start(order_with(1), kT0, effects = {});
  now = kT0;
  drive(m, done, effects, {}, now);
  m.on_cancelled(done, now + 1, none);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(done.status, Status::kCompleted);
}

// A compensation that keeps failing is retried, then escalated to an
// operator (needs_manual), never dropped; the operator's retry resumes it.
TEST(Saga, AFailingCompensationEscalatesAndAnOperatorRetryResumesIt) {
  SagaMachine m;
  std::vector<Effect> effects;
  SagaState s = m.start(order_with(1), kT0, effects);
  int64_t now = kT0;
  drive(
      m, s, effects,
      {{Step::kGenerateShippingLabel, Outcome::kFailed}, {Step::kRefundPayment, Outcome::kFailed}},
      now);
  // The refund failed once; retries fire on time and keep failing.
  size_t escalations = 0;
  for (int guard = 0; guard < 20 && s.status == Status::kCompensating; ++guard) {
    std::vector<Effect> fired, replies;
    now = SagaMachine::next_due_ms(s);
    m.on_time(s, now, fired);
    answer(m, s, fired, Outcome::kFailed, now + 1, replies);
    escalations += count(replies, Effect::Kind::kEscalated);
  }
  EXPECT_EQ(s.status, Status::kNeedsManual);
  EXPECT_EQ(escalations, 1u);
  EXPECT_EQ(s.step, Step::kRefundPayment);
  EXPECT_EQ(s.attempt, 5);
  EXPECT_EQ(SagaMachine::next_due_ms(s), -1) << "waits for the operator, no timer";
  std::vector<Effect> fired;
  m.on_time(s, now + 3'600'000, fired);
  EXPECT_TRUE(fired.empty()) << "nothing drops it or moves it on by itself";

  std::vector<Effect> retried;
  ASSERT_TRUE(m.retry(s, now + 10, retried));
  ASSERT_EQ(commands(retried).size(), 1u);
  EXPECT_EQ(commands(retried)[0].step, Step::kRefundPayment);
  EXPECT_EQ(commands(retried)[0].attempt, 1);
  now += 10;
  drive(m, s, retried, {}, now);
  EXPECT_EQ(s.status, Status::kCompensated);
  EXPECT_FALSE(m.retry(s, now, retried)) << "only a waiting saga can be retried";
}

// The connector was down past every attempt of a refund: each timed out and
// the saga escalated. Back up, the connector runs the waiting commands (one
// idempotency key, so one refund) and answers: that late success resolves
// the escalation and the rest of the compensation runs by itself.
TEST(Saga, ACompensationsLateSuccessResolvesItsEscalation) {
  SagaMachine m;
  std::vector<Effect> effects;
  SagaState s = m.start(order_with(2), kT0, effects);
  int64_t now = kT0;
  // Reserved and captured; the label is refused, so the refund begins; its
  // first attempt fails transiently, then the connector goes away.
  drive(m, s, effects,
        {{Step::kGenerateShippingLabel, Outcome::kFailed},
         {Step::kRefundPayment, Outcome::kRetriable}},
        now);
  ASSERT_EQ(s.status, Status::kCompensating);
  ASSERT_EQ(s.step, Step::kRefundPayment);
  size_t escalations = 0;
  for (int guard = 0; guard < 20 && s.status == Status::kCompensating; ++guard) {
    std::vector<Effect> fired;
    now = SagaMachine::next_due_ms(s);
    m.on_time(s, now, fired);  // a timeout or the next attempt, never answered
    escalations += count(fired, Effect::Kind::kEscalated);
  }
  ASSERT_EQ(s.status, Status::kNeedsManual);
  EXPECT_EQ(escalations, 1u);
  EXPECT_GE(s.finished_ms, 0);

  // A failure or an answer for another step changes nothing.
  std::vector<Effect> none;
  m.on_reply(s, {Step::kRefundPayment, 3, -1, Outcome::kFailed, {}}, now + 1, none);
  m.on_reply(s, {Step::kCancelShipping, 1, -1, Outcome::kSucceeded, {}}, now + 1, none);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(s.status, Status::kNeedsManual);

  std::vector<Effect> resumed;
  m.on_reply(s, {Step::kRefundPayment, 2, -1, Outcome::kSucceeded, {}}, now + 2, resumed);
  EXPECT_EQ(s.status, Status::kCompensating);
  EXPECT_EQ(s.finished_ms, -1);
  ASSERT_EQ(commands(resumed).size(), 2u) << "both items are released";
  EXPECT_EQ(commands(resumed)[0].step, Step::kReleaseInventory);
  // The same refund answered again (another attempt's reply) is only recorded.
  std::vector<Effect> again;
  m.on_reply(s, {Step::kRefundPayment, 4, -1, Outcome::kSucceeded, {}}, now + 3, again);
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(s.step, Step::kReleaseInventory);
  now += 10;
  drive(m, s, resumed, {}, now);
  EXPECT_EQ(s.status, Status::kCompensated);
  EXPECT_TRUE(s.compensated & (1ULL << static_cast<int>(Step::kRefundPayment)));
}

// Starts a one-item saga and answers every step before update_channel_status;
// returns that step's first command.
std::vector<Effect> to_channel_step(const SagaMachine& m, SagaState& s, int64_t& now) {
  std::vector<Effect> effects;
  s = m.start(order_with(1), kT0, effects);
  for (int guard = 0; guard < 20 && s.step != Step::kUpdateChannelStatus; ++guard) {
    std::vector<Effect> next;
    answer(m, s, effects, Outcome::kSucceeded, ++now, next);
    effects = std::move(next);
  }
  return effects;
}

// Marking the order shipped has no undo. When its attempts time out (the
// channel may have acted), the saga neither compensates (refunding an order
// the channel shows shipped) nor gives up: it escalates once and keeps
// retrying with the same command id until the channel answers.
TEST(Saga, TheIrreversibleStepEscalatesAndKeepsRetryingWhenItMayHaveActed) {
  SagaMachine m;
  SagaState s;
  int64_t now = kT0;
  to_channel_step(m, s, now);  // everything before it succeeds; the channel never answers
  ASSERT_EQ(s.step, Step::kUpdateChannelStatus);
  std::vector<Effect> all;
  for (int guard = 0; guard < 30 && s.status == Status::kRunning; ++guard) {
    std::vector<Effect> fired;
    now = SagaMachine::next_due_ms(s);
    m.on_time(s, now, fired);
    all.insert(all.end(), fired.begin(), fired.end());
  }
  ASSERT_EQ(s.status, Status::kNeedsManual);
  EXPECT_EQ(count(all, Effect::Kind::kEscalated), 1u);
  EXPECT_EQ(count(all, Effect::Kind::kDeadLetter), 1u);
  for (const auto& c : commands(all)) EXPECT_EQ(c.step, Step::kUpdateChannelStatus);
  EXPECT_NE(s.failure.find("cannot be undone"), std::string::npos) << s.failure;
  EXPECT_EQ(SagaMachine::next_due_ms(s), now + m.settings().backoff_max_ms) << "still retried";

  // Later attempts keep timing out: no second escalation, no compensation.
  std::vector<Effect> more;
  for (int i = 0; i < 4; ++i) {
    now = SagaMachine::next_due_ms(s);
    m.on_time(s, now, more);
  }
  EXPECT_EQ(count(more, Effect::Kind::kEscalated), 0u);
  for (const auto& c : commands(more)) EXPECT_EQ(c.step, Step::kUpdateChannelStatus);
  EXPECT_EQ(s.status, Status::kNeedsManual);

  // The channel is back: an earlier attempt's success completes the saga.
  std::vector<Effect> done;
  m.on_reply(s, {Step::kUpdateChannelStatus, 2, -1, Outcome::kSucceeded, {}}, now + 1, done);
  EXPECT_EQ(s.status, Status::kCompleted);
  EXPECT_EQ(s.failure, "") << "nothing failed after all; the history keeps the escalation";
  EXPECT_EQ(count(done, Effect::Kind::kStatusChanged), 1u);
  EXPECT_TRUE(commands(done).empty()) << "nothing is undone";
}

// While the step is still being retried, a late success of an earlier
// attempt is the channel's answer too; with certain failures only (no
// timeout) the saga compensates as for any step.
TEST(Saga, TheIrreversibleStepTakesALateSuccessAndCompensatesOnlyCertainFailures) {
  SagaMachine m;
  SagaState s;
  int64_t now = kT0;
  to_channel_step(m, s, now);
  std::vector<Effect> out;
  now = SagaMachine::next_due_ms(s);
  m.on_time(s, now, out);  // attempt 1 timed out; retry pending
  ASSERT_EQ(s.status, Status::kRunning);
  m.on_reply(s, {Step::kUpdateChannelStatus, 1, -1, Outcome::kSucceeded, {}}, now + 1, out);
  EXPECT_EQ(s.status, Status::kCompleted);

  SagaState c;
  now = kT0;
  std::vector<Effect> all = to_channel_step(m, c, now);
  for (int guard = 0; guard < 30 && c.status == Status::kRunning; ++guard) {
    std::vector<Effect> replies;
    answer(m, c, all, Outcome::kRetriable, now + 1, replies);  // the channel: 503, no effect
    all.clear();
    now = SagaMachine::next_due_ms(c);
    if (now < 0) break;
    m.on_time(c, now, all);
  }
  EXPECT_EQ(c.status, Status::kCompensating) << "no attempt may have acted: undone as usual";
  EXPECT_EQ(c.step, Step::kCancelShipping);
}

// Answers every command of the running step as retriable (uncertain where
// `uncertain` says so) and fires its retries until the saga leaves kRunning;
// returns the commands it issued then.
template <typename Uncertain>
std::vector<Effect> fail_every_attempt(const SagaMachine& m, SagaState& s, int64_t& now,
                                       std::vector<Effect> pending, Uncertain uncertain) {
  for (int guard = 0; guard < 20 && s.status == Status::kRunning; ++guard) {
    std::vector<Effect> replies;
    for (const auto& c : commands(pending)) {
      Reply r{c.step, c.attempt, c.item, Outcome::kRetriable, {}};
      r.uncertain = uncertain(c);
      m.on_reply(s, r, ++now, replies);
    }
    pending = replies;
    if (s.status != Status::kRunning || !commands(pending).empty()) continue;
    now = SagaMachine::next_due_ms(s);
    m.on_time(s, now, pending);
  }
  return pending;
}

// The connector's calls went unanswered: the payment may have been
// captured, so the compensation refunds it (the refund blocks a capture that
// had not happened); and the channel step escalates rather than undo. The
// same when only the first attempt went unanswered and the others were
// refused without a call (an open circuit): every attempt has the same
// command id, so the first may have captured.
TEST(Saga, AnUncertainAnswerCountsAsATimeoutEvenWhenLaterAttemptsAreRefused) {
  for (bool only_first : {false, true}) {
    SCOPED_TRACE(only_first ? "first attempt unanswered" : "every attempt unanswered");
    SagaMachine m;
    std::vector<Effect> effects;
    SagaState s = m.start(order_with(1), kT0, effects);
    int64_t now = kT0;
    std::vector<Effect> next;
    answer(m, s, effects, Outcome::kSucceeded, ++now, next);  // reserved
    ASSERT_EQ(s.step, Step::kProcessPayment);
    std::vector<Effect> pending = fail_every_attempt(
        m, s, now, next, [&](const Effect& c) { return !only_first || c.attempt == 1; });
    ASSERT_EQ(s.status, Status::kCompensating);
    ASSERT_FALSE(commands(pending).empty());
    EXPECT_EQ(commands(pending)[0].step, Step::kRefundPayment) << "the capture may have happened";
    if (!only_first) {
      EXPECT_NE(s.failure.find("no answer"), std::string::npos) << s.failure;
    }
  }
}

// An operator may abort a saga escalated on the irreversible step.
TEST(Saga, AnOperatorMayAbortOrRetryASagaEscalatedOnAForwardStep) {
  SagaMachine m;
  for (bool abort : {true, false}) {
    SagaState s;
    int64_t now = kT0;
    to_channel_step(m, s, now);
    for (int guard = 0; guard < 30 && s.status == Status::kRunning; ++guard) {
      std::vector<Effect> fired;
      now = SagaMachine::next_due_ms(s);
      m.on_time(s, now, fired);
    }
    ASSERT_EQ(s.status, Status::kNeedsManual);
    std::vector<Effect> decided;
    if (abort) {
      ASSERT_TRUE(m.abort(s, now + 1, decided));
      EXPECT_EQ(s.status, Status::kCompensating);
      ASSERT_FALSE(commands(decided).empty());
      EXPECT_EQ(commands(decided)[0].step, Step::kCancelShipping);
    } else {
      ASSERT_TRUE(m.retry(s, now + 1, decided));
      EXPECT_EQ(s.status, Status::kRunning);
      ASSERT_EQ(commands(decided).size(), 1u);
      EXPECT_EQ(commands(decided)[0].step, Step::kUpdateChannelStatus);
      EXPECT_EQ(commands(decided)[0].attempt, 1);
      std::vector<Effect> done;
      answer(m, s, decided, Outcome::kSucceeded, now + 2, done);
      EXPECT_EQ(s.status, Status::kCompleted);
    }
  }
}

TEST(Saga, AnOperatorAbortCompensatesARunningSaga) {
  SagaMachine m;
  std::vector<Effect> effects, out;
  SagaState s = m.start(order_with(1), kT0, effects);
  answer(m, s, effects, Outcome::kSucceeded, kT0 + 1, out);  // allocated, payment in flight
  std::vector<Effect> aborted;
  ASSERT_TRUE(m.abort(s, kT0 + 2, aborted));
  ASSERT_EQ(commands(aborted).size(), 1u);
  EXPECT_EQ(commands(aborted)[0].step, Step::kRefundPayment) << "the payment in flight";
  EXPECT_EQ(s.failure, "aborted by an operator");
}

TEST(Saga, StateRoundTripsAndDamagedStateIsRefused) {
  SagaMachine m;
  std::vector<Effect> effects;
  SagaState s = m.start(order_with(3), kT0, effects);
  int64_t now = kT0;
  drive(m, s, effects, {{Step::kUpdateChannelStatus, Outcome::kFailed}}, now);
  s.tracking_number = "9400111202555842761234";
  s.carrier_slug = "usps";
  const std::string encoded = encode_saga(s);
  SagaState back;
  ASSERT_TRUE(decode_saga(encoded, back));
  EXPECT_EQ(encode_saga(back), encoded);
  EXPECT_EQ(back.order.items.size(), 3u);
  EXPECT_EQ(back.status, Status::kCompensated);
  EXPECT_EQ(back.history.size(), s.history.size());
  EXPECT_EQ(back.tracking_number, "9400111202555842761234");
  EXPECT_EQ(back.carrier_slug, "usps");
  // A saga written before labels were recorded ends after its history: that
  // one cut still decodes (without a label); every other cut is refused.
  SagaState unlabelled = s;
  unlabelled.tracking_number.clear();
  unlabelled.carrier_slug.clear();
  const size_t legacy_end = encode_saga(unlabelled).size() - 2;  // two empty strings
  for (size_t cut = 0; cut < encoded.size(); ++cut) {
    SagaState partial;
    const bool decoded = decode_saga(std::string_view(encoded).substr(0, cut), partial);
    EXPECT_EQ(decoded, cut == legacy_end) << cut;
    if (decoded) {
      EXPECT_TRUE(partial.tracking_number.empty());
    }
  }
  EXPECT_FALSE(decode_saga(encoded + "x", back));
  EXPECT_FALSE(decode_saga("1|not binary", back));
}

}  // namespace
}  // namespace cf::saga
