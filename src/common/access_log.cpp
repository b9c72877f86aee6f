// Access log lines: formatted by hand (a fixed set of fields; no JSON library on the hot path)
// into per-thread buffers. A buffer is written to stderr when it passes kChunkBytes, and every
// buffer is written by log::Flush() (called every second by the flusher and on shutdown). Each
// write is a whole number of lines through the stdio lock, so lines never interleave.
#include <cstdio>
#include <mutex>
#include <vector>

#include "common/clock.h"
#include "common/json_text.h"
#include "common/log.h"

namespace quarry::log {

bool AccessLogEnabled();
bool AccessLogAsJson();

namespace {

constexpr std::size_t kChunkBytes = 32 * 1024;

struct ThreadBuffer;
std::mutex g_registry_mu;
std::vector<ThreadBuffer*> g_registry;  // GUARDED_BY(g_registry_mu)

void WriteOut(std::string& chunk) {
  if (chunk.empty()) return;
  std::fwrite(chunk.data(), 1, chunk.size(), stderr);
  chunk.clear();
}

struct ThreadBuffer {
  std::mutex mu;
  std::string data;  // GUARDED_BY(mu)
  ThreadBuffer() {
    data.reserve(kChunkBytes + 1024);
    std::lock_guard lock(g_registry_mu);
    g_registry.push_back(this);
  }
  ~ThreadBuffer() {
    std::lock_guard registry_lock(g_registry_mu);
    std::erase(g_registry, this);
    std::lock_guard lock(mu);
    WriteOut(data);
  }
};

void AppendField(std::string& line, std::string_view key, std::string_view value, bool json) {
  if (json) {
    line += ',';
    AppendJsonString(line, key);
    line += ':';
    AppendJsonString(line, value);
  } else {
    line += ' ';
    line += key;
    line += '=';
    line += value;
  }
}

void AppendNumber(std::string& line, std::string_view key, long long value, bool json) {
  if (json) {
    line += ",\"";
    line += key;
    line += "\":";
  } else {
    line += ' ';
    line += key;
    line += '=';
  }
  line += std::to_string(value);
}

}  // namespace

void LogAccess(const AccessRecord& r) {
  if (!AccessLogEnabled()) return;
  const bool json = AccessLogAsJson();
  thread_local ThreadBuffer buffer;
  std::lock_guard lock(buffer.mu);
  std::string& line = buffer.data;
  const std::string ts = FormatRfc3339(SystemClock::Instance().NowMillis());
  if (json) {
    line += R"({"ts":")";
    line += ts;
    line += R"(","level":"info","msg":"request")";
  } else {
    line += ts;
    line += " info  request";
  }
  AppendField(line, "request_id", r.request_id, json);
  AppendField(line, "method", r.method, json);
  AppendField(line, "path", r.path, json);
  AppendField(line, "route", r.route, json);
  AppendNumber(line, "status", r.status, json);
  AppendNumber(line, "duration_us", r.duration_us, json);
  AppendNumber(line, "bytes_in", static_cast<long long>(r.bytes_in), json);
  AppendNumber(line, "bytes_out", static_cast<long long>(r.bytes_out), json);
  AppendField(line, "remote", r.remote, json);
  if (r.extra) {
    for (const auto& [key, value] : *r.extra) AppendField(line, key, value, json);
  }
  line += json ? "}\n" : "\n";
  if (line.size() >= kChunkBytes) WriteOut(line);
}

void FlushAccessBuffers() {
  std::lock_guard registry_lock(g_registry_mu);
  for (ThreadBuffer* buffer : g_registry) {
    std::lock_guard lock(buffer->mu);
    WriteOut(buffer->data);
  }
}

}  // namespace quarry::log
