#include "saga_messages.h"

#include <stdexcept>

#include "cf/carrier_tracking.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/order_status.h"

namespace cf::saga {
namespace {

void parse_object(rapidjson::Document& doc, std::string_view json, const char* what) {
  if (!parse_json(doc, json) || !doc.IsObject())
    throw std::invalid_argument(std::string(what) + " is not a JSON object");
}

// Which participant call a forward step or compensation is (saga.commands).
std::string_view action_of(Step step) {
  switch (step) {
    case Step::kProcessPayment:
      return "payment.capture";
    case Step::kRefundPayment:
      return "payment.refund";
    case Step::kGenerateShippingLabel:
      return "shipping.create_label";
    case Step::kCancelShipping:
      return "shipping.cancel_label";
    case Step::kUpdateChannelStatus:
      return "channel.mark_shipped";
    default:
      return {};
  }
}

}  // namespace

std::optional<OrderUpdate> read_order_event(std::string_view json) {
  rapidjson::Document doc;
  parse_object(doc, json, "order event");
  std::string error;
  auto event = read_envelope(doc, error);
  if (!event) throw std::invalid_argument(error);
  if (event->event_type == kTickEventType) {
    OrderUpdate tick;
    tick.tick = true;
    tick.occurred_at_ms = event->occurred_at_ms;
    return tick;
  }
  if (event->event_type != "order.status_changed") return std::nullopt;
  const rapidjson::Value& data = *event->data;
  OrderUpdate u;
  u.occurred_at_ms = event->occurred_at_ms;
  u.status = std::string(string_member(data, "status"));
  u.order.creator_id = std::string(event->creator_id);
  u.order.channel = std::string(string_member(data, "channel"));
  u.order.order_id = std::string(string_member(data, "order_id"));
  u.order.currency = std::string(string_member(data, "currency"));
  u.order.total_minor = int_member(data, "total_minor", -1);
  if (u.order.creator_id.empty() || u.order.channel.empty() || u.order.order_id.empty() ||
      order_status_rank(u.status) < 0) {
    throw std::invalid_argument(
        "order.status_changed needs creator_id, /data/channel, /data/order_id and a known "
        "/data/status");
  }
  const rapidjson::Value& items = member_or_null(data, "items");
  if (items.IsArray()) {
    for (const auto& item : items.GetArray()) {
      // Kept as sent: validate_order refuses an order whose items are unusable.
      u.order.items.push_back(
          {std::string(string_member(item, "product_sku")), int_member(item, "quantity", 0)});
    }
  }
  u.paid = order_status_paid(u.status);
  u.cancelled = u.status == "CANCELLED";
  return u;
}

ReplyRecord read_saga_reply(std::string_view json) {
  rapidjson::Document doc;
  parse_object(doc, json, "saga reply");
  auto ref = parse_command_id(string_member(doc, "command_id"));
  if (!ref || is_inventory_step(ref->step) || action_of(ref->step).empty()) {
    throw std::invalid_argument("saga reply: /command_id is not a saga participant command");
  }
  ReplyRecord r;
  r.saga_id = ref->saga_id;
  r.creator_id = std::string(string_member(doc, "creator_id"));
  r.reply.step = ref->step;
  r.reply.attempt = static_cast<int>(int_member(doc, "attempt", -1));
  r.at_ms = int_member(doc, "replied_at_ms", -1);
  const std::string_view outcome = string_member(doc, "outcome");
  if (outcome == "succeeded") {
    r.reply.outcome = Outcome::kSucceeded;
  } else if (outcome == "failed") {
    r.reply.outcome = Outcome::kFailed;
  } else if (outcome == "retriable") {
    r.reply.outcome = Outcome::kRetriable;
  } else {
    throw std::invalid_argument("saga reply: /outcome must be succeeded, failed or retriable");
  }
  if (r.creator_id.empty() || r.reply.attempt < 1 || r.reply.attempt > 1'000'000 || r.at_ms < 0) {
    throw std::invalid_argument(
        "saga reply needs /creator_id, /attempt of at least 1 and /replied_at_ms");
  }
  r.reply.detail = std::string(string_member(doc, "detail").substr(0, 256));
  const auto& uncertain = member_or_null(doc, "uncertain");
  r.reply.uncertain =
      r.reply.outcome == Outcome::kRetriable && uncertain.IsBool() && uncertain.GetBool();
  if (r.reply.step == Step::kGenerateShippingLabel && r.reply.outcome == Outcome::kSucceeded) {
    const std::string_view number = string_member(doc, "tracking_number");
    const std::string_view slug = string_member(doc, "carrier_slug");
    if (!number.empty() && !valid_tracking_number(number))
      throw std::invalid_argument("saga reply: /tracking_number is not a tracking number");
    r.reply.tracking_number = std::string(number);
    if (valid_carrier_slug(slug)) r.reply.carrier_slug = std::string(slug);
  }
  return r;
}

std::optional<ReplyRecord> read_inventory_reply(std::string_view json, int64_t record_ms) {
  rapidjson::Document doc;
  parse_object(doc, json, "inventory reply");
  auto ref = parse_command_id(string_member(doc, "command_id"));
  if (!ref) return std::nullopt;  // another client's command
  if (!is_inventory_step(ref->step) || ref->item < 0) {
    throw std::invalid_argument("inventory reply: /command_id names no inventory step and item");
  }
  ReplyRecord r;
  r.saga_id = ref->saga_id;
  r.creator_id = std::string(string_member(doc, "creator_id"));
  r.reply.step = ref->step;
  r.reply.item = ref->item;
  r.at_ms = record_ms;
  const std::string_view status = string_member(doc, "status");
  const bool reserve = ref->step == Step::kAllocateInventory;
  if (reserve && (status == "reserved" || status == "already_reserved")) {
    r.reply.outcome = Outcome::kSucceeded;
  } else if (reserve && status == "insufficient_stock") {
    r.reply.outcome = Outcome::kFailed;
  } else if (!reserve && (status == "released" || status == "not_reserved")) {
    r.reply.outcome = Outcome::kSucceeded;  // nothing held any more either way
  } else {
    throw std::invalid_argument("inventory reply: /status does not answer its command");
  }
  r.reply.detail = std::string(status);
  return r;
}

std::string reservation_id(const SagaState& saga, int item) {
  return saga.saga_id + "." + std::to_string(item);
}

OutputRecord command_record(const SagaState& saga, const Effect& command, int64_t now_ms,
                            const SagaTopics& topics) {
  if (command.kind != Effect::Kind::kCommand)
    throw std::logic_error("command_record: not a command");
  JsonBuilder w(512);
  w.begin_object();
  if (is_inventory_step(command.step)) {
    if (command.item < 0 || static_cast<size_t>(command.item) >= saga.order.items.size())
      throw std::logic_error("command_record: inventory command without an item");
    const Item& item = saga.order.items[static_cast<size_t>(command.item)];
    w.key("command_id").string(command.command_id);
    w.key("command").string(command.step == Step::kAllocateInventory ? "reserve" : "release");
    w.key("creator_id").string(saga.order.creator_id);
    w.key("reservation_id").string(reservation_id(saga, command.item));
    w.key("product_sku").string(item.product_sku);
    w.key("quantity").number(item.quantity);
    // The reconciler counted the order's units as sold when it arrived.
    w.key("sale_counted").boolean(true);
    w.end_object();
    return {topics.inventory_commands,
            saga.order.creator_id,
            w.take(),
            {{"cf-event-type", "inventory.command"}}};
  }
  w.key("command_id").string(command.command_id);
  w.key("saga_id").string(saga.saga_id);
  w.key("creator_id").string(saga.order.creator_id);
  w.key("action").string(action_of(command.step));
  w.key("step").string(step_name(command.step));
  w.key("attempt").number(command.attempt);
  w.key("issued_at_ms").number(now_ms);
  w.key("deadline_ms").number(saga.deadline_ms);
  if (auto forward = undone_by(command.step)) {
    w.key("undoes").string(command_id(saga, *forward));  // blocks it if it has not happened
  }
  w.key("channel").string(saga.order.channel);
  w.key("order_id").string(saga.order.order_id);
  w.key("amount_minor").number(saga.order.total_minor);
  w.key("currency").string(saga.order.currency);
  w.key("items").begin_array();
  for (const auto& item : saga.order.items) {
    w.begin_object();
    w.key("product_sku").string(item.product_sku);
    w.key("quantity").number(item.quantity);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return {topics.commands, saga.order.creator_id, w.take(), {{"cf-event-type", "saga.command"}}};
}

OperatorCommand read_operator_command(std::string_view json) {
  rapidjson::Document doc;
  parse_object(doc, json, "operator command");
  OperatorCommand c;
  const std::string_view action = string_member(doc, "action");
  if (action == "retry") {
    c.action = OperatorCommand::Action::kRetry;
  } else if (action == "abort") {
    c.action = OperatorCommand::Action::kAbort;
  } else {
    throw std::invalid_argument("operator command: /action must be retry or abort");
  }
  c.saga_id = std::string(string_member(doc, "saga_id"));
  c.creator_id = std::string(string_member(doc, "creator_id"));
  c.requested_by = std::string(string_member(doc, "requested_by"));
  if (c.saga_id.empty() || c.creator_id.empty())
    throw std::invalid_argument("operator command needs /saga_id and /creator_id");
  if (!parse_command_id(c.saga_id + ".validate_order"))
    throw std::invalid_argument("operator command: /saga_id is not a saga id");
  return c;
}

std::string operator_command_json(const OperatorCommand& c) {
  JsonBuilder w(256);
  w.begin_object();
  w.key("action").string(c.action == OperatorCommand::Action::kRetry ? "retry" : "abort");
  w.key("saga_id").string(c.saga_id);
  w.key("creator_id").string(c.creator_id);
  w.key("requested_by").string(c.requested_by);
  w.end_object();
  return w.take();
}

}  // namespace cf::saga
