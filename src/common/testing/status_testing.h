// Assertions on Status values for GoogleTest tests (header-only; include from tests only).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/status.h"

// Fails the test (and returns from it) when `expr` is not OK, printing the status.
#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const ::quarry::Status assert_ok_status_ = (expr);                   \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

namespace quarry::testing {

// `s` failed with `category` and the stable `code`.
inline void ExpectError(const Status& s, ErrorCode category, const std::string& code) {
  EXPECT_EQ(s.category(), category) << s.ToString();
  EXPECT_EQ(s.code(), code) << s.ToString();
}

}  // namespace quarry::testing
