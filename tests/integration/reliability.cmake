# Issue 23 on the test bed: rollback then redeploy, rm against a controller
# sync, an event stream cut mid-way (about two minutes).
stackctl_integration_test(NAME reliability_test SRCS integration/reliability_test.cc)
