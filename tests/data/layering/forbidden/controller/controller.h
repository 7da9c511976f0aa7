// Fixture for scripts/check_layering.py: of the server, the controller sees
// only the API interface.
#include "server/controller_api.h"
#include "server/server.h"
