#pragma once
// The saga's records on the wire, as plain code: reading the order events
// that start or cancel sagas and the participants' replies, and writing the
// step commands (saga.commands for the saga-http connector, inventory.commands
// for inventory-velocity). Every parse is depth-limited and UTF-8 checked
// (cf/json_parse.h); every output is built by the escaping builder. A record
// that cannot be read throws std::invalid_argument with the reason (the
// runtime dead-letters it).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cf/records.h"
#include "saga_machine.h"

namespace cf::saga {

struct SagaTopics {
  std::string commands = "saga.commands";
  std::string inventory_commands = "inventory.commands";
};

/// What an `order.status_changed` event on orders.events means for a saga.
struct OrderUpdate {
  Order order;
  std::string status;
  bool paid = false;       ///< AWAITING_SHIPMENT or later, not CANCELLED: starts a saga
  bool cancelled = false;  ///< CANCELLED: compensates a running saga
  bool tick = false;       ///< a ticker record: fires due timers (nothing else is set)
  int64_t occurred_at_ms = 0;
};
/// nullopt for events that do not concern sagas (other types).
std::optional<OrderUpdate> read_order_event(std::string_view json);

/// An operator's command on saga.operator (written by cf-saga).
struct OperatorCommand {
  enum class Action : uint8_t { kRetry, kAbort };
  Action action = Action::kRetry;
  std::string saga_id;
  std::string creator_id;
  std::string requested_by;
};
/// {"action":"retry|abort","saga_id","creator_id","requested_by"}.
OperatorCommand read_operator_command(std::string_view json);
std::string operator_command_json(const OperatorCommand& command);

/// A participant's reply, with the saga it belongs to.
struct ReplyRecord {
  std::string saga_id;
  std::string creator_id;
  Reply reply;
  int64_t at_ms = 0;  ///< when the participant answered (event time)
};
/// A reply on saga.replies (written by saga-http):
/// {"command_id","creator_id","attempt","outcome":"succeeded|failed|retriable","detail"?,"replied_at_ms"}.
ReplyRecord read_saga_reply(std::string_view json);
/// A reply of inventory-velocity on inventory.replies (see docs/processors.md);
/// nullopt for replies to commands that are not a saga's. `record_ms` is the
/// record's timestamp (inventory replies carry no time of their own).
std::optional<ReplyRecord> read_inventory_reply(std::string_view json, int64_t record_ms);

/// The record of a kCommand effect, keyed by creator.
OutputRecord command_record(const SagaState& saga, const Effect& command, int64_t now_ms,
                            const SagaTopics& topics);
/// The reservation an inventory command of `item` names (the same for reserve and release).
std::string reservation_id(const SagaState& saga, int item);

}  // namespace cf::saga
