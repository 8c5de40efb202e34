// A capture-only ALSA I/O plugin that behaves like a sound card without one: a clock (CLOCK_MONOTONIC) moves its
// hardware pointer at the configured rate, a timerfd wakes poll() once per period, it overruns (XRUN) when the
// application falls more than a buffer behind, and it can vanish (state DISCONNECTED, as when a USB headset is
// unplugged) after `lose_after_ms`, or be broken (`always_overrun 1`: it overruns again as soon as it restarts). Every sample is the device frame number it was captured at, modulo 32768
// (channel c adds 1000 c), counted from the first start and never reset, so a test can see exactly which frames
// arrived and how many an overrun lost.
//
// Tests/AttuneAudioTests/ALSACaptureTests.swift compiles it with clang into
// libasound_module_pcm_attunetick.so and loads it from an ALSA config:
//     pcm_type.attunetick { lib "/tmp/…/libasound_module_pcm_attunetick.so" }
//     pcm.tick { type attunetick lose_after_ms 0 }
// Not part of any SwiftPM target.
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    snd_pcm_ioplug_t io;
    int timer;
    int64_t opened_ns;       // when the PCM was opened
    int64_t started_ns;      // when the current run started
    int64_t first_start_ns;  // when the first run started: device frame 0
    long lose_after_ms;      // 0: never
    long always_overrun;     // 1: a broken device that overruns at once after every restart
} tick_t;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/// Frames the clock has produced in the current run.
static snd_pcm_uframes_t elapsed(tick_t *t) {
    return (snd_pcm_uframes_t)((now_ns() - t->started_ns) * (int64_t)t->io.rate / 1000000000);
}

static int tick_start(snd_pcm_ioplug_t *io) {
    tick_t *t = io->private_data;
    t->started_ns = now_ns();
    if (t->first_start_ns == 0) t->first_start_ns = t->started_ns;
    int64_t period_ns = (int64_t)io->period_size * 1000000000 / io->rate;
    struct itimerspec its = {
        .it_interval = { period_ns / 1000000000, period_ns % 1000000000 },
        .it_value = { period_ns / 1000000000, period_ns % 1000000000 },
    };
    return timerfd_settime(t->timer, 0, &its, NULL) < 0 ? -errno : 0;
}

static int tick_stop(snd_pcm_ioplug_t *io) {
    tick_t *t = io->private_data;
    struct itimerspec its = { { 0, 0 }, { 0, 0 } };
    timerfd_settime(t->timer, 0, &its, NULL);
    return 0;
}

static snd_pcm_sframes_t tick_pointer(snd_pcm_ioplug_t *io) {
    tick_t *t = io->private_data;
    if (t->lose_after_ms > 0 && now_ns() - t->opened_ns > t->lose_after_ms * 1000000) {
        io->state = SND_PCM_STATE_DISCONNECTED;
        return io->hw_ptr % io->buffer_size;
    }
    if (io->state != SND_PCM_STATE_RUNNING) return io->hw_ptr % io->buffer_size;
    if (t->always_overrun) return -EPIPE;
    snd_pcm_uframes_t hw = elapsed(t);
    // More than a buffer ahead of the application: the frames it has not read are overwritten.
    if (hw - io->appl_ptr > io->buffer_size) return -EPIPE;
    return hw % io->buffer_size;
}

static snd_pcm_sframes_t tick_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
                                       snd_pcm_uframes_t offset, snd_pcm_uframes_t size) {
    tick_t *t = io->private_data;
    // The device frame number of the run's first frame: its start time on the device clock.
    int64_t base = (t->started_ns - t->first_start_ns) * (int64_t)io->rate / 1000000000;
    for (unsigned c = 0; c < io->channels; c++) {
        char *p = (char *)areas[c].addr + (areas[c].first + areas[c].step * offset) / 8;
        for (snd_pcm_uframes_t i = 0; i < size; i++) {
            int64_t frame = base + (int64_t)(io->appl_ptr + i);
            *(int16_t *)(p + i * (areas[c].step / 8)) = (int16_t)((frame + 1000 * c) % 32768);
        }
    }
    return size;
}

static int tick_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds, unsigned short *revents) {
    tick_t *t = io->private_data;
    (void)nfds;
    uint64_t ticks;
    while (read(t->timer, &ticks, sizeof ticks) > 0) {}
    if (io->state == SND_PCM_STATE_DISCONNECTED) { *revents = POLLERR; return 0; }
    *revents = pfd[0].revents & POLLIN ? POLLIN : 0;
    return 0;
}

static int tick_close(snd_pcm_ioplug_t *io) {
    tick_t *t = io->private_data;
    close(t->timer);
    free(t);
    return 0;
}

static const snd_pcm_ioplug_callback_t tick_callbacks = {
    .start = tick_start,
    .stop = tick_stop,
    .pointer = tick_pointer,
    .transfer = tick_transfer,
    .poll_revents = tick_poll_revents,
    .close = tick_close,
};

SND_PCM_PLUGIN_DEFINE_FUNC(attunetick) {
    (void)root;
    long lose_after_ms = 0, always_overrun = 0;
    snd_config_iterator_t i, next;
    snd_config_for_each(i, next, conf) {
        snd_config_t *n = snd_config_iterator_entry(i);
        const char *id;
        if (snd_config_get_id(n, &id) < 0) continue;
        if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint")) continue;
        if (!strcmp(id, "lose_after_ms")) { snd_config_get_integer(n, &lose_after_ms); continue; }
        if (!strcmp(id, "always_overrun")) { snd_config_get_integer(n, &always_overrun); continue; }
        SNDERR("attunetick: unknown field %s", id);
        return -EINVAL;
    }
    if (stream != SND_PCM_STREAM_CAPTURE) return -EINVAL;
    tick_t *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    t->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    t->opened_ns = now_ns();
    t->lose_after_ms = lose_after_ms;
    t->always_overrun = always_overrun;
    t->io.version = SND_PCM_IOPLUG_VERSION;
    t->io.name = "Attune test clock";
    t->io.callback = &tick_callbacks;
    t->io.private_data = t;
    t->io.poll_fd = t->timer;
    t->io.poll_events = POLLIN;
    int err = snd_pcm_ioplug_create(&t->io, name, stream, mode);
    if (err < 0) { close(t->timer); free(t); return err; }
    static const unsigned int access[] = { SND_PCM_ACCESS_RW_INTERLEAVED };
    static const unsigned int formats[] = { SND_PCM_FORMAT_S16_LE };
    snd_pcm_ioplug_set_param_list(&t->io, SND_PCM_IOPLUG_HW_ACCESS, 1, access);
    snd_pcm_ioplug_set_param_list(&t->io, SND_PCM_IOPLUG_HW_FORMAT, 1, formats);
    snd_pcm_ioplug_set_param_minmax(&t->io, SND_PCM_IOPLUG_HW_CHANNELS, 1, 8);
    snd_pcm_ioplug_set_param_minmax(&t->io, SND_PCM_IOPLUG_HW_RATE, 8000, 48000);
    snd_pcm_ioplug_set_param_minmax(&t->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024);
    *pcmp = t->io.pcm;
    return 0;
}
SND_PCM_PLUGIN_SYMBOL(attunetick);
