// The HTTP contract between the server core and the API handlers: plain request/response values
// and a router. No Boost.Beast or Asio types appear here, so handlers and their tests compile
// without them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"

namespace quarry::http {

// Header list with case-insensitive lookup (HTTP field names are case-insensitive).
class Headers {
 public:
  void Add(std::string name, std::string value) {
    fields_.emplace_back(std::move(name), std::move(value));
  }
  // The first value of `name`, or an empty view.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

struct Request {
  std::string method;  // upper case, as received ("GET", "POST", ...)
  std::string target;  // as received: path and query
  std::string path;    // percent-decoded path, without the query
  std::map<std::string, std::string> query;        // decoded query parameters (last one wins)
  std::map<std::string, std::string> path_params;  // filled by the router ("{id}" -> value)
  std::string route_pattern;                       // the matched route's, e.g. "/v1/keys/{id}"
  Headers headers;
  std::string body;
  // Upload routes (Route::upload): the file the body was streamed to, fsynced, and its size;
  // `body` stays empty. Whatever is still at `body_file` when the handler returns is deleted,
  // so a handler that keeps the upload moves (renames) it away.
  std::string body_file;
  std::uint64_t body_bytes = 0;
  std::string body_filename;  // multipart uploads: the file part's filename (no directories)
  std::string request_id;      // X-Request-Id (honoured when well-formed, otherwise generated)
  std::string remote_address;  // "ip:port"
  // Fields that handlers add to the access log line (e.g. tenant_id, key_id). The views point
  // into string literals or into `log_owner`, which the request keeps alive: no copies.
  std::vector<std::pair<std::string_view, std::string_view>> log_fields;
  std::shared_ptr<const void> log_owner;
  // Blocking handlers: true once the client has closed its side of the connection (it went away;
  // like nginx, a half-close counts). Peeks at the socket without consuming anything, so a
  // pipelined next request is untouched; cheap enough to call between units of work. Unset for
  // inline handlers.
  std::function<bool()> client_gone;
};

// A response body produced over time (server-sent events). The server writes the header with
// chunked transfer encoding, then calls Poll on its blocking pool, at once and then every
// `Response::stream_poll_interval`, writing whatever Poll appended as one chunk, until Poll
// returns false, the stream has lasted `stream_max_duration`, the client goes away, or the server
// shuts down. Poll may block briefly (a store read) but must not wait for data.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Appends what is ready to `*out` (maybe nothing); returns false once the stream is complete.
  virtual bool Poll(std::string* out) = 0;
  // True once the stream failed part-way (checked after Poll returns false): the connection is
  // then closed without the final chunk, so the client sees an incomplete body, never a short
  // one that looks complete.
  virtual bool failed() const { return false; }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the body is streamed (see ResponseStream) and `body` is ignored.
  std::shared_ptr<ResponseStream> stream;
  std::chrono::milliseconds stream_poll_interval{250};
  std::chrono::milliseconds stream_max_duration{3'600'000};

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string content_type, std::string body);
  // An RFC 9457 problem document for a non-OK Status (see problem.h for the fields).
  static Response Problem(const Status& status, const Request& request);
};

using Handler = std::function<Response(Request&)>;

// Where a handler runs: kInline on the I/O thread, kBlocking on the server's blocking pool.
// kInline is only for handlers that do no file I/O and at most a rare, short store read: the
// authenticated /v1/me reads the store once per key per cache epoch (an indexed WAL read, which
// never waits for writers) and is served from memory otherwise. Everything else is kBlocking.
enum class Execution { kInline, kBlocking };

// Where an upload's body goes: a new file at `path` (created exclusively, 0600; its directory
// exists), at most `max_bytes` long.
struct UploadTarget {
  std::string path;
  std::uint64_t max_bytes = 0;
  // Resumable uploads: append to the existing file at `path` (locked exclusively while the body
  // streams: a concurrent request for the same file is 409 "upload_locked"), whose size must be
  // `expected_offset` (else 409 "offset_mismatch"), and keep whatever arrived when the body stops
  // early (fsynced), so that the client can resume from there. The handler runs only when the
  // whole body arrived, and the file is never deleted by the server.
  bool append = false;
  std::uint64_t expected_offset = 0;
  // Non-empty: the body is multipart/form-data with this boundary (see http/multipart.h); only
  // its one file part is stored, and its filename goes to Request::body_filename. A malformed
  // form is answered 400 and its partial file deleted. Not with `append`.
  std::string multipart_boundary;
  // Optional: sees each piece of the body right after it is written to the file (not yet
  // fsynced), in order, on the blocking pool; one call at a time per request. The partial last
  // piece of an interrupted body is kept without being shown. Must be quick and must not throw.
  std::function<void(std::string_view stored)> on_stored;
};
// Runs once the header is read and before any body byte is (on the blocking pool): it
// authenticates, validates the parameters and decides where the body goes and how large it may
// be, so that a refused upload is answered at once instead of after gigabytes. An error is
// answered as is (and the connection closed when a body was announced). A Content-Length above
// max_bytes is 413 before reading; a chunked body that grows past it is 413 when it does, and its
// partial file is deleted, as it is when the client goes away.
using UploadPreparer = std::function<Result<UploadTarget>(Request&)>;

inline constexpr std::size_t kDefaultJsonBodyLimit = 1 << 20;  // 1 MiB

struct Route {
  std::string method;   // "GET", "POST", ...
  std::string pattern;  // "/v1/users/{id}": literal segments and whole-segment parameters
  Handler handler;
  Execution execution = Execution::kBlocking;
  // 0: the router's default (server.max_json_body_bytes).
  std::size_t max_body_bytes = 0;
  // Set: the body is streamed to a file (see UploadPreparer) and max_body_bytes does not apply.
  // The handler then runs on the blocking pool.
  UploadPreparer upload;

  // Set by Router::Add: the route's position (a dense index for per-route metrics) and its
  // pattern split into segments.
  std::size_t index = 0;
  std::vector<std::string> segments;
};

// Routes requests by method and path. Build it fully before the server starts; afterwards it
// is read-only and safe to use from any thread.
class Router {
 public:
  explicit Router(std::size_t default_max_body_bytes = kDefaultJsonBodyLimit)
      : default_max_body_bytes_(default_max_body_bytes) {}

  struct Matched {
    const Route* route;
    std::map<std::string, std::string> params;
  };
  struct NotFound {};
  struct MethodNotAllowed {
    std::vector<std::string> allowed;  // sorted, for the Allow header
  };
  using MatchResult = std::variant<Matched, NotFound, MethodNotAllowed>;

  // Adds a route. Throws std::invalid_argument on a malformed or duplicate pattern: routes are
  // fixed at start-up, so this is a programming error.
  void Add(Route route);
  MatchResult Match(std::string_view method, std::string_view path) const;
  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

 private:
  std::size_t default_max_body_bytes_;
  std::vector<std::unique_ptr<Route>> routes_;
};

// Parses a request target into path and query (percent-decoded). Returns false when the target
// is not an origin-form path ("/..."), has an invalid escape, or decodes to a NUL byte.
bool ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query);

}  // namespace quarry::http
