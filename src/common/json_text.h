// Appending JSON string literals by hand, for the few hot paths (access log lines, /v1/me) where
// building a JSON document object per request costs more than the request itself.
#pragma once

#include <string>
#include <string_view>

namespace quarry {

// Appends `s` as a quoted JSON string, escaping quotes, backslashes and control characters.
// Bytes >= 0x80 are copied as they are (callers pass UTF-8).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace quarry
