stackctl_integration_test(NAME controller_integration_test SRCS integration/controller_test.cc DEPS OpenSSL::Crypto)
