# Cosign verification against docker-registry with htpasswd (Basic) and token
# (Bearer, tests/tools/registry_token_server.py) auth (issue 20).
stackctl_integration_test(NAME registry_auth_test
  SRCS integration/registry_auth_test.cc integration/registry_pusher.cc
  DEPS stackctl_notary CURL::libcurl)
