#include "participant_call.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>

#include "cf/carrier_tracking.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/json_builder.h"
#include "cf/json_parse.h"

namespace cf {

namespace {

struct Route {
  const char* action;
  const char* participant;
  const char* target;
};
// Paths of the participants' APIs (docs/processors.md, saga-http).
constexpr Route kRoutes[] = {
    {"payment.capture", "payment", "/v1/captures"},
    {"payment.refund", "payment", "/v1/refunds"},
    {"shipping.create_label", "shipping", "/v1/labels"},
    {"shipping.cancel_label", "shipping", "/v1/labels/cancel"},
    {"channel.mark_shipped", "channel", "/v1/fulfillments"},
};

std::string env_or(const std::string& name, std::string fallback) {
  const char* value = std::getenv(name.c_str());
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

Participants load_participants(std::string_view file_text) {
  rapidjson::Document doc;
  if (!file_text.empty()) {
    JsonParseError error;
    if (!parse_json(doc, file_text, error) || !doc.IsObject())
      throw ConfigError("participants file: not a JSON object (" + error.detail + ")");
  }
  if (!doc.IsObject()) doc.SetObject();
  Participants out;
  for (const char* name : {"payment", "shipping", "channel"}) {
    const rapidjson::Value& entry = member_or_null(doc, name);
    if (!entry.IsNull() && !entry.IsObject())
      throw ConfigError(std::string("participants file: /") + name + " must be an object");
    const std::string prefix = "CF_SAGA_" + upper(name);
    const std::string url = env_or(prefix + "_URL", std::string(string_member(entry, "url")));
    if (url.empty())
      throw ConfigError(std::string("participant ") + name + ": no URL (set /" + name +
                        "/url in --participants-file or " + prefix + "_URL)");
    Participant p;
    p.endpoint = parse_http_url(name, url);
    const std::string token_file(string_member(entry, "token_file"));
    p.token = env_or(prefix + "_TOKEN", "");
    if (p.token.empty() && !token_file.empty())
      p.token = secret_from_file_or_env(token_file, "token_file", (prefix + "_TOKEN").c_str());
    out[name] = std::move(p);
  }
  return out;
}

ParticipantCall plan_call(std::string_view command_json) {
  rapidjson::Document doc;
  JsonParseError error;
  if (!parse_json(doc, command_json, error) || !doc.IsObject())
    throw std::invalid_argument("saga command is not a JSON object: " + error.code);
  const std::string_view action = string_member(doc, "action");
  ParticipantCall call;
  for (const auto& route : kRoutes) {
    if (action == route.action) {
      call.participant = route.participant;
      call.target = route.target;
    }
  }
  if (call.participant.empty())
    throw std::invalid_argument(
        "saga command: unknown /action (payment.capture, payment.refund, "
        "shipping.create_label, shipping.cancel_label, "
        "channel.mark_shipped)");
  call.command_id = std::string(string_member(doc, "command_id"));
  call.creator_id = std::string(string_member(doc, "creator_id"));
  call.attempt = int_member(doc, "attempt", 0);
  if (call.command_id.empty() || call.command_id.size() > 128 || call.creator_id.empty() ||
      call.attempt < 1) {
    throw std::invalid_argument(
        "saga command needs /command_id (<= 128 chars), /creator_id and "
        "/attempt of at least 1");
  }
  // Forwarded as it is: parsed, depth-limited and UTF-8 checked above.
  call.body = std::string(command_json);
  return call;
}

bool uncertain_outcome(const HttpResult& result) {
  return result.status == 0 && !result.circuit_open;
}

std::string_view outcome_of(const HttpResult& result) {
  if (result.status >= 200 && result.status < 300) return "succeeded";
  switch (result.status) {
    case 400:
    case 402:
    case 409:
    case 422:
      return "failed";
    default:
      return "retriable";
  }
}

OutputRecord reply_record(const ParticipantCall& call, const HttpResult& result, int64_t now_ms,
                          const std::string& topic) {
  std::string detail;
  if (result.status == 0) {
    detail = call.participant + ": " + result.error;
  } else {
    detail = call.participant + ": HTTP " + std::to_string(result.status);
    // The participant's reason, when it gives one as {"error": "..."} (kept short).
    rapidjson::Document body;
    if (result.status >= 300 && parse_json(body, result.body) && body.IsObject()) {
      const std::string_view why = string_member(body, "error");
      if (!why.empty()) {
        size_t cut = std::min<size_t>(why.size(), 160);
        while (cut < why.size() && cut > 0 && (static_cast<unsigned char>(why[cut]) & 0xC0) == 0x80)
          --cut;  // never split a UTF-8 sequence
        detail += " " + std::string(why.substr(0, cut));
      }
    }
  }
  JsonBuilder w(256 + detail.size());
  w.begin_object();
  w.key("command_id").string(call.command_id);
  w.key("creator_id").string(call.creator_id);
  w.key("attempt").number(call.attempt);
  w.key("outcome").string(outcome_of(result));
  if (uncertain_outcome(result)) w.key("uncertain").boolean(true);
  w.key("detail").string(detail);
  w.key("replied_at_ms").number(now_ms);
  if (call.participant == "shipping" && result.status >= 200 && result.status < 300) {
    // A label's tracking number: the saga records it, and carriers' updates
    // find their order through it. Copied only when it is a plausible number.
    rapidjson::Document body;
    if (parse_json(body, result.body) && body.IsObject()) {
      const std::string_view number = string_member(body, "tracking_number");
      const std::string_view slug = string_member(body, "slug");
      if (valid_tracking_number(number)) w.key("tracking_number").string(number);
      if (valid_carrier_slug(slug)) w.key("carrier_slug").string(slug);
    }
  }
  w.end_object();
  return {topic, call.creator_id, w.take(), {{"cf-event-type", "saga.reply"}}};
}

}  // namespace cf
