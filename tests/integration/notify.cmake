pkg_check_modules(NOTIFY_IT_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
stackctl_integration_test(NAME notify_integration_test SRCS integration/notify_test.cc
  DEPS OpenSSL::Crypto PkgConfig::NOTIFY_IT_HTTPLIB Threads::Threads)
