// cf-pipeline-report: what the pipeline did, read back from its topics:
// webhooks accepted and refused, rejections by reason, events by type,
// throughput, and latency from HTTP accept (received_at) to validated event.
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <string_view>
#include <vector>

#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/json_parse.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/time_format.h"
#include "cf/topic_catalog.h"
#include "cf/topic_reader.h"

namespace po = boost::program_options;

namespace {

double percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto i = static_cast<size_t>(q * static_cast<double>(values.size() - 1));
  return values[i];
}

}  // namespace

int main(int argc, char** argv) {
  cf::KafkaSettings kafka;
  std::string loadgen_report, log_level = "warn", postgres_url_file,
                              catalog_path = cf::default_topic_catalog_path();
  return cf::guarded_main("cf-pipeline-report", [&]() -> int {
    cf::OptionsParser options("cf-pipeline-report", "Summarises what the pipeline did.");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()("loadgen-report", po::value(&loadgen_report),
                  "cf-loadgen --report file (HTTP answers)")(
        "topic-catalog", po::value(&catalog_path)->default_value(catalog_path),
        "topic catalog (topics/catalog.json)")("postgres-url-file", po::value(&postgres_url_file),
                                               "also read the dashboard's figures back from "
                                               "PostgreSQL (file holding the connection string)");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("report", log_level);

    std::map<int, uint64_t> http_status;
    uint64_t posted = 0;
    if (!loadgen_report.empty()) {
      std::ifstream in(loadgen_report);
      std::string line;
      std::map<uint64_t, int> last_status;  // retried requests count once, by their final answer
      while (std::getline(in, line)) {
        rapidjson::Document doc;
        const bool doc_ok = cf::parse_json(doc, line);
        const int64_t seq = cf::int_member(doc, "seq", -1);
        if (!doc_ok || seq < 0) continue;
        last_status[static_cast<uint64_t>(seq)] =
            static_cast<int>(cf::int_member(doc, "status", 0));
      }
      for (auto& [seq, status] : last_status) ++http_status[status];
      posted = last_status.size();
    }

    // Topic names come from the catalog: every raw topic counts, and a topic
    // this report reads that the catalog lacks is an error, not a zero.
    std::set<std::string> known;
    std::vector<std::string> raw_topics;
    for (const auto& spec :
         cf::parse_topic_catalog(cf::read_file_or_throw(catalog_path, "--topic-catalog"))) {
      known.insert(spec.name);
      if (spec.name.rfind("webhooks.", 0) == 0 && spec.name.size() > 13 &&
          spec.name.compare(spec.name.size() - 4, 4, ".raw") == 0) {
        raw_topics.push_back(spec.name);
      }
    }
    auto topic = [&](const char* name) -> std::string {
      if (!known.count(name))
        throw cf::ConfigError(std::string("topic catalog has no topic ") + name);
      return name;
    };
    uint64_t raw = 0;
    for (const auto& name : raw_topics) {
      raw += static_cast<uint64_t>(
          cf::read_topic(kafka, name, {}, [](const cf::InputRecord&) { return true; }));
    }

    std::map<std::string, uint64_t> rejected_by_code;
    uint64_t rejected = 0;
    cf::read_topic(kafka, topic("webhooks.rejected"), {}, [&](const cf::InputRecord& r) {
      ++rejected;
      rapidjson::Document reason;
      auto header = r.header("cf-reject-reason");
      const bool reason_ok = header && cf::parse_json(reason, *header);
      std::string code = "unknown";
      if (reason_ok && !cf::string_member(reason, "code").empty()) {
        std::string field(cf::string_member(reason, "field"));
        code = std::string(cf::string_member(reason, "code")) + " (" +
               (field.empty() ? "" : field + " ") + std::string(cf::string_member(reason, "rule")) +
               ")";
      }
      ++rejected_by_code[code];
      return true;
    });

    std::map<std::string, uint64_t> events_by_type;
    std::set<std::string> event_ids, sources;
    std::vector<double> latencies_ms;
    std::vector<double> label_waits_ms;  ///< carrier updates: accept -> joined to their label
    int64_t first_ms = INT64_MAX, last_ms = 0;
    uint64_t events = 0;
    cf::read_topic(kafka, topic("events.validated"), {}, [&](const cf::InputRecord& r) {
      rapidjson::Document doc;
      const bool doc_ok = cf::parse_json(doc, r.value());
      if (!doc_ok || cf::string_member(doc, "event_type").empty() ||
          cf::string_member(doc, "event_type") == cf::kTickEventType) {
        return true;  // not an event, or the ticker's
      }
      ++events;
      ++events_by_type[std::string(cf::string_member(doc, "event_type"))];
      event_ids.insert(std::string(cf::string_member(doc, "event_id")));
      sources.insert(
          std::string(cf::string_member(cf::member_or_null(doc, "metadata"), "causation_id")));
      int64_t produced = r.timestamp_ms();
      first_ms = std::min(first_ms, produced);
      last_ms = std::max(last_ms, produced);
      if (!cf::string_member(doc, "received_at").empty()) {
        if (auto received =
                cf::parse_rfc3339_ms(std::string(cf::string_member(doc, "received_at")))) {
          // A carrier's update waits for its order's label (the saga makes it
          // seconds after the order, the generator posts updates at once): its
          // own figure, not the pipeline's latency.
          const bool shipment = cf::string_member(doc, "event_type") == "shipment.tracking_updated";
          (shipment ? label_waits_ms : latencies_ms)
              .push_back(static_cast<double>(produced - *received));
        }
      }
      return true;
    });

    std::printf("\n=== CreatorFlow Streams: what happened ===\n");
    if (posted) {
      std::printf("webhooks posted over HTTP          %8llu\n",
                  static_cast<unsigned long long>(posted));
      const std::map<int, const char*> meaning = {
          {200, "accepted (durable in Kafka)"},
          {400, "malformed HTTP or body (JSON, depth, UTF-8)"},
          {401, "bad signature / API key"},
          {413, "body too large"},
          {429, "rate limited"},
          {503, "Kafka unavailable"},
          {0, "no answer"}};
      for (auto& [status, n] : http_status) {
        auto m = meaning.find(status);
        std::printf("  HTTP %3d %-26s %8llu\n", status, m == meaning.end() ? "" : m->second,
                    static_cast<unsigned long long>(n));
      }
    }
    std::printf("raw records in Kafka               %8llu\n", static_cast<unsigned long long>(raw));
    std::printf("rejected by the validator          %8llu  (on webhooks.rejected)\n",
                static_cast<unsigned long long>(rejected));
    for (auto& [code, n] : rejected_by_code) {
      std::printf("  %-40s %6llu\n", code.c_str(), static_cast<unsigned long long>(n));
    }
    uint64_t distinct_sources = sources.size();
    uint64_t duplicates =
        raw >= rejected + distinct_sources ? raw - rejected - distinct_sources : 0;
    std::printf("duplicates dropped                 %8llu\n",
                static_cast<unsigned long long>(duplicates));
    std::printf("domain events on events.validated  %8llu  (%zu distinct ids)\n",
                static_cast<unsigned long long>(events), event_ids.size());
    for (auto& [type, n] : events_by_type) {
      std::printf("  %-32s %8llu\n", type.c_str(), static_cast<unsigned long long>(n));
    }
    if (events > 1 && last_ms > first_ms) {
      std::printf("throughput                         %8.0f events/s over %.1f s\n",
                  static_cast<double>(events) * 1000.0 / static_cast<double>(last_ms - first_ms),
                  static_cast<double>(last_ms - first_ms) / 1000.0);
    }
    double p50 = percentile(latencies_ms, 0.5), p99 = percentile(latencies_ms, 0.99);
    std::printf("latency HTTP accept -> validated   p50 %.0f ms, p99 %.0f ms (%zu events)\n", p50,
                p99, latencies_ms.size());
    if (!label_waits_ms.empty()) {
      std::printf(
          "carrier updates HTTP accept -> joined to their label   p50 %.0f ms, p99 %.0f ms (%zu "
          "updates)\n",
          percentile(label_waits_ms, 0.5), percentile(label_waits_ms, 0.99), label_waits_ms.size());
    }

    // The stateful processors: latest prediction per SKU, alerts, conflicts.
    struct Latest {
      int64_t version = -1;
      int64_t available = 0;
      double rate = 0, hours = -1, low = -1, high = -1;
      int64_t reorder = 0;
    };
    std::map<std::string, Latest> predictions;
    cf::read_topic(kafka, topic("inventory.predictions"), {}, [&](const cf::InputRecord& r) {
      rapidjson::Document d;
      const bool d_ok = cf::parse_json(d, r.value());
      const int64_t version = cf::int_member(d, "version", -1);
      if (!d_ok || version < 0) return true;
      std::string key = std::string(cf::string_member(d, "creator_id")) + " " +
                        std::string(cf::string_member(d, "product_sku"));
      Latest& l = predictions[key];
      if (version < l.version) return true;
      l.version = version;
      l.available = cf::int_member(d, "available", 0);
      l.rate = cf::number_member(d, "rate_per_hour", 0);
      l.hours = cf::number_member(d, "time_to_stockout_hours", -1);
      l.low = cf::number_member(cf::member_or_null(d, "interval_90"), "low_hours", -1);
      l.high = cf::number_member(cf::member_or_null(d, "interval_90"), "high_hours", -1);
      l.reorder = cf::int_member(cf::member_or_null(d, "reorder"), "quantity", 0);
      return true;
    });
    std::vector<std::pair<std::string, Latest>> critical(predictions.begin(), predictions.end());
    critical.erase(std::remove_if(critical.begin(), critical.end(),
                                  [](auto& p) { return p.second.hours < 0; }),
                   critical.end());
    std::sort(critical.begin(), critical.end(),
              [](auto& a, auto& b) { return a.second.hours < b.second.hours; });
    std::printf("\n--- inventory (inventory-velocity -> stockout-predictor) ---\n");
    std::printf("SKUs with a prediction              %8zu\n", predictions.size());
    std::printf("most critical SKUs:\n  %-26s %7s %9s %12s %17s %8s\n", "creator / SKU", "stock",
                "sold/h", "stockout in", "90% interval (h)", "reorder");
    for (size_t i = 0; i < critical.size() && i < 10; ++i) {
      const Latest& l = critical[i].second;
      char interval[48];
      if (l.high >= 0) {
        std::snprintf(interval, sizeof interval, "%.1f - %.1f", l.low, l.high);
      } else {
        std::snprintf(interval, sizeof interval, "%.1f - inf", l.low);
      }
      std::printf("  %-26s %7lld %9.1f %10.1f h %17s %8lld\n", critical[i].first.c_str(),
                  static_cast<long long>(l.available), l.rate, l.hours, interval,
                  static_cast<long long>(l.reorder));
    }
    std::map<std::string, std::pair<uint64_t, uint64_t>> alerts;  // alert -> raised, cleared
    cf::read_topic(kafka, topic("inventory.alerts"), {}, [&](const cf::InputRecord& r) {
      rapidjson::Document d;
      const bool d_ok = cf::parse_json(d, r.value());
      if (!d_ok || cf::string_member(d, "alert").empty()) return true;
      auto& counts = alerts[std::string(cf::string_member(d, "alert"))];
      ++(cf::string_member(d, "state") == "raised" ? counts.first : counts.second);
      return true;
    });
    std::printf("alerts (raised / cleared, transitions only):\n");
    for (auto& [alert, counts] : alerts) {
      std::printf("  %-20s %6llu / %llu\n", alert.c_str(),
                  static_cast<unsigned long long>(counts.first),
                  static_cast<unsigned long long>(counts.second));
    }
    std::map<std::string, uint64_t> conflicts;
    std::set<std::string> conflict_ids;
    cf::read_topic(kafka, topic("conflicts.audit"), {}, [&](const cf::InputRecord& r) {
      rapidjson::Document d;
      const bool d_ok = cf::parse_json(d, r.value());
      if (!d_ok || cf::string_member(d, "conflict_id").empty()) return true;
      if (!conflict_ids.insert(std::string(cf::string_member(d, "conflict_id"))).second)
        return true;
      const std::string_view winner = cf::string_member(d, "winner");
      ++conflicts[std::string(cf::string_member(d, "kind")) + " -> " +
                  std::string(cf::string_member(d, "strategy")) + " (winner " +
                  (winner.empty() ? std::string("ledger") : std::string(winner)) + ")"];
      return true;
    });
    uint64_t manual = static_cast<uint64_t>(cf::read_topic(
        kafka, topic("conflicts.manual"), {}, [](const cf::InputRecord&) { return true; }));
    std::printf("\n--- conflicts (reconciler, inventory-velocity) ---\n");
    std::printf("conflicts resolved                 %8zu  (%llu escalated to conflicts.manual)\n",
                conflict_ids.size(), static_cast<unsigned long long>(manual));
    for (auto& [what, n] : conflicts) {
      std::printf("  %-64s %6llu\n", what.c_str(), static_cast<unsigned long long>(n));
    }

    if (!postgres_url_file.empty()) {
      std::string url =
          cf::secret_from_file_or_env(postgres_url_file, "--postgres-url-file", "CF_POSTGRES_URL");
      pqxx::connection connection(url);
      pqxx::work t(connection);
      std::printf("\n--- read back from PostgreSQL (postgres-sink) ---\n");
      auto counts = t.exec1(
          "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM orders), "
          "(SELECT count(*) FROM inventory_levels), (SELECT count(*) FROM alerts WHERE state = "
          "'raised'), "
          "(SELECT count(*) FROM conflicts), (SELECT count(*) FROM manual_resolution_queue)");
      std::printf(
          "event store %lld events; %lld orders; %lld SKU levels; %lld open alerts; %lld conflicts "
          "(%lld waiting for manual resolution)\n",
          counts[0].as<long long>(), counts[1].as<long long>(), counts[2].as<long long>(),
          counts[3].as<long long>(), counts[4].as<long long>(), counts[5].as<long long>());
      // Sagas (order-saga -> saga.events -> sagas).
      auto sagas = t.exec1(
          "SELECT count(*) FILTER (WHERE status = 'completed'), "
          "count(*) FILTER (WHERE status = 'compensated'), "
          "count(*) FILTER (WHERE status = 'compensated' AND failure LIKE 'order cancelled%'), "
          "count(*) FILTER (WHERE status = 'needs_manual'), "
          "count(*) FILTER (WHERE status IN ('running', 'compensating')), "
          "percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE status = "
          "'completed'), "
          "percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE status = "
          "'completed'), "
          "(SELECT coalesce(sum(records), 0) FROM dead_letter_counts WHERE topic = "
          "'dlq.order-saga') "
          "FROM sagas");
      std::printf(
          "sagas: %lld completed, %lld compensated (%lld orders cancelled by the buyer, %lld "
          "failed: %lld of them dead-lettered), %lld waiting for an operator, %lld still "
          "running; duration of completed sagas p50 %s ms, p99 %s ms\n",
          sagas[0].as<long long>(), sagas[1].as<long long>(), sagas[2].as<long long>(),
          sagas[1].as<long long>() - sagas[2].as<long long>(), sagas[7].as<long long>(),
          sagas[3].as<long long>(), sagas[4].as<long long>(),
          sagas[5].is_null() ? "-" : sagas[5].c_str(), sagas[6].is_null() ? "-" : sagas[6].c_str());
      std::printf("orders per creator today (UTC, top 5), figures from their sagas:\n");
      for (auto r :
           t.exec("SELECT creator_id, orders, avg_processing_ms, avg_processing_change_ms, "
                  "round(automation_health, 3), sagas_finished FROM creator_daily_dashboard "
                  "WHERE day = (now() AT TIME ZONE 'UTC')::date ORDER BY orders DESC LIMIT 5")) {
        std::printf(
            "  %-14s %5lld orders  %5s sagas finished  avg processing %s ms (%s ms vs yesterday)  "
            "automation health %s\n",
            r[0].c_str(), r[1].as<long long>(), r[5].is_null() ? "0" : r[5].c_str(),
            r[2].is_null() ? "-" : r[2].c_str(), r[3].is_null() ? "-" : r[3].c_str(),
            r[4].is_null() ? "-" : r[4].c_str());
      }
      std::printf("net revenue today per creator and currency (top 5: gross - refunds = net):\n");
      for (auto r : t.exec("SELECT creator_id, currency, gross_minor, refunded_minor, net_minor "
                           "FROM creator_daily_net_revenue WHERE day = (now() AT TIME ZONE "
                           "'UTC')::date ORDER BY net_minor DESC LIMIT 5")) {
        std::printf("  %-14s %s %12.2f - %10.2f = %12.2f\n", r[0].c_str(), r[1].c_str(),
                    r[2].as<double>() / 100.0, r[3].as<double>() / 100.0,
                    r[4].as<double>() / 100.0);
      }
      std::printf("most critical SKUs with a known stock (from stockout_predictions):\n");
      for (auto r :
           t.exec("SELECT p.creator_id || ' ' || p.product_sku, p.available, p.rate_per_hour, "
                  "p.time_to_stockout_hours, p.interval_low_hours, p.interval_high_hours, "
                  "p.reorder_quantity "
                  "FROM stockout_predictions p JOIN inventory_levels l USING (creator_id, "
                  "product_sku) "
                  "WHERE l.counted AND p.time_to_stockout_hours IS NOT NULL "
                  "ORDER BY p.time_to_stockout_hours, p.rate_per_hour DESC LIMIT 5")) {
        std::printf("  %-22s %6lld left, %7.1f/h, out in %8.1f h (90%%: %s - %s h), reorder %lld\n",
                    r[0].c_str(), r[1].as<long long>(), r[2].as<double>(), r[3].as<double>(),
                    r[4].is_null() ? "-" : r[4].c_str(), r[5].is_null() ? "inf" : r[5].c_str(),
                    r[6].as<long long>());
      }
      std::printf("open alerts by kind:");
      for (auto r : t.exec(
               "SELECT alert, count(*) FROM alerts WHERE state = 'raised' GROUP BY 1 ORDER BY 1")) {
        std::printf(" %s=%lld", r[0].c_str(), r[1].as<long long>());
      }
      std::printf("\nconflicts by strategy:");
      for (auto r : t.exec("SELECT strategy, count(*) FROM conflicts GROUP BY 1 ORDER BY 2 DESC")) {
        std::printf(" %s=%lld", r[0].c_str(), r[1].as<long long>());
      }
      std::printf("\n");
    }
    return 0;
  });
}
