stackctl_integration_test(NAME cosign_test
  SRCS integration/cosign_test.cc integration/registry_pusher.cc
  DEPS stackctl_notary CURL::libcurl)
