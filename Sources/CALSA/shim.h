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
