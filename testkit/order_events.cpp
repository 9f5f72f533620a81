#include "order_events.h"

#include "cf/schemas.h"
#include "raw_webhook.h"
#include "reconciler.h"
#include "webhook_validator.h"

namespace cf::test {

std::vector<OutputRecord> reconciled_order_events(int webhooks, const GeneratorSettings& settings,
                                                  const std::string& schema_dir) {
  WebhookGenerator generator(settings);
  // The validator keeps references: both must outlive it.
  const auto schemas = SchemaRegistry::load_directory(schema_dir);
  const ShopDirectory shops = ShopDirectory::from_json(generator.shop_directory_json());
  WebhookValidator validator(schemas, shops);
  Reconciler reconciler(ReconcilerSettings{}, ReconcilerTopics{},
                        SkuMapping::from_json(generator.sku_mapping_json()));
  EntityStore entities("e", 0);
  std::vector<OutputRecord> events;
  int64_t offset = 0;
  for (int i = 0; i < webhooks; ++i) {
    GeneratedWebhook w = generator.next();
    if (w.expect != Expectation::kValid) continue;
    std::string storage;
    auto out = validator.validate(raw_webhook(w, settings.shipping_provider, storage));
    if (!out.valid) continue;
    for (auto& event : out.events) {
      std::vector<OutputRecord> resolved;
      reconciler.on_event(entities, event.json, offset, offset, resolved);
      ++offset;
      for (auto& r : resolved)
        if (r.topic == "orders.events") events.push_back(std::move(r));
    }
  }
  return events;
}

}  // namespace cf::test
