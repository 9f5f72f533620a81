#include "cf/topic_reader.h"

#include <chrono>
#include <thread>
#include <vector>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/kafka_handles.h"
#include "cf/logging.h"
#include "cf/time_format.h"

namespace cf {
namespace {

// Returns a logical offset, or sets time_ms and returns RD_KAFKA_OFFSET_END
// (the start is then looked up by time).
int64_t parse_start(const std::string& start, int64_t& time_ms) {
  time_ms = -1;
  if (start == "beginning") return RD_KAFKA_OFFSET_BEGINNING;
  if (start == "end") return RD_KAFKA_OFFSET_END;
  try {
    if (start.rfind("offset:", 0) == 0) {
      int64_t offset = std::stoll(start.substr(7));
      if (offset >= 0) return offset;
    } else if (start.rfind("time:-", 0) == 0) {
      std::string amount = start.substr(6);
      char unit = amount.back();
      int64_t scale = unit == 'h' ? 3600000 : unit == 'm' ? 60000 : 1000;
      time_ms = wall_clock_ms() - std::stoll(amount) * scale;
      return RD_KAFKA_OFFSET_END;
    } else if (start.rfind("time:", 0) == 0) {
      if (auto t = parse_rfc3339_ms(start.substr(5))) {
        time_ms = *t;
        return RD_KAFKA_OFFSET_END;
      }
    }
  } catch (const std::exception&) {
  }
  throw ConfigError(
      "--from: expected beginning, end, offset:<n>, time:<RFC 3339> or "
      "time:-<n>{s,m,h}, got '" +
      start + "'");
}

}  // namespace

int64_t read_topic(const KafkaSettings& settings, const std::string& topic,
                   const ReadOptions& options,
                   const std::function<bool(const InputRecord&)>& on_record,
                   const std::atomic<bool>* stop) {
  int64_t time_ms = -1;
  const int64_t start = parse_start(options.start, time_ms);

  KafkaHandle consumer = make_reader(settings, "cf.reader");
  rd_kafka_t* rk = consumer.get();

  const rd_kafka_metadata_t* raw_metadata = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  auto merr = rd_kafka_metadata(rk, 0, rkt, &raw_metadata, 10000);
  rd_kafka_topic_destroy(rkt);
  if (merr) throw KafkaError("metadata of " + topic, merr);
  MetadataHandle metadata(raw_metadata);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err) {
    throw KafkaError("topic " + topic, metadata->topic_cnt ? metadata->topics[0].err
                                                           : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC);
  }
  const int partitions = metadata->topics[0].partition_cnt;

  PartitionListHandle assignment(rd_kafka_topic_partition_list_new(partitions));
  std::vector<int64_t> end(static_cast<size_t>(partitions), 0);
  int open_partitions = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    auto werr = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000);
    if (werr) throw KafkaError("watermarks of " + topic, werr);
    end[static_cast<size_t>(p)] = high;
    auto* tp = rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p);
    tp->offset = time_ms >= 0 ? time_ms : start;
    if (options.follow ||
        (high > low && start != RD_KAFKA_OFFSET_END && (start < 0 || start < high))) {
      ++open_partitions;
    } else {
      tp->offset = RD_KAFKA_OFFSET_END;
    }
  }
  if (time_ms >= 0) {
    auto terr = rd_kafka_offsets_for_times(rk, assignment.get(), 10000);
    if (terr) throw KafkaError("offsets for time", terr);
    open_partitions = 0;
    for (int i = 0; i < assignment->cnt; ++i) {
      auto& tp = assignment->elems[i];
      if (tp.offset < 0) tp.offset = RD_KAFKA_OFFSET_END;  // nothing at or after that time
      if (options.follow ||
          (tp.offset >= 0 && tp.offset < end[static_cast<size_t>(tp.partition)])) {
        ++open_partitions;
      }
    }
  }
  if (!options.follow && open_partitions == 0) return 0;
  if (auto aerr = rd_kafka_assign(rk, assignment.get())) throw KafkaError("assign", aerr);

  // A partition with nothing to read counts as done from the start, so its
  // end-of-partition event does not count down `remaining`.
  std::vector<bool> done(static_cast<size_t>(partitions), false);
  for (int i = 0; i < assignment->cnt; ++i) {
    const auto& tp = assignment->elems[i];
    auto p = static_cast<size_t>(tp.partition);
    int64_t from = tp.offset;
    bool empty = from == RD_KAFKA_OFFSET_END || (from >= 0 && from >= end[p]) || end[p] == 0;
    done[p] = !options.follow && empty;
  }
  int64_t passed = 0;
  int remaining = options.follow ? -1 : open_partitions;
  auto idle_since = std::chrono::steady_clock::now();
  while (remaining != 0 && !(stop && stop->load())) {
    MessageHandle msg(rd_kafka_consumer_poll(rk, 100));
    if (!msg) {
      // Partitions that had data but never report EOF (e.g. the leader is down)
      // must not hang a bounded read forever.
      if (!options.follow &&
          std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(30)) {
        throw KafkaError("reading " + topic + " stalled", RD_KAFKA_RESP_ERR__TIMED_OUT);
      }
      continue;
    }
    idle_since = std::chrono::steady_clock::now();
    auto p = static_cast<size_t>(msg->partition);
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (!options.follow && p < done.size() && !done[p] && msg->offset >= end[p]) {
        done[p] = true;
        --remaining;
      }
      continue;
    }
    if (msg->err) {
      spdlog::warn("reading {}: {}", topic, rd_kafka_message_errstr(msg.get()));
      continue;
    }
    if (!options.follow && (p >= done.size() || done[p] || msg->offset >= end[p])) continue;
    ++passed;
    if (!on_record(InputRecord(msg.get()))) break;
    if (options.max_records >= 0 && passed >= options.max_records) break;
    if (!options.follow && msg->offset + 1 >= end[p]) {
      done[p] = true;
      --remaining;
    }
  }
  rd_kafka_consumer_close(rk);
  return passed;
}

bool read_record_at(const KafkaSettings& settings, const std::string& topic, int32_t partition,
                    int64_t offset, int timeout_ms,
                    const std::function<void(const InputRecord&)>& on_record) {
  KafkaHandle consumer = make_reader(settings, "cf.reader");
  rd_kafka_t* rk = consumer.get();
  PartitionListHandle assignment(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), partition)->offset = offset;
  if (rd_kafka_assign(rk, assignment.get())) return false;
  const int64_t deadline = steady_clock_ms() + timeout_ms;
  bool found = false;
  while (!found && steady_clock_ms() < deadline) {
    MessageHandle msg(rd_kafka_consumer_poll(rk, 100));
    if (!msg) continue;
    // An offset reset or the end of the partition: the record is not there.
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;
    if (msg->err) continue;
    if (msg->offset != offset) break;
    on_record(InputRecord(msg.get()));
    found = true;
  }
  rd_kafka_consumer_close(rk);
  return found;
}

}  // namespace cf
