import CALSA
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Live capture: one real thread per source reads blocks of interleaved Float frames and hands each one to a
// sink the engine provides. Opening (device, file, format checks) happens on the caller's thread and throws
// typed errors; after `start`, the capture thread follows design.md's real-time rules: its buffers were
// allocated at open, and per block it makes only the capture read (plus the wait that belongs to it: poll on
// the device and the wake descriptor, or the pacing sleep), converts, and calls the sink. No allocation, no
// lock, no String, no logging — `Tests/AttuneAudioTests/CaptureTests.swift` counts mallocs on the thread.

/// Where a capture thread delivers audio. Both methods are called on the capture thread only, one at a time.
///
/// The sink must not block for long (a device overruns while it waits) and must follow the real-time rules
/// itself: it is typically a de-interleaver into per-channel ``SPSCRingBuffer``s.
public protocol CaptureSink: AnyObject, Sendable {
    /// `frames` interleaved frames (`interleaved.count == frames * channelCount`), the first being frame
    /// `streamFrame` of the stream (0-based, counted at the source's rate). Frames lost to a device overrun are
    /// skipped in `streamFrame`, so it stays on the wall-clock timeline. The buffer is only valid during the call.
    func capture(_ interleaved: UnsafeBufferPointer<Float>, frames: Int, at streamFrame: Int64)
    /// Called exactly once, last, after the final ``capture(_:frames:at:)``. May allocate (it is the end).
    func captureEnded(_ reason: CaptureEnd)
}

/// Why a capture ended.
public enum CaptureEnd: Sendable, Equatable, CustomStringConvertible {
    /// The file or pipe reached its end.
    case eof
    /// ``CaptureSource/stop()`` was called.
    case stopped
    /// The device went away (unplugged, driver gone); the message quotes ALSA.
    case deviceLost(String)
    /// Reading failed (a file truncated or corrupt mid-replay, an I/O error, an unrecoverable ALSA error).
    case error(AudioError)

    /// The `call_end` reason of design.md: `eof`, `stopped`, `device_lost` or `error`.
    public var recordReason: String {
        switch self {
        case .eof: "eof"
        case .stopped: "stopped"
        case .deviceLost: "device_lost"
        case .error: "error"
        }
    }

    /// The message for `call_end`, when there is one.
    public var message: String? {
        switch self {
        case .eof, .stopped: nil
        case .deviceLost(let m): m
        case .error(let e): e.description
        }
    }

    public var description: String { message.map { "\(recordReason): \($0)" } ?? recordReason }
}

/// Counters a capture thread keeps, readable from any thread at any time (relaxed atomics: each is exact on its
/// own, not a snapshot consistent with the others).
public final class CaptureCounters: Sendable {
    private let frames = Atomic<Int64>(0)
    private let xruns = Atomic<Int>(0)
    private let suspends = Atomic<Int>(0)
    private let lost = Atomic<Int64>(0)
    private let late = Atomic<Int>(0)

    public init() {}

    /// Frames handed to the sink so far.
    public var framesCaptured: Int64 { frames.load(ordering: .relaxed) }
    /// Device overruns (ALSA -EPIPE) recovered with `snd_pcm_recover`.
    public var xrunsRecovered: Int { xruns.load(ordering: .relaxed) }
    /// Suspends (ALSA -ESTRPIPE, system sleep) recovered.
    public var suspendsRecovered: Int { suspends.load(ordering: .relaxed) }
    /// Frames the device dropped in overruns and suspends, estimated from the monotonic clock; `streamFrame`
    /// skips them so the timeline stays aligned.
    public var framesLost: Int64 { lost.load(ordering: .relaxed) }
    /// Paced replay only: blocks delivered more than one block late (the sink or the machine fell behind; the
    /// replay catches up from absolute deadlines rather than drifting).
    public var lateBlocks: Int { late.load(ordering: .relaxed) }

    func addFrames(_ n: Int) { frames.add(Int64(n), ordering: .relaxed) }
    func addXrun() { xruns.add(1, ordering: .relaxed) }
    func addSuspend() { suspends.add(1, ordering: .relaxed) }
    func addLost(_ n: Int64) { lost.add(n, ordering: .relaxed) }
    func addLate() { late.add(1, ordering: .relaxed) }
}

/// A live source: opened (and checked) by ``open(_:)``, then run on its own thread by ``start(_:)`` until
/// ``stop()`` or its end.
///
/// ```swift
/// let uri = try SourceURI(parsing: "alsa:hw:1,0?rate=8000&channels=2&roles=agent,customer")
/// let source = try CaptureSources.open(uri)      // 69 if the device cannot be opened, 66/65 for files
/// let rings = (0..<source.channelCount).map { _ in SPSCRingBuffer(minimumCapacity: …) }
/// try source.start(MySink(rings: rings))         // one capture thread; blocks go to MySink.capture
/// …
/// source.stop()                                  // prompt; joins; the sink has had captureEnded(.stopped)
/// ```
public protocol CaptureSource: AnyObject, Sendable {
    /// What logs, errors and `call_start` call the source: the URI as given to ``CaptureSources/open(_:options:)``,
    /// or its canonical spelling.
    var name: String { get }
    /// Frames per second the sink receives (an ALSA device may grant a rate near the one asked for).
    var sampleRate: Int { get }
    /// Interleaved channels per frame.
    var channelCount: Int { get }
    /// One role per channel.
    var roles: [CaptureRole] { get }
    /// Frames per sink call at most.
    var blockFrames: Int { get }
    /// Live counters.
    var counters: CaptureCounters { get }
    /// Things noticed when opening (e.g. a file whose header claims more audio than it holds).
    var warnings: [String] { get }
    /// Starts the capture thread, which calls `sink` until the end; a source starts once. Fails only if the
    /// thread cannot be created or the source was already started.
    func start<Sink: CaptureSink>(_ sink: Sink) throws(AudioError)
    /// Asks the capture thread to end and waits for it (a blocked read is woken: a poll by the wake pipe, a read
    /// the pipe cannot reach by a signal); the sink then has had
    /// ``CaptureSink/captureEnded(_:)``, with `.stopped` unless the source had already ended. Idempotent and safe
    /// from any thread. From inside the sink it only asks: the loop ends after the current block, and the thread
    /// is detached rather than joined.
    func stop()
    /// Waits for the capture thread to end by itself (EOF, device lost, error) without asking it to.
    func waitUntilEnded()
}

/// Opens capture sources from URIs.
public enum CaptureSources {
    /// Opens what `uri` names, checking everything that can be checked before audio flows: an ALSA device that
    /// cannot be opened or configured is ``AudioError/Kind/unavailable`` (69); a missing file 66, a file that is
    /// not audio 65; roles that do not match the channel count 64.
    ///
    /// `name` is what errors and logs call the source; by default the URI's canonical spelling.
    public static func open(_ uri: SourceURI, name: String? = nil,
                            options: CaptureOptions = CaptureOptions()) throws(AudioError) -> any CaptureSource {
        let name = name ?? uri.description
        switch uri.kind {
        case .alsa(let p):
            return try ALSACapture(p, roles: uri.roles(channelCount: p.channelCount), name: name)
        case .file(let path, let speed):
            return try FileReplayCapture(path: path, speed: speed, roles: uri.roles, name: name,
                                         blockMilliseconds: options.pacedBlockMilliseconds)
        case .stdin(let format):
            return try PipeCapture(fileDescriptor: 0, name: name, format: format,
                                   roles: uri.roles(channelCount: format.channelCount))
        }
    }

    /// Parses and opens `text` (see ``SourceURI``); errors call the source by `text`, as the user wrote it.
    public static func open(_ text: String, options: CaptureOptions = CaptureOptions()) throws(AudioError)
        -> any CaptureSource {
        try open(SourceURI(parsing: text), name: SourceURI.quoted(text), options: options)
    }
}

/// Settings of the daemon, rather than of one URI, that shape capture.
public struct CaptureOptions: Sendable, Equatable {
    /// Wall time per block of a paced `file:` replay (1…1000 ms): longer blocks mean fewer wake-ups per call
    /// and a slower stop.
    public var pacedBlockMilliseconds: Int

    public init(pacedBlockMilliseconds: Int = PacedTiming.blockMilliseconds) {
        self.pacedBlockMilliseconds = pacedBlockMilliseconds
    }
}

// MARK: - The capture thread

/// The thread, its stop flag and its wake descriptor, shared by every kind of source.
///
/// `stop()` sets the flag, then writes a byte into the wake pipe, which the capture loop polls beside its device
/// or pipe, so a read blocked on a silent device returns at once; paced file replay checks the flag between
/// blocks (each ``PacedTiming/blockMilliseconds`` long by default). Then it joins the pthread. A thread still
/// running ``interruptInterval`` after a stop was asked is sitting in a call the pipe cannot wake (an ALSA plugin
/// blocking in `snd_pcm_readi` despite SND_PCM_NONBLOCK, see CALSA's shim.h): it is sent a signal whose handler
/// does nothing, so that call fails with EINTR and the loop sees the flag, and again every interval until it ends.
/// Wherever else the signal lands (poll, the pacing sleep, a lossless sink waiting for ring space) EINTR is
/// already handled by retrying or by checking the flag.
///
/// A read in a library that retries EINTR itself is out of the signal's reach: libsndfile's read loop (a `file:`
/// source on a FIFO whose writer went quiet, or stalled in the middle of a read) goes straight back into read(2).
/// For such a source the thread is given its input descriptor, and `stop()` first points that descriptor at
/// /dev/null (dup2): the read the signal interrupts is retried on a file at its end, returns 0, and the loop sees
/// the flag. (Polling before each read, as `PipeCapture` does, would not be enough: libsndfile reads until its
/// buffer is full, so one byte from the writer lets it into a read that then waits for the rest. Nor does its
/// virtual I/O help: it takes every virtual stream for a seekable file and skips a WAV's data chunk by seeking.)
final class CaptureThread: @unchecked Sendable {
    // @unchecked Sendable: `started` and `handle` are read and written only with `lock` held; the rest is
    // immutable or atomic.
    /// Read end of a pipe the capture loop polls alongside its input; readable once stop was asked.
    let wakeDescriptor: Int32
    /// Write end: stop() writes one byte.
    private let wakeWriter: Int32
    /// The descriptor stop() cuts off (points at /dev/null) before joining, for a loop whose reads the signal
    /// cannot end; the source keeps it open for as long as this thread object lives.
    private let input: Int32?
    private let stopFlag = Atomic<Bool>(false)
    /// Guards `started` and `handle`, and serialises concurrent stop()/waitUntilEnded() callers so every one of
    /// them returns only after the join. Control-plane only: the capture loop never takes it. A pthread mutex
    /// rather than `Synchronization.Mutex`, whose futex ThreadSanitizer cannot see (it reported the join racing
    /// with the start it is ordered after).
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private var started = false
    /// The pthread, until joined or detached.
    private var handle: pthread_t?

    /// How long a join waits for a thread asked to stop before interrupting it (and again between signals): far
    /// longer than a loop woken by the pipe needs, short enough that a stop stays prompt.
    static let interruptInterval = 0.05

    /// The do-nothing handler of the interrupt signal, installed before the first capture thread starts: 0, or
    /// sigaction's errno.
    private static let interruptInstallError: Int32 = attune_capture_install_interrupt() == 0 ? 0 : errno

    /// `input`: the descriptor to cut off on stop, for a source read by a library that retries EINTR.
    init(name: String, input: Int32? = nil) throws(AudioError) {
        self.input = input
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw AudioError(.io, path: name, "pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        (wakeDescriptor, wakeWriter) = (fds[0], fds[1])
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
    }

    deinit {
        close(wakeDescriptor)
        close(wakeWriter)
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    /// Whether stop was asked; the capture loop checks it between blocks and after every wake-up (acquire, pairing
    /// with stop()'s release, so a loop woken by the pipe byte sees the flag set before it).
    @inline(__always) var stopRequested: Bool { stopFlag.load(ordering: .acquiring) }

    /// Runs `body` on a new joinable pthread named `attune-capture`.
    func start(name: String, _ body: @escaping @Sendable () -> Void) throws(AudioError) {
        if Self.interruptInstallError != 0 {
            throw AudioError(.io, path: name, "sigaction(SIGRTMAX-2), the signal that stops a capture thread blocked "
                             + "in a read: \(String(cString: strerror(Self.interruptInstallError)))")
        }
        let result: AudioError? = locked {
            if started { return AudioError(.usage, path: name, "capture already started; a source starts once") }
            let box = Unmanaged.passRetained(ThreadBody(body))
            var handle = pthread_t()
            let rc = pthread_create(&handle, nil, { raw in
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                _ = attune_set_thread_name("attune-capture")
                _ = attune_capture_accept_interrupt()
                body.run()
                return nil
            }, box.toOpaque())
            if rc != 0 {
                box.release()
                return AudioError(.io, path: name, "pthread_create: \(String(cString: strerror(rc)))")
            }
            (started, self.handle) = (true, handle)
            return nil
        }
        if let result { throw result }
    }

    /// Asks the loop to end and joins it.
    func stop() {
        stopFlag.store(true, ordering: .releasing)
        var one: UInt8 = 1
        _ = write(wakeWriter, &one, 1)
        if let input { Self.cutOff(input) }
        join()
    }

    /// Points `fd` at /dev/null, so that every later read of it (the retry after the interrupt among them) finds
    /// the end of the data. The descriptor stays open under the same number, so whoever owns it closes it as usual;
    /// the stream it named (a FIFO's reading end) is closed here. Idempotent.
    private static func cutOff(_ fd: Int32) {
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard null >= 0 else { return }
        if dup2(null, fd) == fd { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        close(null)
    }

    /// Joins the thread if it was started and not yet joined; from the moment a stop is asked (by this caller or
    /// another, which waits for the lock meanwhile) a thread that has not ended is interrupted every
    /// ``interruptInterval``.
    func join() {
        locked {
            guard let h = handle else { return }
            if pthread_equal(h, pthread_self()) != 0 {
                // On the capture thread itself — a sink calling stop, or the last reference to the source dropped
                // as the thread's closure is released — a join would wait forever. The flag is set, the loop
                // ends after this block, and the thread frees itself.
                pthread_detach(h)
            } else {
                while true {
                    var deadline = timespec()
                    clock_gettime(CLOCK_REALTIME, &deadline)  // pthread_timedjoin_np's clock
                    let nanoseconds = Int(deadline.tv_nsec) + Int(Self.interruptInterval * 1e9)
                    deadline.tv_sec += nanoseconds / 1_000_000_000
                    deadline.tv_nsec = nanoseconds % 1_000_000_000
                    guard pthread_timedjoin_np(h, nil, &deadline) == ETIMEDOUT else { break }
                    if stopRequested { _ = attune_capture_interrupt(h) }
                }
            }
            handle = nil
        }
    }
}

/// What each kind of source implements: its loop, run once on the capture thread.
protocol CaptureLoop: AnyObject, Sendable {
    /// Delivers blocks to `sink` until the end, the stop flag or a failure, and says which.
    func run<Sink: CaptureSink>(_ sink: Sink) -> CaptureEnd
}

extension CaptureThread {
    /// Starts `loop.run(sink)` on the thread and reports its end to the sink, last.
    func start<Loop: CaptureLoop, Sink: CaptureSink>(_ loop: Loop, _ sink: Sink, name: String) throws(AudioError) {
        try start(name: name) { sink.captureEnded(loop.run(sink)) }
    }
}

/// The closure a pthread runs, boxed so it can cross `pthread_create`'s `void *`.
private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

// MARK: - Time

/// CLOCK_MONOTONIC in nanoseconds (a vDSO call, no syscall, no allocation).
@inline(__always)
func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// Sleeps until the absolute CLOCK_MONOTONIC time `deadline` (ns); returns at once if it has passed. Absolute
/// deadlines mean the time the loop spends working never accumulates as drift.
@inline(__always)
func sleepUntil(monotonicNanoseconds deadline: Int64) {
    var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
}
