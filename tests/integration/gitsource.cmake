stackctl_integration_test(NAME gitsource_integration_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/gitsource_test.cc
  DEPS stackctl_gitsource)
