// `quarry upload` end to end: an upload interrupted by killing the CLI resumes when the same
// command runs again, then follows the ingestion to success.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "integration/harness.h"


namespace quarry::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::uintmax_t LargestUpload(const std::string& dir) {
  std::uintmax_t largest = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind("tus_", 0) == 0) largest = std::max(largest, entry.file_size(ec));
  }
  return largest;
}

TEST(CliUpload, AnInterruptedUploadResumesWhenTheCommandRunsAgain) {
  QuarryServer server;
  ASSERT_TRUE(server.started());
  const std::string work = MakeTempDir();
  const std::string file = work + "/orders.csv";
  {
    std::ofstream out(file);
    out << "id,customer,amount\n";
    for (int i = 0; i < 100'000; ++i) out << i << ",customer_" << (i % 101) << "," << (i % 1000) / 10.0 << "\n";
  }
  const std::string state = "XDG_STATE_HOME=" + work + "/state";
  std::vector<std::string> command = {"/usr/bin/env", state, QUARRY_BINARY, "upload", file, "--dataset", "orders",
                                      "--url", "http://" + server.address(), "--key", server.demo_key()};

  // First run: slowed down, killed once part of the file has arrived.
  std::vector<std::string> slow = command;
  slow.insert(slow.end(), {"--max-rate", "400000", "--no-follow"});
  const pid_t pid = SpawnQuiet(slow);
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (LargestUpload(server.data_dir() + "/uploads") < 300'000 && std::chrono::steady_clock::now() < deadline) {
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const auto partial = LargestUpload(server.data_dir() + "/uploads");
  ASSERT_GE(partial, 300'000u);
  ASSERT_LT(partial, fs::file_size(file)) << "the first run must not have finished";

  // Second run: the same command resumes, finishes and follows the ingestion.
  CommandResult again = RunCommand(command, 60s);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("resuming"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("succeeded"), std::string::npos) << again.out;
  auto dataset = boost::json::parse(server.Request("GET", "/v1/datasets/orders", server.demo_key()).body);
  EXPECT_EQ(dataset.at("row_count").as_int64(), 100'000);

  CommandResult list = RunCommand({QUARRY_BINARY, "datasets", "--url", "http://" + server.address(), "--key",
                                   server.demo_key()});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("orders"), std::string::npos) << list.out;
  // A bad file: the command fails with the job's error.
  std::ofstream(work + "/bad.csv") << "a,b\n1,2,3\n";
  CommandResult bad = RunCommand({"/usr/bin/env", state, QUARRY_BINARY, "upload", work + "/bad.csv", "--dataset", "bad",
                                  "--url", "http://" + server.address(), "--key", server.demo_key()}, 60s);
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("bad_rows"), std::string::npos) << bad.err;

  // --project: the dataset is created in the project (tus metadata 'project').
  auto project = server.Request("POST", "/v1/projects", server.demo_key(), R"({"name":"CLI"})");
  ASSERT_EQ(project.status, 201) << project.body;
  const std::string project_id(boost::json::parse(project.body).at("id").as_string());
  std::ofstream(work + "/small.csv") << "a\n1\n";
  CommandResult in_project = RunCommand({"/usr/bin/env", state, QUARRY_BINARY, "upload", work + "/small.csv",
                                         "--dataset", "scoped", "--project", project_id, "--url",
                                         "http://" + server.address(), "--key", server.demo_key()}, 60s);
  EXPECT_EQ(in_project.exit_code, 0) << in_project.out << in_project.err;
  auto scoped = boost::json::parse(server.Request("GET", "/v1/datasets/scoped", server.demo_key()).body);
  EXPECT_EQ(scoped.at("project_id").as_string(), project_id);

  // `quarry query`: an aligned table by default, CSV on request, the stable code on a denial.
  const std::vector<std::string> client = {"--url", "http://" + server.address(), "--key", server.demo_key()};
  auto query = [&](std::vector<std::string> args) {
    std::vector<std::string> command = {QUARRY_BINARY, "query"};
    command.insert(command.end(), args.begin(), args.end());
    command.insert(command.end(), client.begin(), client.end());
    return RunCommand(command);
  };
  CommandResult table = query({"SELECT count(*) AS n, 'x' AS label FROM orders"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.substr(0, table.out.find("(1 row")),
            "     n  label\n------  -----\n100000  x    \n") << table.out;
  CommandResult csv = query({"SELECT 1 AS a, NULL AS b", "--format", "csv"});
  EXPECT_EQ(csv.out, "a,b\r\n1,\r\n");
  CommandResult parquet = query({"SELECT 7 AS seven", "--format", "parquet"});
  EXPECT_EQ(parquet.exit_code, 0) << parquet.err;
  EXPECT_TRUE(parquet.out.starts_with("PAR1") && parquet.out.ends_with("PAR1")) << parquet.out.size() << " bytes";
  CommandResult denied = query({"COPY orders TO '/tmp/out.csv'"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.err.find("error: sql_not_allowed: COPY"), std::string::npos) << denied.err;
  RemoveTree(work);
}

}  // namespace
}  // namespace quarry::testing
