// ParallelFor: runs fn(0) … fn(n-1) on at most `max_threads` threads and
// returns when all have finished. For independent engine writes (creating or
// updating the services of one wave, removing a stack's services): the engine
// commits each through Raft on its own, so a few in flight at once cut the
// wall time of a large stack several times over.
//
// fn must be safe to call concurrently for different indices; it must not
// throw. With max_threads <= 1 or n <= 1 everything runs on the caller's thread,
// in order.
#pragma once

#include <cstddef>
#include <functional>

namespace stackctl {

void ParallelFor(size_t n, size_t max_threads, const std::function<void(size_t)>& fn);

}  // namespace stackctl
