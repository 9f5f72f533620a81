#pragma once
// Order events as they really reach orders.events: the generator's TikTok
// Shop and Shopify webhooks, validated and reconciled in-process by the real
// validator and reconciler transforms (no broker). For the saga's tests and
// its benchmark.
#include <string>
#include <vector>

#include "cf/records.h"
#include "cf/webhook_generator.h"

namespace cf::test {

/// The orders.events records the reconciler writes for the valid webhooks
/// among the first `webhooks` the generator makes with `settings` (schemas
/// from `schema_dir`).
std::vector<OutputRecord> reconciled_order_events(int webhooks, const GeneratorSettings& settings,
                                                  const std::string& schema_dir);

}  // namespace cf::test
