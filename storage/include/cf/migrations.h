#pragma once
// The schema of every PostgreSQL table the project writes lives in
// migrations/NNNN_name.sql; this applies them.
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace cf {

/// Versioned SQL files NNNN_name.sql applied in order, each once, recorded in
/// schema_version; concurrent appliers serialise on an advisory lock.
/// Returns the versions applied now (empty when up to date).
std::vector<int> apply_migrations(pqxx::connection& connection, const std::string& directory);

}  // namespace cf
