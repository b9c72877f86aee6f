# Turns a text file into a C++ source defining `std::string_view quarry::EmbeddedOpenApiDocument()`.
file(READ ${INPUT} content)
set(delim "QUARRY_EMBED")
string(FIND "${content}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE ${OUTPUT} "// Generated from ${INPUT}; do not edit.\n#include <string_view>\nnamespace quarry::api {\nstd::string_view EmbeddedOpenApiDocument() {\n  static constexpr char kText[] = R\"${delim}(${content})${delim}\";\n  return {kText, sizeof(kText) - 1};\n}\n}  // namespace quarry::api\n")
