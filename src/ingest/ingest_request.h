// The parameters of one ingestion (the `ingest` job's payload): which upload becomes which dataset
// version, how, and the format hints that override what DuckDB's sniffer detects. Built and
// validated by the upload API, parsed again (and re-validated) by the job handler.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace quarry::ingest {

enum class Mode { kCreate, kReplace, kAppend };

struct IngestRequest {
  std::string dataset;
  Mode mode = Mode::kCreate;
  std::string upload_path;   // the stored upload (server-chosen, under the uploads directory)
  std::string filename;      // as the user named it, for messages only
  std::string format;        // "", csv, tsv, json, ndjson, parquet
  std::string delimiter;     // 1-4 bytes
  std::optional<bool> header;
  std::vector<std::string> null_strings;
  std::string date_format;
  std::string timestamp_format;
  std::map<std::string, std::string> types;  // column -> DuckDB type name
  long long max_bad_rows = 0;
  // The project a new dataset is created in ("prj_..."; empty: none). The server sets it to the
  // existing dataset's project when the job is enqueued: the job fails if the dataset is
  // elsewhere by the time it runs.
  std::string project_id;
  // Set by the server, never by users: every line of the upload before this offset (a line start)
  // was measured within the line limit as the bytes arrived, so the job does not read them again
  // for that.
  long long lines_checked_until = 0;
  // Set by the server from the tenant's quotas when the job is enqueued (0: the server's default).
  long long storage_quota_bytes = 0;
  long long keep_versions = 0;
  long long max_datasets = 0;
};

const char* ModeName(Mode mode);
std::optional<Mode> ParseMode(const std::string& text);

// Bounds and syntax of every hint (InvalidArgument naming the parameter and how to fix it).
Status Validate(const IngestRequest& request);

std::string ToJson(const IngestRequest& request);
Result<IngestRequest> IngestRequestFromJson(const std::string& json);

// The request's options from URL query parameters (mode, format, delimiter, header, null,
// date_format, timestamp_format, types as "col:TYPE,col2:TYPE", max_bad_rows, project). Dataset and
// upload path are set by the caller.
Result<IngestRequest> IngestRequestFromQuery(const std::map<std::string, std::string>& query);

}  // namespace quarry::ingest
