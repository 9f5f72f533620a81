#pragma once
// Glue between the runtime and the saga engine: per-partition saga state on
// the changelog (cf::StatefulHandler), inputs routed by topic, engine
// counters as metrics.
#include "cf/stateful_handler.h"
#include "saga_engine.h"

namespace cf::saga {

/// The time a record is processed at: its Kafka timestamp (the time it
/// entered the log), so the same log gives the same deadlines; but while the
/// partition catches up (the record was written more than `catch_up_lag_ms`
/// ago: after a crash or outage), the wall clock. Otherwise the backlog of
/// ticks written while the processor was down would time out every command
/// it sends while catching up, before any reply could exist.
int64_t saga_clock(int64_t record_ms, int64_t wall_ms, int64_t catch_up_lag_ms);

class SagaHandler : public StatefulHandler<SagaPartitionState> {
 public:
  SagaHandler(SagaEngine& engine, StateOptions state, int64_t retention_ms,
              int64_t catch_up_lag_ms);

 private:
  void export_counters();
  SagaEngine& engine_;
  SagaCounters exported_;
  int64_t catch_up_lag_ms_;
};

}  // namespace cf::saga
