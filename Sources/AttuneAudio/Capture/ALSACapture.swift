import CALSA
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One open ALSA capture PCM (`snd_pcm_t *`), configured and closed in `deinit` (sqlite-nio style: one class
/// per C handle). Every failing call throws an ``AudioError`` naming the call, ALSA's reason and, where libasound
/// said more, its own message ("Unknown PCM tap").
final class ALSAPCM {
    let handle: OpaquePointer
    let device: String
    /// What the device granted.
    let format: snd_pcm_format_t
    let sampleRate: Int
    let channelCount: Int
    let periodFrames: Int
    let bufferFrames: Int

    /// Installs the error-capturing handler once per process, before the first libasound call.
    private static let captureErrors: Void = attune_alsa_capture_errors()

    /// Sample formats we take, best first: 16-bit is what telephony taps deliver and converts bit-exactly.
    static let formats: [snd_pcm_format_t] = [SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_FLOAT_LE]

    /// Opens `p.device` for non-blocking capture (the capture loop polls it beside its wake descriptor) and sets
    /// interleaved access, the first format of ``formats`` it supports, channels, the rate nearest the one asked
    /// for, period and buffer sizes. Any failure is ``AudioError/Kind/unavailable`` (69).
    init(_ p: ALSAParameters, name: String) throws(AudioError) {
        Self.captureErrors
        attune_alsa_clear_error()
        device = p.device
        var pcm: OpaquePointer?
        let rc = snd_pcm_open(&pcm, p.device, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK)
        guard rc >= 0, let pcm else { throw Self.error(name, "snd_pcm_open", rc) }
        handle = pcm
        // From here `handle` is ours; a failure below must close it (deinit does not run for a failed init).
        do {
            (format, sampleRate, channelCount, periodFrames, bufferFrames) = try Self.configure(pcm, p, name: name)
        } catch {
            snd_pcm_close(pcm)
            throw error
        }
    }

    deinit { snd_pcm_close(handle) }

    private static func configure(_ pcm: OpaquePointer, _ p: ALSAParameters, name: String)
        throws(AudioError) -> (snd_pcm_format_t, Int, Int, Int, Int) {
        var hwp: OpaquePointer?
        guard snd_pcm_hw_params_malloc(&hwp) >= 0, let hw = hwp else {
            throw AudioError(.io, path: name, "snd_pcm_hw_params_malloc: out of memory")
        }
        defer { snd_pcm_hw_params_free(hw) }
        func check(_ call: String, _ rc: Int32) throws(AudioError) {
            if rc < 0 { throw error(name, call, rc) }
        }
        try check("snd_pcm_hw_params_any", snd_pcm_hw_params_any(pcm, hw))
        try check("snd_pcm_hw_params_set_access(RW_INTERLEAVED)",
                  snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED))
        guard let format = formats.first(where: { snd_pcm_hw_params_test_format(pcm, hw, $0) == 0 }) else {
            throw AudioError(.unavailable, path: name,
                             "snd_pcm_hw_params_set_format: the device offers none of S16_LE, S32_LE, FLOAT_LE")
        }
        try check("snd_pcm_hw_params_set_format", snd_pcm_hw_params_set_format(pcm, hw, format))
        let channelsRC = snd_pcm_hw_params_set_channels(pcm, hw, UInt32(p.channelCount))
        if channelsRC < 0 {
            var lo: UInt32 = 0, hi: UInt32 = 0
            snd_pcm_hw_params_get_channels_min(hw, &lo)
            snd_pcm_hw_params_get_channels_max(hw, &hi)
            throw AudioError(.unavailable, path: name, "snd_pcm_hw_params_set_channels(\(p.channelCount)): "
                             + "\(String(cString: snd_strerror(channelsRC))); the device takes \(lo)–\(hi) channels")
        }
        var rate = UInt32(p.sampleRate)
        var dir: Int32 = 0
        try check("snd_pcm_hw_params_set_rate_near(\(p.sampleRate))", snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, &dir))
        guard AudioLimits.sampleRates.contains(Int(rate)) else {
            throw AudioError(.unavailable, path: name, "asked for \(p.sampleRate) Hz, the device offers \(rate) Hz; "
                             + "\(AudioLimits.sampleRates.lowerBound)–\(AudioLimits.sampleRates.upperBound) Hz supported")
        }
        // Scale period and buffer if the device granted another rate, so they keep their duration.
        var period = snd_pcm_uframes_t(p.periodFrames * Int(rate) / p.sampleRate)
        var buffer = snd_pcm_uframes_t(p.bufferFrames * Int(rate) / p.sampleRate)
        dir = 0
        try check("snd_pcm_hw_params_set_period_size_near(\(period))",
                  snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, &dir))
        try check("snd_pcm_hw_params_set_buffer_size_near(\(buffer))",
                  snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer))
        try check("snd_pcm_hw_params", snd_pcm_hw_params(pcm, hw))
        snd_pcm_hw_params_get_period_size(hw, &period, &dir)
        snd_pcm_hw_params_get_buffer_size(hw, &buffer)

        var swp: OpaquePointer?
        guard snd_pcm_sw_params_malloc(&swp) >= 0, let sw = swp else {
            throw AudioError(.io, path: name, "snd_pcm_sw_params_malloc: out of memory")
        }
        defer { snd_pcm_sw_params_free(sw) }
        try check("snd_pcm_sw_params_current", snd_pcm_sw_params_current(pcm, sw))
        // Wake once per period, not per frame.
        try check("snd_pcm_sw_params_set_avail_min", snd_pcm_sw_params_set_avail_min(pcm, sw, period))
        try check("snd_pcm_sw_params", snd_pcm_sw_params(pcm, sw))
        try check("snd_pcm_prepare", snd_pcm_prepare(pcm))
        return (format, Int(rate), p.channelCount, Int(period), Int(buffer))
    }

    /// `call: <snd_strerror> (ALSA: <libasound's message>)`, kind unavailable.
    static func error(_ name: String, _ call: String, _ rc: Int32) -> AudioError {
        AudioError(.unavailable, path: name, message(call, rc))
    }

    static func message(_ call: String, _ rc: Int32) -> String {
        var text = "\(call): \(String(cString: snd_strerror(rc)))"
        let said = String(cString: attune_alsa_last_error())
        if !said.isEmpty { text += " (ALSA: \(said))" }
        return text
    }
}

/// `alsa:DEVICE`: captures from libasound on its own thread.
///
/// The PCM is opened non-blocking; the loop reads with `snd_pcm_readi` and, when nothing is ready, polls the
/// PCM's descriptors together with the stop pipe, so ``stop()`` is prompt on a silent device. A plugin that blocks
/// inside `snd_pcm_readi` anyway (`type file` with an `infile` that delivers nothing) is interrupted by the
/// capture thread's signal (see `CaptureThread`), so ``stop()`` returns there too. Samples arrive as
/// S16_LE (or S32_LE / FLOAT_LE if the device has no 16-bit mode) and are converted to Float in ±1, S16 as
/// `v / 32768` exactly like ``RawPCMReader``.
///
/// - Overruns (-EPIPE) and suspends (-ESTRPIPE) are recovered with `snd_pcm_recover` and counted in
///   ``counters``; the frames lost (estimated from the monotonic clock) are counted too and skipped in the
///   sink's `streamFrame`, so the timeline stays on the wall clock. Never silent.
/// - A suspend is resumed the way `snd_pcm_recover` does it, retrying once a second while the driver says it is
///   not ready yet; a `stop()` during that wait returns when the retry loop does.
/// - A device that fails again at once after ``maximumRecoveriesWithoutData`` recoveries in a row, with no audio
///   between them, ends the capture with ``CaptureEnd/error(_:)`` rather than spin.
/// - A device that vanishes (-ENODEV, -ENXIO, -EIO, -EBADFD, or the PCM in state DISCONNECTED) ends the capture
///   with ``CaptureEnd/deviceLost(_:)``; any other failure, or a failed recovery, with ``CaptureEnd/error(_:)``.
public final class ALSACapture: CaptureSource, CaptureLoop, @unchecked Sendable {
    // @unchecked Sendable: the mutable state — the PCM, `raw`, `samples`, `pollDescriptors` — is touched only by
    // `init` and then by the capture thread alone (`start` hands it over once, guarded by CaptureThread, and
    // pthread_create/join order those accesses); what other threads read is immutable (`let`) or atomic.
    public let name: String
    public var sampleRate: Int { pcm.sampleRate }
    public var channelCount: Int { pcm.channelCount }
    public let roles: [CaptureRole]
    public var blockFrames: Int { pcm.periodFrames }
    public let counters = CaptureCounters()
    public var warnings: [String] { [] }
    /// Frames per ALSA period and buffer as granted by the device.
    public var periodFrames: Int { pcm.periodFrames }
    public var bufferFrames: Int { pcm.bufferFrames }

    private let pcm: ALSAPCM
    private let control: CaptureThread
    private let raw: UnsafeMutableRawBufferPointer
    private let samples: UnsafeMutableBufferPointer<Float>
    /// The PCM's poll descriptors, then the wake pipe last.
    private let pollDescriptors: UnsafeMutableBufferPointer<pollfd>
    private let alsaDescriptorCount: Int

    /// Opens and configures the device; failure is ``AudioError/Kind/unavailable`` (69).
    public init(_ parameters: ALSAParameters, roles: [CaptureRole]? = nil, name: String? = nil) throws(AudioError) {
        let name = name ?? SourceURI(kind: .alsa(parameters), roles: roles).description
        self.name = name
        let roles = roles ?? Array(repeating: .unknown, count: parameters.channelCount)
        guard roles.count == parameters.channelCount else {
            throw AudioError(.usage, path: name, "\(roles.count) roles for \(parameters.channelCount) channels")
        }
        self.roles = roles
        pcm = try ALSAPCM(parameters, name: name)
        control = try CaptureThread(name: name)
        // Poll descriptors first, into a local: a throw after every stored property is set would run deinit.
        let n = max(0, Int(snd_pcm_poll_descriptors_count(pcm.handle)))
        let fds = UnsafeMutableBufferPointer<pollfd>.allocate(capacity: n + 1)
        fds.initialize(repeating: pollfd(fd: -1, events: 0, revents: 0))
        if n > 0 {
            let got = snd_pcm_poll_descriptors(pcm.handle, fds.baseAddress, UInt32(n))
            if got < 0 {
                fds.deallocate()
                throw ALSAPCM.error(name, "snd_pcm_poll_descriptors", got)
            }
        }
        fds[n] = pollfd(fd: control.wakeDescriptor, events: Int16(POLLIN), revents: 0)
        alsaDescriptorCount = n
        pollDescriptors = fds
        let width = Int(snd_pcm_format_physical_width(pcm.format)) / 8
        raw = .allocate(byteCount: pcm.periodFrames * pcm.channelCount * width, alignment: 16)
        samples = .allocate(capacity: pcm.periodFrames * pcm.channelCount)
        samples.initialize(repeating: 0)
    }

    deinit {
        control.stop()
        raw.deallocate()
        samples.deallocate()
        pollDescriptors.deallocate()
    }

    public func start<Sink: CaptureSink>(_ sink: Sink) throws(AudioError) { try control.start(self, sink, name: name) }
    public func stop() { control.stop() }
    public func waitUntilEnded() { control.join() }

    // MARK: - Capture loop (real-time: no allocation, lock, String or logging until it ends)

    func run<Sink: CaptureSink>(_ sink: Sink) -> CaptureEnd {
        let h = pcm.handle
        let channels = pcm.channelCount
        let period = pcm.periodFrames
        let rate = Int64(pcm.sampleRate)
        var timeline = Timeline(streamFrame: 0, lastRead: monotonicNanoseconds(), recoveriesSinceData: 0)
        // libasound's last message is kept per thread; start this one clean, so an error quotes only its own.
        attune_alsa_clear_error()
        var rc = snd_pcm_start(h)
        if rc < 0 && rc != -EBADFD { return fail("snd_pcm_start", rc) }
        while !control.stopRequested {
            let n = snd_pcm_readi(h, raw.baseAddress, snd_pcm_uframes_t(period))
            if n > 0 {
                // When the device last handed over audio: frames after this and before a recovery are lost. (Taken
                // before the sink, whose slowness is what usually causes the overrun.)
                timeline.lastRead = monotonicNanoseconds()
                timeline.recoveriesSinceData = 0
                let frames = Int(n)
                convert(frames * channels)
                sink.capture(UnsafeBufferPointer(rebasing: samples[0..<(frames * channels)]), frames: frames,
                             at: timeline.streamFrame)
                timeline.streamFrame += Int64(frames)
                counters.addFrames(frames)
                continue
            }
            // A stop may have interrupted the read (CaptureThread's signal), which a plugin may report as anything:
            // the file plugin passes read(2)'s bare -1 through, i.e. -EPERM. Whatever it says, stopping wins.
            if control.stopRequested { break }
            rc = Int32(truncatingIfNeeded: n)
            switch -rc {
            case 0, EAGAIN:
                // Nothing captured yet (a non-blocking PCM says -EAGAIN; a plugin may just return 0): wait for
                // the device or a stop. poll's own failure (EINTR) just loops.
                _ = poll(pollDescriptors.baseAddress, nfds_t(alsaDescriptorCount + 1), -1)
                if alsaDescriptorCount > 0 {
                    var revents: UInt16 = 0
                    snd_pcm_poll_descriptors_revents(h, pollDescriptors.baseAddress, UInt32(alsaDescriptorCount), &revents)
                    if Int32(revents) & (POLLERR | POLLHUP | POLLNVAL) != 0 {
                        // An error condition readi may keep answering with EAGAIN; the state says which.
                        switch snd_pcm_state(h) {
                        case SND_PCM_STATE_DISCONNECTED: return .deviceLost(ALSAPCM.message("snd_pcm_state DISCONNECTED", -ENODEV))
                        case SND_PCM_STATE_XRUN: if let end = recover(-EPIPE, &timeline, rate) { return end }
                        case SND_PCM_STATE_SUSPENDED: if let end = recover(-ESTRPIPE, &timeline, rate) { return end }
                        default: break
                        }
                    }
                }
            case EINTR:
                continue
            case EPIPE, ESTRPIPE:
                if let end = recover(rc, &timeline, rate) { return end }
            case ENODEV, ENXIO, EIO, EBADFD, ESHUTDOWN:
                return .deviceLost(ALSAPCM.message("snd_pcm_readi", rc))
            default:
                return fail("snd_pcm_readi", rc)
            }
        }
        snd_pcm_drop(h)
        return .stopped
    }

    /// Where the capture loop is on the stream's timeline.
    private struct Timeline {
        /// The next frame's number.
        var streamFrame: Int64
        /// CLOCK_MONOTONIC when the device last handed over frames (or capture was last restarted).
        var lastRead: Int64
        /// Recoveries with no audio between them; a device that fails again at once every time is not recovering.
        var recoveriesSinceData: Int
    }

    /// Recoveries in a row, with no audio in between, after which capture ends as an error rather than spin.
    public static let maximumRecoveriesWithoutData = 16

    /// Recovers an overrun or suspend, counting it and the frames the clock says were lost; nil when capture goes
    /// on, else how it ends.
    private func recover(_ rc: Int32, _ timeline: inout Timeline, _ rate: Int64) -> CaptureEnd? {
        timeline.recoveriesSinceData += 1
        if timeline.recoveriesSinceData > Self.maximumRecoveriesWithoutData {
            return .error(AudioError(.io, path: name, "\(Self.maximumRecoveriesWithoutData) recoveries in a row without "
                                     + "audio; last: " + ALSAPCM.message("snd_pcm_readi", rc)))
        }
        let r = snd_pcm_recover(pcm.handle, rc, 1)
        if r < 0 {
            if r == -ENODEV || r == -ENXIO || r == -EIO { return .deviceLost(ALSAPCM.message("snd_pcm_recover", r)) }
            return fail("snd_pcm_recover", r)
        }
        if rc == -EPIPE { counters.addXrun() } else { counters.addSuspend() }
        let now = monotonicNanoseconds()
        let lost = (now - timeline.lastRead) * rate / 1_000_000_000
        if lost > 0 {
            timeline.streamFrame += lost
            counters.addLost(lost)
        }
        // Frames lost from here on are counted by the next recovery, not this one again.
        timeline.lastRead = now
        attune_alsa_clear_error()
        let s = snd_pcm_start(pcm.handle)
        if s < 0 && s != -EBADFD {
            return fail("snd_pcm_start", s)
        }
        return nil
    }

    private func fail(_ call: String, _ rc: Int32) -> CaptureEnd {
        .error(AudioError(.io, path: name, ALSAPCM.message(call, rc)))
    }

    @inline(__always)
    private func convert(_ count: Int) {
        let src = UnsafeRawBufferPointer(raw)
        switch pcm.format {
        case SND_PCM_FORMAT_S16_LE:
            for i in 0..<count {
                samples[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) * (1 / 32768)
            }
        case SND_PCM_FORMAT_S32_LE:
            for i in 0..<count {
                samples[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) * (1 / 2147483648)
            }
        default: // FLOAT_LE
            for i in 0..<count {
                samples[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
    }
}
