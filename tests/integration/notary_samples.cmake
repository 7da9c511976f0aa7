# TufClient and NotaryVerifier over the TUF metadata the test bed's notary
# servers signed (notary-up.sh saves it; STACKCTL_TEST_NOTARY_SAMPLES).
stackctl_integration_test(NAME notary_samples_test
  SRCS integration/notary_samples_test.cc
  DEPS stackctl_notary stackctl_engineapi)
