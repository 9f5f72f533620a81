// cf-recover: operators' recovery commands. Each one is a dry run unless
// --apply is given, and prints progress every second while it works.
//
//   cf-recover reset-offsets --group G --topic T (--to-time T | --to-offset N | --to-earliest |
//   --to-latest)
//       Kafka consumer groups (stop the group's workers first); with
//       --postgres-url-file, the postgres-sink's offsets stored in PostgreSQL.
//   cf-recover replay --from-topic T --to-topic U [--start S] [--until TIME] [--key K] [--creator
//   C] [--rate N]
//       Copies a range of a topic (start: beginning | offset:N | time:RFC3339) into another.
//   cf-recover redrive --dlq-topic D [--error-class X] [--rate N]
//       Sends dead letters back to the topic they came from, without cf-dlq-* headers.
//   cf-recover republish --to-topic U [--from TIME] [--until TIME] [--event-type X] [--rate N]
//       Re-publishes events from the event store (PostgreSQL) to a topic.
//   cf-recover rebuild-read-models
//       Recomputes orders, creator_daily_metrics and sync_status from the event
//       store and prints checksums of the live and the rebuilt tables; --apply
//       replaces the live tables (stop the postgres-sink first).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <thread>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/event_store.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/producer.h"
#include "cf/read_models.h"
#include "cf/sink_store.h"
#include "cf/time_format.h"
#include "cf/topic_reader.h"
#include "cf/worker.h"

namespace po = boost::program_options;

namespace {

struct Options {
  cf::KafkaSettings kafka;
  std::string postgres_url_file, group, topic, to_time, from_topic, to_topic, start = "beginning",
                                                                              until, key, creator;
  std::string dlq_topic, error_class, from, event_type, log_level = "warn";
  int64_t to_offset = -1;
  bool to_earliest = false, to_latest = false, apply = false;
  double rate = 0;
};

/// Rate limit and once-a-second progress for the copying commands.
class Progress {
 public:
  Progress(std::string what, double rate)
      : what_(std::move(what)), rate_(rate), start_(Clock::now()), next_(start_) {}
  void record(bool copied) {
    ++seen_;
    copied_ += copied;
    if (copied && rate_ > 0) {
      std::this_thread::sleep_until(
          start_ + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(copied_) / rate_)));
    }
    if (Clock::now() >= next_) {
      next_ = Clock::now() + std::chrono::seconds(1);
      std::cerr << what_ << ": " << seen_ << " read, " << copied_ << " selected\n";
    }
  }
  void done(bool apply) const {
    std::cerr << what_ << ": " << seen_ << " read, " << copied_
              << (apply ? " written" : " would be written (dry run; add --apply)") << " in "
              << std::chrono::duration<double>(Clock::now() - start_).count() << " s\n";
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  double rate_;
  Clock::time_point start_, next_;
  uint64_t seen_ = 0, copied_ = 0;
};

struct Deliveries : cf::DeliveryListener {
  std::atomic<uint64_t> failed{0};
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failed.fetch_add(1);
  }
};

int finish_producing(cf::Producer& producer, Deliveries& deliveries) {
  if (producer.flush(60000) != RD_KAFKA_RESP_ERR_NO_ERROR || deliveries.failed.load() > 0) {
    std::cerr << "cf-recover: " << deliveries.failed.load()
              << " record(s) not acknowledged; re-run the command\n";
    return 1;
  }
  return 0;
}

std::string creator_of(std::string_view value) {
  auto at = value.find("\"creator_id\":\"");
  if (at == std::string_view::npos) return {};
  auto start = at + 14;
  return std::string(value.substr(start, value.find('"', start) - start));
}

int partitions_of(rd_kafka_t* rk, const std::string& topic) {
  const rd_kafka_metadata_t* md = nullptr;
  cf::TopicHandle t(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  if (auto e = rd_kafka_metadata(rk, 0, t.get(), &md, 10000))
    throw cf::KafkaError("metadata of " + topic, e);
  int n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
  rd_kafka_metadata_destroy(md);
  if (n == 0) throw cf::ConfigError("topic " + topic + " does not exist");
  return n;
}

int reset_offsets(const Options& o) {
  if (o.group.empty() || o.topic.empty()) throw cf::ConfigError("--group and --topic: required");
  int targets = !o.to_time.empty() + (o.to_offset >= 0) + o.to_earliest + o.to_latest;
  if (targets != 1)
    throw cf::ConfigError("give exactly one of --to-time, --to-offset, --to-earliest, --to-latest");
  cf::KafkaHandle client = cf::make_client(
      o.kafka, cf::ClientRole::kConsumer, {{"group.id", o.group}, {"enable.auto.commit", "false"}});
  rd_kafka_t* rk = client.get();
  const int n = partitions_of(rk, o.topic);
  cf::PartitionListHandle target(rd_kafka_topic_partition_list_new(n));
  for (int p = 0; p < n; ++p) rd_kafka_topic_partition_list_add(target.get(), o.topic.c_str(), p);
  if (!o.to_time.empty()) {
    auto t = cf::parse_rfc3339_ms(o.to_time);
    if (!t) throw cf::ConfigError("--to-time: expected RFC 3339");
    for (int i = 0; i < n; ++i) target->elems[i].offset = *t;
    if (auto e = rd_kafka_offsets_for_times(rk, target.get(), 10000))
      throw cf::KafkaError("offsets for time", e);
  }
  for (int i = 0; i < n; ++i) {
    auto& tp = target->elems[i];
    int64_t low = 0, high = 0;
    if (auto e = rd_kafka_query_watermark_offsets(rk, o.topic.c_str(), tp.partition, &low, &high,
                                                  10000)) {
      throw cf::KafkaError("watermarks", e);
    }
    if (o.to_earliest) tp.offset = low;
    if (o.to_latest || (!o.to_time.empty() && tp.offset < 0))
      tp.offset = high;  // nothing at/after the time
    if (o.to_offset >= 0) tp.offset = std::min(std::max(o.to_offset, low), high);
  }
  std::map<int32_t, int64_t> current;
  std::unique_ptr<pqxx::connection> pg;
  if (!o.postgres_url_file.empty()) {
    pg = std::make_unique<pqxx::connection>(
        cf::secret_from_file_or_env(o.postgres_url_file, "--postgres-url-file", "CF_POSTGRES_URL"));
    pqxx::work t(*pg);
    for (const auto& [tp, next] : cf::read_sink_offsets(t, o.group)) {
      if (tp.first == o.topic) current[tp.second] = next;
    }
  } else {
    cf::PartitionListHandle committed(rd_kafka_topic_partition_list_copy(target.get()));
    if (auto e = rd_kafka_committed(rk, committed.get(), 10000))
      throw cf::KafkaError("committed offsets", e);
    for (int i = 0; i < committed->cnt; ++i)
      current[committed->elems[i].partition] = committed->elems[i].offset;
  }
  std::printf("%-40s %9s %12s %12s\n", "topic/partition", "", "current", "target");
  for (int i = 0; i < n; ++i) {
    auto it = current.find(target->elems[i].partition);
    std::printf("%-40s %9s %12lld %12lld\n",
                (o.topic + "/" + std::to_string(target->elems[i].partition)).c_str(),
                pg ? "postgres" : "kafka",
                static_cast<long long>(it == current.end() ? -1 : it->second),
                static_cast<long long>(target->elems[i].offset));
  }
  if (!o.apply) {
    std::cerr << "dry run: nothing changed; add --apply (stop the group's workers first)\n";
    return 0;
  }
  if (pg) {
    pqxx::work t(*pg);
    for (int i = 0; i < n; ++i)
      cf::reset_sink_offset(t, o.group, o.topic, target->elems[i].partition,
                            target->elems[i].offset);
    t.commit();
  } else if (auto e = rd_kafka_commit(rk, target.get(), 0)) {
    throw cf::KafkaError(
        "commit for group " + o.group + " (is the group still running? stop its workers first)", e);
  }
  std::cerr << "offsets of group " << o.group << " on " << o.topic << " reset\n";
  return 0;
}

int replay(const Options& o) {
  if (o.from_topic.empty() || o.to_topic.empty())
    throw cf::ConfigError("--from-topic and --to-topic: required");
  int64_t until = -1;
  if (!o.until.empty()) {
    auto t = cf::parse_rfc3339_ms(o.until);
    if (!t) throw cf::ConfigError("--until: expected RFC 3339");
    until = *t;
  }
  Deliveries deliveries;
  cf::Producer producer(o.kafka, "cf-recover", &deliveries);
  Progress progress("replay " + o.from_topic + " -> " + o.to_topic, o.rate);
  cf::ReadOptions read;
  read.start = o.start;
  cf::read_topic(o.kafka, o.from_topic, read, [&](const cf::InputRecord& r) {
    bool selected =
        (until < 0 || r.timestamp_ms() < until) && (o.key.empty() || r.key() == o.key) &&
        (o.creator.empty() || r.key() == o.creator || creator_of(r.value()) == o.creator);
    if (selected && o.apply) {
      cf::OutputRecord out{o.to_topic, std::string(r.key()), std::string(r.value()), {}};
      for (auto& [name, value] : r.headers()) out.headers.push_back({name, value});
      out.headers.push_back(
          {"cf-replayed-from",
           o.from_topic + "/" + std::to_string(r.partition()) + "@" + std::to_string(r.offset())});
      out.tombstone = r.raw()->payload == nullptr;
      while (!producer.produce(out, nullptr, 100)) producer.poll(10);
      producer.poll(0);
    }
    progress.record(selected);
    return true;
  });
  progress.done(o.apply);
  return finish_producing(producer, deliveries);
}

int redrive(const Options& o) {
  if (o.dlq_topic.empty()) throw cf::ConfigError("--dlq-topic: required");
  Deliveries deliveries;
  cf::Producer producer(o.kafka, "cf-recover", &deliveries);
  Progress progress("redrive " + o.dlq_topic, o.rate);
  std::map<std::string, uint64_t> by_target;
  cf::ReadOptions read;
  read.start = o.start;
  cf::read_topic(o.kafka, o.dlq_topic, read, [&](const cf::InputRecord& r) {
    auto source = r.header("cf-dlq-source-topic");
    auto error_class = r.header("cf-dlq-error-class");
    bool selected =
        source && (o.error_class.empty() || (error_class && *error_class == o.error_class));
    if (selected) {
      ++by_target[std::string(*source)];
      if (o.apply) {
        cf::OutputRecord out{
            std::string(*source), std::string(r.key()), std::string(r.value()), {}};
        for (auto& [name, value] : r.headers()) {
          if (name.rfind("cf-dlq-", 0) != 0) out.headers.push_back({name, value});
        }
        out.headers.push_back(
            {"cf-redriven-from",
             o.dlq_topic + "/" + std::to_string(r.partition()) + "@" + std::to_string(r.offset())});
        while (!producer.produce(out, nullptr, 100)) producer.poll(10);
        producer.poll(0);
      }
    }
    progress.record(selected);
    return true;
  });
  for (auto& [topic, n] : by_target) std::cerr << "  -> " << topic << ": " << n << "\n";
  progress.done(o.apply);
  return finish_producing(producer, deliveries);
}

int republish(const Options& o) {
  if (o.to_topic.empty()) throw cf::ConfigError("--to-topic: required");
  pqxx::connection pg(
      cf::secret_from_file_or_env(o.postgres_url_file, "--postgres-url-file", "CF_POSTGRES_URL"));
  cf::EventStore store(pg);
  cf::EventCursor cursor;
  if (!o.from.empty()) {
    auto t = cf::parse_rfc3339_ms(o.from);
    if (!t) throw cf::ConfigError("--from: expected RFC 3339");
    cursor = {*t - 1, "ffffffff-ffff-ffff-ffff-ffffffffffff"};
  }
  int64_t until = -1;
  if (!o.until.empty()) {
    auto t = cf::parse_rfc3339_ms(o.until);
    if (!t) throw cf::ConfigError("--until: expected RFC 3339");
    until = *t;
  }
  Deliveries deliveries;
  cf::Producer producer(o.kafka, "cf-recover", &deliveries);
  Progress progress("republish event store -> " + o.to_topic, o.rate);
  for (;;) {
    auto page = store.stream(cursor, 5000, until);
    for (const auto& e : page) {
      bool selected = o.event_type.empty() || e.row.event_type == o.event_type;
      if (selected && o.apply) {
        cf::OutputRecord out{o.to_topic,
                             e.row.creator_id,
                             e.envelope_json(),
                             {{"cf-event-type", e.row.event_type},
                              {"cf-event-id", e.row.id},
                              {"cf-republished-from", "event store"}}};
        while (!producer.produce(out, nullptr, 100)) producer.poll(10);
        producer.poll(0);
      }
      progress.record(selected);
    }
    if (page.size() < 5000) break;
  }
  progress.done(o.apply);
  return finish_producing(producer, deliveries);
}

int rebuild(const Options& o) {
  pqxx::connection pg(
      cf::secret_from_file_or_env(o.postgres_url_file, "--postgres-url-file", "CF_POSTGRES_URL"));
  pqxx::work t(pg);
  auto started = std::chrono::steady_clock::now();
  std::cerr << "rebuilding read models from "
            << t.exec1("SELECT count(*) FROM events")[0].as<int64_t>() << " stored events\n";
  // The same statements as the live sink, over every stored event.
  const auto tables = cf::rebuild_read_models(t);
  bool all_equal = true;
  for (const auto& c : tables) {
    std::string live = cf::table_checksum(t, c.live, c),
                rebuilt = cf::table_checksum(t, c.rebuilt, c);
    all_equal &= live == rebuilt;
    std::printf("%-22s live    %s\n%-22s rebuilt %s  %s\n", c.name.c_str(), live.c_str(), "",
                rebuilt.c_str(), live == rebuilt ? "EQUAL" : "DIFFERENT");
  }
  if (o.apply) {
    for (const auto& c : tables) {
      t.exec("DELETE FROM " + c.live);
      t.exec("INSERT INTO " + c.live + " SELECT * FROM " + c.rebuilt);
    }
    t.commit();
    std::cerr << "live tables replaced by the rebuilt ones\n";
  } else {
    std::cerr << "dry run: live tables unchanged; add --apply to replace them (stop the "
                 "postgres-sink first)\n";
  }
  std::cerr << "rebuild took "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s\n";
  return all_equal || o.apply ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      "cf-recover reset-offsets|replay|redrive|republish|rebuild-read-models [options] (--help)";
  std::string command = argc > 1 ? argv[1] : "";
  Options o;
  return cf::guarded_main("cf-recover", [&]() -> int {
    cf::OptionsParser options(
        "cf-recover", "Operators' recovery commands; dry run unless --apply. Usage: " + usage);
    options.add_kafka_options(o.kafka);
    options.add_logging_options(o.log_level);
    options.add()("apply", po::bool_switch(&o.apply), "do it (default: show what would happen)")(
        "postgres-url-file", po::value(&o.postgres_url_file),
        "connection string file (default: env CF_POSTGRES_URL)")(
        "group", po::value(&o.group), "reset-offsets: consumer group")("topic", po::value(&o.topic),
                                                                       "reset-offsets: topic")(
        "to-time", po::value(&o.to_time),
        "reset-offsets: first offset at or after this RFC 3339 time")(
        "to-offset", po::value(&o.to_offset),
        "reset-offsets: this offset (clamped to what the log holds)")(
        "to-earliest", po::bool_switch(&o.to_earliest), "reset-offsets: the start of the log")(
        "to-latest", po::bool_switch(&o.to_latest), "reset-offsets: the end of the log")(
        "from-topic", po::value(&o.from_topic), "replay: source")(
        "to-topic", po::value(&o.to_topic), "replay, republish: target")(
        "start", po::value(&o.start)->default_value(o.start),
        "replay, redrive: beginning | offset:N | time:RFC3339")(
        "until", po::value(&o.until), "replay, republish: stop before this RFC 3339 time")(
        "key", po::value(&o.key), "replay: only this key")("creator", po::value(&o.creator),
                                                           "replay: only this creator")(
        "dlq-topic", po::value(&o.dlq_topic), "redrive: dead-letter topic")(
        "error-class", po::value(&o.error_class), "redrive: only this cf-dlq-error-class")(
        "from", po::value(&o.from), "republish: first event time (RFC 3339)")(
        "event-type", po::value(&o.event_type), "republish: only this event type")(
        "rate", po::value(&o.rate)->default_value(0), "records per second at most (0: unlimited)");
    if (command.empty() || command[0] == '-') {
      options.parse(argc, argv);
      std::cerr << "usage: " << usage << "\n";
      return command == "--help" || command == "-h" ? 0 : 2;
    }
    if (!options.parse(argc - 1, argv + 1)) return 0;
    cf::init_logging("cf-recover", o.log_level);
    if (command == "reset-offsets") return reset_offsets(o);
    if (command == "replay") return replay(o);
    if (command == "redrive") return redrive(o);
    if (command == "republish") return republish(o);
    if (command == "rebuild-read-models") return rebuild(o);
    throw cf::ConfigError("unknown command '" + command + "'; usage: " + usage);
  });
}
