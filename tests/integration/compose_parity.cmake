stackctl_integration_test(NAME compose_parity_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/compose_parity_test.cc
  DEPS stackctl_model)
