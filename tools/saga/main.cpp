// cf-saga: operators' view of the order sagas and their two interventions.
//   cf-saga list [--status S] [--creator C] [--limit N]    sagas from the read model
//   cf-saga show SAGA_ID                                   one saga with its history
//   cf-saga retry SAGA_ID [--apply]                        a needs_manual saga tries the
//                                                          step it waits on again
//   cf-saga abort SAGA_ID [--apply]                        a running saga, or one escalated
//                                                          on update_channel_status, compensates
// retry and abort are dry runs unless --apply: they check the saga's state in
// the read model, then write an operator command to saga.operator (keyed by
// creator, so it reaches the orchestrator that owns the saga), which applies
// it once and records it in the saga's history. The orchestrator checks the
// state again: a command for a saga that moved on meanwhile is refused
// (cf_saga_operator_refused_total), never half applied.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>

#include "cf/config.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/producer.h"
#include "saga_messages.h"

namespace {

namespace po = boost::program_options;

struct Options {
  cf::KafkaSettings kafka;
  std::string log_level = "warn";
  std::string postgres_url_file;
  std::string status, creator, topic = "saga.operator";
  std::string requested_by;
  int limit = 50;
  bool apply = false;
};

struct Deliveries : cf::DeliveryListener {
  std::atomic<uint64_t> failed{0};
  void on_delivery(rd_kafka_resp_err_t error, void*) override {
    if (error) failed.fetch_add(1);
  }
};

std::unique_ptr<pqxx::connection> connect(const Options& o) {
  return std::make_unique<pqxx::connection>(
      cf::secret_from_file_or_env(o.postgres_url_file, "--postgres-url-file", "CF_POSTGRES_URL"));
}

int list(const Options& o) {
  auto connection = connect(o);
  pqxx::work t(*connection);
  std::string where = "TRUE";
  if (!o.status.empty()) where += " AND status = " + t.quote(o.status);
  if (!o.creator.empty()) where += " AND creator_id = " + t.quote(o.creator);
  std::printf("%-37s %-12s %-13s %-24s %-14s %4s  %s\n", "saga", "creator", "status", "step",
              "order", "try", "failure");
  for (auto r : t.exec("SELECT saga_id, creator_id, status, step, channel || ':' || order_id, "
                       "attempts, failure FROM sagas WHERE " +
                       where + " ORDER BY updated_at DESC LIMIT " + std::to_string(o.limit))) {
    std::printf("%-37s %-12s %-13s %-24s %-14s %4s  %s\n", r[0].c_str(), r[1].c_str(), r[2].c_str(),
                r[3].c_str(), r[4].c_str(), r[5].c_str(), r[6].c_str());
  }
  std::printf("by status:");
  for (auto r : t.exec("SELECT status, count(*) FROM sagas GROUP BY 1 ORDER BY 1"))
    std::printf(" %s=%s", r[0].c_str(), r[1].c_str());
  std::printf("\n");
  return 0;
}

/// The saga's row: creator, status, step; throws when unknown.
pqxx::row find(pqxx::work& t, const std::string& saga_id) {
  auto rows = t.exec(
      "SELECT creator_id, status, step, attempts, channel || ':' || order_id, failure, "
      "started_at, finished_at, manual, payment_captured, payment_refunded, version, "
      "jsonb_pretty(history) FROM sagas WHERE saga_id = " +
      t.quote(saga_id));
  if (rows.empty()) throw cf::ConfigError("no saga " + saga_id + " in the read model");
  if (rows.size() > 1)
    throw cf::ConfigError("saga id " + saga_id + " names several creators' sagas");
  return rows[0];
}

int show(const Options& o, const std::string& saga_id) {
  auto connection = connect(o);
  pqxx::work t(*connection);
  auto r = find(t, saga_id);
  std::printf(
      "saga %s\n  creator %s, order %s\n  status %s at step %s (attempt %s), version %s\n"
      "  started %s, finished %s\n  operator needed: %s; payment captured: %s, refunded: %s\n"
      "  failure: %s\nhistory (newest 32 entries):\n%s\n",
      saga_id.c_str(), r[0].c_str(), r[4].c_str(), r[1].c_str(), r[2].c_str(), r[3].c_str(),
      r[11].c_str(), r[6].c_str(), r[7].is_null() ? "-" : r[7].c_str(), r[8].c_str(), r[9].c_str(),
      r[10].c_str(), r[5].c_str(), r[12].c_str());
  return 0;
}

int intervene(const Options& o, const std::string& action, const std::string& saga_id) {
  auto connection = connect(o);
  pqxx::work t(*connection);
  auto r = find(t, saga_id);
  const std::string status = r[1].as<std::string>();
  const std::string wanted = action == "retry" ? "needs_manual" : "running";
  // An abort of a needs_manual saga is checked by the orchestrator (only one
  // escalated on a forward step compensates).
  if (status != wanted && !(action == "abort" && status == "needs_manual")) {
    std::cerr << "cf-saga: " << action << " needs a saga in state " << wanted << "; " << saga_id
              << " is " << status << " (nothing sent)\n";
    return 3;
  }
  cf::saga::OperatorCommand command;
  command.action = action == "retry" ? cf::saga::OperatorCommand::Action::kRetry
                                     : cf::saga::OperatorCommand::Action::kAbort;
  command.saga_id = saga_id;
  command.creator_id = r[0].as<std::string>();
  command.requested_by = o.requested_by;
  const std::string json = cf::saga::operator_command_json(command);
  if (!o.apply) {
    std::cout << "dry run: would write to " << o.topic << " (key " << command.creator_id
              << "): " << json << "\nadd --apply to send it\n";
    return 0;
  }
  Deliveries deliveries;
  cf::Producer producer(o.kafka, "cf-saga", &deliveries);
  producer.produce({o.topic, command.creator_id, json, {{"cf-event-type", "saga.operator"}}},
                   nullptr, 10000);
  if (producer.flush(30000) != RD_KAFKA_RESP_ERR_NO_ERROR || deliveries.failed.load() > 0) {
    std::cerr << "cf-saga: the command was not acknowledged; run it again (the orchestrator "
                 "applies a repeated command at most once: the saga has left the state)\n";
    return 1;
  }
  std::cout << "sent: " << json << "\nthe saga's history shows it once the orchestrator "
            << "applied it (cf-saga show " << saga_id << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = "cf-saga list|show SAGA_ID|retry SAGA_ID|abort SAGA_ID [options]";
  std::string command = argc > 1 ? argv[1] : "";
  std::string saga_id;
  Options o;
  const char* user = std::getenv("USER");
  o.requested_by = user != nullptr ? user : "operator";
  return cf::guarded_main("cf-saga", [&]() -> int {
    cf::OptionsParser options("cf-saga",
                              "Order sagas for operators; retry and abort are dry "
                              "runs unless --apply. Usage: " +
                                  usage);
    options.add_kafka_options(o.kafka);
    options.add_logging_options(o.log_level);
    options.add()("apply", po::bool_switch(&o.apply), "retry, abort: send the command")(
        "postgres-url-file", po::value(&o.postgres_url_file),
        "connection string file (default: env CF_POSTGRES_URL)")("status", po::value(&o.status),
                                                                 "list: only sagas in this state")(
        "creator", po::value(&o.creator), "list: only this creator's sagas")(
        "limit", po::value(&o.limit)->default_value(o.limit), "list: at most this many")(
        "operator-topic", po::value(&o.topic)->default_value(o.topic),
        "retry, abort: the orchestrator's operator topic")(
        "requested-by", po::value(&o.requested_by)->default_value(o.requested_by),
        "retry, abort: who asks (recorded with the command)");
    if (command.empty() || command[0] == '-') {
      options.parse(argc, argv);
      std::cerr << "usage: " << usage << "\n";
      return command == "--help" || command == "-h" ? 0 : 2;
    }
    int shift = 1;
    if (command != "list") {
      if (argc < 3 || argv[2][0] == '-')
        throw cf::ConfigError(command + " needs a saga id; usage: " + usage);
      saga_id = argv[2];
      shift = 2;
    }
    if (!options.parse(argc - shift, argv + shift)) return 0;
    cf::init_logging("cf-saga", o.log_level);
    if (command == "list") return list(o);
    if (command == "show") return show(o, saga_id);
    if (command == "retry" || command == "abort") return intervene(o, command, saga_id);
    throw cf::ConfigError("unknown command '" + command + "'; usage: " + usage);
  });
}
