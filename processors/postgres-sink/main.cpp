// postgres-sink: domain topics -> event store and dashboard read models in
// PostgreSQL, exactly once (the runtime's batch mode; see sink_writer.h).
#include <cstdio>
#include <filesystem>

#include "cf/batch_worker.h"
#include "cf/errors.h"
#include "cf/logging.h"
#include "cf/main_guard.h"
#include "cf/migrations.h"
#include "cf/worker.h"
#include "sink_writer.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  cf::WorkerSettings worker;
  worker.name = "postgres-sink";
  cf::BatchSettings batch;
  cf::SinkWriterSettings sink;
  std::string url_file;
  bool migrate_only = false;
  sink.migrations_dir =
      std::filesystem::is_directory("migrations") ? "migrations" : CF_SOURCE_DIR "/migrations";
  return cf::guarded_main("postgres-sink", [&]() -> int {
    cf::OptionsParser options(
        "postgres-sink",
        "Writes domain topics to the PostgreSQL event store and read models, exactly once.");
    options.add_common_worker_options(worker);
    options.add_batch_options(batch);
    options.add()("postgres-url-file", po::value(&url_file),
                  "file holding the libpq connection string (default: env CF_POSTGRES_URL); never "
                  "a flag value")(
        "migrations-dir", po::value(&sink.migrations_dir)->default_value(sink.migrations_dir),
        "versioned SQL files")("migrate-only", po::bool_switch(&migrate_only),
                               "apply migrations and exit");
    if (!options.parse(argc, argv)) return 0;
    cf::init_logging("postgres-sink", worker.log_level);
    sink.postgres_url =
        cf::secret_from_file_or_env(url_file, "--postgres-url-file", "CF_POSTGRES_URL");
    if (migrate_only) {
      pqxx::connection connection(sink.postgres_url);
      std::printf("applied %zu migration(s)\n",
                  cf::apply_migrations(connection, sink.migrations_dir).size());
      return 0;
    }
    const auto& stop = cf::stop_requested_by_signal();
    sink.group = worker.group.empty() ? "cf.postgres-sink" : worker.group;
    sink.dead_letter_topic =
        worker.dead_letter_topic.empty() ? "dlq.postgres-sink" : worker.dead_letter_topic;
    cf::PostgresSinkWriter writer(sink);
    cf::BatchWorker runtime(worker, batch, cf::sink_input_topics(), writer);
    runtime.run(stop);
    if (runtime.abandoned()) cf::exit_after_abandoned_shutdown(0);
    return 0;
  });
}
