#pragma once
// saga-http's transform as plain code: a saga command on saga.commands ->
// the participant's HTTP call, and the call's result -> the reply on
// saga.replies. The command is parsed depth-limited and UTF-8 checked; the
// reply is built by the escaping builder.
//
// Outcomes: 2xx succeeded; 400, 402, 409 and 422 failed (the participant
// refused for good: a declined payment); everything else (5xx, 401/403/404,
// 408, 429, timeouts, transport errors, an open circuit) retriable: the saga
// retries the step with the same command id, so the participant applies it
// once whatever happened to the earlier attempt. Without an answer the reply
// is marked uncertain: the participant may have acted.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cf/http_client.h"
#include "cf/records.h"

namespace cf {

/// One participant API: where it is and the bearer token it expects (may be empty).
struct Participant {
  HttpEndpoint endpoint;
  std::string token;
};
/// By name: payment, shipping, channel.
using Participants = std::map<std::string, Participant>;

/// Reads participants from a JSON file's text
/// ({"payment":{"url":"http://...","token_file":"..."}, "shipping":..., "channel":...}),
/// then the environment: CF_SAGA_<NAME>_URL and CF_SAGA_<NAME>_TOKEN win over
/// the file. `file_text` may be empty (environment only). Throws ConfigError
/// when one of the three has no URL.
Participants load_participants(std::string_view file_text);

struct ParticipantCall {
  std::string participant;  ///< payment | shipping | channel
  std::string target;       ///< path below the participant's base
  std::string body;         ///< the command itself (parsed and validated)
  std::string command_id;   ///< also the Idempotency-Key header
  std::string creator_id;
  int64_t attempt = 0;
};
/// The call for a command; throws std::invalid_argument with the reason for
/// a command that cannot be read or names no known action (dead letter).
ParticipantCall plan_call(std::string_view command_json);

/// "succeeded" | "failed" | "retriable" for an HTTP result.
std::string_view outcome_of(const HttpResult& result);
/// No answer although the request may have reached the participant (a
/// timeout, a connection lost): it may have acted. The reply says so
/// ("uncertain": true), and the saga treats it like its own timeout. An
/// open circuit sent nothing; an HTTP status is the participant's answer.
bool uncertain_outcome(const HttpResult& result);
/// The saga.replies record for a finished call, keyed by creator.
OutputRecord reply_record(const ParticipantCall& call, const HttpResult& result, int64_t now_ms,
                          const std::string& topic);

}  // namespace cf
