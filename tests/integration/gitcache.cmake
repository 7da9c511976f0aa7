# stackctld repairs its own Git cache: damaged caches over file:// and http://, a wrong token.
stackctl_integration_test(NAME gitcache_test SRCS ${CMAKE_CURRENT_LIST_DIR}/gitcache_test.cc)
