// Each stateful processor's record decoder on any bytes, selected by the
// first byte. A decoder may refuse a record (an exception the runtime
// dead-letters); it must never crash, hang or write invalid JSON. The saga's
// state decoder is here too: a decoded state must encode back to itself and
// survive every transition.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "cf/json_parse.h"
#include "inventory_state.h"
#include "participant_call.h"
#include "reconciler.h"
#include "saga_engine.h"
#include "saga_machine.h"
#include "saga_messages.h"
#include "sink_projection.h"
#include "stockout_model.h"
#include "velocity_engine.h"

namespace {

void check_outputs(const std::vector<cf::OutputRecord>& outputs) {
  for (const auto& o : outputs) {
    if (o.tombstone || o.topic.find("changelog") != std::string::npos) continue;  // binary codecs
    rapidjson::Document doc;
    if (!cf::parse_json(doc, o.value)) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<cf::OutputRecord> outputs;
  try {
    switch (data[0] % 6) {
      case 0: {
        static cf::Reconciler reconciler{cf::ReconcilerSettings{}, cf::ReconcilerTopics{},
                                         cf::SkuMapping{}};
        cf::EntityStore store{"reconciler.entities.changelog", 0};
        reconciler.on_event(store, input, 1, 1, outputs);
        break;
      }
      case 1: {
        static cf::VelocityEngine engine{cf::VelocitySettings{}, cf::VelocityTopics{}};
        cf::InventoryPartitionState state{"inventory-velocity.ledger.changelog", 0};
        engine.on_event(state, input, 1, outputs);
        break;
      }
      case 2: {
        static cf::VelocityEngine engine{cf::VelocitySettings{}, cf::VelocityTopics{}};
        cf::InventoryPartitionState state{"inventory-velocity.ledger.changelog", 0};
        engine.on_command(state, input, outputs);
        break;
      }
      case 3: {
        static cf::StockoutPredictor predictor(cf::ReorderCatalog{}, cf::PredictorTopics{});
        cf::PredictorStore store("stockout-predictor.state.changelog", 0);
        predictor.on_velocity(store, input, 1, 1, outputs);
        break;
      }
      case 4: {
        namespace saga = cf::saga;
        switch ((data[0] / 6) % 8) {  // the saga's record readers, engine and connector
          case 4:
            (void)saga::read_operator_command(input);
            return 0;
          case 5: {  // saga-http: command -> call; any result -> reply
            const cf::ParticipantCall call = cf::plan_call(input);
            cf::HttpResult result;
            result.status = static_cast<int>(size % 600);
            result.body = std::string(input);
            outputs.push_back(cf::reply_record(call, result, 1, "saga.replies"));
            check_outputs(outputs);
            return 0;
          }
          case 6: {  // the engine on any record of any of its inputs
            static saga::SagaEngine engine{saga::EngineSettings{}, saga::EngineTopics{}};
            static saga::SagaPartitionState store("order-saga.state.changelog", 0, 3600000);
            static int64_t offset = 0;
            if (store.size() > 1000) store.clear();
            ++offset;
            engine.on_record(store, static_cast<saga::Input>(size % saga::kInputCount), input,
                             offset, 1000 * offset, offset, outputs);
            check_outputs(outputs);
            return 0;
          }
          case 7: {  // a stored saga entry decodes, then encodes back to itself
            saga::SagaEntry entry;
            if (!saga::decode_entry(input, entry)) return 0;
            const std::string encoded = saga::encode_entry(entry);
            saga::SagaEntry again;
            if (!saga::decode_entry(encoded, again) || saga::encode_entry(again) != encoded)
              __builtin_trap();
            return 0;
          }
          case 1:
            (void)saga::read_saga_reply(input);
            return 0;
          case 2:
            (void)saga::read_inventory_reply(input, 1);
            return 0;
          case 3:
            (void)saga::read_order_event(input);
            return 0;
          default:
            break;
        }
        saga::SagaState state;
        if (!saga::decode_saga(input, state)) break;
        const std::string encoded = saga::encode_saga(state);
        saga::SagaState again;
        if (!saga::decode_saga(encoded, again) || saga::encode_saga(again) != encoded)
          __builtin_trap();
        static const saga::SagaMachine machine;
        std::vector<saga::Effect> effects;
        const int64_t due = saga::SagaMachine::next_due_ms(state);
        machine.on_time(state, due < 0 ? 0 : due, effects);
        for (int step = 0; step < saga::kStepCount; ++step) {
          for (auto outcome :
               {saga::Outcome::kSucceeded, saga::Outcome::kFailed, saga::Outcome::kRetriable}) {
            machine.on_reply(state, {static_cast<saga::Step>(step), state.attempt, 0, outcome, {}},
                             1, effects);
          }
        }
        machine.on_cancelled(state, 2, effects);
        (void)machine.retry(state, 3, effects);
        break;
      }
      default: {
        static const auto topics = cf::sink_input_topics();
        cf::SinkBatch batch;
        auto no_headers = [](const char*) -> std::optional<std::string> { return std::nullopt; };
        cf::project_record(topics[(data[0] / 6) % topics.size()], input, no_headers, batch);
        break;
      }
    }
  } catch (const std::exception&) {
    return 0;  // refused: the runtime dead-letters it
  }
  check_outputs(outputs);
  return 0;
}
