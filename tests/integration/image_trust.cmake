# stackctld with cosign trust rules and a notification target (issues 20, 22).
pkg_check_modules(IMAGE_TRUST_IT_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
stackctl_integration_test(NAME image_trust_test
  SRCS integration/image_trust_test.cc integration/registry_pusher.cc
  DEPS stackctl_notary CURL::libcurl OpenSSL::Crypto PkgConfig::IMAGE_TRUST_IT_HTTPLIB Threads::Threads)
