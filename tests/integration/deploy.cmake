stackctl_integration_test(NAME deploy_test SRCS integration/deploy_test.cc)
