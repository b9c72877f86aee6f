// /v1/query, /v1/queries/{id} and the dataset previews: SQL over a tenant's datasets through
// query::QueryService (the guard and the tenant's sandboxed engine).
#include <spdlog/spdlog.h>

#include <charconv>
#include <fstream>

#include "api/handler_support.h"
#include "api/result_json.h"

namespace quarry::api {
namespace {

constexpr std::size_t kMaxParams = 1'000;

Result<engine::Param> ParamFrom(const boost::json::value& value, std::string name) {
  engine::Param param;
  param.name = std::move(name);
  if (value.is_null()) {
    param.kind = engine::Param::Kind::kNull;
  } else if (value.is_bool()) {
    param.kind = engine::Param::Kind::kBool;
    param.bool_value = value.get_bool();
  } else if (value.is_int64()) {
    param.kind = engine::Param::Kind::kInt;
    param.int_value = value.get_int64();
  } else if (value.is_uint64()) {
    param.kind = engine::Param::Kind::kText;  // beyond BIGINT: exact as text; cast it in SQL
    param.text = std::to_string(value.get_uint64());
  } else if (value.is_double()) {
    param.kind = engine::Param::Kind::kDouble;
    param.double_value = value.get_double();
  } else if (value.is_string()) {
    param.kind = engine::Param::Kind::kText;
    param.text = std::string(value.get_string());
  } else {
    return InvalidArgument("invalid_field", "'params' values must be null, booleans, numbers or strings");
  }
  return param;
}

// params: a JSON array (positional: ?, $1, ...) or object (named: $name).
Result<std::vector<engine::Param>> ParamsFrom(const boost::json::value* value) {
  std::vector<engine::Param> params;
  if (value == nullptr) return params;
  if (value->is_array()) {
    if (value->get_array().size() > kMaxParams) return InvalidArgument("invalid_field", "at most 1000 'params'");
    for (const auto& item : value->get_array()) {
      QUARRY_ASSIGN_OR_RETURN(engine::Param param, ParamFrom(item, ""));
      params.push_back(std::move(param));
    }
    return params;
  }
  if (value->is_object()) {
    if (value->get_object().size() > kMaxParams) return InvalidArgument("invalid_field", "at most 1000 'params'");
    for (const auto& [key, item] : value->get_object()) {
      QUARRY_ASSIGN_OR_RETURN(engine::Param param, ParamFrom(item, std::string(key)));
      params.push_back(std::move(param));
    }
    return params;
  }
  return InvalidArgument("invalid_field", "'params' must be an array (positional) or an object (named)");
}

Result<std::map<std::string, int>> VersionsFrom(const boost::json::value* value) {
  std::map<std::string, int> versions;
  if (value == nullptr) return versions;
  if (!value->is_object()) return InvalidArgument("invalid_field", "'versions' must map dataset names to versions");
  for (const auto& [key, item] : value->get_object()) {
    if (!item.is_int64() || item.get_int64() < 1 || item.get_int64() > 1'000'000'000) {
      return InvalidArgument("invalid_field", "'versions' values must be version numbers (1 or more)");
    }
    versions[std::string(key)] = static_cast<int>(item.get_int64());
  }
  return versions;
}

struct ParsedQuery {
  query::QueryRequest request;
  std::string format = "json";
};

Result<ParsedQuery> ParseQuery(const http::Request& req) {
  QUARRY_ASSIGN_OR_RETURN(boost::json::object body, ParseJsonObject(req));
  FieldReader fields(body);
  ParsedQuery parsed;
  QUARRY_ASSIGN_OR_RETURN(auto sql, fields.String("sql", /*required=*/true));
  parsed.request.sql = sql ? std::move(*sql) : std::string();
  QUARRY_ASSIGN_OR_RETURN(parsed.request.params, ParamsFrom(fields.Raw("params")));
  QUARRY_ASSIGN_OR_RETURN(parsed.request.versions, VersionsFrom(fields.Raw("versions")));
  QUARRY_ASSIGN_OR_RETURN(parsed.request.limit, fields.Int("limit", 1, 1'000'000'000));
  QUARRY_ASSIGN_OR_RETURN(parsed.request.timeout_ms, fields.Int("timeout_ms", 1, 24LL * 3'600'000));
  QUARRY_ASSIGN_OR_RETURN(auto format, fields.String("format"));
  if (format) parsed.format = *format;
  if (parsed.format != "json" && parsed.format != "csv" && parsed.format != "parquet" && parsed.format != "arrow") {
    return InvalidArgument("unsupported_format", "format must be json, csv, parquet or arrow (an Arrow IPC stream)");
  }
  QUARRY_RETURN_IF_ERROR(fields.RejectUnknownFields());
  return parsed;
}

boost::json::object AnswerToJson(const query::QueryAnswer& answer) {
  boost::json::object o = ResultToJson(*answer.result);
  o["cached"] = answer.cached;
  o["elapsed_ms"] = answer.elapsed_ms;
  o["query_id"] = answer.query_id;
  boost::json::array datasets;
  for (const auto& read : answer.datasets) datasets.push_back({{"name", read.name}, {"version", read.version}});
  o["datasets"] = std::move(datasets);
  return o;
}

Result<std::int64_t> RowsParam(const http::Request& req, std::int64_t fallback, std::int64_t max) {
  auto it = req.query.find("rows");
  if (it == req.query.end()) return fallback;
  std::int64_t rows = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), rows);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || rows < 1 || rows > max) {
    return InvalidArgument("invalid_rows", "rows must be a number from 1 to " + std::to_string(max));
  }
  return rows;
}

constexpr std::size_t kStreamChunkBytes = 256 * 1024;

// A CSV or Arrow IPC answer streamed with chunked transfer, a few hundred KB per write: the server
// holds one chunk of rows whatever the size of the result. A failure part-way closes the
// connection without the final chunk (the client sees an incomplete body); a client that goes
// away destroys the stream, which stops the query.
class QueryBody final : public http::ResponseStream {
 public:
  QueryBody(std::unique_ptr<query::QueryStream> query, bool arrow) : query_(std::move(query)), arrow_(arrow) {}

  bool Poll(std::string* out) override {
    if (!arrow_ && !header_sent_) {
      AppendCsvHeader(*out, query_->column_names());
      header_sent_ = true;
    }
    std::vector<engine::Row> rows;
    while (out->size() < kStreamChunkBytes) {
      rows.clear();
      auto more = arrow_ ? query_->NextArrow(out) : query_->Next(&rows);
      if (!more.ok()) {
        spdlog::warn("query {}: the {} stream stopped: {}", query_->query_id(), arrow_ ? "Arrow" : "CSV",
                     more.status().ToString());
        failed_ = true;
        return false;
      }
      AppendCsvRows(*out, rows);  // nothing for Arrow
      if (!*more) return false;
    }
    return true;
  }
  bool failed() const override { return failed_; }

 private:
  std::unique_ptr<query::QueryStream> query_;
  const bool arrow_;
  bool header_sent_ = false;
  bool failed_ = false;
};

// A Parquet answer: the file the query wrote, sent in 256 KiB chunks, deleted afterwards (with
// the QueryExport).
class FileStream final : public http::ResponseStream {
 public:
  explicit FileStream(std::unique_ptr<query::QueryExport> file) : file_(std::move(file)), in_(file_->path(), std::ios::binary) {}

  bool Poll(std::string* out) override {
    if (!in_) {
      failed_ = true;
      return false;
    }
    out->resize(kStreamChunkBytes);
    in_.read(out->data(), static_cast<std::streamsize>(out->size()));
    out->resize(static_cast<std::size_t>(in_.gcount()));
    if (in_.bad()) failed_ = true;
    return in_.good();
  }
  bool failed() const override { return failed_; }

 private:
  std::unique_ptr<query::QueryExport> file_;
  std::ifstream in_;
  bool failed_ = false;
};

}  // namespace

void RegisterQueryRoutes(http::Router& router, AppContext& app) {
  router.Add({"POST", "/v1/query", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto parsed = ParseQuery(req);
                if (!parsed.ok()) return Problem(req, parsed.status());
                parsed->request.client_gone = req.client_gone;
                if (parsed->format == "parquet") {
                  auto file = app.queries.ExportParquet(p, parsed->request);
                  if (!file.ok()) return Problem(req, file.status());
                  http::Response parquet;
                  parquet.content_type = "application/vnd.apache.parquet";
                  parquet.headers.emplace_back("X-Quarry-Query-Id", (*file)->query_id());
                  parquet.headers.emplace_back("X-Quarry-Rows", std::to_string((*file)->rows()));
                  parquet.headers.emplace_back("Content-Disposition",
                                               "attachment; filename=\"" + (*file)->query_id() + ".parquet\"");
                  parquet.stream_poll_interval = std::chrono::milliseconds(0);
                  parquet.stream = std::make_shared<FileStream>(std::move(file).value());
                  return parquet;
                }
                if (parsed->format == "arrow" || parsed->format == "csv") {
                  const bool arrow = parsed->format == "arrow";
                  auto stream = app.queries.Stream(p, parsed->request, arrow);
                  if (!stream.ok()) return Problem(req, stream.status());
                  http::Response body;
                  body.content_type = arrow ? "application/vnd.apache.arrow.stream" : "text/csv; charset=utf-8";
                  body.headers.emplace_back("X-Quarry-Query-Id", (*stream)->query_id());
                  body.stream_poll_interval = std::chrono::milliseconds(0);
                  // The statement's own deadline ends it first; this only bounds a stalled reader.
                  body.stream_max_duration = std::chrono::milliseconds(
                      parsed->request.timeout_ms.value_or(app.queries.limits().default_timeout.count()) + 60'000);
                  body.stream = std::make_shared<QueryBody>(std::move(stream).value(), arrow);
                  return body;
                }
                auto answer = app.queries.Run(p, parsed->request);
                if (!answer.ok()) return Problem(req, answer.status());
                return JsonResponse(200, AnswerToJson(*answer));
              })});
  router.Add({"GET", "/v1/queries", Authed(app, [&app](http::Request& req, const Principal& p) {
                return Render(req, app.queries.ListRunning(p), 200, [](const auto& list) {
                  return ItemsToJson(list, std::nullopt, [](const auto& q) {
                    return boost::json::object{{"query_id", q.query_id}, {"user_id", q.user_id}, {"sql", q.sql},
                                               {"started_at", FormatRfc3339(q.started_at)}};
                  });
                });
              })});
  router.Add({"DELETE", "/v1/queries/{id}", Authed(app, [&app](http::Request& req, const Principal& p) {
                Status canceled = app.queries.Cancel(p, req.path_params.at("id"));
                if (!canceled.ok()) return Problem(req, canceled);
                return JsonResponse(202, boost::json::object{{"query_id", req.path_params.at("id")}, {"canceling", true}});
              })});
  router.Add({"GET", "/v1/datasets/{name}/schema", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto answer = app.queries.Schema(p, req.path_params.at("name"));
                if (!answer.ok()) return Problem(req, answer.status());
                boost::json::array columns;
                for (const auto& row : answer->result->rows) {
                  // DESCRIBE: column_name, column_type, null ("YES"/"NO"), key, default, extra
                  columns.push_back({{"name", row[0].value_or("")}, {"type", row[1].value_or("")},
                                     {"nullable", row.size() > 2 && row[2] == std::optional<std::string>("YES")}});
                }
                boost::json::object out{{"name", req.path_params.at("name")}, {"columns", std::move(columns)}};
                if (!answer->datasets.empty()) out["version"] = answer->datasets.front().version;
                return JsonResponse(200, out);
              })});
  router.Add({"GET", "/v1/datasets/{name}/preview", Authed(app, [&app](http::Request& req, const Principal& p) {
                auto rows = RowsParam(req, 100, 1'000);
                if (!rows.ok()) return Problem(req, rows.status());
                auto answer = app.queries.Preview(p, req.path_params.at("name"), *rows);
                if (!answer.ok()) return Problem(req, answer.status());
                return JsonResponse(200, AnswerToJson(*answer));
              })});
}

}  // namespace quarry::api
