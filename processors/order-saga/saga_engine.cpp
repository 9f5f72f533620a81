#include "saga_engine.h"

#include <set>
#include <stdexcept>

#include "cf/json_builder.h"

namespace cf::saga {

namespace {

size_t slot(Input input) { return static_cast<size_t>(input); }

void write_saga_fields(JsonBuilder& w, const SagaEntry& entry, int64_t now_ms) {
  const SagaState& s = entry.saga;
  w.key("saga_id").string(s.saga_id);
  w.key("creator_id").string(s.order.creator_id);
  w.key("channel").string(s.order.channel);
  w.key("order_id").string(s.order.order_id);
  w.key("status").string(status_name(s.status));
  w.key("step").string(step_name(s.step));
  w.key("attempt").number(s.attempt);
  w.key("attempts_total").number(s.attempts_total);
  w.key("version").number(entry.version);
  w.key("manual").boolean(entry.manual);
  w.key("started_ms").number(s.started_ms);
  if (s.finished_ms >= 0) {
    w.key("finished_ms").number(s.finished_ms);
  } else {
    w.key("finished_ms").null();
  }
  w.key("failure").string(s.failure);
  w.key("currency").string(s.order.currency);
  w.key("amount_minor").number(s.order.total_minor);
  // Money the saga took and gave back (net revenue on the dashboard).
  const bool captured = (s.effects >> static_cast<int>(Step::kProcessPayment)) & 1U;
  const bool refunded = (s.compensated >> static_cast<int>(Step::kRefundPayment)) & 1U;
  w.key("payment_captured").boolean(captured);
  w.key("payment_refunded").boolean(refunded);
  if (!s.tracking_number.empty()) {
    // The label's number: the reconciler joins carriers' updates to the order through it.
    w.key("tracking_number").string(s.tracking_number);
    w.key("carrier_slug").string(s.carrier_slug);
    w.key("label_cancelled")
        .boolean((s.compensated >> static_cast<int>(Step::kCancelShipping)) & 1U);
  }
  w.key("event_ms").number(now_ms);
  w.key("history").begin_array();
  for (const auto& h : s.history) {
    w.begin_object();
    w.key("at_ms").number(h.at_ms);
    w.key("step").string(step_name(h.step));
    w.key("attempt").number(h.attempt);
    w.key("what").string(h.what);
    w.end_object();
  }
  w.end_array();
}

}  // namespace

OutputRecord saga_event_record(const SagaEntry& entry, int64_t now_ms, const std::string& topic) {
  JsonBuilder w(1024 + 96 * entry.saga.history.size());
  w.begin_object();
  write_saga_fields(w, entry, now_ms);
  w.end_object();
  return {topic, entry.saga.order.creator_id, w.take(), {{"cf-event-type", "saga.status"}}};
}

OutputRecord label_record(const SagaState& s, int64_t now_ms, const std::string& topic) {
  JsonBuilder w(256);
  w.begin_object();
  w.key("tracking_number").string(s.tracking_number);
  w.key("carrier_slug").string(s.carrier_slug);
  w.key("creator_id").string(s.order.creator_id);
  w.key("channel").string(s.order.channel);
  w.key("order_id").string(s.order.order_id);
  w.key("saga_id").string(s.saga_id);
  w.key("created_ms").number(now_ms);
  w.end_object();
  // Keyed by the number: co-partitioned with the carriers' updates on
  // webhooks.shipping.raw, which the validator joins to it.
  return {topic, s.tracking_number, w.take(), {{"cf-event-type", "shipping.label"}}};
}

OutputRecord saga_dead_letter(const SagaEntry& entry, int64_t now_ms, const std::string& topic) {
  JsonBuilder w(1024 + 96 * entry.saga.history.size());
  w.begin_object();
  write_saga_fields(w, entry, now_ms);
  w.end_object();
  const std::string why = std::string(step_name(entry.saga.step)) + " failed " +
                          std::to_string(entry.saga.attempt) + " times";
  return {topic,
          entry.saga.order.creator_id,
          w.take(),
          {{"cf-dlq-error-class", "saga_step_exhausted"},
           {"cf-dlq-error", why},
           {"cf-dlq-processor", "order-saga"},
           {"cf-event-type", "saga.dead_letter"}}};
}

SagaEngine::SagaEngine(EngineSettings settings, EngineTopics topics)
    : settings_(settings), topics_(std::move(topics)), machine_(settings.machine) {}

bool SagaEngine::input_of(std::string_view topic, Input& input) const {
  if (topic == topics_.orders) {
    input = Input::kOrders;
  } else if (topic == topics_.inventory_replies) {
    input = Input::kInventoryReplies;
  } else if (topic == topics_.saga_replies) {
    input = Input::kSagaReplies;
  } else if (topic == topics_.operator_commands) {
    input = Input::kOperator;
  } else {
    return false;
  }
  return true;
}

bool SagaEngine::replayed(const SagaEntry& entry, Input input, int64_t offset,
                          std::vector<OutputRecord>& outputs) {
  if (offset > entry.applied[slot(input)]) return false;
  // Applied before a crash: its outputs, if they may not have gone out, are
  // journalled; re-send them byte-identical.
  if (const auto* sent = entry.journals[slot(input)].find(offset)) {
    outputs.insert(outputs.end(), sent->begin(), sent->end());
    ++counters_.replays;
  }
  return true;
}

void SagaEngine::on_record(SagaPartitionState& store, Input input, std::string_view value,
                           int64_t offset, int64_t record_ms, int64_t completed_below,
                           std::vector<OutputRecord>& outputs) {
  std::vector<Effect> effects;
  auto reply = [&](const ReplyRecord& r) {
    SagaEntry* entry = store.find(r.saga_id);
    if (entry == nullptr || entry->saga.order.creator_id != r.creator_id) {
      ++counters_.unknown_replies;
      return;
    }
    if (replayed(*entry, input, offset, outputs)) return;
    SagaEntry next = *entry;
    const std::string before = encode_saga(next.saga);
    machine_.on_reply(next.saga, r.reply, record_ms, effects);
    commit(store, std::move(next), before, input, offset, record_ms, completed_below, effects,
           outputs);
  };
  switch (input) {
    case Input::kOrders: {
      auto update = read_order_event(value);
      if (!update) return;
      if (update->tick) {
        on_tick(store, offset, record_ms >= 0 ? record_ms : update->occurred_at_ms, completed_below,
                outputs);
        return;
      }
      const int64_t now = record_ms >= 0 ? record_ms : update->occurred_at_ms;
      const std::string id =
          saga_id_for(update->order.creator_id, update->order.channel, update->order.order_id);
      if (SagaEntry* entry = store.find(id)) {
        if (replayed(*entry, input, offset, outputs)) return;
        // Later status updates of a paid order (shipped, delivered) change nothing.
        if (!update->cancelled) return;
        SagaEntry next = *entry;
        const std::string before = encode_saga(next.saga);
        machine_.on_cancelled(next.saga, now, effects);
        commit(store, std::move(next), before, input, offset, now, completed_below, effects,
               outputs);
        return;
      }
      if (!update->paid) return;  // not paid yet, or cancelled before payment
      SagaEntry entry;
      entry.saga = machine_.start(update->order, now, effects);
      ++counters_.started;
      commit(store, std::move(entry), std::string(), input, offset, now, completed_below, effects,
             outputs);
      return;
    }
    case Input::kInventoryReplies:
      if (auto r = read_inventory_reply(value, record_ms)) reply(*r);
      return;
    case Input::kSagaReplies:
      reply(read_saga_reply(value));
      return;
    case Input::kOperator: {
      const OperatorCommand command = read_operator_command(value);
      SagaEntry* entry = store.find(command.saga_id);
      if (entry == nullptr || entry->saga.order.creator_id != command.creator_id) {
        throw std::invalid_argument("operator command for a saga this partition does not hold");
      }
      if (replayed(*entry, input, offset, outputs)) return;
      SagaEntry next = *entry;
      const std::string before = encode_saga(next.saga);
      const bool done = command.action == OperatorCommand::Action::kRetry
                            ? machine_.retry(next.saga, record_ms, effects)
                            : machine_.abort(next.saga, record_ms, effects);
      if (!done) {
        ++counters_.operator_refused;
        return;
      }
      next.manual = true;
      commit(store, std::move(next), before, input, offset, record_ms, completed_below, effects,
             outputs);
      return;
    }
  }
}

void SagaEngine::on_tick(SagaPartitionState& store, int64_t offset, int64_t now_ms,
                         int64_t completed_below, std::vector<OutputRecord>& outputs) {
  std::set<std::string> done;
  for (const auto& id : store.journalled_at(offset, completed_below)) {
    SagaEntry* entry = store.find(id);
    if (entry != nullptr && replayed(*entry, Input::kOrders, offset, outputs)) done.insert(id);
  }
  for (const auto& id : store.take_due(now_ms)) {
    if (done.count(id) != 0) continue;
    SagaEntry* entry = store.find(id);
    if (entry == nullptr || entry->applied[slot(Input::kOrders)] >= offset) continue;
    if (is_terminal(entry->saga.status)) {
      if (entry->saga.finished_ms + settings_.retention_ms <= now_ms) {
        store.erase(id, outputs);
        ++counters_.evicted;
      }
      continue;
    }
    const int64_t due = SagaMachine::next_due_ms(entry->saga);
    if (due < 0 || due > now_ms) continue;  // a stale timer
    std::vector<Effect> effects;
    SagaEntry next = *entry;
    const std::string before = encode_saga(next.saga);
    machine_.on_time(next.saga, now_ms, effects);
    commit(store, std::move(next), before, Input::kOrders, offset, now_ms, completed_below, effects,
           outputs);
  }
}

void SagaEngine::commit(SagaPartitionState& store, SagaEntry entry, const std::string& before,
                        Input input, int64_t offset, int64_t now_ms, int64_t completed_below,
                        const std::vector<Effect>& effects, std::vector<OutputRecord>& outputs) {
  if (effects.empty() && encode_saga(entry.saga) == before) return;  // nothing happened
  std::vector<OutputRecord> produced;
  bool dead_letter = false;
  for (const auto& effect : effects) {
    switch (effect.kind) {
      case Effect::Kind::kCommand:
        produced.push_back(command_record(entry.saga, effect, now_ms, topics_.commands));
        break;
      case Effect::Kind::kDeadLetter:
        dead_letter = true;
        ++counters_.dead_letters;
        break;
      case Effect::Kind::kLabelRecorded:
        produced.push_back(label_record(entry.saga, now_ms, topics_.labels));
        break;
      case Effect::Kind::kEscalated:
        entry.manual = true;
        ++counters_.needs_manual;
        break;
      case Effect::Kind::kStatusChanged:
        if (entry.saga.status == Status::kCompleted) {
          ++counters_.completed;
          // The recorded sale carries the units from now on.
          for (size_t i = 0; i < entry.saga.order.items.size(); ++i) {
            Effect release{Effect::Kind::kCommand, Step::kReleaseInventory, 1,
                           command_id(entry.saga, Step::kReleaseInventory, static_cast<int>(i)),
                           static_cast<int>(i)};
            produced.push_back(command_record(entry.saga, release, now_ms, topics_.commands));
          }
        } else if (entry.saga.status == Status::kCompensated) {
          ++counters_.compensated;
        }
        break;
    }
  }
  ++entry.version;
  if (dead_letter) produced.push_back(saga_dead_letter(entry, now_ms, topics_.dead_letters));

  produced.push_back(saga_event_record(entry, now_ms, topics_.saga_events));
  entry.applied[slot(input)] = offset;
  entry.journals[slot(input)].record(offset, produced, completed_below);
  outputs.insert(outputs.end(), produced.begin(), produced.end());
  store.put(std::move(entry), outputs);
}

}  // namespace cf::saga
