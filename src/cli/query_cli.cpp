// `quarry query "SQL"`: runs one statement over the tenant's datasets (POST /v1/query) and prints
// the result as an aligned table (default), CSV or the API's JSON.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "cli/client_support.h"
#include "cli/commands.h"

namespace quarry::cli {
namespace {

struct QueryArgs {
  std::string sql;
  std::string format = "table";
  std::int64_t limit = 0;
  std::int64_t timeout_ms = 0;
};

std::string Cell(const boost::json::value& v) {
  if (v.is_null()) return "NULL";
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_double()) return fmt::format("{}", v.get_double());  // 40.5, not boost's 4.05E1
  return boost::json::serialize(v);
}

// Display width in code points (UTF-8 continuation bytes do not count).
std::size_t Width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// The first `width - 1` code points and '~' (never splits a UTF-8 sequence).
std::string Shorten(const std::string& s, std::size_t width) {
  std::size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((s[i] & 0xC0) != 0x80 && ++points == width) break;
  }
  return s.substr(0, i) + "~";
}

void PrintTable(const boost::json::value& answer) {
  const auto& columns = answer.at("columns").as_array();
  // EXPLAIN: the plan is drawn already.
  if (columns.size() == 2 && Text(columns[1], "name") == "explain_value") {
    for (const auto& row : answer.at("rows").as_array()) fmt::print("{}\n", Cell(row.as_array()[1]));
    return;
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> header;
  std::vector<bool> numeric;
  for (const auto& c : columns) {
    header.push_back(Text(c, "name"));
    const std::string type = Text(c, "type");
    numeric.push_back(type.find("INT") != std::string::npos || type == "DOUBLE" || type == "FLOAT" ||
                      type.starts_with("DECIMAL"));
  }
  std::vector<std::size_t> widths;
  for (const auto& h : header) widths.push_back(Width(h));
  for (const auto& row : answer.at("rows").as_array()) {
    auto& line = cells.emplace_back();
    for (std::size_t i = 0; i < row.as_array().size() && i < widths.size(); ++i) {
      line.push_back(Cell(row.as_array()[i]));
      widths[i] = std::min<std::size_t>(std::max(widths[i], Width(line.back())), 60);
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string out;
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      for (char& c : cell) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
      }
      if (Width(cell) > widths[i]) cell = Shorten(cell, widths[i]);
      const std::string pad(widths[i] - std::min(widths[i], Width(cell)), ' ');
      out += (i ? "  " : "") + (numeric[i] ? pad + cell : cell + pad);
    }
    fmt::print("{}\n", out);
  };
  print_row(header);
  std::vector<std::string> rule;
  for (std::size_t w : widths) rule.push_back(std::string(w, '-'));
  print_row(rule);
  for (const auto& row : cells) print_row(row);
  const auto count = answer.at("row_count").to_number<std::int64_t>();
  fmt::print("({} row{}{}, {} ms)\n", count, count == 1 ? "" : "s",
             answer.at("truncated").as_bool() ? ", truncated: add a LIMIT or pass --limit" : "",
             answer.at("elapsed_ms").to_number<std::int64_t>());
}

int RunQuery(const ClientFlags& flags, const QueryArgs& args) {
  std::unique_ptr<client::ApiClient> holder;
  auto api = MakeClient(flags, &holder);
  if (!api.ok()) return Report(api.status());
  boost::json::object body{{"sql", args.sql}, {"format", args.format == "table" ? "json" : args.format}};
  if (args.limit > 0) body["limit"] = args.limit;
  if (args.timeout_ms > 0) body["timeout_ms"] = args.timeout_ms;
  auto response = (*api)->Send("POST", "/v1/query", boost::json::serialize(body));
  if (!response.ok()) return Report(response.status());
  if (response->status / 100 != 2) return Report(client::ApiClient::ProblemOf(*response));
  if (args.format != "table") {
    std::fwrite(response->body.data(), 1, response->body.size(), stdout);  // parquet is binary
    if (args.format == "json") std::fputc('\n', stdout);
    return 0;
  }
  boost::system::error_code ec;
  auto answer = boost::json::parse(response->body, ec);
  if (ec || !answer.is_object()) return Report(Internal("bad_response", "the server's answer is not JSON"));
  PrintTable(answer);
  return 0;
}

}  // namespace

void AddQueryCommands(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ClientFlags>();
  auto args = std::make_shared<QueryArgs>();
  CLI::App* query = app.add_subcommand("query", "run one SQL statement over your tenant's datasets");
  AddClientFlags(query, flags.get());
  query->add_option("sql", args->sql, "the statement, e.g. \"SELECT region, sum(amount) FROM sales GROUP BY 1\"")
      ->required();
  query->add_option("--format", args->format,
                    "table (default), csv, json, parquet or arrow (the last two are binary: redirect them to a file)")
      ->check(CLI::IsMember({"table", "csv", "json", "parquet", "arrow"}));
  query->add_option("--limit", args->limit, "rows at most (default: the server's query.default_rows)")
      ->check(CLI::Range(1LL, 1'000'000'000LL));
  query->add_option("--timeout-ms", args->timeout_ms, "statement timeout (default: the server's)")
      ->check(CLI::Range(1LL, 86'400'000LL));
  query->callback([=] { *exit_code = RunQuery(*flags, *args); });
}

}  // namespace quarry::cli
