// Fixture for scripts/check_layering.py: the server may not see Git.
#include "server/server.h"
#include "gitsource/url.h"
