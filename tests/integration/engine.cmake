# DockerEngine and `stackctl version` against the test-bed dockerd.
stackctl_integration_test(NAME engine_test
  SRCS integration/engine_test.cc
  DEPS stackctl_engineapi)
