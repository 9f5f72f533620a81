#include "saga_handler.h"

#include <stdexcept>

#include "cf/clients.h"
#include "cf/metrics.h"

namespace cf::saga {

int64_t saga_clock(int64_t record_ms, int64_t wall_ms, int64_t catch_up_lag_ms) {
  if (record_ms < 0) return wall_ms;
  return record_ms < wall_ms - catch_up_lag_ms ? wall_ms : record_ms;
}

SagaHandler::SagaHandler(SagaEngine& engine, StateOptions state, int64_t retention_ms,
                         int64_t catch_up_lag_ms)
    : StatefulHandler<SagaPartitionState>(
          std::move(state),
          [this](SagaPartitionState& store, const InputRecord& input, int64_t completed_below,
                 std::vector<OutputRecord>& outputs) {
            Input kind{};
            if (!engine_.input_of(input.topic(), kind))
              throw std::invalid_argument("not an input of order-saga: " +
                                          std::string(input.topic()));
            engine_.on_record(store, kind, input.value(), input.offset(),
                              saga_clock(input.timestamp_ms(), wall_clock_ms(), catch_up_lag_ms_),
                              completed_below, outputs);
          },
          [this] { export_counters(); },
          [retention_ms](const std::string& topic, int32_t partition) {
            return std::make_unique<SagaPartitionState>(topic, partition, retention_ms);
          }),
      engine_(engine),
      catch_up_lag_ms_(catch_up_lag_ms) {}

void SagaHandler::export_counters() {
  static Counter& started = metrics().counter("cf_sagas_started_total", "sagas started");
  static Counter& completed =
      metrics().counter("cf_sagas_completed_total", "sagas that fulfilled their order");
  static Counter& compensated = metrics().counter("cf_sagas_compensated_total",
                                                  "sagas whose completed steps were compensated");
  static Counter& manual = metrics().counter(
      "cf_sagas_needs_manual_total", "compensations that failed every attempt: an operator acts");
  static Counter& dead = metrics().counter(
      "cf_saga_dead_letters_total", "forward steps that failed every attempt (dlq.order-saga)");
  static Counter& replays = metrics().counter("cf_saga_replayed_inputs_total",
                                              "inputs re-read after a restart, outputs re-sent");
  static Counter& unknown = metrics().counter(
      "cf_saga_unknown_replies_total", "replies for sagas this instance does not hold (ignored)");
  static Counter& evicted =
      metrics().counter("cf_sagas_evicted_total", "terminal sagas deleted after the retention");
  static Counter& refused = metrics().counter(
      "cf_saga_operator_refused_total", "operator retry/abort of a saga not in a state for it");
  const SagaCounters& now = engine_.counters();
  started.inc(now.started - exported_.started);
  completed.inc(now.completed - exported_.completed);
  compensated.inc(now.compensated - exported_.compensated);
  manual.inc(now.needs_manual - exported_.needs_manual);
  dead.inc(now.dead_letters - exported_.dead_letters);
  replays.inc(now.replays - exported_.replays);
  unknown.inc(now.unknown_replies - exported_.unknown_replies);
  evicted.inc(now.evicted - exported_.evicted);
  refused.inc(now.operator_refused - exported_.operator_refused);
  exported_ = now;
}

}  // namespace cf::saga
