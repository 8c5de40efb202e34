#ifndef ATTUNE_ALLOC_COUNTER_H
#define ATTUNE_ALLOC_COUNTER_H
#include <stdint.h>
#include <spawn.h>

/// Starts counting heap allocations made by the calling thread (resets the count).
void attune_alloc_counter_start(void);
/// Stops counting on the calling thread and returns how many allocations it saw.
uint64_t attune_alloc_counter_stop(void);

/// The calling thread's timer slack in nanoseconds (prctl(PR_GET_TIMERSLACK), which Swift cannot call: it is
/// variadic). Here because this is the tests' one C module.
long attune_test_timer_slack(void);

/// Adds a close of every descriptor from `lowest` up to the spawn's file actions (glibc's
/// posix_spawn_file_actions_addclosefrom_np, hidden from Swift behind _GNU_SOURCE).
int attune_test_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

#endif
