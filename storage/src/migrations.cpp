#include "cf/migrations.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace cf {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<int> apply_migrations(pqxx::connection& connection, const std::string& directory) {
  std::vector<std::pair<int, std::filesystem::path>> files;
  const std::regex name(R"((\d{4})_[a-z0-9_]+\.sql)");
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    std::smatch m;
    std::string file = entry.path().filename().string();
    if (std::regex_match(file, m, name)) files.emplace_back(std::stoi(m[1]), entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error("no migrations (NNNN_name.sql) in " + directory);
  std::vector<int> applied;
  pqxx::work txn(connection);
  txn.exec("SELECT pg_advisory_xact_lock(727274)");  // one applier at a time
  txn.exec(
      "CREATE TABLE IF NOT EXISTS schema_version (version int PRIMARY KEY, name text NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now())");
  std::set<int> done;
  for (const auto& row : txn.exec("SELECT version FROM schema_version"))
    done.insert(row[0].as<int>());
  for (const auto& [version, path] : files) {
    if (done.count(version)) continue;
    txn.exec(read_all(path));
    txn.exec("INSERT INTO schema_version (version, name) VALUES (" + std::to_string(version) +
             ", " + txn.quote(path.filename().string()) + ")");
    applied.push_back(version);
  }
  txn.commit();
  return applied;
}

}  // namespace cf
