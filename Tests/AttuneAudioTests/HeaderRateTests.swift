import AttuneAudio
import AttuneTestSupport
import Foundation
import CSndFile
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
        var rng = SeededGenerator(seed: 0x5EED)
        func next(_ n: Int) -> Int { Int.random(in: 0..<n, using: &rng) }
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

/// Audio files with mutated headers (WAV, AIFF, AU, FLAC, written by libsndfile, then bytes flipped, fields
/// replaced by edge values, truncated) either open with a rate and channel count within the limits and read to
/// their end or an ``AudioError``, or are refused with an ``AudioError``; nothing traps.
@Suite("Audio header fuzzing")
struct AudioHeaderFuzzTests {
    @Test func mutatedHeadersOpenOrThrow() throws {
        let dir = TempDir()
        let formats: [(String, Int32)] = [
            ("wav", Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)), ("aiff", Int32(SF_FORMAT_AIFF | SF_FORMAT_PCM_16)),
            ("au", Int32(SF_FORMAT_AU | SF_FORMAT_ULAW)), ("flac", Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)),
        ]
        let edges: [[UInt8]] = [[0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0x80], [0x00, 0x28, 0x6B, 0xEE], [0x3F, 0x1F, 0, 0],
                                [9, 0], [0, 0], [0xFF, 0x7F]]
        var rng = SeededGenerator(seed: 0xA0D10)
        var opened = 0, refused = 0
        for (ext, format) in formats {
            let seed = dir.file("seed.\(ext)")
            try writeSoundFile(seed, format: format, rate: 8000, channels: 2, samples: testSignal(frames: 400, channels: 2, rate: 8000))
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seed)))
            let path = dir.file("fuzz.\(ext)")
            let file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            defer { close(file) }
            for _ in 0..<1000 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
                    let at = Int.random(in: 0..<min(bytes.count, 96), using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1:
                        let edge = edges.randomElement(using: &rng)!
                        bytes.replaceSubrange(at..<min(bytes.count, at + edge.count), with: edge)
                    case 2: bytes.removeSubrange(Int.random(in: at..<bytes.count, using: &rng)...)
                    default: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                    }
                }
                // One file rewritten in place; each reader gets its own descriptor, since libsndfile closes the one
                // it refuses.
                ftruncate(file, 0)
                _ = bytes.withUnsafeBytes { pwrite(file, $0.baseAddress, $0.count, 0) }
                lseek(file, 0, SEEK_SET)
                let fd = dup(file)
                do {
                    let reader = try SoundFileReader(fileDescriptor: fd, name: path, closeWhenDone: true)
                    #expect(AudioLimits.sampleRates.contains(reader.sampleRate) && AudioLimits.channelCounts.contains(reader.channelCount))
                    _ = try? readAll(reader, block: 512)
                    opened += 1
                } catch {
                    #expect(error.path == path && !error.reason.isEmpty)
                    refused += 1
                }
            }
        }
        #expect(opened > 0 && refused > 0, "\(opened) opened, \(refused) refused")
    }
}
