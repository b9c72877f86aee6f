#include "engine/arrow_ipc.h"

#include <flatbuffers/flatbuffers.h>

#include <cstring>
#include <string_view>
#include <vector>

namespace quarry::engine::arrow {
namespace {

// Field ids of Arrow's flatbuffers tables (Schema.fbs, Message.fbs); a field's vtable offset is
// 4 + 2 * id. A union field takes two ids: its type tag, then its value.
constexpr flatbuffers::voffset_t Slot(int id) { return static_cast<flatbuffers::voffset_t>(4 + 2 * id); }
enum MessageField { kMessageVersion = 0, kMessageHeaderType = 1, kMessageHeader = 2, kMessageBodyLength = 3 };
enum SchemaField { kSchemaEndianness = 0, kSchemaFields = 1 };
enum FieldField { kFieldName = 0, kFieldNullable = 1, kFieldTypeType = 2, kFieldType = 3, kFieldChildren = 5 };
enum BatchField { kBatchLength = 0, kBatchNodes = 1, kBatchBuffers = 2 };
constexpr std::int16_t kMetadataV5 = 4;
constexpr std::uint8_t kHeaderSchema = 1, kHeaderRecordBatch = 3;
// union Type
enum TypeTag : std::uint8_t {
  kNull = 1, kInt = 2, kFloatingPoint = 3, kBinary = 4, kUtf8 = 5, kBool = 6, kDecimal = 7, kDate = 8, kTime = 9,
  kTimestamp = 10, kInterval = 11, kList = 12, kStruct = 13, kFixedSizeBinary = 15, kFixedSizeList = 16, kMap = 17,
  kDuration = 18, kLargeBinary = 19, kLargeUtf8 = 20, kLargeList = 21
};

struct alignas(8) Pair {  // FieldNode {length, null_count} and Buffer {offset, length}
  std::int64_t first;
  std::int64_t second;
};

Status Unsupported(const ArrowSchema& schema) {
  return InvalidArgument("arrow_type_unsupported",
                         std::string("column '") + (schema.name ? schema.name : "") + "' has a type (Arrow format '" +
                             (schema.format ? schema.format : "") +
                             "') that the Arrow output does not support yet; CAST it (to VARCHAR, for instance) "
                             "or ask for csv, json or parquet");
}

std::int16_t TimeUnitOf(char c) {
  switch (c) {
    case 's': return 0;
    case 'm': return 1;
    case 'u': return 2;
    default: return 3;  // 'n'
  }
}

using TypeRef = std::pair<std::uint8_t, flatbuffers::Offset<void>>;  // the union's tag and table

// The type table of one field.
Result<TypeRef> TypeOf(flatbuffers::FlatBufferBuilder& fbb, const ArrowSchema& schema) {
  if (schema.dictionary != nullptr) return Unsupported(schema);
  const std::string_view f = schema.format ? schema.format : "";
  // A table of `tag`; `fill` adds its members. Values passed with a default of -1 are always
  // written (flatbuffers omits a member equal to the default given here, and readers then use the
  // schema's default, which may differ).
  auto table = [&](std::uint8_t tag, const auto& fill) -> TypeRef {
    auto start = fbb.StartTable();
    fill();
    return {tag, flatbuffers::Offset<void>(fbb.EndTable(start))};
  };
  auto empty = [&](std::uint8_t tag) { return table(tag, [] {}); };
  auto one_short = [&](std::uint8_t tag, std::int16_t value) {
    return table(tag, [&] { fbb.AddElement<std::int16_t>(Slot(0), value, -1); });
  };
  auto one_int = [&](std::uint8_t tag, std::string_view digits) {
    const int value = std::atoi(std::string(digits).c_str());
    return table(tag, [&] { fbb.AddElement<std::int32_t>(Slot(0), value, -1); });
  };
  auto integer = [&](int bits, bool is_signed) {
    return table(kInt, [&] {
      fbb.AddElement<std::int32_t>(Slot(0), bits, 0);
      fbb.AddElement<std::uint8_t>(Slot(1), is_signed ? 1 : 0, 0);
    });
  };
  if (f == "n") return empty(kNull);
  if (f == "b") return empty(kBool);
  if (f == "c") return integer(8, true);
  if (f == "C") return integer(8, false);
  if (f == "s") return integer(16, true);
  if (f == "S") return integer(16, false);
  if (f == "i") return integer(32, true);
  if (f == "I") return integer(32, false);
  if (f == "l") return integer(64, true);
  if (f == "L") return integer(64, false);
  if (f == "e") return one_short(kFloatingPoint, 0);
  if (f == "f") return one_short(kFloatingPoint, 1);
  if (f == "g") return one_short(kFloatingPoint, 2);
  if (f == "u") return empty(kUtf8);
  if (f == "U") return empty(kLargeUtf8);
  if (f == "z") return empty(kBinary);
  if (f == "Z") return empty(kLargeBinary);
  if (f == "tdD") return one_short(kDate, 0);
  if (f == "tdm") return one_short(kDate, 1);
  if (f.size() == 3 && f.starts_with("tt")) {
    const std::int16_t unit = TimeUnitOf(f[2]);
    return table(kTime, [&] {
      fbb.AddElement<std::int16_t>(Slot(0), unit, -1);
      fbb.AddElement<std::int32_t>(Slot(1), unit <= 1 ? 32 : 64, 0);
    });
  }
  if (f.size() >= 4 && f.starts_with("ts") && f[3] == ':') {
    const std::string zone(f.substr(4));
    auto tz = zone.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(zone);
    return table(kTimestamp, [&] {
      fbb.AddElement<std::int16_t>(Slot(0), TimeUnitOf(f[2]), -1);
      if (!zone.empty()) fbb.AddOffset(Slot(1), tz);
    });
  }
  if (f.size() == 3 && f.starts_with("tD")) return one_short(kDuration, TimeUnitOf(f[2]));
  if (f == "tiM") return one_short(kInterval, 0);
  if (f == "tiD") return one_short(kInterval, 1);
  if (f == "tin") return one_short(kInterval, 2);
  if (f.starts_with("d:")) {
    int precision = 0, scale = 0, bits = 128;
    if (std::sscanf(std::string(f).c_str(), "d:%d,%d,%d", &precision, &scale, &bits) < 2 || bits != 128) {
      return Unsupported(schema);
    }
    return table(kDecimal, [&] {
      fbb.AddElement<std::int32_t>(Slot(0), precision, -1);
      fbb.AddElement<std::int32_t>(Slot(1), scale, -1);
      fbb.AddElement<std::int32_t>(Slot(2), 128, 0);
    });
  }
  if (f.starts_with("w:")) return one_int(kFixedSizeBinary, f.substr(2));
  if (f == "+l") return empty(kList);
  if (f == "+L") return empty(kLargeList);
  if (f == "+s") return empty(kStruct);
  if (f == "+m") return table(kMap, [&] { fbb.AddElement<std::uint8_t>(Slot(0), 0, 1); });
  if (f.starts_with("+w:")) return one_int(kFixedSizeList, f.substr(3));
  return Unsupported(schema);
}

Result<flatbuffers::Offset<void>> FieldOf(flatbuffers::FlatBufferBuilder& fbb, const ArrowSchema& schema, int depth) {
  if (depth > 64) return Unsupported(schema);
  std::vector<flatbuffers::Offset<void>> children;
  for (std::int64_t i = 0; i < schema.n_children; ++i) {
    QUARRY_ASSIGN_OR_RETURN(auto child, FieldOf(fbb, *schema.children[i], depth + 1));
    children.push_back(child);
  }
  auto name = fbb.CreateString(schema.name ? schema.name : "");
  QUARRY_ASSIGN_OR_RETURN(auto type, TypeOf(fbb, schema));
  auto kids = fbb.CreateVector(children);
  auto start = fbb.StartTable();
  fbb.AddOffset(Slot(kFieldName), name);
  fbb.AddElement<std::uint8_t>(Slot(kFieldNullable), (schema.flags & 2) ? 1 : 0, 0);  // ARROW_FLAG_NULLABLE
  fbb.AddElement<std::uint8_t>(Slot(kFieldTypeType), type.first, 0);
  fbb.AddOffset(Slot(kFieldType), type.second);
  fbb.AddOffset(Slot(kFieldChildren), kids);
  return flatbuffers::Offset<void>(fbb.EndTable(start));
}

// Continuation marker, metadata length (padded to 8), the flatbuffer, padding, then the body.
std::string Encapsulate(flatbuffers::FlatBufferBuilder& fbb, const std::string& body) {
  const std::size_t size = fbb.GetSize();
  const std::size_t padded = (size + 8 + 7) / 8 * 8 - 8;
  std::string out(8 + padded, '\0');
  const std::uint32_t continuation = 0xFFFFFFFF;
  const std::int32_t length = static_cast<std::int32_t>(padded);
  std::memcpy(out.data(), &continuation, 4);
  std::memcpy(out.data() + 4, &length, 4);
  std::memcpy(out.data() + 8, fbb.GetBufferPointer(), size);
  return out + body;
}

flatbuffers::Offset<void> MessageOf(flatbuffers::FlatBufferBuilder& fbb, std::uint8_t header_type,
                                     flatbuffers::Offset<void> header, std::int64_t body_length) {
  auto start = fbb.StartTable();
  fbb.AddElement<std::int64_t>(Slot(kMessageBodyLength), body_length, -1);
  fbb.AddOffset(Slot(kMessageHeader), header);
  fbb.AddElement<std::int16_t>(Slot(kMessageVersion), kMetadataV5, 0);
  fbb.AddElement<std::uint8_t>(Slot(kMessageHeaderType), header_type, 0);
  return flatbuffers::Offset<void>(fbb.EndTable(start));
}

// Collects one array's nodes and buffers, depth first, copying each buffer into the body.
class BatchBuilder {
 public:
  Status Add(const ArrowSchema& schema, const ArrowArray& array, int depth) {
    if (depth > 64 || array.offset != 0 || schema.dictionary != nullptr) return Unsupported(schema);
    nodes_.push_back({array.length, array.null_count});
    const std::string_view f = schema.format ? schema.format : "";
    const std::int64_t n = array.length;
    auto buffer = [&](int i) -> const std::uint8_t* {
      return i < array.n_buffers ? static_cast<const std::uint8_t*>(array.buffers[i]) : nullptr;
    };
    auto validity = [&] { Append(array.null_count > 0 ? buffer(0) : nullptr, array.null_count > 0 ? (n + 7) / 8 : 0); };
    auto fixed = [&](std::int64_t width) {
      validity();
      Append(buffer(1), n * width);
      return Status::Ok();
    };
    auto var = [&](std::int64_t offset_width) {
      validity();
      const std::uint8_t* offsets = buffer(1);
      Append(offsets, n == 0 ? 0 : (n + 1) * offset_width);
      std::int64_t bytes = 0;
      if (n > 0 && offsets != nullptr) {
        if (offset_width == 4) {
          std::int32_t last;
          std::memcpy(&last, offsets + n * 4, 4);
          bytes = last;
        } else {
          std::memcpy(&bytes, offsets + n * 8, 8);
        }
      }
      Append(buffer(2), bytes);
      return Status::Ok();
    };
    auto children = [&]() -> Status {
      for (std::int64_t i = 0; i < schema.n_children; ++i) {
        QUARRY_RETURN_IF_ERROR(Add(*schema.children[i], *array.children[i], depth + 1));
      }
      return Status::Ok();
    };
    if (f == "n") return Status::Ok();
    if (f == "b") {
      validity();
      Append(buffer(1), (n + 7) / 8);
      return Status::Ok();
    }
    if (f == "c" || f == "C") return fixed(1);
    if (f == "s" || f == "S" || f == "e") return fixed(2);
    if (f == "i" || f == "I" || f == "f" || f == "tdD" || f == "tts" || f == "ttm" || f == "tiM") return fixed(4);
    if (f == "l" || f == "L" || f == "g" || f == "tdm" || f == "ttu" || f == "ttn" || f.starts_with("ts") ||
        f.starts_with("tD") || f == "tiD") {
      return fixed(8);
    }
    if (f == "tin") return fixed(16);
    if (f.starts_with("d:")) return fixed(16);
    if (f.starts_with("w:")) return fixed(std::atoll(std::string(f.substr(2)).c_str()));
    if (f == "u" || f == "z") return var(4);
    if (f == "U" || f == "Z") return var(8);
    if (f == "+l" || f == "+m") {
      validity();
      Append(buffer(1), n == 0 ? 0 : (n + 1) * 4);
      return children();
    }
    if (f == "+L") {
      validity();
      Append(buffer(1), n == 0 ? 0 : (n + 1) * 8);
      return children();
    }
    if (f == "+s" || f.starts_with("+w:")) {
      validity();
      return children();
    }
    return Unsupported(schema);
  }

  const std::vector<Pair>& nodes() const { return nodes_; }
  const std::vector<Pair>& buffers() const { return buffers_; }
  const std::string& body() const { return body_; }

 private:
  void Append(const std::uint8_t* data, std::int64_t length) {
    const std::int64_t offset = static_cast<std::int64_t>(body_.size());
    if (data != nullptr && length > 0) body_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
    else length = 0;
    body_.resize((body_.size() + 7) / 8 * 8, '\0');
    buffers_.push_back({offset, length});
  }

  std::vector<Pair> nodes_;
  std::vector<Pair> buffers_;
  std::string body_;
};

}  // namespace

Result<std::string> SchemaMessage(const ArrowSchema& schema) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  std::vector<flatbuffers::Offset<void>> fields;
  for (std::int64_t i = 0; i < schema.n_children; ++i) {
    QUARRY_ASSIGN_OR_RETURN(auto field, FieldOf(fbb, *schema.children[i], 0));
    fields.push_back(field);
  }
  auto vector = fbb.CreateVector(fields);
  auto start = fbb.StartTable();
  fbb.AddElement<std::int16_t>(Slot(kSchemaEndianness), 0, 0);  // little endian
  fbb.AddOffset(Slot(kSchemaFields), vector);
  flatbuffers::Offset<void> schema_table(fbb.EndTable(start));
  fbb.Finish(MessageOf(fbb, kHeaderSchema, schema_table, 0));
  return Encapsulate(fbb, "");
}

Result<std::string> RecordBatchMessage(const ArrowSchema& schema, const ArrowArray& batch) {
  BatchBuilder builder;
  if (batch.n_children != schema.n_children) return Unsupported(schema);
  for (std::int64_t i = 0; i < schema.n_children; ++i) {
    QUARRY_RETURN_IF_ERROR(builder.Add(*schema.children[i], *batch.children[i], 0));
  }
  flatbuffers::FlatBufferBuilder fbb(1024);
  auto nodes = fbb.CreateVectorOfStructs(builder.nodes().data(), builder.nodes().size());
  auto buffers = fbb.CreateVectorOfStructs(builder.buffers().data(), builder.buffers().size());
  auto start = fbb.StartTable();
  fbb.AddElement<std::int64_t>(Slot(kBatchLength), batch.length, -1);
  fbb.AddOffset(Slot(kBatchNodes), nodes);
  fbb.AddOffset(Slot(kBatchBuffers), buffers);
  flatbuffers::Offset<void> batch_table(fbb.EndTable(start));
  fbb.Finish(MessageOf(fbb, kHeaderRecordBatch, batch_table, static_cast<std::int64_t>(builder.body().size())));
  return Encapsulate(fbb, builder.body());
}

std::string EndOfStream() {
  std::string out(8, '\0');
  const std::uint32_t continuation = 0xFFFFFFFF;
  std::memcpy(out.data(), &continuation, 4);
  return out;
}

}  // namespace quarry::engine::arrow
