// libFuzzer target for the statement guard (query/statement_guard.h): random and mutated SQL.
//
// Properties checked on every input:
//   1. The guard never crashes, hangs or leaks (ASan, libFuzzer's timeout).
//   2. The guard never lets a denied construct through to execution: a statement it accepts is
//      run on an engine sandboxed like a tenant's but allowed no directory at all, so any file
//      or network access it attempts fails with DuckDB's Permission error, and a settings change
//      fails as locked. Either means layer 1 has a gap: the input is reported and the run aborts.
//      The same holds for the statement embedded as Parquet exports embed it (a subquery of its
//      trimmed text).
// A statement runs at most 200 ms (the engine's deadline) and returns at most 100 rows.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "query/statement_guard.h"

namespace {

using namespace quarry;

std::unique_ptr<query::StatementGuard> guard;
std::unique_ptr<engine::Database> sandbox;

void Fail(const std::string& what) {
  std::fprintf(stderr, "guard fuzzer: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string root = std::filesystem::temp_directory_path() / ("quarry-guard-fuzz-" + std::to_string(::getpid()));
  query::GuardOptions options;
  options.temp_directory = root + "/parser";
  auto opened = query::OpenStatementGuard(options);
  if (!opened.ok()) Fail(opened.status().ToString());
  guard = std::move(opened).value();

  engine::EngineOptions engine_options;
  engine_options.threads = 1;
  engine_options.memory_limit_bytes = 256LL << 20;
  engine_options.max_temp_directory_bytes = 64LL << 20;
  engine_options.temp_directory = root + "/sandbox";
  engine_options.sandboxed = true;  // no allowed directory: every file is outside
  auto db = engine::OpenDatabase(engine_options);
  if (!db.ok()) Fail(db.status().ToString());
  sandbox = std::move(db).value();
  auto conn = sandbox->Connect();
  if (!conn.ok() || !(*conn)->Execute("CREATE TABLE orders AS SELECT range AS id, 'r' || (range % 5) AS region, "
                                      "range * 1.5 AS amount FROM range(1000)")
                         .ok()) {
    Fail("cannot create the sample dataset");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string sql(reinterpret_cast<const char*>(data), size);
  auto checked = guard->Check(sql, [](const std::string& name) { return name == "orders"; });
  if (!checked.ok()) return 0;
  auto conn = sandbox->Connect();
  if (!conn.ok()) Fail("cannot connect: " + conn.status().ToString());
  engine::ExecuteOptions options;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  options.max_rows = 100;
  options.truncate_at_max_rows = true;
  // The statement as checked, and embedded as exports embed it.
  for (const std::string& statement :
       {checked->sql, "SELECT * FROM (\n" + checked->embeddable_sql + "\n) AS quarry_export LIMIT 5"}) {
    auto result = (*conn)->Execute(statement, options);
    if (result.ok()) continue;
    const auto& details = result.status().details();
    auto type = details.find("error_type");
    const std::string message = result.status().message();
    // DuckDB's own words for a locked setting (not merely the word in an echoed statement: a
    // column named lock_configuration_x is no finding).
    if ((type != details.end() && type->second == "Permission") ||
        message.find("the configuration has been locked") != std::string::npos) {
      Fail("the guard accepted a statement that layer 2 had to stop: [" + sql + "] as [" + statement + "] -> " +
           message);
    }
  }
  return 0;
}
