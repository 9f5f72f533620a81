#pragma once
// Glue between the runtime and the validator transform: reads record headers,
// keeps one TTL dedup store per input partition, and turns outcomes into
// outputs (events.validated, or webhooks.rejected with the original bytes).
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "cf/config.h"
#include "cf/metrics.h"
#include "cf/state_store.h"
#include "cf/worker.h"
#include "webhook_validator.h"

namespace cf {

struct ValidatorTopics {
  std::string tiktok_raw = "webhooks.tiktok.raw";
  std::string shipping_raw = "webhooks.shipping.raw";
  std::string shopify_raw = "webhooks.shopify.raw";
  std::string validated = "events.validated";
  std::string rejected = "webhooks.rejected";
  std::string dedup_changelog = "validator.dedup.changelog";
};

/// Whether a valid webhook was seen before: by its idempotency key (the
/// platform's retries) and by a digest of its signed body (a captured body
/// re-posted under another webhook id or, for Shopify, another shop domain:
/// those headers are not signed). Both are remembered for the dedup horizon;
/// changelog writes go to `outputs`. A duplicate by either is a duplicate.
DedupVerdict dedup_webhook(TtlDedupStore& store, const ValidationOutcome& outcome, std::string_view body,
                           int64_t offset, std::vector<OutputRecord>& outputs);

class ValidatorHandler : public RecordHandler {
 public:
  ValidatorHandler(const WebhookValidator& validator, ValidatorTopics topics,
                   KafkaSettings changelog_kafka, int64_t dedup_ttl_ms,
                   bool allow_truncated_changelog);
  void handle(const InputRecord& input, std::vector<OutputRecord>& outputs) override;
  void on_assigned(const std::vector<TopicPartition>& partitions) override;
  void on_revoked(const std::vector<TopicPartition>& partitions) override;
  /// No snapshots here: a lost partition's stores are dropped like revoked ones.
  void on_lost(const std::vector<TopicPartition>& partitions) override { on_revoked(partitions); }

 private:
  TtlDedupStore& store_for(std::string_view topic, int32_t partition);
  const WebhookValidator& validator_;
  ValidatorTopics topics_;
  KafkaSettings changelog_kafka_;
  int64_t dedup_ttl_ms_;
  bool allow_truncated_changelog_;
  std::map<std::pair<std::string, int32_t>, std::unique_ptr<TtlDedupStore>> stores_;
  Counter& events_out_;
  Counter& duplicates_;
  Counter& replays_;
};

}  // namespace cf
