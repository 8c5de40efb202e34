#if canImport(Glibc)
import Glibc
#endif

/// `stdin:ENCODING:RATE:CHANNELS` (or any readable descriptor): headerless PCM decoded by ``RawPCMReader``,
/// delivered as it arrives — a pipe is paced by whoever writes it.
///
/// Before each read the loop polls the descriptor together with the stop pipe, so ``stop()`` is prompt while
/// the writer is silent. (One case stays blocked until the writer sends more or closes: a writer that stops in
/// the middle of a frame, since the reader waits for the rest of that frame.) The end of the stream is
/// ``CaptureEnd/eof``, a failed read ``CaptureEnd/error(_:)`` (74).
public final class PipeCapture: CaptureSource, CaptureLoop, @unchecked Sendable {
    // @unchecked Sendable: `reader`, `buffer` and `pollDescriptors` are used by `init` and then only by the
    // capture thread (handed over once by `start`; pthread_create/join order the accesses); everything else is
    // immutable or atomic.
    public let name: String
    public var sampleRate: Int { reader.sampleRate }
    public var channelCount: Int { reader.channelCount }
    public let roles: [CaptureRole]
    public var blockFrames: Int { RawPCMReader.blockFrames }
    public let counters = CaptureCounters()
    public var warnings: [String] { [] }

    private let reader: RawPCMReader
    private let control: CaptureThread
    private let buffer: UnsafeMutableBufferPointer<Float>
    /// The input, then the wake pipe.
    private let pollDescriptors: UnsafeMutableBufferPointer<pollfd>

    /// Reads `format` from `fd`, which the caller keeps open while the source lives (stdin is fd 0).
    public init(fileDescriptor fd: Int32, name: String, format: RawFormat, roles: [CaptureRole]? = nil) throws(AudioError) {
        self.name = name
        let roles = roles ?? Array(repeating: .unknown, count: format.channelCount)
        guard roles.count == format.channelCount else {
            throw AudioError(.usage, path: name, "\(roles.count) roles for \(format.channelCount) channels")
        }
        self.roles = roles
        reader = try RawPCMReader(fileDescriptor: fd, name: name, format: format)
        control = try CaptureThread(name: name, input: reader.readsMayBlock ? fd : nil)
        buffer = .allocate(capacity: RawPCMReader.blockFrames * format.channelCount)
        buffer.initialize(repeating: 0)
        pollDescriptors = .allocate(capacity: 2)
        pollDescriptors[0] = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        pollDescriptors[1] = pollfd(fd: control.wakeDescriptor, events: Int16(POLLIN), revents: 0)
    }

    deinit {
        control.stop()
        buffer.deallocate()
        pollDescriptors.deallocate()
    }

    public func start<Sink: CaptureSink>(_ sink: Sink) throws(AudioError) { try control.start(self, sink, name: name) }
    public func stop() { control.stop() }
    public func waitUntilEnded() { control.join() }

    // MARK: - Capture loop (real-time: no allocation, lock, String or logging until it ends)

    func run<Sink: CaptureSink>(_ sink: Sink) -> CaptureEnd {
        let channels = reader.channelCount
        var streamFrame: Int64 = 0
        while !control.stopRequested {
            // Wait for data, the writer's close (POLLHUP) or a stop; a regular file is always readable.
            let ready = poll(pollDescriptors.baseAddress, 2, -1)
            if ready < 0 { continue } // EINTR
            if pollDescriptors[1].revents != 0 { break }
            if pollDescriptors[0].revents == 0 { continue }
            let frames: Int
            do {
                frames = try reader.read(into: buffer)
            } catch {
                return .error(error)
            }
            // A stop cuts a stalled pipe's read short, ending its data: that is the stop, not the end of input.
            if frames == 0 { return control.stopRequested ? .stopped : .eof }
            sink.capture(UnsafeBufferPointer(rebasing: buffer[0..<(frames * channels)]), frames: frames, at: streamFrame)
            streamFrame += Int64(frames)
            counters.addFrames(frames)
        }
        return .stopped
    }
}
