#if canImport(Glibc)
import Glibc
#endif

/// The sample rate and channel count a WAV (RIFF, RIFX, RF64), AIFF/AIFC or AU header declares, read from the
/// bytes themselves.
///
/// libsndfile refuses a header whose rate is 0 or does not fit its `int` (2³¹ Hz, 4 GHz) with the unhelpful
/// "SF_INFO struct incomplete"; reading the field ourselves lets the error say which value is wrong.
struct HeaderFields: Equatable {
    var sampleRate: Double
    var channelCount: Int

    /// Reads the header at the descriptor's current offset with pread(2), leaving the offset alone; nil for a
    /// stream that cannot be re-read (a pipe) or a format this does not know.
    init?(peeking fd: Int32) {
        let offset = lseek(fd, 0, SEEK_CUR)
        guard offset >= 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 1 << 16)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
        guard n > 0 else { return nil }
        self.init(header: Array(bytes.prefix(n)))
    }

    init?(header b: [UInt8]) {
        func tag(_ at: Int) -> String { at + 4 <= b.count ? String(decoding: b[at..<(at + 4)], as: UTF8.self) : "" }
        func uint(_ at: Int, _ width: Int, bigEndian: Bool) -> Int? {
            guard at >= 0, at + width <= b.count else { return nil }
            let bytes = b[at..<(at + width)]
            return (bigEndian ? Array(bytes) : bytes.reversed()).reduce(0) { $0 << 8 | Int($1) }
        }
        switch tag(0) {
        case "RIFF", "RIFX", "RF64":
            guard tag(8) == "WAVE" else { return nil }
            let big = tag(0) == "RIFX"
            guard let fmt = Self.chunk("fmt ", in: b, from: 12, bigEndian: big, tag: tag, uint: uint),
                  let channels = uint(fmt + 2, 2, bigEndian: big), let rate = uint(fmt + 4, 4, bigEndian: big) else { return nil }
            self.init(sampleRate: Double(rate), channelCount: channels)
        case "FORM":
            guard tag(8) == "AIFF" || tag(8) == "AIFC",
                  let comm = Self.chunk("COMM", in: b, from: 12, bigEndian: true, tag: tag, uint: uint),
                  let channels = uint(comm, 2, bigEndian: true),
                  let exponent = uint(comm + 8, 2, bigEndian: true), let mantissa = uint(comm + 10, 8, bigEndian: true) else { return nil }
            // An 80-bit IEEE extended float: sign and 15-bit exponent, then a 64-bit mantissa with explicit integer bit.
            let magnitude = Double(UInt64(truncatingIfNeeded: mantissa)) * pow(2, Double(exponent & 0x7FFF) - 16383 - 63)
            self.init(sampleRate: exponent & 0x8000 != 0 ? -magnitude : magnitude, channelCount: channels)
        case ".snd":
            guard let rate = uint(16, 4, bigEndian: true), let channels = uint(20, 4, bigEndian: true) else { return nil }
            self.init(sampleRate: Double(rate), channelCount: channels)
        default:
            return nil
        }
    }

    init(sampleRate: Double, channelCount: Int) {
        self.sampleRate = sampleRate
        self.channelCount = channelCount
    }

    /// The offset of the body of chunk `id`, walking chunks from `start`.
    private static func chunk(_ id: String, in b: [UInt8], from start: Int, bigEndian: Bool,
                              tag: (Int) -> String, uint: (Int, Int, Bool) -> Int?) -> Int? {
        var at = start
        while at + 8 <= b.count {
            if tag(at) == id { return at + 8 }
            guard let size = uint(at + 4, 4, bigEndian) else { return nil }
            at += 8 + size + (size & 1)
        }
        return nil
    }

    /// What is out of range, in words, or nil when both fields are within ``AudioLimits``.
    var problem: String? {
        if !AudioLimits.channelCounts.contains(channelCount) {
            return "\(channelCount) channels in the header is invalid; "
                + "\(AudioLimits.channelCounts.lowerBound)–\(AudioLimits.channelCounts.upperBound) supported"
        }
        if !(Double(AudioLimits.sampleRates.lowerBound)...Double(AudioLimits.sampleRates.upperBound)).contains(sampleRate) {
            let hz = sampleRate == sampleRate.rounded() && abs(sampleRate) < 1e18 ? "\(Int(sampleRate))" : "\(sampleRate)"
            return "sample rate \(hz) Hz in the header is invalid; "
                + "\(AudioLimits.sampleRates.lowerBound)–\(AudioLimits.sampleRates.upperBound) Hz supported"
        }
        return nil
    }
}
