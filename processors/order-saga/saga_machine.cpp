#include "saga_machine.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "cf/binary_codec.h"
#include "cf/signature.h"

namespace cf::saga {
namespace {

constexpr std::array<std::string_view, kStepCount> kStepNames = {
    "validate_order",          "allocate_inventory",    "process_payment",
    "generate_shipping_label", "update_channel_status", "cancel_shipping",
    "refund_payment",          "release_inventory",     "mark_order_failed"};
constexpr std::array<std::string_view, 5> kStatusNames = {"running", "compensating", "completed",
                                                          "compensated", "needs_manual"};

uint32_t bit(Step step) { return 1u << static_cast<unsigned>(step); }

// Compensations in the order they run, with the forward step each undoes.
struct Undo {
  Step compensation;
  Step forward;
};
constexpr std::array<Undo, 3> kUndo = {{{Step::kCancelShipping, Step::kGenerateShippingLabel},
                                        {Step::kRefundPayment, Step::kProcessPayment},
                                        {Step::kReleaseInventory, Step::kAllocateInventory}}};

std::optional<Step> undoing(Step forward) {
  for (const auto& u : kUndo)
    if (u.forward == forward) return u.compensation;
  return std::nullopt;
}

// Forward steps with an effect outside the saga that a compensation undoes.
bool has_effect(Step step) { return undoing(step).has_value(); }

// The forward step nothing undoes: the channel's fulfillment. Once it may
// have acted, compensating would refund and cancel the label of an order the
// channel shows as shipped; it is retried until it answers instead.
bool is_irreversible(Step step) { return step == Step::kUpdateChannelStatus; }

uint64_t fnv1a(std::string_view data, uint64_t hash = 14695981039346656037ULL) {
  for (unsigned char c : data) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

uint64_t all_items(size_t n) { return n >= 64 ? ~0ULL : (1ULL << n) - 1; }

std::string validation_error(const Order& order, const Settings& settings) {
  if (order.items.empty()) return "no line items";
  if (order.items.size() > settings.max_items) return "more line items than the saga handles";
  for (const auto& item : order.items) {
    if (item.product_sku.empty()) return "a line item without a product SKU";
    if (item.quantity <= 0) return "a line item with a quantity below 1";
  }
  if (order.total_minor < 0) return "a negative total";
  if (order.currency.empty()) return "no currency";
  return {};
}

}  // namespace

std::string_view step_name(Step step) { return kStepNames[static_cast<size_t>(step)]; }

std::optional<Step> step_from_name(std::string_view name) {
  for (size_t i = 0; i < kStepNames.size(); ++i)
    if (kStepNames[i] == name) return static_cast<Step>(i);
  return std::nullopt;
}

bool is_compensation(Step step) { return step >= Step::kCancelShipping; }

bool is_inventory_step(Step step) {
  return step == Step::kAllocateInventory || step == Step::kReleaseInventory;
}

std::string_view status_name(Status status) { return kStatusNames[static_cast<size_t>(status)]; }

bool is_terminal(Status status) {
  return status == Status::kCompleted || status == Status::kCompensated;
}

std::string saga_id_for(std::string_view creator_id, std::string_view channel,
                        std::string_view order_id) {
  // A digest, so an order id of any bytes makes an id with no separator in it.
  // The creator is part of it: an order id another creator's (signed) webhook
  // also names can never take over, or block, this creator's saga.
  std::string material(creator_id);
  material.push_back('\n');
  material.append(channel);
  material.push_back('\n');
  material.append(order_id);
  return "saga-" + sha256_hex(material).substr(0, 32);
}

std::optional<Step> undone_by(Step compensation) {
  for (const auto& u : kUndo)
    if (u.compensation == compensation) return u.forward;
  return std::nullopt;
}

std::string command_id(const SagaState& saga, Step step, int item) {
  std::string id = saga.saga_id + "." + std::string(step_name(step));
  if (item >= 0) id += "." + std::to_string(item);
  return id;
}

std::optional<CommandRef> parse_command_id(std::string_view id) {
  std::vector<std::string_view> parts;
  while (true) {
    auto dot = id.find('.');
    parts.push_back(id.substr(0, dot));
    if (dot == std::string_view::npos) break;
    id.remove_prefix(dot + 1);
  }
  if (parts.size() != 2 && parts.size() != 3) return std::nullopt;
  if (parts[0].size() != 37 || parts[0].substr(0, 5) != "saga-") return std::nullopt;
  auto step = step_from_name(parts[1]);
  if (!step) return std::nullopt;
  auto number = [](std::string_view text, int& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty() && out >= 0;
  };
  CommandRef ref;
  ref.saga_id = std::string(parts[0]);
  ref.step = *step;
  if (parts.size() == 3 && !number(parts[2], ref.item)) return std::nullopt;
  return ref;
}

int64_t retry_delay_ms(const Settings& settings, std::string_view saga_id, Step step, int attempt) {
  int64_t delay = settings.backoff_base_ms;
  for (int i = 1; i < attempt && delay < settings.backoff_max_ms; ++i) delay *= 2;
  delay = std::min(delay, settings.backoff_max_ms);
  std::string material(saga_id);
  material.push_back(static_cast<char>(step));
  material.append(std::to_string(attempt));
  const double unit = static_cast<double>(fnv1a(material) >> 11) / 9007199254740992.0;  // [0, 1)
  return static_cast<int64_t>(static_cast<double>(delay) * (0.5 + 0.5 * unit));
}

void SagaMachine::note(SagaState& saga, int64_t now_ms, std::string what) const {
  note(saga, now_ms, saga.step, saga.attempt, std::move(what));
}

void SagaMachine::note(SagaState& saga, int64_t now_ms, Step step, int attempt,
                       std::string what) const {
  if (saga.history.size() >= settings_.history_limit && !saga.history.empty()) {
    saga.history.erase(saga.history.begin());
  }
  saga.history.push_back({now_ms, step, attempt, std::move(what)});
}

SagaState SagaMachine::start(const Order& order, int64_t now_ms,
                             std::vector<Effect>& effects) const {
  SagaState saga;
  saga.saga_id = saga_id_for(order.creator_id, order.channel, order.order_id);
  saga.order = order;
  saga.started_ms = now_ms;
  saga.step = Step::kValidateOrder;
  saga.attempt = 1;
  saga.attempts_total = 1;
  const std::string invalid = validation_error(order, settings_);
  if (!invalid.empty()) {
    note(saga, now_ms, "failed: " + invalid);
    begin_compensation(saga, now_ms, "validate_order: " + invalid, effects);
    return saga;
  }
  note(saga, now_ms, "succeeded");
  saga.effects |= bit(Step::kValidateOrder);
  begin_step(saga, Step::kAllocateInventory, now_ms, effects);
  return saga;
}

void SagaMachine::begin_step(SagaState& saga, Step step, int64_t now_ms,
                             std::vector<Effect>& effects) const {
  saga.step = step;
  saga.attempt = 0;
  saga.items_done = 0;
  effects.push_back({Effect::Kind::kStatusChanged, step, 0, {}, -1});
  send_attempt(saga, now_ms, effects);
}

void SagaMachine::send_attempt(SagaState& saga, int64_t now_ms,
                               std::vector<Effect>& effects) const {
  ++saga.attempt;
  ++saga.attempts_total;
  saga.retry_at_ms = -1;
  if (saga.step == Step::kMarkOrderFailed) {  // local: records the order as failed
    saga.deadline_ms = -1;
    note(saga, now_ms, "succeeded");
    step_succeeded(saga, now_ms, effects);
    return;
  }
  saga.deadline_ms = now_ms + settings_.step_timeout_ms;
  note(saga, now_ms, "sent");
  if (is_inventory_step(saga.step)) {
    for (size_t i = 0; i < saga.order.items.size(); ++i) {
      if (saga.items_done & (1ULL << i)) continue;  // answered by an earlier attempt
      const int item = static_cast<int>(i);
      effects.push_back({Effect::Kind::kCommand, saga.step, saga.attempt,
                         command_id(saga, saga.step, item), item});
    }
  } else {
    effects.push_back(
        {Effect::Kind::kCommand, saga.step, saga.attempt, command_id(saga, saga.step), -1});
  }
}

void SagaMachine::step_succeeded(SagaState& saga, int64_t now_ms,
                                 std::vector<Effect>& effects) const {
  saga.deadline_ms = -1;
  saga.retry_at_ms = -1;
  if (is_compensation(saga.step)) {
    saga.compensated |= bit(saga.step);
    next_compensation(saga, now_ms, effects);
    return;
  }
  saga.effects |= bit(saga.step);
  if (saga.step == Step::kUpdateChannelStatus) {
    finish(saga, Status::kCompleted, now_ms, effects);
    return;
  }
  begin_step(saga, static_cast<Step>(static_cast<int>(saga.step) + 1), now_ms, effects);
}

void SagaMachine::attempt_failed(SagaState& saga, int64_t now_ms, bool uncertain, std::string why,
                                 std::vector<Effect>& effects) const {
  note(saga, now_ms, why);
  saga.deadline_ms = -1;
  // An unanswered attempt may have acted, and every attempt carries the same
  // command id: remembered across the step's later attempts (its effect
  // bit), even when they are refused without a call (an open circuit). A
  // step with an undo gets it if the saga compensates; the irreversible step
  // is retried until it answers.
  if (uncertain && (has_effect(saga.step) || is_irreversible(saga.step))) {
    saga.effects |= bit(saga.step);
  }
  if (saga.attempt >= settings_.max_attempts && is_irreversible(saga.step) &&
      (saga.effects & bit(saga.step))) {
    // Every attempt carries the same command id: the next one is answered
    // with the effect if an earlier one acted. Keep trying at the longest
    // backoff, and tell an operator once.
    saga.retry_at_ms = now_ms + settings_.backoff_max_ms;
    if (saga.status == Status::kNeedsManual) return;
    saga.failure = std::string(step_name(saga.step)) + " failed after " +
                   std::to_string(saga.attempt) + " attempts (" + why +
                   "); it may have acted and cannot be undone: retried until it answers";
    saga.status = Status::kNeedsManual;
    if (saga.finished_ms < 0) saga.finished_ms = now_ms;
    note(saga, now_ms, "escalated to an operator; still retried");
    effects.push_back({Effect::Kind::kDeadLetter, saga.step, saga.attempt, {}, -1});
    effects.push_back({Effect::Kind::kEscalated, saga.step, saga.attempt, {}, -1});
    effects.push_back({Effect::Kind::kStatusChanged, saga.step, saga.attempt, {}, -1});
    return;
  }
  if (saga.attempt < settings_.max_attempts) {
    saga.retry_at_ms = now_ms + retry_delay_ms(settings_, saga.saga_id, saga.step, saga.attempt);
    return;
  }
  saga.retry_at_ms = -1;
  const std::string reason = std::string(step_name(saga.step)) + " failed after " +
                             std::to_string(saga.attempt) + " attempts (" + why + ")";
  if (is_compensation(saga.step)) {
    saga.failure = saga.failure.empty() ? reason : saga.failure + "; " + reason;
    saga.status = Status::kNeedsManual;
    if (saga.finished_ms < 0) saga.finished_ms = now_ms;
    note(saga, now_ms, "escalated to an operator");
    effects.push_back({Effect::Kind::kEscalated, saga.step, saga.attempt, {}, -1});
    effects.push_back({Effect::Kind::kStatusChanged, saga.step, saga.attempt, {}, -1});
    return;
  }
  // An attempt that timed out set the effect bit above: the compensation runs
  // too (participants answer a compensation of nothing as done).
  effects.push_back({Effect::Kind::kDeadLetter, saga.step, saga.attempt, {}, -1});
  begin_compensation(saga, now_ms, reason, effects);
}

void SagaMachine::begin_compensation(SagaState& saga, int64_t now_ms, std::string reason,
                                     std::vector<Effect>& effects) const {
  // A step still waiting for its reply may have acted: undo it too.
  if (saga.status == Status::kRunning && !is_compensation(saga.step) && has_effect(saga.step) &&
      (saga.deadline_ms >= 0 || saga.retry_at_ms >= 0)) {
    saga.effects |= bit(saga.step);
  }
  saga.status = Status::kCompensating;
  saga.failure = std::move(reason);
  saga.deadline_ms = -1;
  saga.retry_at_ms = -1;
  note(saga, now_ms, "compensating: " + saga.failure);
  next_compensation(saga, now_ms, effects);
}

void SagaMachine::next_compensation(SagaState& saga, int64_t now_ms,
                                    std::vector<Effect>& effects) const {
  for (const auto& u : kUndo) {
    if ((saga.effects & bit(u.forward)) && !(saga.compensated & bit(u.compensation))) {
      begin_step(saga, u.compensation, now_ms, effects);
      return;
    }
  }
  if (!(saga.compensated & bit(Step::kMarkOrderFailed))) {
    begin_step(saga, Step::kMarkOrderFailed, now_ms, effects);
    return;
  }
  finish(saga, Status::kCompensated, now_ms, effects);
}

void SagaMachine::finish(SagaState& saga, Status status, int64_t now_ms,
                         std::vector<Effect>& effects) const {
  saga.status = status;
  saga.deadline_ms = -1;
  saga.retry_at_ms = -1;
  if (saga.finished_ms < 0) saga.finished_ms = now_ms;
  note(saga, now_ms, std::string(status_name(status)));
  effects.push_back({Effect::Kind::kStatusChanged, saga.step, saga.attempt, {}, -1});
}

void SagaMachine::on_reply(SagaState& saga, const Reply& reply, int64_t now_ms,
                           std::vector<Effect>& effects) const {
  // A saga waiting for an operator may still be retrying its step (an
  // irreversible step whose outcome is unknown).
  const bool active = saga.status == Status::kRunning || saga.status == Status::kCompensating ||
                      saga.status == Status::kNeedsManual;
  const bool current = active && reply.step == saga.step && saga.deadline_ms >= 0 &&
                       (reply.attempt == 0 || reply.attempt == saga.attempt);
  const bool item_ok =
      !is_inventory_step(reply.step) ||
      (reply.item >= 0 && static_cast<size_t>(reply.item) < saga.order.items.size() &&
       !(saga.items_done & (1ULL << reply.item)));
  if (!current && item_ok && late_success_counts(saga, reply, now_ms, effects)) return;
  if (!current || !item_ok) {
    late_reply(saga, reply, now_ms, effects);
    return;
  }
  const std::string detail = reply.detail.empty() ? "" : ": " + reply.detail;
  const std::string item =
      reply.item >= 0 ? " (item " + std::to_string(reply.item) + ")" : std::string();
  switch (reply.outcome) {
    case Outcome::kSucceeded:
      note(saga, now_ms, "succeeded" + item);
      if (saga.status == Status::kNeedsManual) resume(saga, now_ms);
      if (reply.step == Step::kGenerateShippingLabel && !reply.tracking_number.empty()) {
        // What carriers will name the shipment by (the order is joined through it).
        saga.tracking_number = reply.tracking_number;
        saga.carrier_slug = reply.carrier_slug;
        effects.push_back({Effect::Kind::kLabelRecorded, reply.step, reply.attempt, {}, -1});
      }
      if (is_inventory_step(reply.step)) {
        saga.items_done |= 1ULL << reply.item;
        if (saga.items_done != all_items(saga.order.items.size())) return;
      }
      step_succeeded(saga, now_ms, effects);
      return;
    case Outcome::kFailed:
      if (!is_compensation(reply.step)) {
        note(saga, now_ms, "failed" + item + detail);
        // Other items may be reserved already: release them all.
        if (is_inventory_step(reply.step) && saga.items_done != 0) {
          saga.effects |= bit(reply.step);
        }
        saga.deadline_ms = -1;  // answered: not in flight any more
        begin_compensation(saga, now_ms, std::string(step_name(reply.step)) + " failed" + detail,
                           effects);
        return;
      }
      attempt_failed(saga, now_ms, false, "failed" + item + detail, effects);
      return;
    case Outcome::kRetriable:
      attempt_failed(saga, now_ms, reply.uncertain,
                     (reply.uncertain ? "no answer" : "transient failure") + item + detail,
                     effects);
      return;
  }
}

bool SagaMachine::late_success_counts(SagaState& saga, const Reply& reply, int64_t now_ms,
                                      std::vector<Effect>& effects) const {
  // Every attempt of a step carries the same command id, so the participant
  // acted at most once, whichever attempt it answers. Most late successes
  // are left to the next attempt (answered with the same effect) or undone,
  // but two are taken as the step's success:
  // - a compensation's: the undo happened. It arrives when the connector
  //   was down past the attempts (its commands wait in the log and run when
  //   it is back), and resolves the escalation that caused;
  // - the irreversible step's: the channel acted, and nothing undoes it.
  if (reply.outcome != Outcome::kSucceeded || reply.step != saga.step) return false;
  const bool undo = is_compensation(reply.step) &&
                    (saga.status == Status::kCompensating || saga.status == Status::kNeedsManual);
  const bool irreversible = is_irreversible(reply.step) && (saga.status == Status::kRunning ||
                                                            saga.status == Status::kNeedsManual);
  if (!undo && !irreversible) return false;
  note(saga, now_ms, reply.step, reply.attempt, "late reply: succeeded (taken)");
  if (is_inventory_step(reply.step)) {
    saga.items_done |= 1ULL << reply.item;
    // The other items are still retried (compensating) or wait for an operator.
    if (saga.items_done != all_items(saga.order.items.size())) return true;
  }
  if (saga.status == Status::kNeedsManual) resume(saga, now_ms);
  step_succeeded(saga, now_ms, effects);
  return true;
}

void SagaMachine::resume(SagaState& saga, int64_t now_ms) const {
  saga.status = is_compensation(saga.step) ? Status::kCompensating : Status::kRunning;
  // A forward step answered: nothing failed after all (the history keeps the
  // escalation); a compensation keeps the reason it compensates for.
  if (saga.status == Status::kRunning) saga.failure.clear();
  saga.finished_ms = -1;
  note(saga, now_ms, "escalation resolved by the participant's answer");
}

void SagaMachine::late_reply(SagaState& saga, const Reply& reply, int64_t now_ms,
                             std::vector<Effect>& effects) const {
  const char* outcome = reply.outcome == Outcome::kSucceeded ? "succeeded"
                        : reply.outcome == Outcome::kFailed  ? "failed"
                                                             : "transient failure";
  note(saga, now_ms, reply.step, reply.attempt, std::string("late reply: ") + outcome);
  // An effect the saga was not going to undo: it gave up on the step after
  // transient failures (a timeout counts as an effect already), and then the
  // participant acted. A counted effect is covered: its undo ran, runs, or
  // is to come, and an undo blocks an effect that comes after it.
  if (reply.outcome != Outcome::kSucceeded || !has_effect(reply.step)) return;
  if (saga.status == Status::kRunning || saga.status == Status::kCompleted) return;
  if (saga.effects & bit(reply.step)) return;
  saga.effects |= bit(reply.step);
  if (saga.status == Status::kCompensated) {
    saga.status = Status::kCompensating;
    note(saga, now_ms, "compensating a late effect");
    next_compensation(saga, now_ms, effects);
  }
  // Compensating, or waiting for an operator: it runs after the current step.
}

void SagaMachine::on_cancelled(SagaState& saga, int64_t now_ms,
                               std::vector<Effect>& effects) const {
  if (saga.status != Status::kRunning) {
    note(saga, now_ms,
         "order cancelled (saga already " + std::string(status_name(saga.status)) + ")");
    return;
  }
  begin_compensation(saga, now_ms, "order cancelled", effects);
}

void SagaMachine::on_time(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const {
  if (saga.deadline_ms >= 0 && now_ms >= saga.deadline_ms) {
    attempt_failed(saga, now_ms, true, "timed out", effects);
  } else if (saga.retry_at_ms >= 0 && now_ms >= saga.retry_at_ms) {
    send_attempt(saga, now_ms, effects);
  }
}

int64_t SagaMachine::next_due_ms(const SagaState& saga) {
  return saga.deadline_ms >= 0 ? saga.deadline_ms : saga.retry_at_ms;
}

bool SagaMachine::retry(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const {
  if (saga.status != Status::kNeedsManual) return false;
  saga.status = is_compensation(saga.step) ? Status::kCompensating : Status::kRunning;
  saga.finished_ms = -1;
  note(saga, now_ms, "operator: retry");
  begin_step(saga, saga.step, now_ms, effects);
  return true;
}

bool SagaMachine::abort(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const {
  // Running, or escalated on a forward step (the operator chooses to undo).
  const bool forward_escalation =
      saga.status == Status::kNeedsManual && !is_compensation(saga.step);
  if (saga.status != Status::kRunning && !forward_escalation) return false;
  if (forward_escalation) saga.status = Status::kRunning;
  begin_compensation(saga, now_ms, "aborted by an operator", effects);
  return true;
}

std::string encode_saga(const SagaState& s) {
  std::string out;
  BinaryWriter w(out);
  w.bytes(s.saga_id)
      .bytes(s.order.creator_id)
      .bytes(s.order.channel)
      .bytes(s.order.order_id)
      .bytes(s.order.currency)
      .integer(s.order.total_minor)
      .count(s.order.items.size());
  for (const auto& item : s.order.items) w.bytes(item.product_sku).integer(item.quantity);
  w.count(static_cast<uint64_t>(s.status))
      .count(static_cast<uint64_t>(s.step))
      .integer(s.attempt)
      .integer(s.attempts_total)
      .integer(s.deadline_ms)
      .integer(s.retry_at_ms)
      .count(s.effects)
      .count(s.compensated)
      .count(s.items_done)
      .bytes(s.failure)
      .integer(s.started_ms)
      .integer(s.finished_ms)
      .count(s.history.size());
  for (const auto& h : s.history) {
    w.integer(h.at_ms).count(static_cast<uint64_t>(h.step)).integer(h.attempt).bytes(h.what);
  }
  w.bytes(s.tracking_number).bytes(s.carrier_slug);
  return out;
}

bool decode_saga(std::string_view value, SagaState& s) {
  BinaryReader r(value);
  if (!r.ok()) return false;
  uint64_t n = 0, status = 0, step = 0, effects = 0, compensated = 0, items_done = 0;
  int64_t attempt = 0, attempts_total = 0;
  s = SagaState{};
  bool ok = r.bytes(s.saga_id) && r.bytes(s.order.creator_id) && r.bytes(s.order.channel) &&
            r.bytes(s.order.order_id) && r.bytes(s.order.currency) &&
            r.integer(s.order.total_minor) && r.count(n, 64);
  for (uint64_t i = 0; ok && i < n; ++i) {
    Item item;
    ok = r.bytes(item.product_sku) && r.integer(item.quantity);
    s.order.items.push_back(std::move(item));
  }
  ok = ok && r.count(status, 4) && r.count(step, kStepCount - 1) && r.integer(attempt) &&
       r.integer(attempts_total) && r.integer(s.deadline_ms) && r.integer(s.retry_at_ms) &&
       r.count(effects, UINT32_MAX) && r.count(compensated, UINT32_MAX) &&
       r.count(items_done, UINT64_MAX) && r.bytes(s.failure) && r.integer(s.started_ms) &&
       r.integer(s.finished_ms) && r.count(n, 1024);
  for (uint64_t i = 0; ok && i < n; ++i) {
    HistoryEntry h;
    uint64_t h_step = 0;
    int64_t h_attempt = 0;
    ok = r.integer(h.at_ms) && r.count(h_step, kStepCount - 1) && r.integer(h_attempt) &&
         r.bytes(h.what);
    h.step = static_cast<Step>(h_step);
    h.attempt = static_cast<int>(h_attempt);
    s.history.push_back(std::move(h));
  }
  // Sagas written before labels were recorded end after their history.
  if (ok && !r.at_end()) ok = r.bytes(s.tracking_number) && r.bytes(s.carrier_slug);
  if (!ok || !r.at_end() || attempt < 0 || attempt > 1'000'000 || attempts_total < 0 ||
      attempts_total > 1'000'000'000) {
    return false;
  }
  s.status = static_cast<Status>(status);
  s.step = static_cast<Step>(step);
  s.attempt = static_cast<int>(attempt);
  s.attempts_total = static_cast<int>(attempts_total);
  s.effects = static_cast<uint32_t>(effects);
  s.compensated = static_cast<uint32_t>(compensated);
  s.items_done = items_done;
  return true;
}

}  // namespace cf::saga
