# Fault scenarios for stackctl deploy on the test bed (they restart dockerd: serial).
stackctl_integration_test(NAME faults_test SERIAL
  SRCS ${CMAKE_CURRENT_LIST_DIR}/faults_test.cc
  DEPS nlohmann_json::nlohmann_json)
