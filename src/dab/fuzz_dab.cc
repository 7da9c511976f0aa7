// libFuzzer target: arbitrary bytes as a DAB bundle.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dab/bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)stackctl::dab::LoadBundle(std::string(reinterpret_cast<const char*>(data), size), "fuzz.dab");
  return 0;
}
