#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------------ Status/Result

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.category(), ErrorCode::kOk);
  EXPECT_EQ(s.code(), "");
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, ErrorCarriesCategoryCodeMessageAndDetails) {
  Status s = NotFound("thing_not_found", "no such thing");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.category(), ErrorCode::kNotFound);
  EXPECT_EQ(s.code(), "thing_not_found");
  EXPECT_EQ(s.message(), "no such thing");
  EXPECT_TRUE(s.details().empty());
  EXPECT_EQ(s.ToString(), "thing_not_found: no such thing");

  Status with = InvalidArgument("invalid_x", "bad x").WithDetail("field", "x");
  ASSERT_EQ(with.details().size(), 1u);
  EXPECT_EQ(with.details().at("field"), "x");
  with.WithDetail("field", "y").WithDetail("other", "z");  // lvalue overload, overwrite
  EXPECT_EQ(with.details().at("field"), "y");
  EXPECT_EQ(with.details().at("other"), "z");
}

TEST(StatusTest, ConvenienceConstructorsSetCategory) {
  struct Case {
    Status status;
    ErrorCode expected;
  };
  const std::vector<Case> cases = {
      {InvalidArgument("c", "m"), ErrorCode::kInvalidArgument},
      {NotFound("c", "m"), ErrorCode::kNotFound},
      {AlreadyExists("c", "m"), ErrorCode::kAlreadyExists},
      {PermissionDenied("c", "m"), ErrorCode::kPermissionDenied},
      {Unauthenticated("c", "m"), ErrorCode::kUnauthenticated},
      {FailedPrecondition("c", "m"), ErrorCode::kFailedPrecondition},
      {Unavailable("c", "m"), ErrorCode::kUnavailable},
      {Internal("c", "m"), ErrorCode::kInternal},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.status.category(), c.expected);
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), "c");
    EXPECT_EQ(c.status.message(), "m");
  }
}

TEST(StatusTest, HttpStatusForEveryErrorCode) {
  struct Case {
    ErrorCode code;
    int http;
  };
  const std::vector<Case> cases = {
      {ErrorCode::kOk, 200},
      {ErrorCode::kInvalidArgument, 400},
      {ErrorCode::kUnauthenticated, 401},
      {ErrorCode::kPermissionDenied, 403},
      {ErrorCode::kNotFound, 404},
      {ErrorCode::kAlreadyExists, 409},
      {ErrorCode::kFailedPrecondition, 409},
      {ErrorCode::kMethodNotAllowed, 405},
      {ErrorCode::kPayloadTooLarge, 413},
      {ErrorCode::kHeadersTooLarge, 431},
      {ErrorCode::kUnsupportedMediaType, 415},
      {ErrorCode::kPreconditionFailed, 412},
      {ErrorCode::kResourceExhausted, 429},
      {ErrorCode::kUnavailable, 503},
      {ErrorCode::kInternal, 500},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(HttpStatusFor(c.code), c.http) << "ErrorCode " << static_cast<int>(c.code);
    // Every category has a non-empty title.
    EXPECT_STRNE(TitleFor(c.code), "") << "ErrorCode " << static_cast<int>(c.code);
  }
  EXPECT_STREQ(TitleFor(ErrorCode::kNotFound), "Not Found");
  EXPECT_STREQ(TitleFor(ErrorCode::kUnauthenticated), "Unauthorized");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> value(42);
  EXPECT_TRUE(value.ok());
  EXPECT_TRUE(static_cast<bool>(value));
  EXPECT_EQ(*value, 42);
  EXPECT_EQ(value.value(), 42);
  EXPECT_TRUE(value.status().ok());

  Result<int> error(NotFound("missing", "gone"));
  EXPECT_FALSE(error.ok());
  EXPECT_FALSE(static_cast<bool>(error));
  EXPECT_EQ(error.status().category(), ErrorCode::kNotFound);
  EXPECT_EQ(error.status().code(), "missing");

  Result<std::string> text(std::string("hello"));
  EXPECT_EQ(text->size(), 5u);
  std::string moved = std::move(text).value();
  EXPECT_EQ(moved, "hello");
}

Status FailIf(bool fail, int* reached) {
  QUARRY_RETURN_IF_ERROR(fail ? Internal("boom", "failed") : Status::Ok());
  ++*reached;
  return Status::Ok();
}

TEST(MacrosTest, ReturnIfErrorReturnsEarlyOnlyOnError) {
  int reached = 0;
  EXPECT_TRUE(FailIf(false, &reached).ok());
  EXPECT_EQ(reached, 1);
  Status s = FailIf(true, &reached);
  EXPECT_EQ(s.code(), "boom");
  EXPECT_EQ(s.category(), ErrorCode::kInternal);
  EXPECT_EQ(reached, 1);  // the line after the macro did not run
}

Result<int> Half(int n) {
  if (n % 2 != 0) return InvalidArgument("odd", "not even");
  return n / 2;
}

Result<int> Quarter(int n, int* reached) {
  QUARRY_ASSIGN_OR_RETURN(int half, Half(n));
  ++*reached;
  QUARRY_ASSIGN_OR_RETURN(int quarter, Half(half));  // two uses in one function
  ++*reached;
  return quarter;
}

TEST(MacrosTest, AssignOrReturnAssignsOrPropagates) {
  int reached = 0;
  auto ok = Quarter(8, &reached);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  EXPECT_EQ(reached, 2);

  reached = 0;
  auto first_fails = Quarter(3, &reached);
  EXPECT_EQ(first_fails.status().code(), "odd");
  EXPECT_EQ(reached, 0);

  reached = 0;
  auto second_fails = Quarter(6, &reached);  // 6 -> 3 -> odd
  EXPECT_EQ(second_fails.status().code(), "odd");
  EXPECT_EQ(second_fails.status().category(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(reached, 1);
}

// ---------------------------------------------------------------------------------------- ids

constexpr std::string_view kCrockford = "0123456789abcdefghjkmnpqrstvwxyz";

TEST(IdsTest, NewIdHasPrefixAndCrockfordBody) {
  const std::string id = NewId("ten", 1'767'225'600'000);
  ASSERT_EQ(id.size(), 3u + 1 + 26);
  EXPECT_EQ(id.substr(0, 4), "ten_");
  for (char c : id.substr(4)) {
    EXPECT_NE(kCrockford.find(c), std::string_view::npos) << "unexpected character " << c;
  }
  EXPECT_TRUE(LooksLikeId(id, "ten"));
  EXPECT_FALSE(LooksLikeId(id, "usr"));
  EXPECT_FALSE(LooksLikeId(id, "te"));
}

TEST(IdsTest, NewIdsAreUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(NewId("key", 1'767'225'600'000));
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(IdsTest, NewIdEncodesTimeSoIdsSortByCreationTime) {
  // Increasing times, including steps across 5-bit digit boundaries and large jumps.
  const std::vector<UnixMillis> times = {0,
                                         1,
                                         31,
                                         32,
                                         1023,
                                         1024,
                                         1'000'000,
                                         1'767'225'600'000,
                                         1'767'225'600'001,
                                         1'767'225'601'000,
                                         4'102'444'800'000};
  std::vector<std::string> ids;
  for (UnixMillis t : times) ids.push_back(NewId("usr", t));
  for (std::size_t i = 1; i < ids.size(); ++i) {
    EXPECT_LT(ids[i - 1], ids[i]) << "time " << times[i - 1] << " vs " << times[i];
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  // The time part of time 0 is all zeros; a negative time is clamped to 0.
  EXPECT_EQ(ids[0].substr(4, 10), "0000000000");
  EXPECT_EQ(NewId("usr", -5).substr(4, 10), "0000000000");
}

TEST(IdsTest, SameMillisecondIdsShareTimePart) {
  const std::string a = NewId("ds", 1'767'225'600'000);
  const std::string b = NewId("ds", 1'767'225'600'000);
  EXPECT_EQ(a.substr(0, 3 + 10), b.substr(0, 3 + 10));
  EXPECT_NE(a, b);
}

TEST(IdsTest, LooksLikeIdRejectsWrongShapes) {
  const std::string good = "ten_" + std::string(26, '0');
  EXPECT_TRUE(LooksLikeId(good, "ten"));
  const std::vector<std::string> bad = {
      "",
      "ten_",
      "ten_" + std::string(25, '0'),        // too short
      "ten_" + std::string(27, '0'),        // too long
      "ten-" + std::string(26, '0'),        // wrong separator
      "usr_" + std::string(26, '0'),        // wrong prefix
      "ten_" + std::string(25, '0') + "u",  // 'u' is not Crockford
      "ten_" + std::string(25, '0') + "A",  // upper case is not produced
      "ten_" + std::string(25, '0') + "i",  // 'i', 'l', 'o' are excluded
      "ten_" + std::string(25, '0') + "/",
  };
  for (const auto& id : bad) EXPECT_FALSE(LooksLikeId(id, "ten")) << id;
}

TEST(IdsTest, RandomAlphanumericLengthAndCharset) {
  for (std::size_t n : {0u, 1u, 12u, 32u, 63u, 64u, 65u, 500u}) {
    const std::string s = RandomAlphanumeric(n);
    ASSERT_EQ(s.size(), n);
    for (char c : s) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
          << "unexpected character " << static_cast<int>(c);
    }
  }
  // 32 random alphanumerics colliding would mean the generator is broken.
  EXPECT_NE(RandomAlphanumeric(32), RandomAlphanumeric(32));
  // Over many characters, all three classes appear.
  const std::string many = RandomAlphanumeric(5000);
  EXPECT_TRUE(std::any_of(many.begin(), many.end(), [](char c) { return c >= 'a' && c <= 'z'; }));
  EXPECT_TRUE(std::any_of(many.begin(), many.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  EXPECT_TRUE(std::any_of(many.begin(), many.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

TEST(IdsTest, Sha256HexKnownVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Binary input with an embedded NUL hashes all bytes.
  EXPECT_NE(Sha256Hex(std::string_view("a\0b", 3)), Sha256Hex("a"));
}

TEST(IdsTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "Secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret "));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

// -------------------------------------------------------------------------------------- clock

TEST(ClockTest, FormatRfc3339) {
  struct Case {
    UnixMillis t;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {0, "1970-01-01T00:00:00.000Z"},
      {1, "1970-01-01T00:00:00.001Z"},
      {1'767'225'600'000, "2026-01-01T00:00:00.000Z"},
      {1'767'225'600'123, "2026-01-01T00:00:00.123Z"},
      {951'827'696'789, "2000-02-29T12:34:56.789Z"},  // leap day
      {1'735'689'599'999, "2024-12-31T23:59:59.999Z"},
      {-1, "1969-12-31T23:59:59.999Z"},  // before the epoch: millis stay in 0..999
      {-1000, "1969-12-31T23:59:59.000Z"},
  };
  for (const auto& c : cases) EXPECT_EQ(FormatRfc3339(c.t), c.expected) << c.t;
}

TEST(ClockTest, SimulatedClockStandsStillUntilAdvanced) {
  SimulatedClock clock;
  EXPECT_EQ(clock.NowMillis(), 1'767'225'600'000);
  EXPECT_EQ(FormatRfc3339(clock.NowMillis()), "2026-01-01T00:00:00.000Z");
  const auto steady0 = clock.SteadyNow();
  EXPECT_EQ(clock.NowMillis(), 1'767'225'600'000);  // no drift between reads

  clock.Advance(1500ms);
  EXPECT_EQ(clock.NowMillis(), 1'767'225'601'500);
  EXPECT_EQ(clock.SteadyNow() - steady0, std::chrono::milliseconds(1500));

  clock.Advance(std::chrono::hours(24));
  EXPECT_EQ(FormatRfc3339(clock.NowMillis()), "2026-01-02T00:00:01.500Z");
  EXPECT_EQ(clock.SteadyNow() - steady0, std::chrono::milliseconds(86'401'500));
}

TEST(ClockTest, SimulatedClockCustomStart) {
  SimulatedClock clock(0);
  EXPECT_EQ(clock.NowMillis(), 0);
  clock.Advance(1ms);
  EXPECT_EQ(FormatRfc3339(clock.NowMillis()), "1970-01-01T00:00:00.001Z");
}

TEST(ClockTest, SystemClockIsPlausible) {
  // After 2024-01-01 and before 2100: no sleeping, just a sanity check of the unit (ms).
  const UnixMillis now = SystemClock::Instance().NowMillis();
  EXPECT_GT(now, 1'704'067'200'000);
  EXPECT_LT(now, 4'102'444'800'000);
  EXPECT_EQ(&SystemClock::Instance(), &SystemClock::Instance());
}

}  // namespace
}  // namespace quarry

namespace quarry {
namespace {
TEST(HttpDate, FormatsImfFixdate) {
  EXPECT_EQ(FormatHttpDate(1'403'712'000'000), "Wed, 25 Jun 2014 16:00:00 GMT");
  EXPECT_EQ(FormatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}
}  // namespace
}  // namespace quarry
