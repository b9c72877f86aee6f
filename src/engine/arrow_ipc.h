// Arrow IPC stream encoding (https://arrow.apache.org/docs/format/Columnar.html#ipc-streaming-format)
// of data in the Arrow C data interface, as DuckDB's C API exports it (duckdb_to_arrow_schema,
// duckdb_data_chunk_to_arrow). Written here because no Arrow IPC writer is packaged for Debian 12:
// the message metadata is built with the flatbuffers library (libflatbuffers-dev) following
// Arrow's Schema.fbs and Message.fbs (field ids noted in arrow_ipc.cpp); buffers are copied into
// the message body with 8-byte alignment. Engine-internal (includes the C data interface).
// Supported: null, boolean, integers, floats, decimals (128-bit), utf8 / binary (32- and 64-bit
// offsets), fixed-size binary, date32/64, time, timestamp, duration, interval, list, large list,
// fixed-size list, struct, map. Anything else (dictionaries: ENUM columns; views; unions) is
// InvalidArgument "arrow_type_unsupported" naming the column, with the advice to CAST it.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
// The Arrow C data interface ABI (https://arrow.apache.org/docs/format/CDataInterface.html).
struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};
struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};
#endif

namespace quarry::engine::arrow {

// An encapsulated Schema message (continuation marker, length, flatbuffer, padding).
Result<std::string> SchemaMessage(const ArrowSchema& schema);
// An encapsulated RecordBatch message and its body, for a struct array of the schema's columns.
Result<std::string> RecordBatchMessage(const ArrowSchema& schema, const ArrowArray& batch);
// The end-of-stream marker.
std::string EndOfStream();

}  // namespace quarry::engine::arrow
