#include "common/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#define STACKCTL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STACKCTL_ASAN 1
#endif
#endif

namespace stackctl {

void LimitMallocArenas(int arenas) {
#ifndef STACKCTL_ASAN
  mallopt(M_ARENA_MAX, arenas);
#else
  (void)arenas;
#endif
}

void ReleaseFreedMemory() {
#ifndef STACKCTL_ASAN
  // Under ASan glibc's malloc_trim would work on arenas glibc never set up and
  // trips glibc's own assertions at thread exit.
  malloc_trim(0);
#endif
}

void SkipGnutlsImplicitInit(char** argv) {
  if (std::getenv("GNUTLS_NO_IMPLICIT_INIT") != nullptr) return;
  if (setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // No /proc: run with gnutls initialized, as before.
}

}  // namespace stackctl
