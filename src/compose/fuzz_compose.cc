// libFuzzer target: arbitrary bytes as a compose file through the whole
// loader (YAML, merge keys, interpolation, validation, normalization).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/file_source.h"
#include "compose/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stackctl;
  MemoryFileSource fs;
  fs.Put("docker-compose.yml", std::string(reinterpret_cast<const char*>(data), size));
  fs.Put("s.txt", "secret");
  compose::LoadOptions o;
  o.files = {"docker-compose.yml"};
  o.env = {{"HOME", "/root"}, {"A", "1"}};
  o.max_yaml_nodes = 20000;
  (void)compose::LoadProject(o, fs);
  return 0;
}
