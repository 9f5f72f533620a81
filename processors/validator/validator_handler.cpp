#include "validator_handler.h"

#include <chrono>
#include <charconv>

#include "cf/logging.h"
#include "cf/signature.h"

namespace cf {

ValidatorHandler::ValidatorHandler(const WebhookValidator& validator, ValidatorTopics topics,
                                   KafkaSettings changelog_kafka, int64_t dedup_ttl_ms,
                                   bool allow_truncated_changelog)
    : validator_(validator),
      topics_(std::move(topics)),
      changelog_kafka_(std::move(changelog_kafka)),
      dedup_ttl_ms_(dedup_ttl_ms),
      allow_truncated_changelog_(allow_truncated_changelog),
      events_out_(metrics().counter("cf_validator_events_total", "domain events emitted")),
      duplicates_(metrics().counter("cf_validator_duplicates_total",
                                    "webhooks dropped as duplicates of an earlier one")),
      replays_(metrics().counter("cf_validator_replays_total",
                                 "inputs re-processed after a restart (same offset seen before)")) {}

TtlDedupStore& ValidatorHandler::store_for(std::string_view topic, int32_t partition) {
  auto& slot = stores_[{std::string(topic), partition}];
  if (!slot) {
    slot = std::make_unique<TtlDedupStore>(topics_.dedup_changelog, partition,
                                           std::string(topic) + "|", dedup_ttl_ms_);
  }
  return *slot;
}

void ValidatorHandler::on_assigned(const std::vector<TopicPartition>& partitions) {
  // Stores of both input topics share the changelog; a partition's records
  // carry the input topic as key prefix, so each store takes only its own.
  std::map<int32_t, std::vector<TtlDedupStore*>> stores_by_partition;
  std::vector<int32_t> changelog_partitions;
  for (const auto& tp : partitions) {
    auto& stores = stores_by_partition[tp.partition];
    if (stores.empty()) changelog_partitions.push_back(tp.partition);
    stores.push_back(&store_for(tp.topic, tp.partition));
  }
  auto started = std::chrono::steady_clock::now();
  std::map<int32_t, int64_t> from;
  for (int32_t p : changelog_partitions) from[p] = 0;
  int64_t read = replay_changelog(
      changelog_kafka_, topics_.dedup_changelog, from, allow_truncated_changelog_,
      [&](int32_t partition, std::string_view key, const std::string_view* value) {
        for (TtlDedupStore* store : stores_by_partition[partition]) {
          if (store->apply_changelog(key, value)) break;
        }
      });
  size_t live = 0;
  for (const auto& tp : partitions) live += store_for(tp.topic, tp.partition).size();
  spdlog::info("restored dedup stores of {} partition(s) from {} changelog record(s) in {} ms: {} live key(s)",
               partitions.size(), read,
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count(),
               live);
}

void ValidatorHandler::on_revoked(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) stores_.erase({tp.topic, tp.partition});
}

DedupVerdict dedup_webhook(TtlDedupStore& store, const ValidationOutcome& outcome, std::string_view body,
                           int64_t offset, std::vector<OutputRecord>& outputs) {
  // 128 bits of SHA-256: collisions are out of reach, and half the bytes.
  const std::string body_key = "body:" + sha256_hex(body).substr(0, 32);
  const DedupVerdict by_id = store.check(outcome.idempotency_key, outcome.event_time_ms, offset, outputs);
  const DedupVerdict by_body = store.check(body_key, outcome.event_time_ms, offset, outputs);
  if (by_id == DedupVerdict::kDuplicate || by_body == DedupVerdict::kDuplicate) return DedupVerdict::kDuplicate;
  if (by_id == DedupVerdict::kReplay || by_body == DedupVerdict::kReplay) return DedupVerdict::kReplay;
  return DedupVerdict::kFirst;
}

namespace {
std::string_view header_or_empty(const InputRecord& input, const char* name) {
  auto h = input.header(name);
  return h ? *h : std::string_view{};
}
}  // namespace

void ValidatorHandler::handle(const InputRecord& input, std::vector<OutputRecord>& outputs) {
  RawWebhook raw;
  raw.body = input.value();
  raw.source = header_or_empty(input, "cf-source");
  raw.provider = header_or_empty(input, "cf-provider");
  raw.request_id = header_or_empty(input, "cf-request-id");
  raw.shopify_topic = header_or_empty(input, "cf-shopify-topic");
  raw.shopify_webhook_id = header_or_empty(input, "cf-shopify-webhook-id");
  raw.shop_domain = header_or_empty(input, "cf-shop-domain");
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
    OutputRecord rejected = make_dead_letter(input, topics_.rejected, "validator",
                                             "rejected", outcome.rejection.code);
    rejected.headers.push_back(
        {"cf-reject-reason", rejection_json(outcome.rejection, "validator", input.topic(),
                                            input.partition(), input.offset())});
    outputs.push_back(std::move(rejected));
    metrics().counter("cf_validator_rejected_total", "webhooks rejected, by reason code",
                      label("code", outcome.rejection.code)).inc();
    return;
  }
  TtlDedupStore& store = store_for(input.topic(), input.partition());
  switch (dedup_webhook(store, outcome, input.value(), input.offset(), outputs)) {
    case DedupVerdict::kDuplicate:
      duplicates_.inc();
      return;
    case DedupVerdict::kReplay:
      replays_.inc();
      break;
    case DedupVerdict::kFirst:
      break;
  }
  for (auto& event : outcome.events) {
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

}  // namespace cf
