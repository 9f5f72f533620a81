#pragma once
// Glue between the runtime and the validator transform: reads record headers,
// keeps the dedup state per partition in the runtime's state model
// (StatefulHandler<DedupPartition>: restored from a snapshot plus the
// changelog's tail, epoch-fenced, snapshotted), and turns outcomes into
// outputs (events.validated, or webhooks.rejected with the original bytes).
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "cf/config.h"
#include "cf/metrics.h"
#include "cf/state_store.h"
#include "cf/stateful_handler.h"
#include "cf/worker.h"
#include "shipment_join.h"
#include "webhook_validator.h"

namespace cf {

struct ValidatorTopics {
  /// TikTok notifications after channel-api (order details attached).
  std::string tiktok_raw = "webhooks.tiktok.enriched";
  std::string shipping_raw = "webhooks.shipping.raw";
  std::string shopify_raw = "webhooks.shopify.raw";
  std::string validated = "events.validated";
  std::string rejected = "webhooks.rejected";
  std::string dedup_changelog = "validator.dedup.changelog";
  /// The order saga's labels: carriers' updates are joined through them.
  std::string labels = "shipping.labels";
};

/// Whether a valid webhook was seen before: by its idempotency key (the
/// platform's retries) and by a digest of its signed body (a captured body
/// re-posted under another webhook id or, for Shopify, another shop domain:
/// those headers are not signed). Both are remembered for the dedup horizon;
/// changelog writes go to `outputs`. A duplicate by either is a duplicate.
DedupVerdict dedup_webhook(TtlDedupStore& store, const ValidationOutcome& outcome,
                           std::string_view body, int64_t offset,
                           std::vector<OutputRecord>& outputs);

class ValidatorHandler : public StatefulHandler<ValidatorPartition> {
 public:
  /// `state` names the dedup changelog (state_options(settings, topics.dedup_changelog)).
  ValidatorHandler(const WebhookValidator& validator, ValidatorTopics topics, StateOptions state,
                   int64_t dedup_ttl_ms);

 private:
  void validate(ValidatorPartition& state, const InputRecord& input,
                std::vector<OutputRecord>& outputs);
  void join_label(ValidatorPartition& state, const InputRecord& input,
                  std::vector<OutputRecord>& outputs);
  void emit(std::vector<DomainEvent>& events, std::vector<OutputRecord>& outputs);
  void reject(const InputRecord& input, const Rejection& rejection,
              std::vector<OutputRecord>& outputs);
  const WebhookValidator& validator_;
  ValidatorTopics topics_;
  Counter& events_out_;
  Counter& duplicates_;
  Counter& replays_;
  Counter& shipments_waiting_;
};

}  // namespace cf
