import AttuneAudio
import AttuneTestSupport
import Foundation
import Testing

/// Headers whose sample rate libsndfile cannot even hold (0, 2³¹ Hz, 4 GHz) are refused as bad data that says
/// which rate is wrong, not with libsndfile's "SF_INFO struct incomplete".
@Suite("Header sample rates")
struct HeaderRateTests {
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }

    /// A 16-bit mono PCM WAV of 800 silent frames, with `rate` written into the fmt chunk as is.
    static func wav(rate: UInt32, channels: UInt16 = 1) -> [UInt8] {
        let data = [UInt8](repeating: 0, count: 1600 * Int(channels))
        var b: [UInt8] = Array("RIFF".utf8) + le32(UInt32(36 + data.count)) + Array("WAVEfmt ".utf8) + le32(16)
        b += le16(1) + le16(channels) + le32(rate) + le32(rate &* 2 &* UInt32(channels)) + le16(2 * channels) + le16(16)
        return b + Array("data".utf8) + le32(UInt32(data.count)) + data
    }

    /// A 16-bit linear AU (big-endian) with `rate` in its header.
    static func au(rate: UInt32) -> [UInt8] {
        Array(".snd".utf8) + be32(24) + be32(1600) + be32(3) + be32(rate) + be32(1) + [UInt8](repeating: 0, count: 1600)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var message: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "WAV 0 Hz", bytes: wav(rate: 0), message: "sample rate 0 Hz in the header is invalid; 8000–48000 Hz supported"),
        Case(name: "WAV 2^31 Hz", bytes: wav(rate: 1 << 31), message: "sample rate 2147483648 Hz in the header is invalid"),
        Case(name: "WAV 4 GHz", bytes: wav(rate: 4_000_000_000), message: "sample rate 4000000000 Hz in the header is invalid"),
        Case(name: "WAV 0 channels", bytes: wav(rate: 8000, channels: 0), message: "0 channels in the header is invalid; 1–8 supported"),
        Case(name: "AU 0 Hz", bytes: au(rate: 0), message: "sample rate 0 Hz in the header is invalid"),
    ]

    @Test(arguments: cases)
    func invalidRateIsNamed(_ c: Case) throws {
        let dir = TempDir()
        let path = dir.file("h.wav")
        try Data(c.bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: AudioError.self) { try SoundFileReader(path: path) }
        #expect(error?.kind == .badData)
        #expect(error?.path == path)
        #expect(error?.reason.hasPrefix(c.message) == true, "\(String(describing: error))")
    }

    @Test("the same header with a valid rate opens")
    func validRateOpens() throws {
        let dir = TempDir()
        let path = dir.file("ok.wav")
        try Data(Self.wav(rate: 8000)).write(to: URL(fileURLWithPath: path))
        let reader = try SoundFileReader(path: path)
        #expect(reader.sampleRate == 8000)
        #expect(try readAll(reader).count == 800)
    }
}

/// `--raw ENCODING:RATE:CHANNELS` from mutated and random strings either parses to a format within the limits or
/// is a usage error about `--raw`; nothing traps.
@Suite("Raw format fuzzing")
struct RawFormatFuzzTests {
    @Test func mutatedSpecsParseOrAreUsageErrors() {
        let pieces = ["s16le", "S16LE", "f32le", "mulaw", "u8", "pcm", "", ":", "::", "8000", "48000", "48001", "7999", "0", "-1",
                      "+8000", " 8000", "8000 ", "1e4", "8000.0", "0x1f40", "99999999999999999999999", "9223372036854775807",
                      "-9223372036854775808", "2", "8", "9", "NaN", "∞", "٨٠٠٠", "\u{0}", "\n", "\u{FFFD}", "ü", "s16le:8000:2"]
        var state: UInt64 = 0x5EED
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        var accepted = 0, refused = 0
        for _ in 0..<5000 {
            let spec = (0..<(1 + next(6))).map { _ in pieces[next(pieces.count)] }.joined(separator: next(3) == 0 ? "" : ":")
            do {
                let f = try RawFormat(parsing: spec)
                #expect(AudioLimits.sampleRates.contains(f.sampleRate) && AudioLimits.channelCounts.contains(f.channelCount), "\(spec)")
                #expect(try RawFormat(parsing: f.description) == f, "\(spec) does not round-trip")
                accepted += 1
            } catch {
                #expect(error.kind == .usage && error.path == "--raw", "\(spec): \(error)")
                refused += 1
            }
        }
        #expect(accepted > 0 && refused > 0, "\(accepted) accepted, \(refused) refused")
    }
}
