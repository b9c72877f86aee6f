#include "ingest/ingest_handler.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "audit/audit_log.h"
#include "engine/engine.h"
#include "ingest/ingest_request.h"
#include "ingest/source_file.h"

namespace quarry::ingest {
namespace {

namespace fs = std::filesystem;
using engine::QuoteLiteral;

constexpr int kMaxStatsColumns = 1024;
constexpr int kRejectSamples = 10;

struct Column {
  std::string name;
  std::string type;
};

// The relation that reads the upload, with the user's hints and the engine's reject tables.
std::string SourceSql(const IngestRequest& r, const SourceInfo& info, const std::string& path,
                      const IngestOptions& options, const std::map<std::string, std::string>& forced_types) {
  const std::string file = QuoteLiteral(path);
  // read_json names "no compression" differently from read_csv.
  const std::string compression = QuoteLiteral(
      info.compression == Compression::kNone && info.format == Format::kJson ? "uncompressed" : CompressionName(info.compression));
  if (info.format == Format::kParquet) return "read_parquet(" + file + ")";
  if (info.format == Format::kJson) {
    // A JSON object may be larger than a CSV line; DuckDB's default is 16 MiB.
    return fmt::format("read_json({}, format='auto', compression={}, maximum_object_size={})", file, compression,
                       std::max<std::int64_t>(options.max_line_bytes, 16LL << 20));
  }
  std::string sql = fmt::format(
      "read_csv({}, auto_detect=true, compression={}, store_rejects=true, rejects_limit={}, max_line_size={}", file,
      compression, std::min<long long>(r.max_bad_rows + 100, 100'000), options.max_line_bytes);
  if (!r.delimiter.empty()) sql += ", delim=" + QuoteLiteral(r.delimiter);
  if (r.header) sql += *r.header ? ", header=true" : ", header=false";
  if (!r.null_strings.empty()) {
    sql += ", nullstr=[";
    for (std::size_t i = 0; i < r.null_strings.size(); ++i) sql += (i ? ", " : "") + QuoteLiteral(r.null_strings[i]);
    sql += "]";
  }
  if (!r.date_format.empty()) sql += ", dateformat=" + QuoteLiteral(r.date_format);
  if (!r.timestamp_format.empty()) sql += ", timestampformat=" + QuoteLiteral(r.timestamp_format);
  std::map<std::string, std::string> types = forced_types;
  for (const auto& [c, t] : r.types) types[c] = t;
  if (!types.empty()) {
    sql += ", types={";
    bool first = true;
    for (const auto& [c, t] : types) {
      sql += (first ? "" : ", ") + QuoteLiteral(c) + ": " + QuoteLiteral(t);
      first = false;
    }
    sql += "}";
  }
  return sql + ")";
}

std::vector<Column> ColumnsOf(const engine::QueryResult& describe) {
  std::vector<Column> columns;
  for (const auto& row : describe.rows) {
    if (row.size() >= 2 && row[0] && row[1]) columns.push_back({*row[0], *row[1]});
  }
  return columns;
}

std::vector<Column> ColumnsFromSchemaJson(const std::string& json) {
  std::vector<Column> columns;
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec);
  if (ec || !value.is_array()) return columns;
  for (const auto& c : value.as_array()) {
    if (!c.is_object()) continue;
    const auto& o = c.as_object();
    if (o.contains("name") && o.contains("type") && o.at("name").is_string() && o.at("type").is_string()) {
      columns.push_back({std::string(o.at("name").as_string()), std::string(o.at("type").as_string())});
    }
  }
  return columns;
}

// Names each difference between the dataset's schema and the file's (append).
std::string SchemaDifferences(const std::vector<Column>& dataset, const std::vector<Column>& file) {
  std::string out;
  auto add = [&](const std::string& line) { out += (out.empty() ? "" : "; ") + line; };
  for (const auto& d : dataset) {
    auto it = std::find_if(file.begin(), file.end(), [&](const Column& f) { return f.name == d.name; });
    if (it == file.end()) {
      add("column '" + d.name + "' (" + d.type + ") is missing from the file");
    } else if (it->type != d.type) {
      add("column '" + d.name + "': the dataset has " + d.type + ", the file has " + it->type);
    }
  }
  for (const auto& f : file) {
    if (std::none_of(dataset.begin(), dataset.end(), [&](const Column& d) { return d.name == f.name; })) {
      add("column '" + f.name + "' (" + f.type + ") is not in the dataset");
    }
  }
  if (out.empty() && dataset.size() == file.size()) {
    for (std::size_t i = 0; i < dataset.size(); ++i) {
      if (dataset[i].name != file[i].name) return "the columns are in another order than the dataset's";
    }
  }
  return out;
}

bool IsNested(const std::string& type) {
  return type.find('[') != std::string::npos || type.rfind("STRUCT", 0) == 0 || type.rfind("MAP", 0) == 0 ||
         type.rfind("UNION", 0) == 0;
}

// The job's result: what was published.
std::string ResultJson(const std::string& dataset, int version, std::int64_t rows, std::int64_t bytes,
                       const boost::json::value& rejected_rows) {
  return boost::json::serialize(boost::json::object{{"dataset", dataset},
                                                    {"version", version},
                                                    {"row_count", rows},
                                                    {"byte_size", bytes},
                                                    {"rejected_rows", rejected_rows}});
}

// Turns an engine failure into the job's error: permanent for bad input, retryable otherwise.
Status ClassifyEngineError(const Status& error, const std::vector<std::string>& paths, const std::string& filename) {
  if (error.code() == "canceled") return error;
  // DuckDB appends the statement ("LINE 1: COPY (SELECT * FROM read_csv('/data/...") to some
  // messages, truncated so that a path may appear only in part: users get the message alone.
  std::string message = error.message();
  if (auto context = message.find("\nLINE "); context != std::string::npos) message.resize(context);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  message = engine::ScrubPaths(message, paths, filename.empty() ? "<upload>" : filename);
  auto type_it = error.details().find("error_type");
  const std::string type = type_it == error.details().end() ? "" : type_it->second;
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (type == "Out of Memory") {
    return Status(ErrorCode::kResourceExhausted, "out_of_memory",
                  "the ingestion ran out of its memory budget; it is retried (" + message + ")");
  }
  if (lower.find("no space left") != std::string::npos) {
    return Unavailable("disk_full", "the server's disk is full; the ingestion is retried later");
  }
  if (lower.find("line size") != std::string::npos || lower.find("maximum_object_size") != std::string::npos) {
    return InvalidArgument("line_too_long", "a line (or JSON object) of the file is longer than the limit of " +
                                                std::string("the server; check the delimiter and quoting: ") + message);
  }
  if (lower.find("unicode") != std::string::npos || lower.find("utf-8") != std::string::npos ||
      lower.find("utf8") != std::string::npos) {
    return InvalidArgument("invalid_encoding", "the file is not valid UTF-8; save it as UTF-8 and upload it again (" +
                                                   message + ")");
  }
  if (type == "IO") return Unavailable("io_error", "reading or writing failed: " + message);
  return InvalidArgument("unreadable_file", "the file could not be read as " + std::string("its format: ") + message);
}

class Attempt {
 public:
  Attempt(jobs::JobContext& context, DatasetStore& datasets, ObjectStore& objects, const Clock& clock,
          const IngestOptions& options, IngestRequest request)
      : ctx_(context), datasets_(datasets), objects_(objects), clock_(clock), options_(options),
        request_(std::move(request)) {}

  Result<std::string> Run();
  // Cleans up a prepared version after a failure (unless the lease was lost: then the job's new
  // attempt owns it).
  void Abandon(const Status& error);

 private:
  void PruneOldVersions(const std::string& dataset_id);
  void Progress(const std::string& phase, double percent, const std::string& message = {});
  Result<engine::QueryResult> Sql(const std::string& sql, bool with_progress = false);
  Status CheckQuota(std::int64_t adding);
  Result<std::pair<std::string, std::string>> SchemaAndStats(const std::string& parquet);
  Status CheckRejects(std::int64_t* rejected);

  jobs::JobContext& ctx_;
  DatasetStore& datasets_;
  ObjectStore& objects_;
  const Clock& clock_;
  const IngestOptions& options_;
  const IngestRequest request_;
  std::unique_ptr<engine::Database> db_;
  std::unique_ptr<engine::Connection> conn_;
  std::optional<PreparedVersion> prepared_;
  SourceInfo source_;
  std::vector<std::string> scrub_;
};

void Attempt::Progress(const std::string& phase, double percent, const std::string& message) {
  jobs::JobProgress p;
  p.phase = phase;
  p.percent = percent;
  p.unit = "bytes";
  p.total = static_cast<std::int64_t>(source_.file_bytes);
  p.done = percent < 0 ? 0 : static_cast<std::int64_t>(static_cast<double>(source_.file_bytes) * percent / 100.0);
  p.message = message;
  ctx_.ReportProgress(p);
}

Result<engine::QueryResult> Attempt::Sql(const std::string& sql, bool with_progress) {
  engine::ExecuteOptions options;
  options.should_stop = [this] { return ctx_.cancel_requested(); };
  if (with_progress) {
    options.on_progress = [this](double percent) { Progress("writing", std::clamp(percent, 0.0, 99.0)); };
  }
  auto result = conn_->Execute(sql, options);
  if (!result.ok()) return ClassifyEngineError(result.status(), scrub_, request_.filename);
  return result;
}

Status Attempt::CheckQuota(std::int64_t adding) {
  QUARRY_ASSIGN_OR_RETURN(std::int64_t used, datasets_.TenantBytes(ctx_.job().tenant_id));
  const std::int64_t limit =
      request_.storage_quota_bytes > 0 ? request_.storage_quota_bytes : options_.tenant_storage_quota_bytes;
  if (used + adding > limit) {
    return Status(ErrorCode::kInvalidArgument, "quota_exceeded",
                  fmt::format("the dataset would take the tenant's storage to {} bytes, over its quota "
                              "'storage_bytes' of {} bytes; delete datasets or old versions, or ask the operator for "
                              "a larger quota",
                              used + adding, limit))
        .WithDetail("quota", "storage_bytes")
        .WithDetail("used", std::to_string(used + adding))
        .WithDetail("limit", std::to_string(limit));
  }
  return Status::Ok();
}

Status Attempt::CheckRejects(std::int64_t* rejected) {
  *rejected = 0;
  if (source_.format != Format::kCsv) return Status::Ok();
  QUARRY_ASSIGN_OR_RETURN(auto counts, Sql("SELECT count(*), count(*) FILTER (WHERE error_type IN ('INVALID ENCODING', 'INVALID UNICODE')) "
                                           "FROM reject_errors"));
  if (counts.rows.empty() || !counts.rows[0][0]) return Status::Ok();
  *rejected = std::stoll(*counts.rows[0][0]);
  const std::int64_t unicode = std::stoll(counts.rows[0][1].value_or("0"));
  if (*rejected <= request_.max_bad_rows) return Status::Ok();
  QUARRY_ASSIGN_OR_RETURN(auto samples, Sql(fmt::format("SELECT line, column_name, error_type, error_message "
                                                        "FROM reject_errors ORDER BY line LIMIT {}", kRejectSamples)));
  boost::json::array rows;
  for (const auto& row : samples.rows) {
    rows.push_back({{"line", row[0] ? std::stoll(*row[0]) : 0},
                    {"column", row[1].value_or("")},
                    {"reason", row[2].value_or("")},
                    {"message", engine::ScrubPaths(row[3].value_or(""), scrub_, request_.filename)}});
  }
  const bool encoding = unicode == *rejected;
  Status error = InvalidArgument(
      encoding ? "invalid_encoding" : "bad_rows",
      encoding ? fmt::format("{} row(s) are not valid UTF-8; save the file as UTF-8 and upload it again", *rejected)
               : fmt::format("{} row(s) could not be read (at most {} are tolerated; raise max_bad_rows to skip "
                             "them); the first is on line {}",
                             *rejected, request_.max_bad_rows, rows.empty() ? 0 : rows[0].at("line").as_int64()));
  error.WithDetail("rejected_rows", std::to_string(*rejected));
  error.WithDetail("first_rejected", boost::json::serialize(rows));
  return error;
}

Result<std::pair<std::string, std::string>> Attempt::SchemaAndStats(const std::string& parquet) {
  QUARRY_ASSIGN_OR_RETURN(auto describe, Sql("DESCRIBE SELECT * FROM read_parquet(" + QuoteLiteral(parquet) + ")"));
  const std::vector<Column> columns = ColumnsOf(describe);
  boost::json::array schema;
  std::string stats_sql;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    schema.push_back({{"name", columns[i].name}, {"type", columns[i].type}, {"nullable", true}});
    if (static_cast<int>(i) >= kMaxStatsColumns) continue;
    const bool nested = IsNested(columns[i].type);
    const std::string min = nested ? "NULL" : "min(TRY_CAST(stats_min_value AS " + columns[i].type + "))::VARCHAR";
    const std::string max = nested ? "NULL" : "max(TRY_CAST(stats_max_value AS " + columns[i].type + "))::VARCHAR";
    stats_sql += (stats_sql.empty() ? "" : " UNION ALL ") +
                 fmt::format("SELECT {} AS ord, {} AS min, {} AS max, sum(stats_null_count)::BIGINT AS nulls "
                             "FROM parquet_metadata({}) WHERE path_in_schema = {}",
                             i, min, max, QuoteLiteral(parquet), QuoteLiteral(columns[i].name));
  }
  boost::json::array stats;
  if (!stats_sql.empty()) {
    QUARRY_ASSIGN_OR_RETURN(auto rows, Sql("SELECT * FROM (" + stats_sql + ") ORDER BY ord"));
    for (const auto& row : rows.rows) {
      const std::size_t i = row[0] ? std::stoul(*row[0]) : 0;
      if (i >= columns.size()) continue;
      auto text = [](const std::optional<std::string>& v) { return v ? boost::json::value(*v) : boost::json::value(nullptr); };
      stats.push_back({{"name", columns[i].name}, {"min", text(row[1])}, {"max", text(row[2])},
                       {"null_count", row[3] ? std::stoll(*row[3]) : 0}});
    }
  }
  return std::make_pair(boost::json::serialize(schema), boost::json::serialize(stats));
}

Result<std::string> Attempt::Run() {
  const Job& job = ctx_.job();
  // Every server path that may appear in an engine message: files first, then their directories.
  scrub_ = {request_.upload_path, ctx_.scratch_dir(), options_.uploads_dir};
  Progress("reading", 0, "inspecting the file");
  QUARRY_ASSIGN_OR_RETURN(source_, InspectSource(request_.upload_path, request_.format,
                                                 static_cast<std::uint64_t>(options_.max_decompressed_bytes),
                                                 static_cast<std::uint64_t>(options_.max_line_bytes),
                                                 // lines the upload path measured as the bytes arrived
                                                 static_cast<std::uint64_t>(request_.lines_checked_until)));
  QUARRY_RETURN_IF_ERROR(CheckQuota(0));

  PrepareVersionRequest prepare{job.tenant_id, request_.dataset, job.id, job.fencing_token};
  prepare.must_not_exist = request_.mode == Mode::kCreate;
  prepare.must_exist = request_.mode == Mode::kAppend;
  prepare.max_datasets = request_.max_datasets;
  prepare.project_id = request_.project_id;
  QUARRY_ASSIGN_OR_RETURN(PreparedVersion prepared, datasets_.PrepareVersion(prepare, clock_.NowMillis()));
  prepared_ = prepared;

  engine::EngineOptions engine_options;
  engine_options.threads = options_.threads;
  engine_options.memory_limit_bytes = options_.memory_limit_bytes;
  engine_options.temp_directory = ctx_.scratch_dir() + "/engine_tmp";
  engine_options.preserve_insertion_order = options_.preserve_row_order;
  QUARRY_ASSIGN_OR_RETURN(db_, engine::OpenDatabase(engine_options));
  QUARRY_ASSIGN_OR_RETURN(conn_, db_->Connect());

  std::string base_sql;
  std::map<std::string, std::string> forced_types;
  if (request_.mode == Mode::kAppend && prepared.base_version > 0) {
    QUARRY_ASSIGN_OR_RETURN(DatasetVersion base, datasets_.GetVersion(job.tenant_id, request_.dataset, prepared.base_version));
    QUARRY_ASSIGN_OR_RETURN(auto base_files, VersionDataLocations(objects_, base.storage_prefix));
    scrub_.insert(scrub_.end(), base_files.begin(), base_files.end());
    base_sql = "SELECT * FROM " + engine::ReadParquetSql(base_files);
    const std::vector<Column> dataset_columns = ColumnsFromSchemaJson(base.schema_json);
    QUARRY_ASSIGN_OR_RETURN(auto describe, Sql("DESCRIBE SELECT * FROM " +
                                               SourceSql(request_, source_, request_.upload_path, options_, {})));
    std::vector<Column> file_columns = ColumnsOf(describe);
    std::string differences = SchemaDifferences(dataset_columns, file_columns);
    // A CSV with the dataset's columns reads with the dataset's types (values that do not
    // convert become rejected rows); other formats must match exactly.
    bool same_names = dataset_columns.size() == file_columns.size();
    for (std::size_t i = 0; same_names && i < dataset_columns.size(); ++i) same_names = dataset_columns[i].name == file_columns[i].name;
    if (source_.format == Format::kCsv && same_names) {
      for (const auto& c : dataset_columns) forced_types[c.name] = c.type;
      differences.clear();
    }
    if (!differences.empty()) {
      return Status(ErrorCode::kInvalidArgument, "schema_mismatch",
                    "the file does not match the dataset's schema: " + differences +
                        "; fix the file, or upload it with mode=replace");
    }
  }

  const std::string out = ctx_.scratch_dir() + "/part-00000.parquet";
  const std::string source = "SELECT * FROM " + SourceSql(request_, source_, request_.upload_path, options_, forced_types);
  Progress("writing", 0);
  QUARRY_ASSIGN_OR_RETURN(auto copied, Sql("COPY (" + (base_sql.empty() ? source : base_sql + " UNION ALL " + source) +
                                               ") TO " + QuoteLiteral(out) + " (FORMAT parquet, COMPRESSION zstd)",
                                           /*with_progress=*/true));
  std::int64_t rejected = 0;
  QUARRY_RETURN_IF_ERROR(CheckRejects(&rejected));
  const std::int64_t rows = copied.rows_changed;
  if (rows == 0) {
    return InvalidArgument("empty_file", "the file has no data rows (only a header, or nothing readable); "
                                         "upload a file with data");
  }
  Progress("publishing", 99);
  QUARRY_ASSIGN_OR_RETURN(auto schema_and_stats, SchemaAndStats(out));
  std::error_code ec;
  const auto bytes = static_cast<std::int64_t>(fs::file_size(out, ec));
  if (ec) return Unavailable("io_error", "the written dataset file cannot be read back");
  QUARRY_RETURN_IF_ERROR(CheckQuota(bytes));

  conn_.reset();
  db_.reset();
  QUARRY_RETURN_IF_ERROR(objects_.PutFile(VersionPartKey(prepared.storage_prefix, 0), out));
  PublishRequest publish;
  publish.tenant_id = job.tenant_id;
  publish.dataset_id = prepared.dataset_id;
  publish.version = prepared.version;
  publish.job_id = job.id;
  publish.fencing_token = job.fencing_token;
  publish.must_not_exist = request_.mode == Mode::kCreate;
  publish.check_base = request_.mode == Mode::kAppend;
  publish.expected_base_version = prepared.base_version;
  publish.row_count = rows;
  publish.byte_size = bytes;
  publish.schema_json = schema_and_stats.first;
  publish.stats_json = schema_and_stats.second;
  publish.source_json = boost::json::serialize(boost::json::object{
      {"mode", ModeName(request_.mode)}, {"format", FormatName(source_.format)},
      {"compression", CompressionName(source_.compression)}, {"filename", request_.filename},
      {"file_bytes", source_.file_bytes}, {"rejected_rows", rejected}});
  QUARRY_RETURN_IF_ERROR(datasets_.PublishVersion(publish, clock_.NowMillis()));
  prepared_.reset();  // published: nothing to clean up
  PruneOldVersions(prepared.dataset_id);
  Progress("publishing", 100, "published");
  return ResultJson(request_.dataset, prepared.version, rows, bytes, boost::json::value(rejected));
}

// Version retention, after a publish. Best effort: the version is already published, so a failure
// here only leaves files that the next prune or the start-up sweep removes.
void Attempt::PruneOldVersions(const std::string& dataset_id) {
  auto pruned = datasets_.PruneVersions(
      dataset_id, request_.keep_versions > 0 ? static_cast<int>(request_.keep_versions) : options_.keep_versions);
  if (!pruned.ok()) {
    spdlog::warn("pruning old versions failed (retried after the next publish): {}", pruned.status().ToString());
    return;
  }
  for (const auto& prefix : *pruned) {
    if (Status st = objects_.DeletePrefix(prefix); !st.ok()) {
      spdlog::warn("deleting a pruned version's files failed (swept at start-up): {}", st.ToString());
    }
  }
}

void Attempt::Abandon(const Status& error) {
  if (!prepared_ || error.code() == "lease_lost") return;
  Status deleted = objects_.DeletePrefix(prepared_->storage_prefix);
  if (deleted.ok()) deleted = datasets_.DropPendingVersion(prepared_->dataset_id, prepared_->version);
  if (!deleted.ok()) spdlog::warn("cleaning up an unpublished version failed (swept later): {}", deleted.ToString());
}

}  // namespace

jobs::KindPolicy IngestKindPolicy(const IngestOptions& options) {
  jobs::KindPolicy policy;
  policy.max_attempts = 3;
  policy.backoff_base = std::chrono::milliseconds(2'000);
  // DuckDB's memory_limit bounds its buffer manager; the rest (parsers, Parquet writer buffers)
  // is held to about a quarter more.
  policy.memory_bytes = options.memory_limit_bytes + options.memory_limit_bytes / 4;
  return policy;
}

Result<std::string> IngestHandler::Run(jobs::JobContext& context) {
  auto request = IngestRequestFromJson(context.job().payload_json);
  if (!request.ok()) return request.status();
  // Defense in depth: the payload names a file the server stored, inside the uploads directory.
  const fs::path upload = fs::path(request->upload_path).lexically_normal();
  if (!InUploads(upload)) return Internal("bad_payload", "the ingestion names a file outside the uploads");

  // A previous attempt published and then lost its worker before the job finished: its version
  // is the result (publishing another would duplicate the data, or fail a create).
  auto published = datasets_.VersionPublishedBy(context.job().id);
  if (!published.ok()) return published.status();
  if (*published) {
    std::error_code ec;
    fs::remove(upload, ec);
    const DatasetVersion& v = **published;
    boost::system::error_code parse_error;
    const auto source = boost::json::parse(v.source_json, parse_error);
    const auto* rejected = source.is_object() ? source.as_object().if_contains("rejected_rows") : nullptr;
    return ResultJson(request->dataset, v.version, v.row_count, v.byte_size,
                      rejected ? *rejected : boost::json::value(0));
  }

  if (write_check_) QUARRY_RETURN_IF_ERROR(write_check_(context.job(), *request));
  Attempt attempt(context, datasets_, objects_, clock_, options_, *request);
  Result<std::string> result = attempt.Run();
  if (!result.ok()) attempt.Abandon(result.status());
  const Job& job = context.job();
  if (result.ok() && audit_) {
    // The dataset's new version, by the user whose upload it was (the job runs as nobody).
    boost::system::error_code ec;
    boost::json::value published = boost::json::parse(*result, ec);
    boost::json::object details{{"job_id", job.id}, {"mode", ModeName(request->mode)}};
    if (!ec && published.is_object()) {
      for (const char* key : {"version", "row_count", "byte_size", "rejected_rows"}) {
        if (const auto* v = published.as_object().if_contains(key)) details[key] = *v;
      }
    }
    Principal uploader;
    uploader.user.id = job.user_id;
    audit_->Record(job.tenant_id, &uploader, request->mode == Mode::kCreate ? "dataset.create" : "dataset.version",
                   request->dataset, "ok", std::move(details));
  }
  // The upload stays while another attempt may need it: after a retryable error with attempts
  // left, or when this worker lost its lease (the job runs again elsewhere).
  const bool retry_possible = context.lease_lost() ||
                              (!result.ok() && jobs::IsRetryable(result.status()) && job.attempt < job.max_attempts &&
                               result.status().code() != "canceled");
  if (!retry_possible) {
    std::error_code ec;
    fs::remove(upload, ec);
  }
  return result;
}

bool IngestHandler::InUploads(const fs::path& file) const {
  return file.parent_path() == fs::path(options_.uploads_dir).lexically_normal();
}

std::string IngestHandler::PublicPayload(const std::string& payload_json) const {
  boost::system::error_code ec;
  boost::json::value payload = boost::json::parse(payload_json, ec);
  if (ec || !payload.is_object()) return "{}";
  payload.as_object().erase("upload_path");
  payload.as_object().erase("lines_checked_until");
  return boost::json::serialize(payload);
}

void IngestHandler::Discard(const Job& job) {
  auto request = IngestRequestFromJson(job.payload_json);
  if (request.ok()) {
    const fs::path upload = fs::path(request->upload_path).lexically_normal();
    std::error_code ec;
    if (InUploads(upload)) fs::remove(upload, ec);
  }
  auto swept = SweepAbandonedVersions(datasets_, objects_);
  if (!swept.ok()) spdlog::warn("sweeping unpublished versions failed (retried at start-up): {}", swept.status().ToString());
}

Result<int> SweepAbandonedVersions(DatasetStore& datasets, ObjectStore& objects) {
  QUARRY_ASSIGN_OR_RETURN(auto abandoned, datasets.ListAbandonedVersions(1000));
  int removed = 0;
  for (const auto& version : abandoned) {
    QUARRY_RETURN_IF_ERROR(objects.DeletePrefix(version.storage_prefix));
    QUARRY_RETURN_IF_ERROR(datasets.DropPendingVersion(version.dataset_id, version.version));
    ++removed;
  }
  return removed;
}

}  // namespace quarry::ingest
