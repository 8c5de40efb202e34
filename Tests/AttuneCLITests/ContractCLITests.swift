import AttuneEvents
import AttuneTestSupport
import Foundation
import Testing

/// The holes fuzzing found in the CLI contract (issue 10): exit codes for bad data on stdin, names that are not
/// UTF-8 or hold control characters, transcripts from pipes, file names starting with `-`, and transcripts that
/// disagree with the audio.
@Suite("ContractCLI")
struct ContractCLITests {
    static let hello = repoRoot + "/Samples/hello-16k.wav"
    static let call = repoRoot + "/Samples/call-8k-mulaw.wav"

    enum StdinData: String, CaseIterable, Sendable {
        case garbage, corruptHeader, rate7999, nineChannels, rateZero, devNull, directory

        /// The exit code and a piece of the message the data must give, on a pipe or as a file.
        var expected: (code: Int32, says: String) {
            switch self {
            case .garbage, .corruptHeader, .devNull: (65, "sf_open_fd: ")
            case .rate7999: (65, "sample rate 7999 Hz; 8000–48000 Hz supported")
            case .nineChannels: (65, "9 channels; at most 8 are supported")
            case .rateZero: (65, "sample rate or channel count is invalid")
            case .directory: (66, "is a directory, not an audio file")
            }
        }

        /// Whether libsndfile failed to recognise the stream, which earns the hint about --raw.
        var unrecognised: Bool { self == .garbage || self == .corruptHeader || self == .devNull }

        func bytes() -> Data {
            let voice = [Float](repeating: 0.1, count: 1600)
            switch self {
            case .garbage: return Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
            case .corruptHeader:
                var d = wavData(rate: 8000, channels: 1, samples: voice)
                d.replaceSubrange(8..<16, with: Array("WAVXfmt!".utf8))
                return d
            case .rate7999: return wavData(rate: 7999, channels: 1, samples: voice)
            case .nineChannels: return wavData(rate: 8000, channels: 9, samples: [Float](repeating: 0.1, count: 9 * 800))
            case .rateZero: return wavData(rate: 0, channels: 1, samples: voice)
            case .devNull, .directory: return Data()
            }
        }
    }

    /// Bad data on stdin is bad data (65), as the same bytes in a file are; the pipe note appears only on a pipe,
    /// and every sentence of the message ends with a full stop.
    @Test(arguments: StdinData.allCases, [true, false])
    func badDataOnStdin(_ kind: StdinData, pipe: Bool) throws {
        let dir = TempDir()
        let r: RunResult
        switch kind {
        case .devNull: r = try runAttune(["analyze", "-"], stdinFile: "/dev/null")
        case .directory: r = try runAttune(["analyze", "-"], stdinFile: dir.path)
        default:
            if pipe {
                r = try runAttune(["analyze", "-"], stdin: kind.bytes())
            } else {
                try kind.bytes().write(to: URL(fileURLWithPath: dir.file("in.wav")))
                r = try runAttune(["analyze", "-"], stdinFile: dir.file("in.wav"))
            }
        }
        let onPipe = pipe && kind != .devNull && kind != .directory
        #expect(r.status == kind.expected.code, "stderr: \(r.stderr)")
        #expect(r.stderrLines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.hasPrefix("attune: -: "), "stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
        // A rate of 0 on a pipe cannot be read back from the header; as a file it is named exactly.
        let says = kind == .rateZero && !onPipe ? "sample rate 0 Hz in the header is invalid" : kind.expected.says
        #expect(r.stderr.contains(says), "stderr: \(r.stderr)")
        #expect(r.stderr.contains("On a pipe") == (onPipe && kind.unrecognised), "stderr: \(r.stderr)")
        #expect(r.stderr.contains(". For headerless PCM give --raw ENCODING:RATE:CHANNELS") == kind.unrecognised, "stderr: \(r.stderr)")
        if kind.unrecognised { #expect(r.stderr.hasSuffix(".\n"), "stderr: \(r.stderr)") }
    }

    /// A name that is not UTF-8 is opened byte for byte; the call id and the messages stay valid UTF-8, with the
    /// stray bytes shown as `\xNN` in errors.
    @Test func fileNameThatIsNotUTF8() throws {
        let dir = TempDir()
        let name: [UInt8] = Array("voice-".utf8) + [0xFF, 0xFE] + Array(".wav".utf8)
        let path = Array(dir.path.utf8) + [UInt8(ascii: "/")] + name
        let wav = wavData(rate: 16000, channels: 1, samples: AnalyzeCLITests.voiceLike(rate: 16000))
        let fd = open(path.map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        _ = wav.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)

        let r = try runAttune(rawArguments: [Array("analyze".utf8), path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(decodeRecords(r.stdout).summaries.map(\.call) == ["voice-\u{FFFD}\u{FFFD}"])

        let missing = Array(dir.path.utf8) + Array("/gone-".utf8) + [0xC3, 0x28] + Array(".wav".utf8)
        let m = try runAttune(rawArguments: [Array("analyze".utf8), missing])
        #expect(m.status == 66)
        #expect(m.stderr == "attune: \(dir.path)/gone-\\xc3(.wav: cannot open: No such file or directory\n")
        #expect(m.stdout.isEmpty)
    }

    /// Newlines and escape sequences in names reach stderr escaped, in errors and warnings alike.
    @Test func controlCharactersInNamesAreEscaped() throws {
        let dir = TempDir()
        let missing = try runAttune(["analyze", dir.file("a\nb\u{1B}[31m.wav")])
        #expect(missing.status == 66)
        #expect(missing.stderr == "attune: \(dir.path)/a\\nb\\x1b[31m.wav: cannot open: No such file or directory\n")

        let cut = dir.file("cut\t\r.wav")
        try wavData(rate: 16000, channels: 1, samples: AnalyzeCLITests.voiceLike(rate: 16000)).prefix(44 + 16000)
            .write(to: URL(fileURLWithPath: cut))
        let warned = try runAttune(["analyze", cut])
        #expect(warned.status == 0)
        #expect(warned.stderrLines.count == 1)
        #expect(warned.stderr.hasPrefix("attune: warning: \(dir.path)/cut\\t\\r.wav: the header claims more audio"), "\(warned.stderr)")

        let transcript = dir.file("t\n.vtt")
        try "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nhi\n".write(toFile: transcript, atomically: true, encoding: .utf8)
        let bad = try runAttune(["analyze", Self.hello, "--transcript", transcript])
        #expect(bad.status == 65)
        #expect(bad.stderr.hasPrefix("attune: \(dir.path)/t\\n.vtt:3: utterance ends before it starts"), "\(bad.stderr)")
        #expect(bad.stderrLines.count == 1)
    }

    /// ArgumentParser's own errors quote what they refuse; that too arrives escaped, its line breaks kept.
    @Test func argumentParserErrorsEscapeWhatTheyQuote() throws {
        let r = try runAttune(["analyze", Self.hello, "extra\narg\u{1B}[31m"])
        #expect(r.status == 64)
        #expect(r.stderrLines.first == "Error: Unexpected argument 'extra\\narg\\x1b[31m'", "\(r.stderr)")
        #expect(r.stderrLines.count == 3, "\(r.stderr)")
        #expect(!r.stderr.contains("\u{1B}"))
        #expect(r.stdout.isEmpty)
    }

    static let transcript = "{\"start\": 0.1, \"end\": 1.9, \"text\": \"hello there friend\"}\n"

    @Test func transcriptFromStdin() throws {
        let r = try runAttune(["analyze", Self.hello, "--transcript", "-"], stdin: Data(Self.transcript.utf8))
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(decodeRecords(r.stdout).segments.flatMap(\.words).contains("hello"))

        let both = try runAttune(["analyze", "-", "--transcript", "-"], stdin: Data(Self.transcript.utf8))
        #expect(both.status == 64)
        #expect(both.stderr == "attune: --transcript -: stdin cannot be both the audio and the transcript; give one of them by path\n")
    }

    @Test func transcriptFromAFIFO() throws {
        let dir = TempDir()
        let fifo = dir.file("t.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread {
            // Opening blocks until attune opens the other end.
            if let h = FileHandle(forWritingAtPath: fifo) { h.write(Data(Self.transcript.utf8)); try? h.close() }
        }
        writer.start()
        let r = try runAttune(["analyze", Self.hello, "--transcript", fifo])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(decodeRecords(r.stdout).segments.flatMap(\.words).contains("hello"))
    }

    /// `-dash.wav` used to parse as `-d -a -s -h` and print help with exit 0.
    @Test func fileNameStartingWithDash() throws {
        let dir = TempDir()
        try wavData(rate: 16000, channels: 1, samples: AnalyzeCLITests.voiceLike(rate: 16000))
            .write(to: URL(fileURLWithPath: dir.file("-dash.wav")))
        let r = try runAttune(["analyze", "-dash.wav"], in: dir.path)
        #expect(r.status == 64)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "attune analyze: '-dash.wav' is not an option; for a file whose name starts with '-', "
                + "write ./-dash.wav or -- -dash.wav\n")
        for arguments in [["analyze", "--", "-dash.wav"], ["analyze", "./-dash.wav"], ["analyze", "--frames", "--", "-dash.wav"]] {
            let ok = try runAttune(arguments, in: dir.path)
            #expect(ok.status == 0, "\(arguments): \(ok.stderr)")
            #expect(decodeRecords(ok.stdout).summaries.map(\.call) == ["-dash"])
        }
        #expect(try runAttune(["analyze", "-h"]).status == 0, "-h alone is still help")
    }

    /// `--dash.wav` parses as an unknown option ("Missing expected argument" when it is the only argument); when a
    /// file of that name exists the error says how to name it, as it does for `-dash.wav`.
    @Test func fileNameStartingWithTwoDashes() throws {
        let dir = TempDir()
        try wavData(rate: 16000, channels: 1, samples: AnalyzeCLITests.voiceLike(rate: 16000))
            .write(to: URL(fileURLWithPath: dir.file("--dash.wav")))
        let hint = "attune analyze: '--dash.wav' is not an option; for a file whose name starts with '-', "
            + "write ./--dash.wav or -- --dash.wav\n"
        for arguments in [["analyze", "--dash.wav"], ["analyze", "--frames", "--dash.wav"], ["plot", "--dash.wav", "-o", "-"]] {
            let r = try runAttune(arguments, in: dir.path)
            #expect(r.status == 64, "\(arguments)")
            #expect(r.stdout.isEmpty)
            #expect(r.stderr == hint.replacingOccurrences(of: "attune analyze", with: "attune " + arguments[0]), "\(arguments)")
        }
        for arguments in [["analyze", "--", "--dash.wav"], ["analyze", "./--dash.wav"]] {
            let ok = try runAttune(arguments, in: dir.path)
            #expect(ok.status == 0, "\(arguments): \(ok.stderr)")
            #expect(decodeRecords(ok.stdout).summaries.map(\.call) == ["--dash"])
        }
        // Without such a file an unknown option is ArgumentParser's own usage error, as before.
        let unknown = try runAttune(["analyze", "--nope.wav"], in: dir.path)
        #expect(unknown.status == 64)
        #expect(!unknown.stderr.contains("./--nope.wav"), "\(unknown.stderr)")
    }

    @Test func transcriptChannelBeyondTheAudio() throws {
        let dir = TempDir()
        let t = dir.file("t.ndjson")
        try "{\"start\": 0, \"end\": 1, \"text\": \"a\"}\n{\"channel\": 5, \"start\": 1, \"end\": 2, \"text\": \"b\"}\n"
            .write(toFile: t, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", Self.call, "--transcript", t])
        #expect(r.status == 65)
        #expect(r.stderr == "attune: \(t):2: channel 5, but \(Self.call) has 2 channels (channels count from 0)\n")
        #expect(r.stdout.isEmpty)
    }

    /// Numbers an `Int` conversion traps on are bad data, not a crash.
    @Test(arguments: ["1e20", "-1e20", "1.5", "1e400", "-1", "18446744073709551616"])
    func hugeOrFractionalChannelIs65(_ channel: String) throws {
        let dir = TempDir()
        let t = dir.file("t.ndjson")
        try "{\"channel\": \(channel), \"start\": 0, \"end\": 1, \"text\": \"a\"}\n".write(toFile: t, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", Self.hello, "--transcript", t])
        #expect(r.status == 65, "stderr: \(r.stderr)")
        #expect(r.stderr.hasPrefix("attune: \(t):1: "), "\(r.stderr)")
    }
}
