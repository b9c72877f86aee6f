#include "api/json_io.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace quarry::api {
namespace {

http::Request WithBody(std::string body) {
  http::Request r;
  r.method = "POST";
  r.path = "/v1/things";
  r.body = std::move(body);
  return r;
}

http::Request WithQuery(std::map<std::string, std::string> query) {
  http::Request r;
  r.method = "GET";
  r.path = "/v1/things";
  r.query = std::move(query);
  return r;
}

boost::json::object Parse(const std::string& body) {
  auto parsed = ParseJsonObject(WithBody(body));
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? *parsed : boost::json::object{};
}

void ExpectInvalid(const Status& status, const std::string& code, const std::string& field) {
  ASSERT_FALSE(status.ok()) << "expected " << code;
  EXPECT_EQ(status.category(), ErrorCode::kInvalidArgument) << status.ToString();
  EXPECT_EQ(status.code(), code) << status.ToString();
  if (!field.empty()) {
    ASSERT_EQ(status.details().count("field"), 1u) << status.ToString();
    EXPECT_EQ(status.details().at("field"), field);
    EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
  }
}

// Nested objects {"a":{"a":...{}}} with `depth` levels, the outermost counting as 1.
std::string NestedObjects(int depth) {
  std::string s;
  for (int i = 1; i < depth; ++i) s += "{\"a\":";
  s += "{}";
  for (int i = 1; i < depth; ++i) s += "}";
  return s;
}

// ----------------------------------------------------------------------------- ParseJsonObject

TEST(ParseJsonObjectTest, AcceptsAnObject) {
  auto object = Parse("{\"name\": \"x\", \"n\": 3, \"list\": [1, 2], \"nested\": {\"k\": null}}");
  EXPECT_EQ(object.at("name").as_string(), "x");
  EXPECT_EQ(object.at("n").as_int64(), 3);
  EXPECT_EQ(object.at("list").as_array().size(), 2u);
  EXPECT_TRUE(object.at("nested").as_object().at("k").is_null());
  // Surrounding whitespace is fine.
  EXPECT_TRUE(ParseJsonObject(WithBody("  \n{}\n  ")).ok());
  EXPECT_TRUE(ParseJsonObject(WithBody("{}")).ok());
}

TEST(ParseJsonObjectTest, EmptyBody) {
  auto parsed = ParseJsonObject(WithBody(""));
  ExpectInvalid(parsed.status(), "invalid_json", "");
  EXPECT_NE(parsed.status().message().find("empty"), std::string::npos);
}

TEST(ParseJsonObjectTest, SyntaxErrorReportsLineAndColumn) {
  struct Case {
    std::string body;
    std::string line;
    std::string column;
  };
  const std::vector<Case> cases = {
      {"{\"a\": }", "1", "7"},                      // the '}' where a value belongs
      {"{\"a\" 1}", "1", "6"},                      // missing ':'
      {"{\n  \"a\": 1,\n  \"b\": x\n}", "3", "8"},  // on the third line
      {"{\n\n\n   ]", "4", "4"},
      {"{'a': 1}", "1", "2"},  // single quotes are not JSON
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto parsed = ParseJsonObject(WithBody(c.body));
    ExpectInvalid(parsed.status(), "invalid_json", "");
    if (parsed.ok()) continue;
    const auto& details = parsed.status().details();
    ASSERT_EQ(details.count("line"), 1u);
    ASSERT_EQ(details.count("column"), 1u);
    EXPECT_EQ(details.at("line"), c.line);
    EXPECT_EQ(details.at("column"), c.column);
    EXPECT_NE(parsed.status().message().find("line " + c.line + ", column " + c.column), std::string::npos)
        << parsed.status().message();
  }
}

TEST(ParseJsonObjectTest, IncompleteDocumentIsAnError) {
  for (const std::string body : {"{", "{\"a\": 1", "{\"a\": \"unterminated}", "{\"a\":"}) {
    SCOPED_TRACE(body);
    auto parsed = ParseJsonObject(WithBody(body));
    ExpectInvalid(parsed.status(), "invalid_json", "");
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().details().count("line"), 1u);
    }
  }
}

TEST(ParseJsonObjectTest, TrailingGarbageIsRejected) {
  for (const std::string body : {"{} x", "{}{}", "{\"a\":1}\n,", "{} []", "{}\n\nnull"}) {
    SCOPED_TRACE(body);
    ExpectInvalid(ParseJsonObject(WithBody(body)).status(), "invalid_json", "");
  }
  // The reported position is where the extra data starts.
  auto parsed = ParseJsonObject(WithBody("{}\n  x"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().details().at("line"), "2");
  EXPECT_EQ(parsed.status().details().at("column"), "3");
}

TEST(ParseJsonObjectTest, NonObjectIsRejected) {
  for (const std::string body : {"[]", "[{}]", "1", "\"text\"", "null", "true"}) {
    SCOPED_TRACE(body);
    auto parsed = ParseJsonObject(WithBody(body));
    ExpectInvalid(parsed.status(), "invalid_json", "");
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().message().find("object"), std::string::npos);
    }
  }
}

TEST(ParseJsonObjectTest, NotJsonExtensions) {
  for (const std::string body :
       {"{/* comment */}", "{\"a\": 1,}", "{\"a\": NaN}", "{\"a\": 01}", "{\"a\": \"\xff\"}"}) {
    SCOPED_TRACE(body);
    ExpectInvalid(ParseJsonObject(WithBody(body)).status(), "invalid_json", "");
  }
}

TEST(ParseJsonObjectTest, NestingLimitIs32) {
  EXPECT_TRUE(ParseJsonObject(WithBody(NestedObjects(32))).ok());
  ExpectInvalid(ParseJsonObject(WithBody(NestedObjects(33))).status(), "invalid_json", "");
  ExpectInvalid(ParseJsonObject(WithBody(NestedObjects(1000))).status(), "invalid_json", "");
  // Arrays count too.
  std::string arrays = "{\"a\":" + std::string(32, '[') + std::string(32, ']') + "}";
  ExpectInvalid(ParseJsonObject(WithBody(arrays)).status(), "invalid_json", "");
  std::string shallow = "{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}";
  EXPECT_TRUE(ParseJsonObject(WithBody(shallow)).ok());
}

// ---------------------------------------------------------------------------------- FieldReader

TEST(FieldReaderTest, StringFields) {
  auto object =
      Parse("{\"name\": \"Acme\", \"empty\": \"\", \"nothing\": null, \"number\": 5, \"list\": [\"a\"]}");
  FieldReader fields(object);
  auto name = fields.String("name", true);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, std::optional<std::string>("Acme"));
  auto empty = fields.String("empty", true);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, std::optional<std::string>(""));

  auto absent = fields.String("absent");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  ExpectInvalid(fields.String("absent", true).status(), "invalid_field", "absent");
  // null is the same as absent.
  auto null_optional = fields.String("nothing");
  ASSERT_TRUE(null_optional.ok());
  EXPECT_FALSE(null_optional->has_value());
  ExpectInvalid(fields.String("nothing", true).status(), "invalid_field", "nothing");

  ExpectInvalid(fields.String("number").status(), "invalid_field", "number");
  ExpectInvalid(fields.String("list").status(), "invalid_field", "list");
}

TEST(FieldReaderTest, IntFields) {
  auto object = Parse(
      "{\"days\": 30, \"zero\": 0, \"negative\": -5, \"text\": \"30\", \"fraction\": 1.5, "
      "\"whole_double\": 2.0, \"bool\": true, \"array\": [1], \"huge\": 18446744073709551615, "
      "\"max\": 9223372036854775807, \"nothing\": null}");
  FieldReader fields(object);
  auto days = fields.Int("days", 1, 3650);
  ASSERT_TRUE(days.ok());
  EXPECT_EQ(*days, std::optional<std::int64_t>(30));

  auto absent = fields.Int("absent", 1, 10);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  auto null_value = fields.Int("nothing", 1, 10);
  ASSERT_TRUE(null_value.ok());
  EXPECT_FALSE(null_value->has_value());

  // Range bounds are inclusive.
  EXPECT_TRUE(fields.Int("days", 30, 30).ok());
  ExpectInvalid(fields.Int("days", 31, 100).status(), "invalid_field", "days");
  ExpectInvalid(fields.Int("days", 1, 29).status(), "invalid_field", "days");
  ExpectInvalid(fields.Int("zero", 1, 10).status(), "invalid_field", "zero");
  ExpectInvalid(fields.Int("negative", 0, 10).status(), "invalid_field", "negative");
  auto negative = fields.Int("negative", -10, 10);
  ASSERT_TRUE(negative.ok());
  EXPECT_EQ(*negative, std::optional<std::int64_t>(-5));

  for (const char* wrong : {"text", "fraction", "whole_double", "bool", "array", "huge"}) {
    SCOPED_TRACE(wrong);
    ExpectInvalid(
        fields.Int(wrong, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max())
            .status(),
        "invalid_field", wrong);
  }
  auto max = fields.Int("max", 0, std::numeric_limits<std::int64_t>::max());
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(*max, std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::max()));
}

TEST(FieldReaderTest, StringArrayFields) {
  auto object = Parse(
      "{\"scopes\": [\"read\", \"write\"], \"empty\": [], \"mixed\": [\"read\", 1], "
      "\"not_array\": \"read\", \"nested\": [[\"read\"]], \"nothing\": null, "
      "\"nine\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}");
  FieldReader fields(object);
  auto scopes = fields.StringArray("scopes", 8);
  ASSERT_TRUE(scopes.ok());
  ASSERT_TRUE(scopes->has_value());
  EXPECT_EQ(**scopes, (std::vector<std::string>{"read", "write"}));

  auto empty = fields.StringArray("empty", 8);
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(empty->has_value());
  EXPECT_TRUE((*empty)->empty());

  auto absent = fields.StringArray("absent", 8);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  auto null_value = fields.StringArray("nothing", 8);
  ASSERT_TRUE(null_value.ok());
  EXPECT_FALSE(null_value->has_value());

  // The item limit is inclusive.
  EXPECT_TRUE(fields.StringArray("scopes", 2).ok());
  ExpectInvalid(fields.StringArray("scopes", 1).status(), "invalid_field", "scopes");
  ExpectInvalid(fields.StringArray("nine", 8).status(), "invalid_field", "nine");
  EXPECT_TRUE(fields.StringArray("nine", 9).ok());

  ExpectInvalid(fields.StringArray("mixed", 8).status(), "invalid_field", "mixed");
  ExpectInvalid(fields.StringArray("not_array", 8).status(), "invalid_field", "not_array");
  ExpectInvalid(fields.StringArray("nested", 8).status(), "invalid_field", "nested");
}

TEST(FieldReaderTest, UnknownFieldIsRejectedWithItsName) {
  auto object = Parse("{\"email\": \"a@b.c\", \"role\": \"viewer\", \"team\": \"x\"}");
  FieldReader fields(object);
  ASSERT_TRUE(fields.String("email", true).ok());
  ASSERT_TRUE(fields.String("role", true).ok());
  Status st = fields.RejectUnknownFields();
  ExpectInvalid(st, "unknown_field", "team");
  // The message lists the known fields.
  EXPECT_NE(st.message().find("email, role"), std::string::npos) << st.message();
}

TEST(FieldReaderTest, KnownFieldsPass) {
  auto object = Parse("{\"email\": \"a@b.c\", \"role\": \"viewer\"}");
  FieldReader fields(object);
  ASSERT_TRUE(fields.String("email", true).ok());
  ASSERT_TRUE(fields.String("role").ok());
  ASSERT_TRUE(fields.Int("expires_in_days", 1, 10).ok());  // read but absent: still fine
  EXPECT_TRUE(fields.RejectUnknownFields().ok());
}

TEST(FieldReaderTest, FieldReadWithTheWrongTypeStillCountsAsKnown) {
  auto object = Parse("{\"name\": 1}");
  FieldReader fields(object);
  EXPECT_FALSE(fields.String("name").ok());
  EXPECT_TRUE(fields.RejectUnknownFields().ok());
}

TEST(FieldReaderTest, LongUnknownFieldNameIsTruncated) {
  const std::string long_name(500, 'z');
  auto object = Parse("{\"" + long_name + "\": 1}");
  FieldReader fields(object);
  Status st = fields.RejectUnknownFields();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), "unknown_field");
  EXPECT_EQ(st.details().at("field"), std::string(64, 'z'));
  EXPECT_EQ(st.message().find(std::string(65, 'z')), std::string::npos);
}

// ------------------------------------------------------------------------------------ ParsePage

TEST(ParsePageTest, Defaults) {
  auto page = ParsePage(WithQuery({}));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->limit, 100);
  EXPECT_EQ(page->after_id, "");
}

TEST(ParsePageTest, ValidLimitsAndCursor) {
  for (const auto& [text, expected] :
       std::vector<std::pair<std::string, int>>{{"1", 1}, {"50", 50}, {"1000", 1000}}) {
    auto page = ParsePage(WithQuery({{"limit", text}}));
    ASSERT_TRUE(page.ok()) << text;
    EXPECT_EQ(page->limit, expected);
  }
  auto page = ParsePage(WithQuery({{"cursor", "usr_01jd5w7k3a9x2m4q8r7t6v5b4c"}, {"limit", "10"}}));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->after_id, "usr_01jd5w7k3a9x2m4q8r7t6v5b4c");
  EXPECT_EQ(page->limit, 10);
  auto max_cursor = ParsePage(WithQuery({{"cursor", std::string(64, 'c')}}));
  ASSERT_TRUE(max_cursor.ok());
  EXPECT_EQ(max_cursor->after_id.size(), 64u);
}

TEST(ParsePageTest, InvalidLimits) {
  for (const std::string text :
       {"0", "1001", "-1", "abc", "", "10x", " 10", "10 ", "+10", "1e3", "1.5", "99999999999999999999"}) {
    SCOPED_TRACE("limit='" + text + "'");
    auto page = ParsePage(WithQuery({{"limit", text}}));
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(page.status().category(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(page.status().code(), "invalid_limit");
  }
}

TEST(ParsePageTest, CursorTooLong) {
  auto page = ParsePage(WithQuery({{"cursor", std::string(65, 'c')}}));
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), "invalid_cursor");
}

// --------------------------------------------------------------------------------------- ToJson

TEST(ToJsonTest, ApiKeyNeverIncludesTheSecretHash) {
  ApiKey key;
  key.id = "key_x";
  key.tenant_id = "ten_x";
  key.user_id = "usr_x";
  key.name = "k";
  key.prefix = "qk_abcdefabcdef";
  key.secret_hash = "deadbeef";
  key.scopes = {"read"};
  key.created_at = 0;
  key.expires_at = 1000;
  const std::string body = boost::json::serialize(ToJson(key));
  EXPECT_EQ(body.find("deadbeef"), std::string::npos) << body;
  EXPECT_EQ(body.find("secret"), std::string::npos) << body;
  auto json = ToJson(key);
  EXPECT_EQ(json.at("expires_at").as_string(), "1970-01-01T00:00:01.000Z");
  EXPECT_TRUE(json.at("revoked_at").is_null());
  EXPECT_TRUE(json.at("last_used_at").is_null());
  EXPECT_EQ(json.at("user_id").as_string(), "usr_x");

  key.user_id.clear();  // operator key
  EXPECT_TRUE(ToJson(key).at("user_id").is_null());
}

TEST(ToJsonTest, PageCursor) {
  Page<Tenant> page;
  page.items.push_back(Tenant{"ten_a", "a", "A", TenantStatus::kActive, 0, 0});
  auto json = PageToJson(page);
  EXPECT_EQ(json.at("items").as_array().size(), 1u);
  EXPECT_TRUE(json.at("next_cursor").is_null());
  page.next_cursor = "ten_a";
  EXPECT_EQ(PageToJson(page).at("next_cursor").as_string(), "ten_a");
}

}  // namespace
}  // namespace quarry::api
