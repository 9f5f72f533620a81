#include "cf/event_store.h"

#include <rapidjson/document.h>

#include <stdexcept>

#include "cf/json_builder.h"
#include "cf/json_parse.h"
#include "cf/time_format.h"

namespace cf {
namespace {

constexpr const char* kColumns =
    "id::text, aggregate_id, aggregate_type, event_type, creator_id, event_data::text, "
    "metadata::text, version, "
    "(extract(epoch FROM occurred_at) * 1000)::bigint, (extract(epoch FROM processed_at) * "
    "1000)::bigint";

std::string ts(pqxx::work& txn, int64_t ms) {
  return txn.quote(format_rfc3339_ms(ms)) + "::timestamptz";
}

}  // namespace

std::string StoredEvent::envelope_json() const {
  // The metadata column holds the envelope's metadata plus the source.
  std::string source;
  rapidjson::Document metadata;
  if (parse_json(metadata, row.metadata) && metadata.IsObject()) {
    auto it = metadata.FindMember("source");
    if (it != metadata.MemberEnd() && it->value.IsString()) source = it->value.GetString();
  }
  JsonBuilder w(256 + row.event_data.size() + row.metadata.size());
  w.begin_object();
  w.key("event_id").string(row.id);
  w.key("event_type").string(row.event_type);
  w.key("aggregate_type").string(row.aggregate_type);
  w.key("aggregate_id").string(row.aggregate_id);
  w.key("creator_id").string(row.creator_id);
  w.key("version").number(row.version);
  w.key("occurred_at").string(format_rfc3339_ms(row.occurred_at_ms));
  w.key("source").string(source);
  // Both columns are jsonb: PostgreSQL hands back well-formed JSON text.
  w.key("metadata").raw(row.metadata);
  w.key("data").raw(row.event_data);
  w.end_object();
  return w.take();
}

std::string EventCursor::text() const {
  return occurred_at_ms < 0 ? std::string() : std::to_string(occurred_at_ms) + ":" + id;
}

EventCursor EventCursor::parse(const std::string& text) {
  EventCursor c;
  if (text.empty()) return c;
  auto colon = text.find(':');
  if (colon == std::string::npos || colon + 37 != text.size()) {
    throw std::invalid_argument("cursor must be <epoch ms>:<event uuid>, got '" + text + "'");
  }
  c.occurred_at_ms = std::stoll(text.substr(0, colon));
  c.id = text.substr(colon + 1);
  return c;
}

std::vector<StoredEvent> EventStore::select(pqxx::work& txn, const std::string& where_and_order) {
  std::vector<StoredEvent> out;
  for (const auto& r :
       txn.exec(std::string("SELECT ") + kColumns + " FROM events " + where_and_order)) {
    StoredEvent e;
    e.row.id = r[0].as<std::string>();
    e.row.aggregate_id = r[1].as<std::string>();
    e.row.aggregate_type = r[2].as<std::string>();
    e.row.event_type = r[3].as<std::string>();
    e.row.creator_id = r[4].as<std::string>();
    e.row.event_data = r[5].as<std::string>();
    e.row.metadata = r[6].as<std::string>();
    e.row.version = r[7].as<int64_t>();
    e.row.occurred_at_ms = r[8].as<int64_t>();
    e.processed_at_ms = r[9].as<int64_t>();
    out.push_back(std::move(e));
  }
  return out;
}

int64_t EventStore::append(const std::vector<EventRow>& events) {
  pqxx::work txn(connection_);
  int64_t inserted = 0;
  for (const auto& e : events) {
    txn.exec("SELECT cf_ensure_event_partition(" + ts(txn, e.occurred_at_ms) + "::date)");
    auto r = txn.exec(
        "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, creator_id, event_data, "
        "metadata, version, occurred_at) VALUES (" +
        txn.quote(e.id) + "::uuid," + txn.quote(e.aggregate_id) + "," +
        txn.quote(e.aggregate_type) + "," + txn.quote(e.event_type) + "," +
        txn.quote(e.creator_id) + "," + txn.quote(e.event_data) + "::jsonb," +
        txn.quote(e.metadata) + "::jsonb," + std::to_string(e.version) + "," +
        ts(txn, e.occurred_at_ms) + ") ON CONFLICT DO NOTHING");
    inserted += static_cast<int64_t>(r.affected_rows());
  }
  txn.commit();
  return inserted;
}

std::vector<StoredEvent> EventStore::aggregate(const std::string& aggregate_id,
                                               int64_t from_version) {
  pqxx::work txn(connection_);
  auto out = select(txn, "WHERE aggregate_id = " + txn.quote(aggregate_id) + " AND version >= " +
                             std::to_string(from_version) + " ORDER BY version, occurred_at, id");
  txn.commit();
  return out;
}

std::vector<StoredEvent> EventStore::by_type(const std::string& event_type, int64_t from_ms,
                                             int64_t to_ms, int64_t limit) {
  pqxx::work txn(connection_);
  auto out = select(txn, "WHERE event_type = " + txn.quote(event_type) + " AND occurred_at >= " +
                             ts(txn, from_ms) + " AND occurred_at < " + ts(txn, to_ms) +
                             " ORDER BY occurred_at, id LIMIT " + std::to_string(limit));
  txn.commit();
  return out;
}

std::vector<StoredEvent> EventStore::stream(EventCursor& cursor, int64_t limit, int64_t until_ms) {
  pqxx::work txn(connection_);
  std::string where = cursor.occurred_at_ms < 0
                          ? std::string("WHERE true")
                          : "WHERE (occurred_at, id) > (" + ts(txn, cursor.occurred_at_ms) + ", " +
                                txn.quote(cursor.id) + "::uuid)";
  if (until_ms >= 0) where += " AND occurred_at < " + ts(txn, until_ms);
  auto out = select(txn, where + " ORDER BY occurred_at, id LIMIT " + std::to_string(limit));
  txn.commit();
  if (!out.empty()) cursor = {out.back().row.occurred_at_ms, out.back().row.id};
  return out;
}

std::vector<std::string> EventStore::ensure_partitions(int months_ahead) {
  pqxx::work txn(connection_);
  std::vector<std::string> names;
  for (int m = 0; m <= months_ahead; ++m) {
    names.push_back(
        txn.exec1("SELECT cf_ensure_event_partition((date_trunc('month', now()) + interval '" +
                  std::to_string(m) + " month')::date)")[0]
            .as<std::string>());
  }
  txn.commit();
  return names;
}

std::vector<std::pair<std::string, std::string>> EventStore::retention(int64_t before_ms,
                                                                       bool apply) {
  pqxx::work txn(connection_);
  std::vector<std::pair<std::string, std::string>> old;
  // Partition bounds from the catalog: "FOR VALUES FROM ('...') TO ('...')".
  for (const auto& r : txn.exec("SELECT c.relname, (regexp_match(pg_get_expr(c.relpartbound, "
                                "c.oid), 'TO \\(''([^'']+)''\\)'))[1] "
                                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                "WHERE i.inhparent = 'events'::regclass ORDER BY 1")) {
    if (r[1].is_null()) continue;
    auto upper = txn.exec1("SELECT " + txn.quote(r[1].as<std::string>()) +
                           "::timestamptz <= " + ts(txn, before_ms));
    if (upper[0].as<bool>()) old.emplace_back(r[0].as<std::string>(), r[1].as<std::string>());
  }
  if (apply) {
    for (const auto& [name, upper] : old) {
      txn.exec("ALTER TABLE events DETACH PARTITION " + txn.quote_name(name));
      txn.exec("DROP TABLE " + txn.quote_name(name));
    }
  }
  txn.commit();
  return old;
}

}  // namespace cf
