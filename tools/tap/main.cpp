// cf-tap: print any topic as JSON lines for analysts, from the beginning, an
// offset or a time; filter by creator and event type; follow live.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <iostream>

#include "cf/errors.h"
#include "cf/json_parse.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/time_format.h"
#include "cf/topic_reader.h"
#include "cf/worker.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  cf::KafkaSettings kafka;
  cf::ReadOptions read;
  std::string topic, creator, event_type, log_level = "warn";
  bool with_headers = false;
  return cf::guarded_main("cf-tap", [&]() -> int {
    cf::OptionsParser options("cf-tap", "Prints a topic as JSON lines.");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()("topic,t", po::value(&topic)->required(), "topic to read")(
        "from", po::value(&read.start)->default_value(read.start),
        "beginning | end | offset:<n> | time:<RFC 3339> | time:-<n>{s,m,h}")(
        "follow,f", po::bool_switch(&read.follow), "keep reading new records until Ctrl-C")(
        "max", po::value(&read.max_records)->default_value(-1),
        "stop after this many printed records")(
        "creator", po::value(&creator), "only records whose key or creator_id is this creator")(
        "event-type", po::value(&event_type), "only records of this event_type")(
        "headers", po::bool_switch(&with_headers), "include record headers");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("tap", log_level);
    const auto& stop = cf::stop_requested_by_signal();
    int64_t printed = 0;
    cf::ReadOptions unlimited = read;
    unlimited.max_records = -1;  // filtering happens here, so count printed records ourselves
    cf::read_topic(
        kafka, topic, unlimited,
        [&](const cf::InputRecord& r) {
          rapidjson::Document value;
          const bool value_ok = cf::parse_json(value, r.value());
          bool is_json = value_ok;
          auto member = [&](const char* name) -> std::string {
            if (!is_json || !value.IsObject() || !value.HasMember(name) || !value[name].IsString())
              return {};
            return value[name].GetString();
          };
          if (!creator.empty() && r.key() != creator && member("creator_id") != creator)
            return true;
          if (!event_type.empty()) {
            auto header = r.header("cf-event-type");
            std::string type = header ? std::string(*header) : member("event_type");
            if (type != event_type) return true;
          }
          rapidjson::StringBuffer out;
          rapidjson::Writer<rapidjson::StringBuffer> w(out);
          w.StartObject();
          w.Key("topic");
          w.String(r.topic().data(), static_cast<rapidjson::SizeType>(r.topic().size()));
          w.Key("partition");
          w.Int(r.partition());
          w.Key("offset");
          w.Int64(r.offset());
          w.Key("timestamp");
          w.String(cf::format_rfc3339_ms(r.timestamp_ms()));
          w.Key("key");
          w.String(r.key().data(), static_cast<rapidjson::SizeType>(r.key().size()));
          if (with_headers) {
            w.Key("headers");
            w.StartObject();
            for (auto& [name, v] : r.headers()) {
              w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
              w.String(v);
            }
            w.EndObject();
          }
          w.Key("value");
          if (r.raw()->payload == nullptr) {
            w.Null();
          } else if (is_json) {
            value.Accept(w);
          } else {
            w.String(r.value().data(), static_cast<rapidjson::SizeType>(r.value().size()));
          }
          w.EndObject();
          std::cout << out.GetString() << '\n';
          ++printed;
          return read.max_records < 0 || printed < read.max_records;
        },
        &stop);
    std::cout.flush();
    return 0;
  });
}
