# One helper to declare a module library and its unit tests (abseil style).
#
#   stackctl_library(NAME common
#     SRCS status.cc ...          # library sources
#     DEPS OpenSSL::Crypto ...     # public link deps
#     TESTS status_test.cc ...     # gtest sources, one binary per module: <name>_test
#     TEST_DEPS ...)
#
# Tests labelled "unit" are hermetic; integration tests live in tests/ and are
# labelled "integration" (they need the test bed, see tests/testbed/).
include(GoogleTest)

function(stackctl_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;TESTS;TEST_DEPS" ${ARGN})
  set(lib stackctl_${A_NAME})
  add_library(${lib} STATIC ${A_SRCS})
  target_include_directories(${lib} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${lib} PUBLIC ${A_DEPS})
  if(A_TESTS)
    set(t ${A_NAME}_test)
    add_executable(${t} ${A_TESTS})
    target_link_libraries(${t} PRIVATE ${lib} ${A_TEST_DEPS} GTest::gmock GTest::gtest_main)
    target_compile_definitions(${t} PRIVATE STACKCTL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
    gtest_discover_tests(${t} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# stackctl_fuzzer(NAME fuzz_compose SRCS fuzz_compose.cc DEPS stackctl_compose)
# libFuzzer target, built only with -DSTACKCTL_FUZZ=ON and clang (scripts/fuzz.sh
# builds them with ASan+UBSan and runs each; CI runs a short smoke period).
function(stackctl_fuzzer)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT STACKCTL_FUZZ)
    return()
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  target_compile_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  set_property(GLOBAL APPEND PROPERTY STACKCTL_FUZZERS ${A_NAME})
endfunction()
