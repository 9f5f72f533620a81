#include "cf/keyed_state.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cf/clients.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/metrics.h"
#include "cf/producer.h"
#include "cf/state_store.h"
#include "cf/worker.h"

namespace cf {
namespace {

// 01: offset, count, entries. 02 adds the epoch after the offset.
constexpr char kSnapshotMagicV1[8] = {'C', 'F', 'S', 'N', 'A', 'P', '0', '1'};
constexpr char kSnapshotMagic[8] = {'C', 'F', 'S', 'N', 'A', 'P', '0', '2'};

uint64_t fnv1a(uint64_t hash, const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  return hash;
}

std::string snapshot_path(const StateOptions& options, int32_t partition) {
  return options.snapshot_dir + "/" + options.changelog_topic + "/" + std::to_string(partition) +
         ".snap";
}

auto& state_log() {
  static auto log = component_logger("state");
  return log;
}

}  // namespace

StateOptions state_options(const WorkerSettings& settings, std::string changelog_topic) {
  StateOptions options;
  options.changelog_topic = std::move(changelog_topic);
  options.snapshot_dir = settings.state_dir;
  if (options.snapshot_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string group = settings.group.empty() ? "cf." + settings.name : settings.group;
    options.snapshot_dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/creatorflow-state/" + group;
  }
  options.snapshot_interval_ms = settings.snapshot_interval_ms;
  options.allow_truncated_changelog = settings.allow_truncated_changelog;
  options.kafka = settings.kafka;
  return options;
}

void write_snapshot_file(const std::string& path, int64_t covered_offset,
                         const RestorableStore& store) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::string temporary = path + ".tmp";
  std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write snapshot " + temporary);
  uint64_t hash = 14695981039346656037ULL;
  auto write = [&](const void* data, size_t size) {
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    hash = fnv1a(hash, data, size);
  };
  write(kSnapshotMagic, sizeof kSnapshotMagic);
  uint64_t offset = static_cast<uint64_t>(covered_offset);
  int64_t epoch = store.epoch();
  uint64_t count = store.encoded_count();
  write(&offset, sizeof offset);
  write(&epoch, sizeof epoch);
  write(&count, sizeof count);
  store.for_each_encoded([&](const std::string& key, const std::string& value) {
    uint32_t key_size = static_cast<uint32_t>(key.size());
    uint32_t value_size = static_cast<uint32_t>(value.size());
    write(&key_size, sizeof key_size);
    write(key.data(), key.size());
    write(&value_size, sizeof value_size);
    write(value.data(), value.size());
  });
  out.write(reinterpret_cast<const char*>(&hash), sizeof hash);
  out.close();
  if (!out) throw std::runtime_error("cannot write snapshot " + temporary);
  std::filesystem::rename(temporary, path);
}

uint64_t snapshot_checksum(std::string_view data) {
  return fnv1a(14695981039346656037ULL, data.data(), data.size());
}

int64_t decode_snapshot(std::string_view data, RestorableStore& store, std::string& why) {
  store.clear();
  auto corrupt = [&](const char* reason) -> int64_t {
    why = reason;
    store.clear();
    store.set_epoch(-1);
    return -1;
  };
  const bool v1 = data.size() >= 8 && std::memcmp(data.data(), kSnapshotMagicV1, 8) == 0;
  const size_t header = sizeof kSnapshotMagic + (v1 ? 16 : 24);
  if (data.size() < header + 8 || (!v1 && std::memcmp(data.data(), kSnapshotMagic, 8) != 0)) {
    return corrupt("not a snapshot");
  }
  uint64_t stored_hash = 0;
  std::memcpy(&stored_hash, data.data() + data.size() - 8, 8);
  if (snapshot_checksum(data.substr(0, data.size() - 8)) != stored_hash)
    return corrupt("checksum mismatch");
  uint64_t offset = 0, count = 0;
  int64_t epoch = -1;
  std::memcpy(&offset, data.data() + 8, 8);
  if (!v1) std::memcpy(&epoch, data.data() + 16, 8);
  std::memcpy(&count, data.data() + header - 8, 8);
  if (offset > static_cast<uint64_t>(INT64_MAX)) return corrupt("offset out of range");
  if (epoch < -1 || epoch > static_cast<int64_t>(offset)) return corrupt("epoch out of range");
  size_t pos = header;
  const size_t end = data.size() - 8;
  auto read_block = [&](std::string_view& block) {
    uint32_t size = 0;
    if (pos + 4 > end) return false;
    std::memcpy(&size, data.data() + pos, 4);
    pos += 4;
    if (size > end - pos) return false;
    block = data.substr(pos, size);
    pos += size;
    return true;
  };
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view key, value;
    if (!read_block(key) || !read_block(value)) return corrupt("truncated entry");
    store.apply_encoded(key, &value);
  }
  if (pos != end) return corrupt("trailing bytes");
  store.set_epoch(epoch);
  return static_cast<int64_t>(offset);
}

int64_t load_snapshot_file(const std::string& path, RestorableStore& store) {
  store.clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return -1;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string why;
  int64_t covered = decode_snapshot(data, store, why);
  if (covered < 0)
    state_log()->warn("snapshot {} ignored ({}); restoring from the changelog alone", path, why);
  return covered;
}

namespace {
// The epoch a changelog record was written under, -1 when it has none; sets
// `marker` for an epoch marker.
int64_t epoch_of(const rd_kafka_message_t* msg, bool& marker) {
  marker = false;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR || !headers) return -1;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, kEpochMarkerHeader, &value, &size) ==
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    marker = true;
    return msg->offset;
  }
  if (rd_kafka_header_get_last(headers, kEpochHeader, &value, &size) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      !value) {
    return -1;
  }
  int64_t epoch = -1;
  auto text = static_cast<const char*>(value);
  auto result = std::from_chars(text, text + size, epoch);
  return result.ec == std::errc() ? epoch : -1;
}
}  // namespace

int64_t replay_changelog(const KafkaSettings& settings, const std::string& topic,
                         const std::map<int32_t, int64_t>& from, bool allow_truncated,
                         const ChangelogApply& apply) {
  std::map<int32_t, int64_t> epochs, ends;
  return replay_changelog(settings, topic, from, allow_truncated, apply, epochs, ends);
}

int64_t replay_changelog(const KafkaSettings& settings, const std::string& topic,
                         const std::map<int32_t, int64_t>& from, bool allow_truncated,
                         const ChangelogApply& apply, std::map<int32_t, int64_t>& epochs,
                         std::map<int32_t, int64_t>& ends) {
  static Counter& fenced = metrics().counter("cf_changelog_fenced_records_total",
                                             "changelog records skipped at restore: written by an "
                                             "owner that had been replaced (older epoch)");
  static Counter& restored =
      metrics().counter("cf_state_restored_records_total", "changelog records replayed at restore");
  static Gauge& remaining_gauge =
      metrics().gauge("cf_state_restore_remaining_records",
                      "changelog records still to replay in running restores");
  if (from.empty()) return 0;
  KafkaHandle consumer = make_reader(settings, "cf.changelog-restore");
  rd_kafka_t* rk = consumer.get();

  std::map<int32_t, int64_t> end;  // partitions still to read -> their end offset
  int64_t remaining = 0;
  PartitionListHandle list(rd_kafka_topic_partition_list_new(static_cast<int>(from.size())));
  for (auto [partition, start] : from) {
    int64_t low = 0, high = 0;
    auto werr = rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &low, &high, 10000);
    if (werr) throw KafkaError("watermarks of " + topic + "/" + std::to_string(partition), werr);
    if (low > start) {
      metrics()
          .counter("cf_changelog_truncated_total",
                   "changelog partitions found truncated at restore", label("topic", topic))
          .inc();
      std::string what = "changelog " + topic + "/" + std::to_string(partition) +
                         " starts at offset " + std::to_string(low) +
                         " but the restore needs offset " + std::to_string(start) + ": " +
                         std::to_string(low - start) +
                         " record(s) of state are gone (retention too short, or the development "
                         "broker's per-partition cap)";
      if (!allow_truncated) {
        throw StateLossError(
            what +
            "; refusing to run on partial state. Fix the changelog's "
            "retention (cleanup.policy=compact) and rebuild the state by replaying "
            "the input, or restart with --allow-truncated-changelog to accept it");
      }
      state_log()->error("{}; continuing on partial state (--allow-truncated-changelog)", what);
      start = low;
    }
    ends[partition] = std::max(high, start);
    if (high > start) {
      end[partition] = high;
      remaining += high - start;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = start;
    }
  }
  if (end.empty()) return 0;
  remaining_gauge.add(static_cast<double>(remaining));
  if (auto e = rd_kafka_assign(rk, list.get())) throw KafkaError("assign changelog", e);
  int64_t read = 0;
  const int64_t total = remaining;
  auto started = std::chrono::steady_clock::now();
  auto next_progress = started + std::chrono::seconds(1);
  auto deadline = started + std::chrono::minutes(10);
  auto finish = [&] { remaining_gauge.add(-static_cast<double>(total - read)); };
  try {
    std::vector<rd_kafka_message_t*> batch(1024);
    QueueHandle queue(rd_kafka_queue_get_consumer(rk));
    while (!end.empty()) {
      if (shutdown_requested())
        throw StateLossError("restore of " + topic + " interrupted by shutdown");
      ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 100, batch.data(), batch.size());
      if (n < 0) throw KafkaError("restore of " + topic, rd_kafka_last_error());
      auto now = std::chrono::steady_clock::now();
      if (n == 0 && now > deadline) {
        throw KafkaError("restore of " + topic + " timed out", RD_KAFKA_RESP_ERR__TIMED_OUT);
      }
      if (now >= next_progress) {
        next_progress = now + std::chrono::seconds(1);
        state_log()->info("restoring {}: {} of {} changelog record(s) replayed", topic, read,
                          total);
      }
      for (ssize_t i = 0; i < n; ++i) {
        MessageHandle msg(batch[static_cast<size_t>(i)]);
        auto it = end.find(msg->partition);
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          if (it != end.end() && msg->offset >= it->second) end.erase(it);
          continue;
        }
        if (msg->err) throw KafkaError("restore of " + topic, msg->err);
        if (it == end.end() || msg->offset >= it->second) continue;
        bool marker = false;
        const int64_t epoch = epoch_of(msg.get(), marker);
        auto current = epochs.find(msg->partition);
        if (marker) {
          epochs[msg->partition] = epoch;
        } else if (epoch >= 0 && current != epochs.end() && epoch < current->second) {
          fenced.inc();
        } else {
          std::string_view key(static_cast<const char*>(msg->key), msg->key_len);
          std::string_view value(static_cast<const char*>(msg->payload), msg->len);
          apply(msg->partition, key, msg->payload == nullptr ? nullptr : &value);
        }
        ++read;
        remaining_gauge.add(-1);
        if (msg->offset + 1 >= it->second) end.erase(it);
      }
    }
  } catch (...) {
    finish();
    throw;
  }
  restored.inc(static_cast<uint64_t>(read));
  rd_kafka_consumer_close(rk);
  return read;
}

std::map<int32_t, int64_t> claim_partitions(const StateOptions& options,
                                            const std::vector<int32_t>& partitions) {
  struct MarkerOffsets : DeliveryListener {
    std::map<int32_t, int64_t> offsets;
    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
    void on_delivery(rd_kafka_resp_err_t, void*) override {}
    void on_delivery_message(const rd_kafka_message_t& message) override {
      if (message.err) {
        error = message.err;
      } else {
        offsets[message.partition] = message.offset;
      }
    }
  } listener;
  std::map<int32_t, int64_t> none;
  if (partitions.empty()) return none;
  Producer producer(options.kafka, "cf.epoch-claim", &listener);
  // A key of its own per claim, so compaction never removes an older marker
  // that still fences the records after it.
  const std::string key =
      "__cf_epoch__/" + default_instance_id() + "/" + std::to_string(wall_clock_ms());
  for (int32_t p : partitions) {
    producer.produce({options.changelog_topic, key, "epoch", {{kEpochMarkerHeader, "1"}}, p},
                     nullptr);
  }
  auto flushed = producer.flush(30000);
  if (flushed || listener.error || listener.offsets.size() != partitions.size()) {
    throw KafkaError("claiming " + options.changelog_topic + " partitions with epoch markers",
                     listener.error ? listener.error : RD_KAFKA_RESP_ERR__TIMED_OUT);
  }
  return listener.offsets;
}

RestoreReport restore_stores(const StateOptions& options,
                             const std::map<int32_t, RestorableStore*>& stores) {
  static Counter& snapshot_keys = metrics().counter("cf_state_snapshot_keys_loaded_total",
                                                    "keys loaded from local snapshots at restore");
  RestoreReport report;
  report.partitions = stores.size();
  if (stores.empty()) return report;
  auto started = std::chrono::steady_clock::now();
  std::map<int32_t, int64_t> from;
  for (auto& [partition, store] : stores) {
    int64_t covered = -1;
    if (!options.snapshot_dir.empty()) {
      covered = load_snapshot_file(snapshot_path(options, partition), *store);
    }
    if (covered >= 0) report.snapshot_keys += static_cast<int64_t>(store->size());
    from[partition] = covered < 0 ? 0 : covered;
  }
  // A snapshot past the changelog's end belongs to another life of the topic
  // (recreated, or a restarted development broker): it must not be trusted.
  {
    KafkaHandle client = make_reader(options.kafka, "cf.changelog-restore");
    for (auto& [partition, start] : from) {
      if (start == 0) continue;
      int64_t low = 0, high = 0;
      auto err = rd_kafka_query_watermark_offsets(client.get(), options.changelog_topic.c_str(),
                                                  partition, &low, &high, 10000);
      if (err) throw KafkaError("watermarks of " + options.changelog_topic, err);
      if (high < start) {
        state_log()->warn(
            "snapshot of {}/{} covers offset {} but the changelog ends at {}: the "
            "topic was recreated; discarding the snapshot",
            options.changelog_topic, partition, start, high);
        report.snapshot_keys -= static_cast<int64_t>(stores.at(partition)->size());
        stores.at(partition)->clear();
        stores.at(partition)->set_epoch(-1);
        start = 0;
      }
    }
  }
  snapshot_keys.inc(static_cast<uint64_t>(report.snapshot_keys));
  std::map<int32_t, int64_t> epochs, ends;
  for (auto& [partition, store] : stores) {
    if (store->epoch() >= 0) epochs[partition] = store->epoch();
  }
  auto apply = [&](int32_t partition, std::string_view key, const std::string_view* value) {
    stores.at(partition)->apply_encoded(key, value);
  };
  report.changelog_records =
      replay_changelog(options.kafka, options.changelog_topic, from,
                       options.allow_truncated_changelog, apply, epochs, ends);
  // Claim the partitions, then read what landed between the end read above
  // and the marker (the last writes of an owner that was still writing): it
  // is history before this epoch, so the state must hold it too. Anything a
  // replaced owner writes after the marker is fenced off at every restore.
  std::vector<int32_t> partitions;
  for (auto& [partition, store] : stores) partitions.push_back(partition);
  const std::map<int32_t, int64_t> markers = claim_partitions(options, partitions);
  std::map<int32_t, int64_t> gap;
  for (auto& [partition, marker] : markers) {
    if (ends[partition] < marker) gap[partition] = ends[partition];
  }
  if (!gap.empty()) {
    report.changelog_records +=
        replay_changelog(options.kafka, options.changelog_topic, gap,
                         options.allow_truncated_changelog, apply, epochs, ends);
  }
  for (auto& [partition, marker] : markers) stores.at(partition)->claim(marker);
  report.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  size_t keys = 0;
  for (auto& [partition, store] : stores) keys += store->size();
  state_log()->info(
      "restored {} partition(s) of {}: {} key(s) from snapshots + {} changelog "
      "record(s) -> {} key(s) in {} ms",
      report.partitions, options.changelog_topic, report.snapshot_keys, report.changelog_records,
      keys, report.elapsed_ms);
  metrics()
      .histogram("cf_state_restore_seconds", "time to restore assigned partitions' state")
      .observe(static_cast<double>(report.elapsed_ms) / 1000.0);
  return report;
}

void RestorableStore::on_changelog_delivery(int64_t offset, bool ok) {
  if (next_own_offset_ < 0 || !snapshot_refusal_.empty()) return;
  if (!ok) {
    snapshot_refusal_ = "a changelog write was refused";
  } else if (offset < epoch_) {
    // A write of an earlier tenure on this instance, below the marker: the
    // restore before the claim read it.
  } else if (offset == next_own_offset_) {
    ++next_own_offset_;
  } else {
    snapshot_refusal_ = "another writer wrote to the changelog at offset " +
                        std::to_string(next_own_offset_) +
                        " (this instance may have been replaced)";
  }
}

int64_t RestorableStore::snapshot_offset(std::string& why) const {
  if (next_own_offset_ < 0) {
    why = "the partition is not claimed";
    return -1;
  }
  if (!snapshot_refusal_.empty()) {
    why = snapshot_refusal_;
    return -1;
  }
  return next_own_offset_;
}

bool snapshot_partition(const StateOptions& options, int32_t partition,
                        const RestorableStore& store) {
  if (options.snapshot_dir.empty()) return false;
  static Counter& written =
      metrics().counter("cf_state_snapshots_total", "local snapshots written");
  static Counter& skipped = metrics().counter(
      "cf_state_snapshots_skipped_total",
      "snapshots not written: the store's changelog writes were interleaved with another "
      "writer's or refused since its restore (the previous snapshot stays)");
  std::string why;
  const int64_t covered = store.snapshot_offset(why);
  if (covered < 0) {
    skipped.inc();
    state_log()->warn("snapshot of {}/{} skipped: {}", options.changelog_topic, partition, why);
    return false;
  }
  try {
    write_snapshot_file(snapshot_path(options, partition), covered, store);
    written.inc();
    return true;
  } catch (const std::exception& e) {
    state_log()->warn("snapshot of {}/{} failed: {}", options.changelog_topic, partition, e.what());
    return false;
  }
}

}  // namespace cf

namespace cf {
std::vector<int32_t> partition_numbers(const std::vector<TopicPartition>& partitions) {
  std::vector<int32_t> numbers;
  for (const auto& tp : partitions) numbers.push_back(tp.partition);
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  return numbers;
}
}  // namespace cf
