#if canImport(Glibc)
import Glibc
#endif

/// The layout of headerless PCM, as `--raw ENCODING:RATE:CHANNELS` spells it (e.g. `s16le:8000:2`).
public struct RawFormat: Sendable, Equatable, CustomStringConvertible {
    /// How one sample is stored. Multi-byte encodings are little-endian, whatever the host.
    public enum Encoding: String, Sendable, CaseIterable {
        case s16le, s24le, s32le, f32le, u8, mulaw, alaw

        /// Bytes per sample.
        public var width: Int {
            switch self {
            case .u8, .mulaw, .alaw: 1
            case .s16le: 2
            case .s24le: 3
            case .s32le, .f32le: 4
            }
        }
    }

    public var encoding: Encoding
    public var sampleRate: Int
    public var channelCount: Int

    public init(encoding: Encoding, sampleRate: Int, channelCount: Int) {
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.channelCount = channelCount
    }

    /// The expected form, for error messages.
    public static let usage = "ENCODING:RATE:CHANNELS, e.g. s16le:8000:2 (encodings: "
        + Encoding.allCases.map(\.rawValue).joined(separator: ", ") + "; rate 8000–48000; channels 1–8)"

    /// Parses `ENCODING:RATE:CHANNELS`; a malformed spec is a usage error (64) that shows the expected form.
    public init(parsing spec: String) throws(AudioError) {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else {
            throw AudioError(.usage, path: "--raw", "'\(spec)' is not \(Self.usage)")
        }
        guard let encoding = Encoding(rawValue: parts[0].lowercased()) else {
            throw AudioError(.usage, path: "--raw", "unknown encoding '\(parts[0])'; expected \(Self.usage)")
        }
        guard let rate = Int(parts[1]), rate > 0 else {
            throw AudioError(.usage, path: "--raw", "rate '\(parts[1])' is not a number of Hz; expected \(Self.usage)")
        }
        guard let channels = Int(parts[2]), channels > 0 else {
            throw AudioError(.usage, path: "--raw", "channels '\(parts[2])' is not a positive count; expected \(Self.usage)")
        }
        try AudioLimits.check(sampleRate: rate, channelCount: channels, path: "--raw", kind: .usage)
        self.init(encoding: encoding, sampleRate: rate, channelCount: channels)
    }

    /// Bytes per interleaved frame.
    public var bytesPerFrame: Int { encoding.width * channelCount }

    public var description: String { "\(encoding.rawValue):\(sampleRate):\(channelCount)" }
}

/// Reads headerless PCM from a file descriptor (stdin, a pipe, a file) with read(2) in blocks and converts it
/// to Float in ±1.
///
/// Short reads and EINTR are normal on pipes and are retried; a non-blocking descriptor is waited on with
/// poll(2). Bytes of a frame split across reads are carried to the next call; an incomplete frame left at the
/// end of the stream is dropped with a warning. The byte buffer is allocated in `init`, so ``read(into:)``
/// does no heap work. μ-law and A-law decode through 256-entry tables to the same values libsndfile gives a
/// μ-law or A-law WAV, so piping a file's samples in raw yields the same analysis as the file.
public final class RawPCMReader: AudioSource {
    public let name: String
    public let format: RawFormat
    public var sampleRate: Int { format.sampleRate }
    public var channelCount: Int { format.channelCount }
    public private(set) var warnings: [String] = []
    /// Frames delivered so far.
    public private(set) var framesRead = 0
    /// Whether a read may wait for data that never comes: the descriptor is a FIFO, socket or character device, not
    /// a regular file. (A writer that stalls inside a frame leaves ``read(into:)`` retrying for the frame's rest, so a
    /// capture thread stops such a read by cutting the descriptor off, as for ``SoundFileReader``: see `CaptureThread`.)
    let readsMayBlock: Bool

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let bytes: UnsafeMutableRawBufferPointer
    private let table: UnsafeMutableBufferPointer<Float>
    /// Bytes at the start of `bytes` that belong to a frame not yet complete.
    private var carried = 0
    private var ended = false

    /// Frames converted per read(2) at most; the engine asks for this many.
    public static let blockFrames = 4096

    /// Reads `format` from `fd`; `name` is what errors call the stream (`-` for stdin). With `closeWhenDone` the
    /// reader owns the descriptor, also when this throws; otherwise the caller keeps it open until this reader is
    /// gone. A directory is missing input (66).
    public convenience init(fileDescriptor fd: Int32, name: String, format: RawFormat, closeWhenDone: Bool = false)
        throws(AudioError) {
        let kind: mode_t
        do {
            kind = try checkReadable(fd, name: name, allowEmpty: true).st_mode & S_IFMT
        } catch {
            if closeWhenDone { close(fd) }
            throw error
        }
        self.init(fd: fd, owned: closeWhenDone, name: name, format: format, readsMayBlock: kind != S_IFREG)
    }

    /// Opens `path` and reads it as headerless `format`; missing or unreadable → 66.
    public convenience init(path: String, format: RawFormat) throws(AudioError) {
        try self.init(fileDescriptor: openForReading(Array(path.utf8CString), name: path), name: path, format: format, closeWhenDone: true)
    }

    private init(fd: Int32, owned: Bool, name: String, format: RawFormat, readsMayBlock: Bool) {
        self.fd = fd
        self.readsMayBlock = readsMayBlock
        self.name = name
        self.format = format
        ownsDescriptor = owned
        bytes = .allocate(byteCount: Self.blockFrames * format.bytesPerFrame, alignment: 16)
        table = .allocate(capacity: 256)
        Self.fillTable(table, format.encoding)
    }

    deinit {
        bytes.deallocate()
        table.deallocate()
        if ownsDescriptor { close(fd) }
    }

    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws(AudioError) -> Int {
        if ended { return 0 }
        let bpf = format.bytesPerFrame
        let wantFrames = min(buffer.count / format.channelCount, Self.blockFrames)
        guard wantFrames > 0, let base = bytes.baseAddress else { return 0 }
        let wantBytes = wantFrames * bpf
        var have = carried
        // Fill until at least one whole frame is here: a pipe may hand over a few bytes at a time. Once there
        // is a frame, return it rather than block for more.
        while have < bpf {
            let n = Glibc.read(fd, base + have, wantBytes - have)
            if n > 0 { have += n; continue }
            if n == 0 { ended = true; break }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, -1)
                continue
            }
            let at = formatSeconds(framesRead, rate: format.sampleRate)
            throw AudioError(.io, path: name, "read failed after \(at) s: read: \(String(cString: strerror(e)))")
        }
        let frames = have / bpf
        let used = frames * bpf
        convert(UnsafeRawBufferPointer(start: base, count: used), into: buffer)
        carried = have - used
        if carried > 0 {
            if ended {
                warnings.append("\(name): dropped an incomplete frame of \(carried) bytes at the end "
                                + "(\(format) frames are \(bpf) bytes)")
                carried = 0
            } else {
                memmove(base, base + used, carried)
            }
        }
        framesRead += frames
        return frames
    }

    @inline(__always)
    private func convert(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let count = src.count / format.encoding.width
        switch format.encoding {
        case .s16le:
            for i in 0..<count {
                let v = Int16(bitPattern: UInt16(src[2 * i]) | UInt16(src[2 * i + 1]) << 8)
                dst[i] = Float(v) * (1 / 32768)
            }
        case .s24le:
            for i in 0..<count {
                let u = UInt32(src[3 * i]) << 8 | UInt32(src[3 * i + 1]) << 16 | UInt32(src[3 * i + 2]) << 24
                dst[i] = Float(Int32(bitPattern: u)) * (1 / 2147483648)
            }
        case .s32le:
            for i in 0..<count {
                let u = UInt32(src[4 * i]) | UInt32(src[4 * i + 1]) << 8 | UInt32(src[4 * i + 2]) << 16 | UInt32(src[4 * i + 3]) << 24
                dst[i] = Float(Int32(bitPattern: u)) * (1 / 2147483648)
            }
        case .f32le:
            for i in 0..<count {
                let u = UInt32(src[4 * i]) | UInt32(src[4 * i + 1]) << 8 | UInt32(src[4 * i + 2]) << 16 | UInt32(src[4 * i + 3]) << 24
                dst[i] = Float(bitPattern: u)
            }
        case .u8, .mulaw, .alaw:
            for i in 0..<count { dst[i] = table[Int(src[i])] }
        }
    }

    /// Byte → sample for the one-byte encodings, so their hot loop is one table load.
    private static func fillTable(_ t: UnsafeMutableBufferPointer<Float>, _ encoding: RawFormat.Encoding) {
        for b in 0..<256 {
            switch encoding {
            case .u8: t[b] = Float(b - 128) / 128
            case .mulaw: t[b] = Float(mulawToLinear(UInt8(b))) / 32768
            case .alaw: t[b] = Float(alawToLinear(UInt8(b))) / 32768
            default: t[b] = 0
            }
        }
    }
}

/// G.711 μ-law byte → 16-bit linear (±32124).
func mulawToLinear(_ byte: UInt8) -> Int {
    let u = Int(~byte)
    let magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return u & 0x80 != 0 ? 0x84 - magnitude : magnitude - 0x84
}

/// G.711 A-law byte → 16-bit linear (±32256).
func alawToLinear(_ byte: UInt8) -> Int {
    let a = Int(byte ^ 0x55)
    var t = (a & 0x0F) << 4
    let segment = (a & 0x70) >> 4
    switch segment {
    case 0: t += 8
    case 1: t += 0x108
    default: t = (t + 0x108) << (segment - 1)
    }
    return a & 0x80 != 0 ? t : -t
}
