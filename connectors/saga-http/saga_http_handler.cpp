#include "saga_http_handler.h"

#include <chrono>

#include "cf/clients.h"
#include "cf/metrics.h"

namespace cf {

SagaHttpHandler::SagaHttpHandler(Participants participants, SagaHttpSettings settings,
                                 HttpClient& client)
    : DeferredHandler(settings.max_in_flight),
      participants_(std::move(participants)),
      settings_(std::move(settings)),
      client_(client) {}

void SagaHttpHandler::start(const InputRecord& input, uint64_t ticket) {
  static Histogram& latency =
      metrics().histogram("cf_participant_call_seconds", "participant HTTP calls, start to reply");
  static Counter& calls = metrics().counter("cf_participant_calls_total", "participant calls");
  static Counter& failures = metrics().counter("cf_participant_call_failures_total",
                                               "calls without a 2xx (refusals, errors, timeouts)");
  static Counter& refused = metrics().counter("cf_participant_circuit_open_total",
                                              "calls refused at once by an open circuit breaker");
  ParticipantCall call = plan_call(input.value());  // throws: dead letter
  const Participant& participant = participants_.at(call.participant);
  HttpClient::Headers headers{{"Idempotency-Key", call.command_id}};
  if (!participant.token.empty())
    headers.emplace_back("Authorization", "Bearer " + participant.token);
  const std::string target = call.target;
  // One circuit per operation, not per participant: hanging label calls
  // must not refuse the cancellations that compensate for them.
  HttpEndpoint endpoint = participant.endpoint;
  endpoint.name += " " + target;
  std::string body = call.body;
  results_.started();
  calls.inc();
  const auto started = std::chrono::steady_clock::now();
  client_.post(
      endpoint, target, std::move(body), std::move(headers),
      std::chrono::milliseconds(settings_.call_timeout_ms),
      [this, ticket, call = std::move(call), started](HttpResult result) {
        latency.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (outcome_of(result) != "succeeded") failures.inc();
        if (result.circuit_open) refused.inc();
        results_.finish(ticket,
                        {reply_record(call, result, wall_clock_ms(), settings_.replies_topic)});
      });
}

void SagaHttpHandler::maintain(int64_t, const std::function<bool()>&,
                               const std::function<bool()>&) {
  static Gauge& in_flight =
      metrics().gauge("cf_participant_calls_in_flight", "participant calls awaiting an answer");
  static Gauge& open = metrics().gauge("cf_participant_circuits_open",
                                       "participant endpoints whose circuit breaker is open");
  in_flight.set(static_cast<double>(results_.in_flight()));
  open.set(static_cast<double>(client_.open_circuits().size()));
}

}  // namespace cf
