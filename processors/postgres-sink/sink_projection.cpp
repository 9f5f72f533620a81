#include "sink_projection.h"

#include <rapidjson/document.h>

#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/row_fields.h"
#include "cf/time_format.h"

namespace cf {
namespace {

using namespace row_fields;  // NOLINT: the strict field readers, read as plain words here

void project_velocity(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "velocity snapshot";
  InventoryLevelRow row;
  row.creator_id = text(d, "creator_id", what);
  row.product_sku = text(d, "product_sku", what);
  row.total = integer(d, "total", what);
  row.reserved = integer(d, "reserved", what);
  row.sold = integer(d, "sold", what);
  row.available = integer(d, "available", what);
  auto counted = d.FindMember("counted");
  row.counted = counted == d.MemberEnd() || !counted->value.IsBool() || counted->value.GetBool();
  row.sales_1h = integer(d, "sales_1h", what);
  row.sales_24h = integer(d, "sales_24h", what);
  row.velocity_1h = decimal(d, "velocity_1h", what);
  row.velocity_24h = decimal(d, "velocity_24h", what);
  row.spike_ratio = decimal(d, "spike_ratio", what);
  row.viral = boolean(d, "viral", what);
  row.version = integer(d, "version", what);
  row.as_of_ms = integer(d, "as_of_ms", what);
  auto key = std::make_pair(row.creator_id, row.product_sku);
  auto it = batch.levels.find(key);
  if (it == batch.levels.end() ||
      std::tie(it->second.version, it->second.as_of_ms) <= std::tie(row.version, row.as_of_ms)) {
    batch.levels[key] = std::move(row);
  }
}

void project_prediction(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "prediction";
  PredictionRow row;
  row.creator_id = text(d, "creator_id", what);
  row.product_sku = text(d, "product_sku", what);
  row.available = integer(d, "available", what);
  row.rate_per_hour = decimal(d, "rate_per_hour", what);
  row.hours = optional_decimal(d, "time_to_stockout_hours");
  const auto& interval = member(d, "interval_90", what);
  if (!interval.IsObject()) throw ProjectionError("prediction: interval_90 must be an object");
  row.low_hours = optional_decimal(interval, "low_hours");
  row.high_hours = optional_decimal(interval, "high_hours");
  const auto& reorder = member(d, "reorder", what);
  if (!reorder.IsObject()) throw ProjectionError("prediction: reorder must be an object");
  row.reorder_quantity = integer(reorder, "quantity", what);
  row.version = integer(d, "version", what);
  row.as_of_ms = integer(d, "as_of_ms", what);
  auto key = std::make_pair(row.creator_id, row.product_sku);
  auto it = batch.predictions.find(key);
  if (it == batch.predictions.end() ||
      std::tie(it->second.version, it->second.as_of_ms) <= std::tie(row.version, row.as_of_ms)) {
    batch.predictions[key] = std::move(row);
  }
}

void project_alert(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "alert";
  AlertRow row;
  row.alert_id = text(d, "alert_id", what);
  if (!is_uuid(row.alert_id)) throw ProjectionError("alert: alert_id is not a UUID");
  row.creator_id = text(d, "creator_id", what);
  row.product_sku = text(d, "product_sku", what);
  row.alert = text(d, "alert", what);
  row.state = text(d, "state", what);
  if (row.state != "raised" && row.state != "cleared")
    throw ProjectionError("alert: state must be raised or cleared");
  row.severity = text(d, "severity", what);
  row.as_of_ms = time_ms(d, "as_of", what);
  batch.alerts[row.creator_id + "|" + row.product_sku + "|" + row.alert] = std::move(row);
}

void project_conflict(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "conflict";
  ConflictRow row;
  row.conflict_id = text(d, "conflict_id", what);
  if (!is_uuid(row.conflict_id)) throw ProjectionError("conflict: conflict_id is not a UUID");
  row.creator_id = text(d, "creator_id", what);
  row.kind = text(d, "kind", what);
  row.entity_type = text(d, "entity_type", what);
  row.entity_id = text(d, "entity_id", what);
  row.strategy = text(d, "strategy", what);
  auto winner = d.FindMember("winner");
  row.winner =
      winner != d.MemberEnd() && winner->value.IsString() ? winner->value.GetString() : "ledger";
  row.escalated = boolean(d, "escalated", what);
  row.detected_at_ms = time_ms(d, "detected_at", what);
  auto resolved = d.FindMember("resolved_at");
  if (resolved != d.MemberEnd() && resolved->value.IsString())
    row.resolved_at_ms = time_ms(d, "resolved_at", what);
  row.record = to_json(d);
  batch.conflicts.push_back(std::move(row));
}

void project_saga(const rapidjson::Document& d, SinkBatch& batch) {
  const char* what = "saga";
  SagaRow row;
  row.creator_id = text(d, "creator_id", what);
  row.saga_id = text(d, "saga_id", what);
  row.channel = text(d, "channel", what);
  row.order_id = text(d, "order_id", what);
  row.status = text(d, "status", what);
  static const char* const kStatuses[] = {"running", "compensating", "completed", "compensated",
                                          "needs_manual"};
  bool known = false;
  for (const char* s : kStatuses) known = known || row.status == s;
  if (!known) throw ProjectionError("saga: unknown status");
  row.step = text(d, "step", what);
  row.attempts = integer(d, "attempt", what);
  row.attempts_total = integer(d, "attempts_total", what);
  row.version = integer(d, "version", what);
  row.manual = boolean(d, "manual", what);
  row.started_ms = integer(d, "started_ms", what);
  const auto& finished = member(d, "finished_ms", what);
  if (!finished.IsNull()) row.finished_ms = integer(d, "finished_ms", what);
  auto failure = d.FindMember("failure");
  if (failure != d.MemberEnd() && failure->value.IsString())
    row.failure = failure->value.GetString();
  row.currency = text(d, "currency", what);
  row.amount_minor = integer(d, "amount_minor", what);
  row.captured = boolean(d, "payment_captured", what);
  row.refunded = boolean(d, "payment_refunded", what);
  row.event_ms = integer(d, "event_ms", what);
  const auto& history = member(d, "history", what);
  if (!history.IsArray()) throw ProjectionError("saga: history must be an array");
  row.history = to_json(history);
  auto key = std::make_pair(row.creator_id, row.saga_id);
  auto it = batch.sagas.find(key);
  if (it == batch.sagas.end() || it->second.version <= row.version)
    batch.sagas[key] = std::move(row);
}

}  // namespace

std::vector<std::string> sink_input_topics() {
  return {"orders.events",          "inventory.events",       "inventory.velocity",
          "inventory.predictions",  "inventory.alerts",       "conflicts.audit",
          "webhooks.rejected",      "dlq.validator",          "dlq.reconciler",
          "dlq.inventory-velocity", "dlq.stockout-predictor", "saga.events",
          "dlq.order-saga"};
}

void project_record(std::string_view topic, std::string_view value,
                    const std::function<std::optional<std::string>(const char*)>& header,
                    SinkBatch& batch) {
  ++batch.records;
  if (topic == "webhooks.rejected" || topic.substr(0, 4) == "dlq.") {
    // Counted by reason; the records themselves stay on their topics.
    std::string reason = "unknown";
    if (auto r = header("cf-dlq-error")) reason = *r;
    if (auto code = header("cf-dlq-error-class"); code && topic != "webhooks.rejected")
      reason = *code;
    if (reason.size() > 200) reason.resize(200);
    ++batch.dead_letters[{std::string(topic), reason}];
    return;
  }
  rapidjson::Document doc;
  const bool doc_ok = cf::parse_json(doc, value);
  if (!doc_ok || !doc.IsObject()) throw ProjectionError("record is not a JSON object");
  auto type = doc.FindMember("event_type");
  if (type != doc.MemberEnd() && type->value.IsString() &&
      std::string_view(type->value.GetString()) == kTickEventType) {
    return;  // ticks move processors' time; nothing to store
  }
  if (topic == "orders.events" || topic == "inventory.events") {
    batch.events.push_back(event_row(doc));
  } else if (topic == "inventory.velocity") {
    project_velocity(doc, batch);
  } else if (topic == "inventory.predictions") {
    project_prediction(doc, batch);
  } else if (topic == "inventory.alerts") {
    project_alert(doc, batch);
  } else if (topic == "conflicts.audit") {
    project_conflict(doc, batch);
  } else if (topic == "saga.events") {
    project_saga(doc, batch);
  } else {
    throw ProjectionError("the sink does not read topic " + std::string(topic));
  }
}

}  // namespace cf
