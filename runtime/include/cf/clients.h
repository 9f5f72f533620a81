#pragma once
// Construction of librdkafka clients with the project's settings applied.
#include <string>
#include <utility>
#include <vector>

#include "cf/config.h"
#include "cf/kafka_handles.h"

namespace cf {

using Properties = std::vector<std::pair<std::string, std::string>>;

/// The one place a librdkafka handle is created: takes `conf` (released to
/// librdkafka only once rd_kafka_new succeeded, freed by its owner otherwise)
/// and throws ConfigError naming `what` on failure.
KafkaHandle create_handle(rd_kafka_type_t type, ConfHandle conf, const std::string& what);

/// A consumer (or, with role kProducer, an admin/producer handle) with
/// `overrides`, then the settings (profile, properties file, -X), and logs
/// routed to spdlog. Throws ConfigError naming what is wrong.
KafkaHandle make_client(const KafkaSettings& settings, ClientRole role,
                        const Properties& overrides);

/// A consumer used with assign() only (no group membership, never commits),
/// reporting end of partition: for readers and restores.
KafkaHandle make_reader(const KafkaSettings& settings, const std::string& group_id);

/// Wall-clock milliseconds since the epoch (ingest stamps, liveness only).
int64_t wall_clock_ms();
/// Monotonic milliseconds (timeouts, rates).
int64_t steady_clock_ms();

}  // namespace cf
