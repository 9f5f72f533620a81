// cf-bench-sink: postgres-sink rows/s next to a raw COPY of the same rows
// into the same schema, in one run on the same data.
//   cf-bench-sink --brokers B --postgres-url-file F --records N --sink-bin PATH
// Prints two lines: copy rows_per_s=..., sink rows_per_s=... (event-store rows;
// the sink also maintains the read models in the same transactions).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <pqxx/pqxx>
#include <pqxx/stream_to>
#include <random>
#include <thread>

#include "cf/clients.h"
#include "cf/config.h"
#include "cf/errors.h"
#include "cf/event_envelope.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/migrations.h"
#include "cf/producer.h"
#include "cf/signature.h"
#include "cf/sink_store.h"
#include "cf/time_format.h"
#include "sink_projection.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

// Resolved order events as the reconciler writes them: orders of 50 creators
// moving through three statuses, and their payments.
std::vector<std::string> generate(size_t count) {
  std::vector<std::string> out;
  std::mt19937_64 rng(3);
  const int64_t t0 = cf::wall_clock_ms();
  const char* statuses[] = {"AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED"};
  for (size_t order = 0; out.size() < count; ++order) {
    std::string creator = "creator-" + std::to_string(order % 50),
                aggregate = "tiktok:bench-" + std::to_string(order);
    for (int v = 1; v <= 4 && out.size() < count; ++v) {
      cf::JsonBuilder w(700);
      cf::EnvelopeFields f;
      const bool payment = v == 4;
      f.event_type = payment ? "order.payment_completed" : "order.status_changed";
      f.aggregate_type = payment ? "payment" : "order";
      f.aggregate_id = aggregate;
      f.creator_id = creator;
      f.version = payment ? 1 : v;
      f.occurred_at_ms = t0 + static_cast<int64_t>(out.size());
      f.source = "tiktok_webhook";
      f.correlation_id = "bench";
      f.causation_id = "bench";
      cf::begin_envelope(w, cf::deterministic_uuid(aggregate + std::to_string(v)), f);
      std::string data =
          payment
              ? R"({"channel":"tiktok","order_id":")" + aggregate + R"(","amount_minor":)" +
                    std::to_string(1000 + rng() % 9000) + R"(,"currency":"USD"})"
              : R"({"channel":"tiktok","order_id":")" + aggregate + R"(","status":")" +
                    statuses[v - 1] +
                    R"(","previous_status":null,"total_minor":4200,"currency":"USD","items":[{"product_sku":"CF-)" +
                    std::to_string(rng() % 200) + R"(","quantity":1}]})";
      out.push_back(w.take() + data + "}");
    }
  }
  return out;
}

std::string database_url(const std::string& base, const std::string& db) {
  return base + " dbname=" + db;  // a later dbname= wins in libpq connection strings
}

void fresh_database(const std::string& base, const std::string& db) {
  pqxx::connection admin(base);
  pqxx::nontransaction t(admin);
  t.exec("DROP DATABASE IF EXISTS " + db);
  t.exec("CREATE DATABASE " + db);
}

struct Deliveries : cf::DeliveryListener {
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) throw cf::KafkaError("bench feed", error);
  }
};

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::KafkaSettings kafka;
  std::string url_file, sink_bin, migrations, log_level = "warn";
  size_t records = 60000;
  return cf::guarded_main("cf-bench-sink", [&]() -> int {
    cf::OptionsParser options("cf-bench-sink",
                              "postgres-sink rows/s next to a raw COPY of the same rows.");
    options.add_kafka_options(kafka);
    options.add_logging_options(log_level);
    options.add()("postgres-url-file", po::value(&url_file),
                  "connection string of a server to create databases on")(
        "sink-bin", po::value(&sink_bin)->required(), "the postgres-sink binary")(
        "migrations-dir", po::value(&migrations)->required(), "migrations")(
        "records", po::value(&records)->default_value(records), "events");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("bench", log_level);
    const std::string base =
        cf::secret_from_file_or_env(url_file, "--postgres-url-file", "CF_POSTGRES_URL");
    auto events = generate(records);

    // 1. Ceiling: COPY the same rows into the same schema, one transaction.
    fresh_database(base, "cf_copy_bench");
    double copy_rate = 0;
    {
      pqxx::connection c(database_url(base, "cf_copy_bench"));
      cf::apply_migrations(c, migrations);
      cf::SinkBatch batch;
      for (auto& e : events)
        cf::project_record(
            "orders.events", e, [](const char*) { return std::nullopt; }, batch);
      pqxx::work t(c);
      t.exec("SELECT cf_ensure_event_partition(now()::date)");
      auto start = Clock::now();
      pqxx::stream_to stream(t, "events",
                             std::vector<std::string>{"id", "aggregate_id", "aggregate_type",
                                                      "event_type", "creator_id", "event_data",
                                                      "metadata", "version", "occurred_at"});
      for (const auto& e : batch.events) {
        stream << std::make_tuple(e.id, e.aggregate_id, e.aggregate_type, e.event_type,
                                  e.creator_id, e.event_data, e.metadata, e.version,
                                  cf::format_rfc3339_ms(e.occurred_at_ms));
      }
      stream.complete();
      t.commit();
      copy_rate = static_cast<double>(batch.events.size()) /
                  std::chrono::duration<double>(Clock::now() - start).count();
    }
    std::printf("copy records=%zu rows_per_s=%.0f\n", events.size(), copy_rate);
    std::fflush(stdout);

    // 2. The sink over the same events, pre-loaded into orders.events.
    fresh_database(base, "cf_sink_bench");
    {
      Deliveries deliveries;
      cf::Producer producer(kafka, "bench-feeder", &deliveries);
      for (size_t i = 0; i < events.size(); ++i) {
        std::string creator = "creator-" + std::to_string((i / 4) % 50);
        while (!producer.produce({"orders.events", creator, events[i]}, nullptr, 100))
          producer.poll(10);
        if ((i & 1023) == 0) producer.poll(0);
      }
      if (producer.flush(60000)) throw std::runtime_error("feed not acknowledged");
    }
    std::string sink_url_file = "/tmp/cf-bench-sink-" + std::to_string(::getpid()) + ".url";
    std::ofstream(sink_url_file) << database_url(base, "cf_sink_bench");
    std::vector<std::string> args = {
        sink_bin,      "--brokers",        kafka.brokers, "--postgres-url-file",
        sink_url_file, "--migrations-dir", migrations,    "--metrics-port",
        "-1",          "--log-level",      "warn"};
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, sink_bin.c_str(), nullptr, nullptr, cargs.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + sink_bin);
    }
    pqxx::connection c(database_url(base, "cf_sink_bench"));
    auto written = [&]() -> int64_t {
      try {
        pqxx::work t(c);
        return t
            .exec1(
                "SELECT coalesce(sum(next_offset), 0) FROM sink_offsets WHERE topic = "
                "'orders.events'")[0]
            .as<int64_t>();
      } catch (const std::exception&) {
        return 0;  // not migrated yet
      }
    };
    Clock::time_point first{}, last{};
    int64_t at_first = 0;
    auto deadline = Clock::now() + std::chrono::minutes(5);
    while (Clock::now() < deadline) {
      int64_t n = written();
      if (n > 0 && first == Clock::time_point{}) {
        first = Clock::now();
        at_first = n;
      }
      if (n >= static_cast<int64_t>(events.size())) {
        last = Clock::now();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    std::remove(sink_url_file.c_str());
    if (last == Clock::time_point{})
      throw std::runtime_error("the sink did not finish within 5 minutes");
    double seconds = std::chrono::duration<double>(last - first).count();
    std::printf("sink records=%zu rows_per_s=%.0f (from the first committed batch to the last)\n",
                events.size(),
                static_cast<double>(static_cast<int64_t>(events.size()) - at_first) / seconds);
    return 0;
  });
}
