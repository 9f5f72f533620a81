#pragma once
// The order-fulfillment saga as plain code: one SagaState per paid order and
// the transitions that move it, with no Kafka, clock or JSON in them.
//
//   forward:      validate_order -> allocate_inventory -> process_payment
//                   -> generate_shipping_label -> update_channel_status
//   compensation: cancel_shipping, refund_payment, release_inventory (in that
//                 order, each only for a step whose effect happened or may
//                 have happened), then mark_order_failed
//
// Time is event time only. A step's attempt times out at an absolute deadline
// and its retry starts at an absolute instant, both stored in the state and
// fired by on_time() (the processor calls it on ticks in the log), so a
// replay of the same input fires the same timeouts and retries. The backoff's
// jitter is derived from the saga id, step and attempt.
//
// Idempotency: a step's command id is the same for every attempt of the step
// (participants apply each id once), so a retry never doubles an effect. A
// compensation names the command it undoes, and participants keep this
// contract: an undo that arrives before the effect it undoes blocks that
// effect (a void before the capture). A step that timed out may have acted,
// so it is undone too. A reply to an earlier attempt, or to a step the saga
// has left, is recorded and never advances the saga; if it reports an effect
// the saga was not going to undo (the step gave up after transient failures,
// then the participant acted), that effect is compensated. Two late
// successes are taken as the step's own (one command id for all attempts,
// so the participant acted once): a compensation's (the undo happened) and
// update_channel_status's (the channel acted, and nothing undoes it); either
// takes the saga out of needs_manual if missing answers had escalated it.
//
// A forward step that fails `max_attempts` times dead-letters (Effect
// kDeadLetter) and compensates, except update_channel_status when one of
// its attempts timed out: it may have marked the order shipped, so the saga
// goes to needs_manual (kEscalated) and keeps retrying at the longest
// backoff until the channel answers. A compensation that fails that often
// puts the saga in needs_manual for an operator: never dropped.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cf::saga {

enum class Step : uint8_t {
  kValidateOrder,
  kAllocateInventory,
  kProcessPayment,
  kGenerateShippingLabel,
  kUpdateChannelStatus,
  kCancelShipping,
  kRefundPayment,
  kReleaseInventory,
  kMarkOrderFailed,
};
inline constexpr int kStepCount = 9;
std::string_view step_name(Step step);
std::optional<Step> step_from_name(std::string_view name);
bool is_compensation(Step step);
/// Steps whose command goes to inventory-velocity, one per order item.
bool is_inventory_step(Step step);

enum class Status : uint8_t { kRunning, kCompensating, kCompleted, kCompensated, kNeedsManual };
std::string_view status_name(Status status);
bool is_terminal(Status status);

/// A participant's answer. kFailed is a definitive refusal (payment
/// declined, insufficient stock): a forward step compensates at once; a
/// compensation treats it like kRetriable (retried, then escalated).
enum class Outcome : uint8_t { kSucceeded, kFailed, kRetriable };

struct Settings {
  int64_t step_timeout_ms = 30'000;
  int64_t backoff_base_ms = 1'000;
  int64_t backoff_max_ms = 60'000;
  int max_attempts = 5;
  size_t history_limit = 32;  ///< newest entries kept per saga (bounded state)
  size_t max_items = 64;      ///< an order with more line items is refused by validate_order
};

struct Item {
  std::string product_sku;
  int64_t quantity = 0;
};

struct Order {
  std::string creator_id;
  std::string channel;
  std::string order_id;
  std::string currency;
  int64_t total_minor = 0;
  std::vector<Item> items;
};

struct HistoryEntry {
  int64_t at_ms = 0;
  Step step = Step::kValidateOrder;
  int attempt = 0;
  std::string what;  ///< "sent", "succeeded", "failed: ...", "timed out", "late succeeded", ...
};

struct SagaState {
  std::string saga_id;
  Order order;
  Status status = Status::kRunning;
  Step step = Step::kValidateOrder;
  int attempt = 0;           ///< attempts of the current step so far
  int attempts_total = 0;    ///< attempts of every step
  int64_t deadline_ms = -1;  ///< the current attempt times out (waiting for replies)
  int64_t retry_at_ms = -1;  ///< the next attempt starts (backing off)
  uint32_t effects = 0;      ///< forward steps whose effect happened or may have (bit per Step)
  uint32_t compensated = 0;  ///< compensation steps done (bit per Step)
  uint64_t items_done = 0;   ///< inventory steps: items answered (bit per item)
  std::string failure;       ///< why it compensates (empty while it has no reason to)
  int64_t started_ms = -1;
  int64_t finished_ms = -1;  ///< first time it reached a terminal status
  std::vector<HistoryEntry> history;
  std::string tracking_number;  ///< the label's, once generate_shipping_label succeeded
  std::string carrier_slug;     ///< the label's carrier (AfterShip's courier code)
};

/// What a transition asks the processor to send.
struct Effect {
  enum class Kind : uint8_t {
    kCommand,        ///< a step's command (inventory: one per item)
    kStatusChanged,  ///< the saga moved (read model, dashboard)
    kDeadLetter,     ///< a forward step failed max_attempts times (with the history)
    kEscalated,      ///< a compensation failed max_attempts times: needs an operator
    kLabelRecorded,  ///< the label step answered a tracking number (shipping.labels)
  };
  Kind kind = Kind::kStatusChanged;
  Step step = Step::kValidateOrder;
  int attempt = 0;
  std::string command_id;  ///< kCommand: the idempotency key
  int item = -1;           ///< inventory commands: index into order.items
};

/// The saga of a creator's order: the same for every replay of the order.
std::string saga_id_for(std::string_view creator_id, std::string_view channel,
                        std::string_view order_id);
/// "<saga id>.<step>[.<item>]": the same for every attempt of the step.
std::string command_id(const SagaState& saga, Step step, int item = -1);
/// The forward step a compensation undoes (its command is the one undone).
std::optional<Step> undone_by(Step compensation);
struct CommandRef {
  std::string saga_id;
  Step step = Step::kValidateOrder;
  int item = -1;
};
/// The parts of a command id, or nothing when it is not one of ours.
std::optional<CommandRef> parse_command_id(std::string_view id);

/// Backoff before attempt `attempt` + 1 (attempt is 1-based): base * 2^(attempt-1)
/// capped at max, times a jitter in [0.5, 1.0) derived from saga id, step and attempt.
int64_t retry_delay_ms(const Settings& settings, std::string_view saga_id, Step step, int attempt);

struct Reply {
  Step step = Step::kValidateOrder;
  int attempt = 0;  ///< 0: the participant does not echo attempts (inventory)
  int item = -1;    ///< inventory replies: which item
  Outcome outcome = Outcome::kSucceeded;
  std::string detail;
  std::string tracking_number;  ///< generate_shipping_label: the label's number
  std::string carrier_slug;
  /// kRetriable without the participant's answer (the connector's call timed
  /// out or lost its connection): it may have acted, as after a timeout.
  bool uncertain = false;
};

class SagaMachine {
 public:
  explicit SagaMachine(Settings settings = {}) : settings_(settings) {}

  /// A new saga for a paid order: validates it and sends the first command.
  SagaState start(const Order& order, int64_t now_ms, std::vector<Effect>& effects) const;
  void on_reply(SagaState& saga, const Reply& reply, int64_t now_ms,
                std::vector<Effect>& effects) const;
  /// The order was cancelled: a running saga compensates.
  void on_cancelled(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const;
  /// Fires what is due at `now_ms`: the current attempt's timeout or the next attempt.
  void on_time(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const;
  /// When on_time has something to do (-1: nothing scheduled).
  static int64_t next_due_ms(const SagaState& saga);

  /// Operator: a saga waiting in needs_manual tries its step again (the
  /// compensation, or the forward step it escalated on; attempts start
  /// over). False when it is not waiting.
  bool retry(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const;
  /// Operator: a running saga, or one escalated on a forward step, compensates.
  /// False otherwise.
  bool abort(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const;

  const Settings& settings() const { return settings_; }

 private:
  void note(SagaState& saga, int64_t now_ms, std::string what) const;
  void note(SagaState& saga, int64_t now_ms, Step step, int attempt, std::string what) const;
  void begin_step(SagaState& saga, Step step, int64_t now_ms, std::vector<Effect>& effects) const;
  void send_attempt(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const;
  void step_succeeded(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const;
  /// A late success taken as the step's (a compensation's, or the
  /// irreversible step's); false when `reply` is not one.
  bool late_success_counts(SagaState& saga, const Reply& reply, int64_t now_ms,
                           std::vector<Effect>& effects) const;
  /// Out of needs_manual: the step it waited on answered.
  void resume(SagaState& saga, int64_t now_ms) const;
  void attempt_failed(SagaState& saga, int64_t now_ms, bool uncertain, std::string why,
                      std::vector<Effect>& effects) const;
  void begin_compensation(SagaState& saga, int64_t now_ms, std::string reason,
                          std::vector<Effect>& effects) const;
  void next_compensation(SagaState& saga, int64_t now_ms, std::vector<Effect>& effects) const;
  void late_reply(SagaState& saga, const Reply& reply, int64_t now_ms,
                  std::vector<Effect>& effects) const;
  void finish(SagaState& saga, Status status, int64_t now_ms, std::vector<Effect>& effects) const;

  Settings settings_;
};

/// State encoding (the runtime's binary codec); decode refuses damaged input.
std::string encode_saga(const SagaState& saga);
bool decode_saga(std::string_view value, SagaState& saga);

}  // namespace cf::saga
