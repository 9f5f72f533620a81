#pragma once
// The SQL of the event-derived read models (orders, creator_daily_metrics,
// sync_status) and of the conflicts table, defined once. The live sink runs
// it over each batch's new events; `cf-recover rebuild-read-models` runs the
// same statements over every stored event, so a rebuild and the live path
// cannot drift apart.
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "cf/read_model_rows.h"

namespace cf {

/// Creates the transaction-scoped staging table `new_events` (if needed):
/// the columns of an event the read models use.
void create_new_events_table(pqxx::work& txn);

/// COPYs events into `new_events`.
void stage_new_events(pqxx::work& txn, const std::vector<const EventRow*>& events);

/// Folds the rows of `new_events` into orders, creator_daily_metrics and
/// sync_status. Each event must be in `new_events` once over the life of the
/// tables (the sink stages only events new to the event store).
void project_new_events(pqxx::work& txn);

/// Upserts sagas (version-guarded) and records the refunds of refunded ones
/// once per order (order_refunds, creator_daily_revenue).
void store_sagas(pqxx::work& txn,
                 const std::map<std::pair<std::string, std::string>, SagaRow>& sagas);

/// Stores a conflict once (by conflict_id) and, when it is new, counts it in
/// creator_daily_metrics.
void store_conflict(pqxx::work& txn, const ConflictRow& conflict);

/// A read model rebuilt in this transaction: the live table, the rebuilt
/// one, and the columns compared (write times left out).
struct RebuiltTable {
  std::string name;     ///< orders, creator_daily_metrics, sync_status
  std::string live;     ///< schema-qualified live table
  std::string rebuilt;  ///< pg_temp.<name>
  std::string columns;
  std::string order;
};

/// Recomputes the event-derived read models from the event store (and the
/// conflicts table) into temporary tables of the same names and structure,
/// dropped at commit, with the statements above. While the transaction
/// lasts the temporary tables shadow the live ones for unqualified names.
std::vector<RebuiltTable> rebuild_read_models(pqxx::work& txn);

/// "<n> rows, md5 <hash>" over a table's compared columns, in key order.
std::string table_checksum(pqxx::work& txn, const std::string& table, const RebuiltTable& compared);

}  // namespace cf
