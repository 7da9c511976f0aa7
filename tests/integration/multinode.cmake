# stackctl deploy on a three-node swarm it starts itself (tests/testbed/multinode-up.sh).
stackctl_integration_test(NAME multinode_test SERIAL
  SRCS ${CMAKE_CURRENT_LIST_DIR}/multinode_test.cc)
