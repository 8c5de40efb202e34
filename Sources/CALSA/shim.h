#include <alsa/asoundlib.h>
#include <stdarg.h>
#include <stdio.h>

// libasound prints its own diagnostics ("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM tap") to stderr,
// which in a daemon is noise outside its log format. attune_alsa_capture_errors() installs a handler that keeps
// the calling thread's last message instead, so a typed error can quote it (attune_alsa_last_error()).
// (The buffer is a function-local static: a file-scope one in a header is never emitted by Swift's importer.)
static inline char *attune_alsa_error_buffer(void) {
    static __thread char text[256];
    return text;
}

static void attune_alsa_error_handler(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    (void)file; (void)line; (void)function; (void)err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(attune_alsa_error_buffer(), 256, fmt, ap);
    va_end(ap);
}

static inline void attune_alsa_capture_errors(void) {
    snd_lib_error_set_handler(attune_alsa_error_handler);
}

/// The last message libasound reported on this thread ("" if none), cleared by attune_alsa_clear_error().
static inline const char *attune_alsa_last_error(void) { return attune_alsa_error_buffer(); }
static inline void attune_alsa_clear_error(void) { attune_alsa_error_buffer()[0] = 0; }

// Names the calling thread for top -H, ps -L and gdb (capture threads are "attune-capture"). Glibc's module
// declares pthread_setname_np only under _GNU_SOURCE, which Swift's import does not set.
#include <pthread.h>
extern int pthread_setname_np(pthread_t thread, const char *name);
static inline int attune_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

// Lets the kernel wake a paced replay a little late, so that one timer interrupt serves several (FileReplayCapture).
#include <sys/prctl.h>
static inline int attune_set_timer_slack(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }

// Caps glibc's malloc arenas for a process with a thread per call (see attuned's limitMallocArenas). Here beside
// the thread helper because Glibc's Swift module does not bring in <malloc.h>.
#include <malloc.h>
static inline int attune_limit_malloc_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }

// Stopping a capture thread that sits in a read the wake pipe cannot reach. Non-blocking PCMs are polled beside the
// wake pipe, but some plugins block inside snd_pcm_readi regardless of SND_PCM_NONBLOCK: the `file` plugin's
// `infile` is read with a plain blocking read(2) (pcm_file.c, "TODO: mind blocking mode"), under the PCM's own lock,
// so neither the pipe nor snd_pcm_drop from another thread (which waits for that lock) gets it out. A signal does:
// its handler does nothing, and being installed without SA_RESTART, the read fails with EINTR and the capture loop
// sees the stop flag. A real-time signal near SIGRTMAX, which none of the daemon's libraries use (swift-nio,
// Dispatch and service-lifecycle handle SIGTERM, SIGINT, SIGHUP and SIGPIPE only).
#include <signal.h>
#include <string.h>
#include <time.h>
extern int pthread_timedjoin_np(pthread_t thread, void **retval, const struct timespec *abstime);

static inline int attune_capture_interrupt_signal(void) { return SIGRTMAX - 2; }

static void attune_capture_interrupt_handler(int sig) { (void)sig; }

/// Installs the do-nothing handler (no SA_RESTART) once per process; 0 or -1 with errno.
static inline int attune_capture_install_interrupt(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = attune_capture_interrupt_handler;
    sigemptyset(&action.sa_mask);
    return sigaction(attune_capture_interrupt_signal(), &action, NULL);
}

/// Unblocks the signal on the calling thread: a capture thread inherits the mask of whichever thread started it
/// (a Dispatch or NIO thread may block signals).
static inline int attune_capture_accept_interrupt(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, attune_capture_interrupt_signal());
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/// Sends the signal to `thread`, making a blocking system call there fail with EINTR.
static inline int attune_capture_interrupt(pthread_t thread) { return pthread_kill(thread, attune_capture_interrupt_signal()); }
