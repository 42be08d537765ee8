// libFuzzer target for the gateway's parser of client messages: every input
// either parses or is an InvalidArgument error, and what parses re-encodes
// to the same bytes (the format has one encoding per message).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "oriel/display/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = oriel::display::parse_client_message(bytes);
  if (!parsed.ok()) {
    if (parsed.error().code() != oriel::ErrorCode::kInvalidArgument || parsed.error().message().empty()) std::abort();
    return 0;
  }
  if (oriel::display::encode_client_message(*parsed) != bytes) std::abort();
  return 0;
}
