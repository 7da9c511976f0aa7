stackctl_integration_test(NAME adopt_test SRCS integration/adopt_test.cc)
