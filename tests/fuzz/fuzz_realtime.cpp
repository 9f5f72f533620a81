// The realtime path's decoders on any bytes, selected by the first byte:
// realtime-push's records (each input topic) into one store, its state codec
// (a decoded state must encode back to itself), and the gateway's token,
// cursor and base64url decoders. Nothing may crash or hang, and every
// message realtime-push writes must be valid JSON.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cf/json_parse.h"
#include "cf/jwt.h"
#include "fanout_hub.h"
#include "push_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  static const char* const kTopics[] = {"orders.events", "inventory.events",
                                        "inventory.predictions", "inventory.alerts"};
  switch (data[0] % 7) {
    case 0:
    case 1:
    case 2:
    case 3: {
      static cf::RealtimePush push{cf::PushSettings{}};
      // One store across inputs: a record may meet the state others left.
      static cf::PushStore store{"realtime-push.state.changelog", 0};
      static int64_t offset = 0;
      if (store.size() > 1000) store.clear();
      std::vector<cf::OutputRecord> outputs;
      try {
        push.on_record(store, kTopics[data[0] % 7], input, ++offset, offset, outputs);
      } catch (const std::invalid_argument&) {
        return 0;  // refused: dead-lettered by the runtime
      }
      for (const auto& o : outputs) {
        if (o.topic != "realtime.push") continue;
        rapidjson::Document doc;
        if (!cf::parse_json(doc, o.value)) __builtin_trap();
      }
      break;
    }
    case 4: {
      cf::PushChannelState state;
      if (cf::PushCodec::decode(input, state)) {
        cf::PushChannelState again;
        const std::string encoded = cf::PushCodec::encode(state);
        if (!cf::PushCodec::decode(encoded, again) || cf::PushCodec::encode(again) != encoded)
          __builtin_trap();
      }
      break;
    }
    case 5: {
      std::string why;
      (void)cf::verify_token(input, "fuzz-secret-0123456789", 1000, why);
      if (auto decoded = cf::base64url_decode(input)) {
        if (cf::base64url_encode(*decoded) != input) __builtin_trap();
      }
      break;
    }
    case 6: {
      if (auto c = cf::parse_cursor(input)) {
        if (cf::parse_cursor(c->text())->offset != c->offset) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
