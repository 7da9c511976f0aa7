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

}  // namespace stackctl
