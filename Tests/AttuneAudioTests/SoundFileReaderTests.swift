import AttuneAudio
import AttuneTestSupport
import CSndFile
import Foundation
import Testing

@Suite("SoundFileReader")
struct SoundFileReaderTests {
    struct Format: CustomTestStringConvertible, Sendable {
        var name: String
        var ext: String
        var format: Int32
        /// Largest error allowed per sample for a ±0.5 sine (the format's quantisation; loose for lossy Vorbis,
        /// which is checked by RMS instead).
        var tolerance: Float
        var lossy = false
        var testDescription: String { name }
    }

    static let formats: [Format] = [
        Format(name: "WAV u8", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_U8), tolerance: 1.0 / 128),
        Format(name: "WAV s16", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), tolerance: 1.0 / 32768),
        Format(name: "WAV s24", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_24), tolerance: 1.0 / 8_388_608),
        Format(name: "WAV s32", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_32), tolerance: 1e-6),
        Format(name: "WAV float", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT), tolerance: 0),
        // G.711 steps are 1024/32768 in the top segment that ±0.5 reaches; libsndfile's encoder rounds to within
        // about 0.52 of a step, so allow 0.6.
        Format(name: "WAV μ-law", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_ULAW), tolerance: 600.0 / 32768),
        Format(name: "WAV A-law", ext: "wav", format: Int32(SF_FORMAT_WAV | SF_FORMAT_ALAW), tolerance: 600.0 / 32768),
        Format(name: "FLAC s16", ext: "flac", format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), tolerance: 1.0 / 32768),
        Format(name: "FLAC s24", ext: "flac", format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_24), tolerance: 1.0 / 8_388_608),
        Format(name: "OGG Vorbis", ext: "ogg", format: Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS), tolerance: 0.1, lossy: true),
        Format(name: "AIFF s16", ext: "aiff", format: Int32(SF_FORMAT_AIFF | SF_FORMAT_PCM_16), tolerance: 1.0 / 32768),
        Format(name: "AU s16", ext: "au", format: Int32(SF_FORMAT_AU | SF_FORMAT_PCM_16), tolerance: 1.0 / 32768),
        Format(name: "AU μ-law", ext: "au", format: Int32(SF_FORMAT_AU | SF_FORMAT_ULAW), tolerance: 600.0 / 32768),
    ]
    static let rates = [8000, 11025, 16000, 22050, 44100, 48000]

    @Test(arguments: formats)
    func readsBackEveryRateMonoAndStereo(_ f: Format) throws {
        let dir = TempDir()
        for rate in Self.rates {
            for channels in [1, 2] {
                let frames = rate / 4
                let signal = testSignal(frames: frames, channels: channels, rate: rate)
                let path = dir.file("t-\(rate)-\(channels).\(f.ext)")
                try writeSoundFile(path, format: f.format, rate: rate, channels: channels, samples: signal)
                let reader = try SoundFileReader(path: path)
                #expect(reader.sampleRate == rate)
                #expect(reader.channelCount == channels)
                #expect(reader.declaredFrames == frames)
                let back = try readAll(reader, block: 777)
                #expect(back.count == signal.count, "\(f.name) \(rate) Hz \(channels) ch")
                guard back.count == signal.count else { continue }
                if f.lossy {
                    var err = 0.0, ref = 0.0
                    for i in 0..<back.count {
                        err += Double((back[i] - signal[i]) * (back[i] - signal[i]))
                        ref += Double(signal[i] * signal[i])
                    }
                    // Vorbis keeps a pure tone within -20 dB of error energy even at its lowest rates.
                    #expect(err / ref < 0.01, "\(f.name) \(rate) Hz \(channels) ch: error/signal energy \(err / ref)")
                } else {
                    var worst: Float = 0
                    for i in 0..<back.count { worst = max(worst, abs(back[i] - signal[i])) }
                    #expect(worst <= f.tolerance, "\(f.name) \(rate) Hz \(channels) ch: max error \(worst)")
                }
                #expect(reader.warnings.isEmpty)
            }
        }
    }

    @Test func missingFileIsNoInput() {
        let dir = TempDir()
        let path = dir.file("nope.wav")
        #expect(throws: AudioError(.missing, path: path, "cannot open: No such file or directory")) {
            try SoundFileReader(path: path)
        }
    }

    @Test func directoryIsNoInput() throws {
        let dir = TempDir()
        let error = try #require(throws: AudioError.self) { try SoundFileReader(path: dir.path) }
        #expect(error.kind == .missing)
        #expect(error.exitCode == 66)
    }

    @Test func emptyFileIsBadData() throws {
        let dir = TempDir()
        let path = dir.file("empty.wav")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let error = try #require(throws: AudioError.self) { try SoundFileReader(path: path) }
        #expect(error.kind == .badData)
        #expect(error.description == "\(path): empty file (0 bytes)")
    }

    @Test func garbageQuotesLibsndfile() throws {
        let dir = TempDir()
        let path = dir.file("text.wav")
        _ = FileManager.default.createFile(atPath: path, contents: Data("just some words\n".utf8))
        let error = try #require(throws: AudioError.self) { try SoundFileReader(path: path) }
        #expect(error.kind == .badData)
        #expect(error.reason.hasPrefix("sf_open_fd: "))
    }

    @Test func validHeaderWithNoFramesIsZeroDuration() throws {
        let dir = TempDir()
        let path = dir.file("zero.wav")
        try writeSoundFile(path, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 16000, channels: 1, samples: [])
        let reader = try SoundFileReader(path: path)
        #expect(reader.declaredFrames == 0)
        #expect(try readAll(reader).isEmpty)
    }

    @Test func tooManyChannelsAndBadRatesAreRefused() throws {
        let dir = TempDir()
        let eight = dir.file("eight.wav")
        try writeSoundFile(eight, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 48000, channels: 8,
                           samples: testSignal(frames: 480, channels: 8, rate: 48000))
        #expect(try SoundFileReader(path: eight).channelCount == 8)
        let nine = dir.file("nine.wav")
        try writeSoundFile(nine, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 8000, channels: 9,
                           samples: [Float](repeating: 0, count: 9 * 100))
        #expect(throws: AudioError(.badData, path: nine, "9 channels; at most 8 are supported")) { try SoundFileReader(path: nine) }
        let slow = dir.file("slow.wav")
        try writeSoundFile(slow, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 4000, channels: 1,
                           samples: [Float](repeating: 0, count: 100))
        #expect(throws: AudioError(.badData, path: slow, "sample rate 4000 Hz; 8000–48000 Hz supported")) {
            try SoundFileReader(path: slow)
        }
        let fast = dir.file("fast.wav")
        try writeSoundFile(fast, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 96000, channels: 1,
                           samples: [Float](repeating: 0, count: 100))
        #expect(throws: AudioError(.badData, path: fast, "sample rate 96000 Hz; 8000–48000 Hz supported")) {
            try SoundFileReader(path: fast)
        }
    }

    @Test func truncatedDataWarnsAndKeepsWhatIsThere() throws {
        let dir = TempDir()
        let path = dir.file("cut.wav")
        let signal = testSignal(frames: 16000, channels: 1, rate: 16000)
        try writeSoundFile(path, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 16000, channels: 1, samples: signal)
        // Cut the data chunk in half, leaving the header's length claim intact.
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(44 + 16000).write(to: URL(fileURLWithPath: path))
        let reader = try SoundFileReader(path: path)
        let back = try readAll(reader)
        #expect(back.count == 8000)
        #expect(reader.warnings.count == 1)
        #expect(reader.warnings.first?.contains("header claims more audio than the file holds") == true, "\(reader.warnings)")
    }

    @Test func streamsInBlocksOfAnySize() throws {
        let dir = TempDir()
        let path = dir.file("s.flac")
        let signal = testSignal(frames: 10007, channels: 2, rate: 16000)
        try writeSoundFile(path, format: Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16), rate: 16000, channels: 2, samples: signal)
        let a = try readAll(SoundFileReader(path: path), block: 1)
        let b = try readAll(SoundFileReader(path: path), block: 4096)
        #expect(a == b)
        #expect(a.count == signal.count)
    }

    @Test func readsAStreamFromADescriptor() throws {
        let dir = TempDir()
        let path = dir.file("p.wav")
        let signal = testSignal(frames: 4000, channels: 1, rate: 8000)
        try writeSoundFile(path, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), rate: 8000, channels: 1, samples: signal)
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let reader = try SoundFileReader(fileDescriptor: fd, name: "-")
        #expect(reader.sampleRate == 8000)
        #expect(try readAll(reader).count == 4000)
    }
}
