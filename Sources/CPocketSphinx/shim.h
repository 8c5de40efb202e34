#include <stdarg.h>
#include <stdio.h>
#include <pocketsphinx.h>
#include <err.h>

#define ATTUNE_PS_ERROR_SIZE 512

/* sphinxbase logs every model file it loads to stderr, which `attune analyze` keeps for one-line errors, and its
 * log callback is variadic, which Swift cannot implement. This callback drops everything below an error and keeps
 * the first error message since the buffer was cleared, so a failed call can say why in its own error. The buffer
 * (ATTUNE_PS_ERROR_SIZE bytes) is the caller's: Swift does not emit a header's static variables. */
static inline void attune_ps_log(void *user_data, err_lvl_t level, const char *format, ...) {
    char *error = (char *)user_data;
    if (level < ERR_ERROR || error[0] != 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(error, ATTUNE_PS_ERROR_SIZE, format, args);
    va_end(args);
}

/* Routes sphinxbase's log through attune_ps_log into `buffer`; process-wide, so call once. */
static inline void attune_ps_quiet_log(char *buffer) {
    err_set_logfp(NULL); /* cmd_ln_parse_r prints its settings to this stream, not through the callback */
    err_set_callback(attune_ps_log, buffer);
}
