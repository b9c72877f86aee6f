// Result values and type names of the DuckDB C API, turned into text (engine.h: "Values are DuckDB's
// VARCHAR casts"). Used by engine.cpp only; no duckdb.h type leaves the engine module.
//
// How: the C API has no "cast this vector element to VARCHAR" call, and the deprecated
// duckdb_value_varchar only works on materialized results (and returns NULL for nested types).
// So each non-VARCHAR element is rebuilt as a duckdb_value from the vector's physical layout
// (recursively for LIST / ARRAY / STRUCT / MAP / UNION) and cast with duckdb_get_varchar, which is
// DuckDB's own Value::DefaultCastAs(VARCHAR): the text is exactly what `CAST(x AS VARCHAR)` gives.
// Chunks come from duckdb_fetch_chunk, which flattens them, so vectors are read as flat vectors.
// One difference from a SQL CAST: the value cast has no session, so TIMESTAMP WITH TIME ZONE and
// TIME WITH TIME ZONE are rendered in UTC (+00) even if a statement changed the TimeZone setting
// (the engine sets it to UTC, so by default the two agree).
// Thread-safety: pure functions over the vectors they are given.
#include <duckdb.h>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/json_text.h"

namespace quarry::engine::detail {

std::string LogicalTypeName(duckdb_logical_type type);
std::optional<std::string> VectorValueText(duckdb_vector vector, duckdb_logical_type type, idx_t row);
std::string VectorValueJson(duckdb_vector vector, duckdb_logical_type type, idx_t row);

namespace {

struct ValueDeleter {
  void operator()(std::remove_pointer_t<duckdb_value>* value) const {
    duckdb_value v = value;
    duckdb_destroy_value(&v);
  }
};
using ValuePtr = std::unique_ptr<std::remove_pointer_t<duckdb_value>, ValueDeleter>;

struct TypeDeleter {
  void operator()(std::remove_pointer_t<duckdb_logical_type>* type) const {
    duckdb_logical_type t = type;
    duckdb_destroy_logical_type(&t);
  }
};
using TypePtr = std::unique_ptr<std::remove_pointer_t<duckdb_logical_type>, TypeDeleter>;

// A string allocated by DuckDB (duckdb_free), copied out; nullptr gives "".
std::string TakeString(char* text) {
  if (text == nullptr) return {};
  std::string out(text);
  duckdb_free(text);
  return out;
}

template <typename T>
T Read(duckdb_vector vector, idx_t row) {
  T out;
  std::memcpy(&out, static_cast<const char*>(duckdb_vector_get_data(vector)) + row * sizeof(T), sizeof(T));
  return out;
}

bool IsValid(duckdb_vector vector, idx_t row) {
  std::uint64_t* validity = duckdb_vector_get_validity(vector);
  return validity == nullptr || duckdb_validity_row_is_valid(validity, row);
}

std::string ReadString(duckdb_vector vector, idx_t row) {
  auto* strings = static_cast<duckdb_string_t*>(duckdb_vector_get_data(vector));
  duckdb_string_t& s = strings[row];
  return std::string(duckdb_string_t_data(&s), duckdb_string_t_length(s));
}

template <typename T>
std::string IntegerText(T value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  (void)ec;  // 32 characters hold every 64-bit integer
  return std::string(buffer, end);
}

duckdb_hugeint ToHugeint(std::int64_t value) {
  duckdb_hugeint out;
  out.lower = static_cast<std::uint64_t>(value);
  out.upper = value < 0 ? -1 : 0;
  return out;
}

ValuePtr MakeValue(duckdb_vector vector, duckdb_logical_type type, idx_t row);

// Builds `count` child values starting at `offset` of `child`; false when one could not be built.
bool MakeChildren(duckdb_vector child, duckdb_logical_type child_type, idx_t offset, idx_t count,
                  std::vector<ValuePtr>& owned, std::vector<duckdb_value>& raw) {
  owned.reserve(count);
  raw.reserve(count);
  for (idx_t i = 0; i < count; ++i) {
    owned.push_back(MakeValue(child, child_type, offset + i));
    if (!owned.back()) return false;
    raw.push_back(owned.back().get());
  }
  return true;
}

ValuePtr MakeDecimal(duckdb_vector vector, duckdb_logical_type type, idx_t row) {
  duckdb_decimal decimal;
  decimal.width = duckdb_decimal_width(type);
  decimal.scale = duckdb_decimal_scale(type);
  switch (duckdb_decimal_internal_type(type)) {
    case DUCKDB_TYPE_SMALLINT:
      decimal.value = ToHugeint(Read<std::int16_t>(vector, row));
      break;
    case DUCKDB_TYPE_INTEGER:
      decimal.value = ToHugeint(Read<std::int32_t>(vector, row));
      break;
    case DUCKDB_TYPE_BIGINT:
      decimal.value = ToHugeint(Read<std::int64_t>(vector, row));
      break;
    case DUCKDB_TYPE_HUGEINT:
      decimal.value = Read<duckdb_hugeint>(vector, row);
      break;
    default:
      return nullptr;
  }
  return ValuePtr(duckdb_create_decimal(decimal));
}

ValuePtr MakeEnum(duckdb_vector vector, duckdb_logical_type type, idx_t row) {
  std::uint64_t index = 0;
  switch (duckdb_enum_internal_type(type)) {
    case DUCKDB_TYPE_UTINYINT:
      index = Read<std::uint8_t>(vector, row);
      break;
    case DUCKDB_TYPE_USMALLINT:
      index = Read<std::uint16_t>(vector, row);
      break;
    case DUCKDB_TYPE_UINTEGER:
      index = Read<std::uint32_t>(vector, row);
      break;
    default:
      return nullptr;
  }
  return ValuePtr(duckdb_create_enum_value(type, index));
}

ValuePtr MakeBignum(duckdb_vector vector, idx_t row) {
  // Stored as a 3-byte header (top bit set for non-negative) and big-endian magnitude bytes, all
  // bit-inverted for negative numbers; duckdb_create_bignum wants the plain magnitude.
  std::string blob = ReadString(vector, row);
  if (blob.size() < 4) return nullptr;
  duckdb_bignum bignum;
  bignum.is_negative = (static_cast<unsigned char>(blob[0]) & 0x80) == 0;
  std::vector<std::uint8_t> magnitude(blob.begin() + 3, blob.end());
  if (bignum.is_negative) {
    for (auto& byte : magnitude) byte = static_cast<std::uint8_t>(~byte);
  }
  bignum.data = magnitude.data();
  bignum.size = magnitude.size();
  return ValuePtr(duckdb_create_bignum(bignum));
}

// The C API rejects a null `values` pointer even for zero values (an empty list or map).
duckdb_value* ValuesOrEmpty(std::vector<duckdb_value>& raw) {
  static duckdb_value none = nullptr;
  return raw.empty() ? &none : raw.data();
}

ValuePtr MakeNested(duckdb_vector vector, duckdb_logical_type type, duckdb_type id, idx_t row) {
  std::vector<ValuePtr> owned;
  std::vector<duckdb_value> raw;
  switch (id) {
    case DUCKDB_TYPE_LIST: {
      auto entry = Read<duckdb_list_entry>(vector, row);
      TypePtr child_type(duckdb_list_type_child_type(type));
      if (!MakeChildren(duckdb_list_vector_get_child(vector), child_type.get(), entry.offset, entry.length,
                        owned, raw)) {
        return nullptr;
      }
      return ValuePtr(duckdb_create_list_value(child_type.get(), ValuesOrEmpty(raw), raw.size()));
    }
    case DUCKDB_TYPE_ARRAY: {
      idx_t size = duckdb_array_type_array_size(type);
      TypePtr child_type(duckdb_array_type_child_type(type));
      if (!MakeChildren(duckdb_array_vector_get_child(vector), child_type.get(), row * size, size, owned,
                        raw)) {
        return nullptr;
      }
      return ValuePtr(duckdb_create_array_value(child_type.get(), ValuesOrEmpty(raw), raw.size()));
    }
    case DUCKDB_TYPE_MAP: {  // physically LIST(STRUCT(key, value))
      auto entry = Read<duckdb_list_entry>(vector, row);
      duckdb_vector entries = duckdb_list_vector_get_child(vector);
      TypePtr key_type(duckdb_map_type_key_type(type));
      TypePtr value_type(duckdb_map_type_value_type(type));
      std::vector<ValuePtr> owned_values;
      std::vector<duckdb_value> raw_values;
      if (!MakeChildren(duckdb_struct_vector_get_child(entries, 0), key_type.get(), entry.offset,
                        entry.length, owned, raw) ||
          !MakeChildren(duckdb_struct_vector_get_child(entries, 1), value_type.get(), entry.offset,
                        entry.length, owned_values, raw_values)) {
        return nullptr;
      }
      return ValuePtr(
          duckdb_create_map_value(type, ValuesOrEmpty(raw), ValuesOrEmpty(raw_values), raw.size()));
    }
    case DUCKDB_TYPE_STRUCT: {
      idx_t count = duckdb_struct_type_child_count(type);
      owned.reserve(count);
      raw.reserve(count);
      for (idx_t i = 0; i < count; ++i) {
        TypePtr child_type(duckdb_struct_type_child_type(type, i));
        owned.push_back(MakeValue(duckdb_struct_vector_get_child(vector, i), child_type.get(), row));
        if (!owned.back()) return nullptr;
        raw.push_back(owned.back().get());
      }
      return ValuePtr(duckdb_create_struct_value(type, raw.data()));
    }
    case DUCKDB_TYPE_UNION: {  // physically STRUCT(tag UTINYINT, member_0, member_1, ...)
      auto tag = Read<std::uint8_t>(duckdb_struct_vector_get_child(vector, 0), row);
      TypePtr member_type(duckdb_union_type_member_type(type, tag));
      ValuePtr member = MakeValue(duckdb_struct_vector_get_child(vector, tag + 1), member_type.get(), row);
      if (!member) return nullptr;
      ValuePtr result(duckdb_create_union_value(type, tag, member.get()));
      // A NULL member has no typed value in the C API: the union reads as NULL.
      return result ? std::move(result) : ValuePtr(duckdb_create_null_value());
    }
    default:
      return nullptr;
  }
}

// The element as a duckdb_value (a NULL value for SQL NULL); nullptr for a type the C API cannot
// express.
ValuePtr MakeValue(duckdb_vector vector, duckdb_logical_type type, idx_t row) {
  if (!IsValid(vector, row)) return ValuePtr(duckdb_create_null_value());
  duckdb_type id = duckdb_get_type_id(type);
  switch (id) {
    case DUCKDB_TYPE_BOOLEAN:
      return ValuePtr(duckdb_create_bool(Read<bool>(vector, row)));
    case DUCKDB_TYPE_TINYINT:
      return ValuePtr(duckdb_create_int8(Read<std::int8_t>(vector, row)));
    case DUCKDB_TYPE_SMALLINT:
      return ValuePtr(duckdb_create_int16(Read<std::int16_t>(vector, row)));
    case DUCKDB_TYPE_INTEGER:
      return ValuePtr(duckdb_create_int32(Read<std::int32_t>(vector, row)));
    case DUCKDB_TYPE_BIGINT:
      return ValuePtr(duckdb_create_int64(Read<std::int64_t>(vector, row)));
    case DUCKDB_TYPE_UTINYINT:
      return ValuePtr(duckdb_create_uint8(Read<std::uint8_t>(vector, row)));
    case DUCKDB_TYPE_USMALLINT:
      return ValuePtr(duckdb_create_uint16(Read<std::uint16_t>(vector, row)));
    case DUCKDB_TYPE_UINTEGER:
      return ValuePtr(duckdb_create_uint32(Read<std::uint32_t>(vector, row)));
    case DUCKDB_TYPE_UBIGINT:
      return ValuePtr(duckdb_create_uint64(Read<std::uint64_t>(vector, row)));
    case DUCKDB_TYPE_HUGEINT:
      return ValuePtr(duckdb_create_hugeint(Read<duckdb_hugeint>(vector, row)));
    case DUCKDB_TYPE_UHUGEINT:
      return ValuePtr(duckdb_create_uhugeint(Read<duckdb_uhugeint>(vector, row)));
    case DUCKDB_TYPE_FLOAT:
      return ValuePtr(duckdb_create_float(Read<float>(vector, row)));
    case DUCKDB_TYPE_DOUBLE:
      return ValuePtr(duckdb_create_double(Read<double>(vector, row)));
    case DUCKDB_TYPE_DECIMAL:
      return MakeDecimal(vector, type, row);
    case DUCKDB_TYPE_DATE:
      return ValuePtr(duckdb_create_date(Read<duckdb_date>(vector, row)));
    case DUCKDB_TYPE_TIME:
      return ValuePtr(duckdb_create_time(Read<duckdb_time>(vector, row)));
    case DUCKDB_TYPE_TIME_NS:
      return ValuePtr(duckdb_create_time_ns(Read<duckdb_time_ns>(vector, row)));
    case DUCKDB_TYPE_TIME_TZ:
      return ValuePtr(duckdb_create_time_tz_value(Read<duckdb_time_tz>(vector, row)));
    case DUCKDB_TYPE_TIMESTAMP:
      return ValuePtr(duckdb_create_timestamp(Read<duckdb_timestamp>(vector, row)));
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return ValuePtr(duckdb_create_timestamp_tz(Read<duckdb_timestamp>(vector, row)));
    case DUCKDB_TYPE_TIMESTAMP_S:
      return ValuePtr(duckdb_create_timestamp_s(Read<duckdb_timestamp_s>(vector, row)));
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return ValuePtr(duckdb_create_timestamp_ms(Read<duckdb_timestamp_ms>(vector, row)));
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return ValuePtr(duckdb_create_timestamp_ns(Read<duckdb_timestamp_ns>(vector, row)));
    case DUCKDB_TYPE_INTERVAL:
      return ValuePtr(duckdb_create_interval(Read<duckdb_interval>(vector, row)));
    case DUCKDB_TYPE_VARCHAR: {
      std::string text = ReadString(vector, row);
      return ValuePtr(duckdb_create_varchar_length(text.data(), text.size()));
    }
    case DUCKDB_TYPE_BLOB: {
      std::string bytes = ReadString(vector, row);
      return ValuePtr(duckdb_create_blob(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    }
    case DUCKDB_TYPE_BIT: {  // the vector holds the internal bit-string bytes, as Value::BIT wants
      std::string bits = ReadString(vector, row);
      duckdb_bit bit;
      bit.data = reinterpret_cast<std::uint8_t*>(bits.data());
      bit.size = bits.size();
      return ValuePtr(duckdb_create_bit(bit));
    }
    case DUCKDB_TYPE_UUID: {
      // Stored as a hugeint with the top bit flipped (for ordering); duckdb_create_uuid flips it back.
      auto stored = Read<duckdb_hugeint>(vector, row);
      duckdb_uhugeint uuid;
      uuid.lower = stored.lower;
      uuid.upper = static_cast<std::uint64_t>(stored.upper) ^ (std::uint64_t{1} << 63);
      return ValuePtr(duckdb_create_uuid(uuid));
    }
    case DUCKDB_TYPE_BIGNUM:
      return MakeBignum(vector, row);
    case DUCKDB_TYPE_ENUM:
      return MakeEnum(vector, type, row);
    case DUCKDB_TYPE_SQLNULL:
      return ValuePtr(duckdb_create_null_value());
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY:
    case DUCKDB_TYPE_MAP:
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION:
      return MakeNested(vector, type, id, row);
    default:
      return nullptr;
  }
}

bool IsPlainIdentifier(const std::string& name) {
  if (name.empty() || !((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string FieldName(char* raw) {
  std::string name = TakeString(raw);
  if (IsPlainIdentifier(name)) return name;
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string ChildTypeName(duckdb_logical_type owned_child) {
  TypePtr child(owned_child);
  return LogicalTypeName(child.get());
}

const char* PrimitiveTypeName(duckdb_type id) {
  switch (id) {
    case DUCKDB_TYPE_BOOLEAN:
      return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT:
      return "TINYINT";
    case DUCKDB_TYPE_SMALLINT:
      return "SMALLINT";
    case DUCKDB_TYPE_INTEGER:
      return "INTEGER";
    case DUCKDB_TYPE_BIGINT:
      return "BIGINT";
    case DUCKDB_TYPE_UTINYINT:
      return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT:
      return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER:
      return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT:
      return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT:
      return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT:
      return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT:
      return "FLOAT";
    case DUCKDB_TYPE_DOUBLE:
      return "DOUBLE";
    case DUCKDB_TYPE_DATE:
      return "DATE";
    case DUCKDB_TYPE_TIME:
      return "TIME";
    case DUCKDB_TYPE_TIME_NS:
      return "TIME_NS";
    case DUCKDB_TYPE_TIME_TZ:
      return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIMESTAMP:
      return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_TIMESTAMP_S:
      return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return "TIMESTAMP_NS";
    case DUCKDB_TYPE_INTERVAL:
      return "INTERVAL";
    case DUCKDB_TYPE_VARCHAR:
      return "VARCHAR";
    case DUCKDB_TYPE_BLOB:
      return "BLOB";
    case DUCKDB_TYPE_BIT:
      return "BIT";
    case DUCKDB_TYPE_UUID:
      return "UUID";
    case DUCKDB_TYPE_BIGNUM:
      return "BIGNUM";
    case DUCKDB_TYPE_SQLNULL:
      return "NULL";
    default:
      return nullptr;
  }
}

}  // namespace

// DuckDB's spelling of a type ("BIGINT", "DECIMAL(18,3)", "INTEGER[]", "STRUCT(a INTEGER)",
// "MAP(VARCHAR, BIGINT)", ...); an alias (JSON, a CREATE TYPE name) wins; "UNKNOWN" otherwise.
std::string LogicalTypeName(duckdb_logical_type type) {
  if (type == nullptr) return "UNKNOWN";
  std::string alias = TakeString(duckdb_logical_type_get_alias(type));
  if (!alias.empty()) return alias;
  duckdb_type id = duckdb_get_type_id(type);
  if (const char* name = PrimitiveTypeName(id)) return name;
  switch (id) {
    case DUCKDB_TYPE_DECIMAL:
      return "DECIMAL(" + IntegerText(duckdb_decimal_width(type)) + "," +
             IntegerText(duckdb_decimal_scale(type)) + ")";
    case DUCKDB_TYPE_LIST:
      return ChildTypeName(duckdb_list_type_child_type(type)) + "[]";
    case DUCKDB_TYPE_ARRAY:
      return ChildTypeName(duckdb_array_type_child_type(type)) + "[" +
             IntegerText(duckdb_array_type_array_size(type)) + "]";
    case DUCKDB_TYPE_MAP:
      return "MAP(" + ChildTypeName(duckdb_map_type_key_type(type)) + ", " +
             ChildTypeName(duckdb_map_type_value_type(type)) + ")";
    case DUCKDB_TYPE_STRUCT: {
      std::string out = "STRUCT(";
      for (idx_t i = 0, n = duckdb_struct_type_child_count(type); i < n; ++i) {
        if (i > 0) out += ", ";
        out += FieldName(duckdb_struct_type_child_name(type, i)) + " " +
               ChildTypeName(duckdb_struct_type_child_type(type, i));
      }
      return out + ")";
    }
    case DUCKDB_TYPE_UNION: {
      std::string out = "UNION(";
      for (idx_t i = 0, n = duckdb_union_type_member_count(type); i < n; ++i) {
        if (i > 0) out += ", ";
        out += FieldName(duckdb_union_type_member_name(type, i)) + " " +
               ChildTypeName(duckdb_union_type_member_type(type, i));
      }
      return out + ")";
    }
    case DUCKDB_TYPE_ENUM: {
      std::string out = "ENUM(";
      for (std::uint32_t i = 0, n = duckdb_enum_dictionary_size(type); i < n; ++i) {
        if (i > 0) out += ", ";
        out += "'";
        for (char c : TakeString(duckdb_enum_dictionary_value(type, i))) {
          if (c == '\'') out += '\'';
          out += c;
        }
        out += "'";
      }
      return out + ")";
    }
    default:
      return "UNKNOWN";
  }
}

// The VARCHAR cast of element `row` of a flat `vector` of `type`; nullopt for SQL NULL. Types the C
// API cannot rebuild as a value (none in 1.4.4 results, in practice) read as "<TYPE>".
std::optional<std::string> VectorValueText(duckdb_vector vector, duckdb_logical_type type, idx_t row) {
  if (!IsValid(vector, row)) return std::nullopt;
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_VARCHAR:
      return ReadString(vector, row);  // the common case: no Value round trip
    case DUCKDB_TYPE_BIGINT:
      return IntegerText(Read<std::int64_t>(vector, row));
    case DUCKDB_TYPE_INTEGER:
      return IntegerText(Read<std::int32_t>(vector, row));
    default:
      break;
  }
  ValuePtr value = MakeValue(vector, type, row);
  if (!value) return "<" + LogicalTypeName(type) + ">";
  if (duckdb_is_null_value(value.get())) return std::nullopt;
  return TakeString(duckdb_get_varchar(value.get()));
}

namespace {

bool IsJsonNumber(const std::string& text) {
  if (text.empty()) return false;
  std::size_t i = text[0] == '-' ? 1 : 0;
  if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  return text.find_first_not_of("0123456789.eE+-") == std::string::npos;
}

void AppendJson(std::string& out, duckdb_vector vector, duckdb_logical_type type, idx_t row) {
  if (!IsValid(vector, row)) {
    out += "null";
    return;
  }
  const duckdb_type id = duckdb_get_type_id(type);
  switch (id) {
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY: {
      idx_t offset = 0, length = 0;
      duckdb_vector child;
      TypePtr child_type(id == DUCKDB_TYPE_LIST ? duckdb_list_type_child_type(type) : duckdb_array_type_child_type(type));
      if (id == DUCKDB_TYPE_LIST) {
        auto entry = Read<duckdb_list_entry>(vector, row);
        offset = entry.offset;
        length = entry.length;
        child = duckdb_list_vector_get_child(vector);
      } else {
        length = duckdb_array_type_array_size(type);
        offset = row * length;
        child = duckdb_array_vector_get_child(vector);
      }
      out += '[';
      for (idx_t i = 0; i < length; ++i) {
        if (i) out += ',';
        AppendJson(out, child, child_type.get(), offset + i);
      }
      out += ']';
      return;
    }
    case DUCKDB_TYPE_MAP: {  // physically LIST(STRUCT(key, value)); keys become member names
      auto entry = Read<duckdb_list_entry>(vector, row);
      duckdb_vector entries = duckdb_list_vector_get_child(vector);
      TypePtr key_type(duckdb_map_type_key_type(type));
      TypePtr value_type(duckdb_map_type_value_type(type));
      out += '{';
      for (idx_t i = 0; i < entry.length; ++i) {
        if (i) out += ',';
        auto key = VectorValueText(duckdb_struct_vector_get_child(entries, 0), key_type.get(), entry.offset + i);
        AppendJsonString(out, key.value_or("null"));
        out += ':';
        AppendJson(out, duckdb_struct_vector_get_child(entries, 1), value_type.get(), entry.offset + i);
      }
      out += '}';
      return;
    }
    case DUCKDB_TYPE_STRUCT: {
      const idx_t count = duckdb_struct_type_child_count(type);
      out += '{';
      for (idx_t i = 0; i < count; ++i) {
        if (i) out += ',';
        AppendJsonString(out, TakeString(duckdb_struct_type_child_name(type, i)));
        out += ':';
        TypePtr child_type(duckdb_struct_type_child_type(type, i));
        AppendJson(out, duckdb_struct_vector_get_child(vector, i), child_type.get(), row);
      }
      out += '}';
      return;
    }
    case DUCKDB_TYPE_UNION: {  // the member's value
      auto tag = Read<std::uint8_t>(duckdb_struct_vector_get_child(vector, 0), row);
      TypePtr member_type(duckdb_union_type_member_type(type, tag));
      AppendJson(out, duckdb_struct_vector_get_child(vector, tag + 1), member_type.get(), row);
      return;
    }
    case DUCKDB_TYPE_BOOLEAN:
      out += Read<bool>(vector, row) ? "true" : "false";
      return;
    case DUCKDB_TYPE_TINYINT: case DUCKDB_TYPE_SMALLINT: case DUCKDB_TYPE_INTEGER: case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT: case DUCKDB_TYPE_USMALLINT: case DUCKDB_TYPE_UINTEGER: case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_HUGEINT: case DUCKDB_TYPE_UHUGEINT: case DUCKDB_TYPE_FLOAT: case DUCKDB_TYPE_DOUBLE:
    case DUCKDB_TYPE_DECIMAL: {
      const std::string text = VectorValueText(vector, type, row).value_or("null");
      if (IsJsonNumber(text)) {
        out += text;
      } else {
        AppendJsonString(out, text);  // NaN, inf
      }
      return;
    }
    default:
      AppendJsonString(out, VectorValueText(vector, type, row).value_or(""));
  }
}

}  // namespace

// Element `row` as JSON text: nested values as arrays and objects (MAP keys as member names),
// numbers as numbers (NaN and infinities as strings), everything else as JSON strings of its
// VARCHAR cast; SQL NULL as null.
std::string VectorValueJson(duckdb_vector vector, duckdb_logical_type type, idx_t row) {
  std::string out;
  AppendJson(out, vector, type, row);
  return out;
}

}  // namespace quarry::engine::detail
