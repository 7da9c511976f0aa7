// glibc allocator settings for the long-running controller.
//
// stackctld reads a stack's whole live state and renders its whole desired
// state on every reconcile (megabytes for 1,000 services), on a worker thread
// while HTTP, event and writer threads allocate too. glibc gives each thread
// that contends an arena of its own and keeps freed memory in them, so RSS
// stays near the peak of every thread added up. Both calls do nothing under
// AddressSanitizer, whose allocator is not glibc's.
#pragma once

namespace stackctl {

// Caps glibc's malloc arenas (M_ARENA_MAX). Call before threads start.
void LimitMallocArenas(int arenas);
// Returns freed heap memory to the system (malloc_trim).
void ReleaseFreedMemory();

// libcurl links librtmp and libldap, which link gnutls; gnutls initializes
// itself, p11-kit included, in a library constructor: about 0.6 MiB of RSS
// in stackctld, which never calls gnutls (its TLS is OpenSSL's). gnutls skips
// that when GNUTLS_NO_IMPLICIT_INIT=1 is in the environment at exec time,
// before main() can set anything; so this sets it and execs the same binary
// again (same pid and arguments). Returns at once when the variable is
// already set, and when the exec fails (the process goes on as it is).
// Call first thing in main(), before any thread starts.
void SkipGnutlsImplicitInit(char** argv);

}  // namespace stackctl
