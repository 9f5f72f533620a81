#include "validator_handler.h"

#include <charconv>
#include <chrono>

#include "cf/logging.h"
#include "cf/signature.h"
#include "cf/tiktok_order.h"

namespace cf {

ValidatorHandler::ValidatorHandler(const WebhookValidator& validator, ValidatorTopics topics,
                                   StateOptions state, int64_t dedup_ttl_ms)
    : StatefulHandler<ValidatorPartition>(
          std::move(state),
          [this](ValidatorPartition& partition, const InputRecord& input, int64_t,
                 std::vector<OutputRecord>& outputs) {
            if (input.topic() == topics_.labels) {
              join_label(partition, input, outputs);
            } else {
              validate(partition, input, outputs);
            }
          },
          {},
          [dedup_ttl_ms](const std::string& changelog, int32_t partition) {
            return std::make_unique<ValidatorPartition>(changelog, partition, dedup_ttl_ms);
          }),
      validator_(validator),
      topics_(std::move(topics)),
      events_out_(metrics().counter("cf_validator_events_total", "domain events emitted")),
      duplicates_(metrics().counter("cf_validator_duplicates_total",
                                    "webhooks dropped as duplicates of an earlier one")),
      replays_(metrics().counter("cf_validator_replays_total",
                                 "inputs re-processed after a restart (same offset seen before)")),
      shipments_waiting_(
          metrics().counter("cf_validator_shipment_updates_waiting_total",
                            "carrier updates that arrived before their label and waited for it")) {}

DedupVerdict dedup_webhook(TtlDedupStore& store, const ValidationOutcome& outcome,
                           std::string_view body, int64_t offset,
                           std::vector<OutputRecord>& outputs) {
  // 128 bits of SHA-256: collisions are out of reach, and half the bytes.
  const std::string body_key = "body:" + sha256_hex(body).substr(0, 32);
  const DedupVerdict by_id =
      store.check(outcome.idempotency_key, outcome.event_time_ms, offset, outputs);
  const DedupVerdict by_body = store.check(body_key, outcome.event_time_ms, offset, outputs);
  if (by_id == DedupVerdict::kDuplicate || by_body == DedupVerdict::kDuplicate)
    return DedupVerdict::kDuplicate;
  if (by_id == DedupVerdict::kReplay || by_body == DedupVerdict::kReplay)
    return DedupVerdict::kReplay;
  return DedupVerdict::kFirst;
}

namespace {
std::string_view header_or_empty(const InputRecord& input, const char* name) {
  auto h = input.header(name);
  return h ? *h : std::string_view{};
}
}  // namespace

void ValidatorHandler::reject(const InputRecord& input, const Rejection& rejection,
                              std::vector<OutputRecord>& outputs) {
  OutputRecord rejected =
      make_dead_letter(input, topics_.rejected, "validator", "rejected", rejection.code);
  rejected.headers.push_back(
      {"cf-reject-reason",
       rejection_json(rejection, "validator", input.topic(), input.partition(), input.offset())});
  outputs.push_back(std::move(rejected));
  metrics()
      .counter("cf_validator_rejected_total", "webhooks rejected, by reason code",
               label("code", rejection.code))
      .inc();
}

void ValidatorHandler::emit(std::vector<DomainEvent>& events, std::vector<OutputRecord>& outputs) {
  for (auto& event : events) {
    OutputRecord out;
    out.topic = topics_.validated;
    out.key = std::move(event.creator_id);
    out.value = std::move(event.json);
    out.headers.push_back({"cf-event-type", std::move(event.event_type)});
    out.headers.push_back({"cf-event-id", std::move(event.event_id)});
    outputs.push_back(std::move(out));
    events_out_.inc();
  }
}

void ValidatorHandler::join_label(ValidatorPartition& state, const InputRecord& input,
                                  std::vector<OutputRecord>& outputs) {
  std::string error;
  auto label = read_shipment_label(input.value(), error);
  // The saga writes these: one that cannot be read is a bug, dead-lettered by the runtime.
  if (!label) throw std::invalid_argument(error);
  JoinResult joined = state.join().on_label(*label, input.offset(), outputs);
  emit(joined.events, outputs);
}

void ValidatorHandler::validate(ValidatorPartition& state, const InputRecord& input,
                                std::vector<OutputRecord>& outputs) {
  RawWebhook raw;
  raw.body = input.value();
  raw.source = header_or_empty(input, "cf-source");
  raw.provider = header_or_empty(input, "cf-provider");
  raw.request_id = header_or_empty(input, "cf-request-id");
  raw.shopify_topic = header_or_empty(input, "cf-shopify-topic");
  raw.shopify_webhook_id = header_or_empty(input, "cf-shopify-webhook-id");
  raw.shop_domain = header_or_empty(input, "cf-shop-domain");
  raw.enrichment = header_or_empty(input, kEnrichmentHeader);
  raw.shopify_sku = header_or_empty(input, "cf-shopify-sku");
  auto received = header_or_empty(input, "cf-received-at");
  int64_t received_ms = -1;
  if (!received.empty() &&
      std::from_chars(received.data(), received.data() + received.size(), received_ms).ec ==
          std::errc()) {
    raw.received_at_ms = received_ms;
  }
  CorrelationScope correlation(raw.request_id);

  ValidationOutcome outcome = validator_.validate(raw);
  if (!outcome.valid) {
    reject(input, outcome.rejection, outputs);
    return;
  }
  TtlDedupStore& store = state.dedup().store(input.topic());
  const std::string_view body =
      outcome.dedup_body.empty() ? input.value() : std::string_view(outcome.dedup_body);
  switch (dedup_webhook(store, outcome, body, input.offset(), outputs)) {
    case DedupVerdict::kDuplicate:
      duplicates_.inc();
      return;
    case DedupVerdict::kReplay:
      replays_.inc();
      break;
    case DedupVerdict::kFirst:
      break;
  }
  if (outcome.shipment) {
    JoinResult joined = state.join().on_update(*outcome.shipment, input.offset(), outputs);
    if (joined.refused) {
      reject(input,
             {"unknown_tracking_number", "/msg/tracking_number", "label_join",
              std::to_string(kMaxWaiting) +
                  " updates for this tracking number already wait for a label the order saga "
                  "has not recorded"},
             outputs);
      return;
    }
    if (joined.events.empty()) shipments_waiting_.inc();
    emit(joined.events, outputs);
    return;
  }
  emit(outcome.events, outputs);
}

}  // namespace cf
