import AttuneEvents
import AttuneTestSupport
import Foundation
import Testing

/// Runs the real `attune analyze` binary as a subprocess: exit codes, one-line errors, NDJSON output.
@Suite("AnalyzeCLI")
struct AnalyzeCLITests {
    static let sampleCall = repoRoot + "/Samples/call-8k-mulaw.wav"
    static let sampleHello = repoRoot + "/Samples/hello-16k.wav"

    /// A harmonic "voice" in bursts: 150 Hz with 8 harmonics, on 250 ms / off 150 ms, 2 s at `rate`.
    static func voiceLike(rate: Int, seconds: Double = 2, f0: Double = 150) -> [Float] {
        let n = Int(Double(rate) * seconds)
        return (0..<n).map { i in
            let t = Double(i) / Double(rate)
            guard t.truncatingRemainder(dividingBy: 0.4) < 0.25 else { return 0 }
            var x = 0.0
            for h in 1...8 { x += sin(2 * .pi * f0 * Double(h) * t) / Double(h) }
            return Float(0.2 * x)
        }
    }

    /// Exactly one stderr line, `attune: <path>: …`, and nothing on stdout.
    func expectOneLineError(_ r: RunResult, code: Int32, naming path: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == code, "exit \(r.status), stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderrLines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("attune: \(path): "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test func missingFileIs66() throws {
        let dir = TempDir()
        let path = dir.file("nope.wav")
        let r = try runAttune(["analyze", path])
        expectOneLineError(r, code: 66, naming: path)
        #expect(r.stderr.contains("No such file"))
    }

    @Test func directoryIs66() throws {
        let dir = TempDir()
        expectOneLineError(try runAttune(["analyze", dir.path]), code: 66, naming: dir.path)
    }

    enum Bad: String, CaseIterable, Sendable {
        case empty, randomBytes, truncatedHeader, textFile, nineChannels, fourKilohertz
    }

    @Test(arguments: Bad.allCases)
    func badDataIs65(_ kind: Bad) throws {
        let dir = TempDir()
        let path = dir.file("\(kind.rawValue).wav")
        let data: Data
        switch kind {
        case .empty: data = Data()
        case .randomBytes:
            var x: UInt32 = 2_463_534_242
            data = Data((0..<4096).map { _ in x ^= x << 13; x ^= x >> 17; x ^= x << 5; return UInt8(truncatingIfNeeded: x) })
        case .truncatedHeader: data = wavData(rate: 16000, channels: 1, samples: Self.voiceLike(rate: 16000)).prefix(30)
        case .textFile: data = Data("call notes: customer was upset\nagent offered credit\n".utf8)
        case .nineChannels: data = wavData(rate: 8000, channels: 9, samples: [Float](repeating: 0.1, count: 9 * 800))
        case .fourKilohertz: data = wavData(rate: 4000, channels: 1, samples: [Float](repeating: 0.1, count: 4000))
        }
        try data.write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        expectOneLineError(r, code: 65, naming: path)
        switch kind {
        case .empty: #expect(r.stderr.contains("empty file (0 bytes)"))
        case .nineChannels: #expect(r.stderr.contains("9 channels; at most 8 are supported"))
        case .fourKilohertz: #expect(r.stderr.contains("sample rate 4000 Hz; 8000–48000 Hz supported"))
        default: #expect(r.stderr.contains("sf_open_fd: "))
        }
    }

    @Test func corruptDataPartWayIs65WithTheTime() throws {
        let dir = TempDir()
        let flac = try Data(contentsOf: URL(fileURLWithPath: repoRoot + "/Samples/xin-chao-vi-16k.flac"))
        let path = dir.file("cut.flac")
        try flac.prefix(flac.count / 2).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        #expect(r.status == 65, "stderr: \(r.stderr)")
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.hasPrefix("attune: \(path): truncated or corrupt after "), "stderr: \(r.stderr)")
        #expect(r.stderr.contains("sf_readf_float: "))
    }

    /// The DSP kernels' AVX2 build (picked on this CPU when it has AVX2) and their baseline build
    /// (`ATTUNE_KERNELS=baseline`) must give the same records to the byte, at the telephone rate and at 16 kHz.
    @Test(arguments: [sampleCall, sampleHello])
    func kernelBuildsGiveTheSameRecords(_ path: String) throws {
        let chosen = try runAttune(["analyze", "--frames", path])
        let baseline = try runAttune(["analyze", "--frames", path], environment: ["ATTUNE_KERNELS": "baseline"])
        #expect(chosen.status == 0 && baseline.status == 0, "\(chosen.stderr) \(baseline.stderr)")
        #expect(chosen.stdoutLines.filter { $0.contains(#""type":"frame""#) && !$0.contains(#""f0_hz":null"#) }.count > 100)
        #expect(chosen.stdout == baseline.stdout)
    }

    @Test func truncatedWavIsAnalysedWithAWarning() throws {
        let dir = TempDir()
        let wav = wavData(rate: 16000, channels: 1, samples: Self.voiceLike(rate: 16000))
        let path = dir.file("cut.wav")
        try wav.prefix(44 + 32000).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.contains("warning: \(path): the header claims more audio than the file holds"), "stderr: \(r.stderr)")
        #expect(decodeRecords(r.stdout).summaries.first.map { abs($0.durationS - 1) < 0.011 } == true)
    }

    /// An AU header declares its data size as a WAV's does; libsndfile shortens a cut one just as quietly, and its
    /// log line (`Data Size : N (should be M)`) used to go unread, so a cut AU gave no warning.
    @Test func truncatedAuIsAnalysedWithAWarning() throws {
        let dir = TempDir()
        let wav = dir.file("voice.wav"), au = dir.file("voice.au"), path = dir.file("cut.au")
        try wavData(rate: 16000, channels: 1, samples: Self.voiceLike(rate: 16000)).write(to: URL(fileURLWithPath: wav))
        try runTool("sox", [wav, au])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: au))
        let header = bytes[4..<8].reduce(0) { $0 << 8 | Int($1) }
        try bytes.prefix(header + 32000).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.hasPrefix("attune: warning: \(path): the header claims more audio than the file holds"), "stderr: \(r.stderr)")
        #expect(r.stderr.hasSuffix("truncated file? Analysing the 1.000 s present\n"), "stderr: \(r.stderr)")
        #expect(decodeRecords(r.stdout).summaries.first.map { abs($0.durationS - 1) < 0.011 } == true)
        let whole = try runAttune(["analyze", au])
        #expect(whole.status == 0 && whole.stderr.isEmpty, "stderr: \(whole.stderr)")
    }

    /// An Ogg Vorbis file cut inside a page has no last page, so libsndfile cannot find the stream's length and
    /// says the length is unknown; the file used to be analysed to the cut without a word.
    @Test func oggCutInsideAPageIsAnalysedWithAWarning() throws {
        let dir = TempDir()
        let wav = dir.file("voice.wav"), ogg = dir.file("voice.ogg"), path = dir.file("cut.ogg")
        try wavData(rate: 16000, channels: 1, samples: Self.voiceLike(rate: 16000, seconds: 4)).write(to: URL(fileURLWithPath: wav))
        try runTool("sox", [wav, ogg])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ogg))
        // Half way into the last page ("OggS" starts each), so the pages before it are whole.
        let last = try #require(bytes.range(of: Data("OggS".utf8), options: .backwards)).lowerBound
        try bytes.prefix(last + (bytes.count - last) / 2).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderrLines.count == 1)
        let duration = try #require(decodeRecords(r.stdout).summaries.first?.durationS)
        #expect(duration > 0.5 && duration < 3.9, "\(duration) s")
        let prefix = "attune: warning: \(path): the Ogg stream ends without its last page (libsndfile cannot tell its "
            + "length); truncated file? Analysed the "
        #expect(r.stderr.hasPrefix(prefix) && r.stderr.hasSuffix(" s present\n"), "stderr: \(r.stderr)")
        let stated = Double(r.stderr.dropFirst(prefix.count).dropLast(" s present\n".count))
        #expect(stated.map { abs($0 - duration) < 0.011 } == true, "\(String(describing: stated)) s stated, \(duration) s analysed")
        let whole = try runAttune(["analyze", ogg])
        #expect(whole.status == 0 && whole.stderr.isEmpty, "stderr: \(whole.stderr)")
    }

    @Test func nonFiniteFloatSamplesAreRepairedWithAWarning() throws {
        let dir = TempDir()
        let path = dir.file("nan.wav")
        var samples = Self.voiceLike(rate: 16000, seconds: 1)
        samples[100] = .nan
        samples[2000] = .infinity
        samples[3000] = -.infinity
        try wavData(rate: 16000, channels: 1, float: true, samples: samples).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderrLines.count == 1)
        #expect(r.stderr.hasPrefix("attune: warning: \(path): 3 NaN or infinite samples"), "stderr: \(r.stderr)")
        let records = decodeRecords(r.stdout)
        #expect(records.summaries.count == 1)
    }

    @Test func silenceHasNoSpeechAndNoSyllables() throws {
        let dir = TempDir()
        let path = dir.file("silence.wav")
        try wavData(rate: 8000, channels: 2, samples: [Float](repeating: 0, count: 2 * 8000 * 3)).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderr.isEmpty)
        let records = decodeRecords(r.stdout)
        #expect(records.segments.isEmpty)
        #expect(records.summaries.map(\.channel) == [0, 1])
        for s in records.summaries {
            #expect(s.speechS == 0)
            #expect(s.syllables == 0)
            #expect(abs(s.durationS - 3) < 0.011)
        }
    }

    @Test func headerWithNoFramesIsAnEmptyAnalysis() throws {
        let dir = TempDir()
        let path = dir.file("zero.wav")
        try wavData(rate: 16000, channels: 1, samples: []).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let records = decodeRecords(r.stdout)
        #expect(records.summaries.count == 1)
        #expect(records.summaries.first?.durationS == 0)
    }

    /// The real call sample as 16-bit stereo: WAV file vs the same samples as raw s16le on a pipe.
    @Test func rawStdinGivesTheSameRecordsAsTheFile() throws {
        let dir = TempDir()
        let mulaw = try wavPayload(Data(contentsOf: URL(fileURLWithPath: Self.sampleCall)))
        let samples = mulaw.map { Float(mulawToLinear($0)) / 32768 }
        let path = dir.file("call-s16.wav")
        try wavData(rate: 8000, channels: 2, samples: samples).write(to: URL(fileURLWithPath: path))
        let fromFile = try runAttune(["analyze", path, "--roles", "agent,customer"])
        let fromPipe = try runAttune(["analyze", "-", "--raw", "s16le:8000:2", "--roles", "agent,customer"],
                                     stdin: pcmBytes(samples))
        #expect(fromFile.status == 0 && fromPipe.status == 0, "\(fromFile.stderr) \(fromPipe.stderr)")
        let a = decodeRecords(fromFile.stdout), b = decodeRecords(fromPipe.stdout)
        #expect(a.summaries.count == 2)
        #expect(a.summaries.contains { $0.speechS > 1 && $0.syllables > 5 }, "the call sample should contain speech")
        func renamed(_ s: [SummaryRecord]) -> [SummaryRecord] { s.map { var x = $0; x.call = "stdin"; return x } }
        func renamed(_ s: [SegmentRecord]) -> [SegmentRecord] { s.map { var x = $0; x.call = "stdin"; return x } }
        #expect(renamed(a.summaries) == b.summaries)
        #expect(renamed(a.segments) == b.segments)
        // μ-law bytes straight from the sample's data chunk decode to the very same samples.
        let fromMulaw = try runAttune(["analyze", "-", "--raw", "mulaw:8000:2", "--roles", "agent,customer"], stdin: mulaw)
        #expect(decodeRecords(fromMulaw.stdout).summaries == b.summaries)
    }

    @Test func wavOnStdinWithoutRawIsReadByLibsndfile() throws {
        let data = wavData(rate: 16000, channels: 1, samples: Self.voiceLike(rate: 16000))
        let dir = TempDir()
        let path = dir.file("voice.wav")
        try data.write(to: URL(fileURLWithPath: path))
        let fromPipe = try runAttune(["analyze", "-"], stdin: data)
        let fromFile = try runAttune(["analyze", path])
        #expect(fromPipe.status == 0, "stderr: \(fromPipe.stderr)")
        let a = decodeRecords(fromFile.stdout).summaries.map { var x = $0; x.call = "stdin"; return x }
        #expect(decodeRecords(fromPipe.stdout).summaries == a)
    }

    @Test func partialFrameAtTheEndOfRawStdinIsDroppedWithAWarning() throws {
        var bytes = pcmBytes(Self.voiceLike(rate: 8000, seconds: 1))
        bytes.append(contentsOf: [1, 2, 3])
        let r = try runAttune(["analyze", "-", "--raw", "s16le:8000:2"], stdin: bytes)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderr == "attune: warning: -: dropped an incomplete frame of 3 bytes at the end (s16le:8000:2 frames are 4 bytes)\n")
        #expect(decodeRecords(r.stdout).summaries.count == 2)
    }

    @Test func rawFileByPath() throws {
        let dir = TempDir()
        let path = dir.file("voice.raw")
        try pcmBytes(Self.voiceLike(rate: 16000)).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["analyze", path, "--raw", "s16le:16000:1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let summaries = decodeRecords(r.stdout).summaries
        #expect(summaries.map(\.call) == ["voice"])
        #expect(summaries.first.map { abs($0.durationS - 2) < 0.011 } == true)
        let missing = try runAttune(["analyze", dir.file("none.raw"), "--raw", "s16le:16000:1"])
        expectOneLineError(missing, code: 66, naming: dir.file("none.raw"))
    }

    /// A reader that goes away is an I/O error (74) with a message, never a death by SIGPIPE.
    @Test func closedStdoutIs74NotASignal() throws {
        let out = Pipe()
        try out.fileHandleForReading.close()
        let err = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try attuneBinary())
        process.arguments = ["analyze", Self.sampleCall, "--frames"]
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 74)
        #expect(message.hasPrefix("attune: write to fd 1: "), "\(message)")
    }

    /// A live input (a FIFO a capture keeps open): records leave as the analysis makes them, not when 64 KiB of
    /// output have piled up, and Ctrl-C ends the analysis cleanly with what was analysed, summary included, exit 0.
    @Test func liveInputFlushesRecordsAndCtrlCKeepsThem() throws {
        let dir = TempDir()
        let fifo = dir.file("capture")
        #expect(mkfifo(fifo, 0o600) == 0)
        // Opened for reading and writing first (which never blocks on a FIFO), so the child's open for reading does
        // not wait for a writer while posix_spawn waits for the child.
        let writer = open(fifo, O_RDWR)
        #expect(writer >= 0)
        defer { close(writer) }
        let child = try Child(try attuneBinary(), ["analyze", "-", "--raw", "s16le:8000:1"], stdin: fifo, dir: dir, tag: "live")
        // 6 s of voice (0.6 s bursts, 0.3 s pauses), and the FIFO stays open as a capture's would.
        let pcm = voiceLikeSamples(rate: 8000, seconds: 6).map { Int16(($0 * 32767).rounded()).littleEndian }
        let written = pcm.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
        #expect(written == pcm.count * 2)
        // Every burst but the last's is a segment that has ended (the read waits for the rest of the last block).
        let flowing = eventually(timeout: 30) { decodeRecords(child.stdout).segments.count >= 5 }
        #expect(flowing, "records held back while the input is still open: \(child.stdout.count) bytes out")
        #expect(child.poll() == nil, "attune ended while its input was open: \(child.stderr)")
        // What had been analysed when Ctrl-C came: the summary must cover at least that. Not all 6 s: the pipe holds
        // up to 64 KiB (4 s) the analysis may not have read yet, and Ctrl-C ends it at the block being read.
        let analysed = decodeRecords(child.stdout).segments.map(\.end).max() ?? 0
        child.signal(SIGINT)
        // A capture goes on delivering: the block being read completes, and the analysis ends there.
        let more = [Int16](repeating: 0, count: 8000)
        #expect(more.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } == more.count * 2)
        #expect(child.wait(timeout: 30) == 0, "\(child.stderr)")
        let summaries = decodeRecords(child.stdout).summaries
        #expect(summaries.count == 1)
        #expect(summaries.first.map { $0.durationS >= analysed && $0.durationS <= 7.01 } == true, "analysed \(analysed) s: \(summaries)")
        #expect(analysed >= 4, "five segments end after 4 s of the bursts")
    }

    @Test(arguments: ["s16le", "s16le:8000", "pcm:8000:1", "s16le:8000:x", "s16le:1000:1", "s16le:8000:12"])
    func badRawSpecIs64(_ spec: String) throws {
        let r = try runAttune(["analyze", "-", "--raw", spec], stdin: Data(count: 100))
        expectOneLineError(r, code: 64, naming: "--raw")
    }

    @Test func rolesAreValidated() throws {
        let unknown = try runAttune(["analyze", Self.sampleHello, "--roles", "agent,boss"])
        #expect(unknown.status == 64)
        #expect(unknown.stderrLines.count == 1)
        #expect(unknown.stderr.contains("--roles: unknown role 'boss'"))
        let empty = try runAttune(["analyze", Self.sampleCall, "--roles", "agent,"])
        #expect(empty.status == 64)
        let tooMany = try runAttune(["analyze", Self.sampleHello, "--roles", "agent,customer"])
        #expect(tooMany.status == 64)
        #expect(tooMany.stderr == "attune: --roles: 2 roles given but \(Self.sampleHello) has 1 channel; "
                + "name one role per channel (unknown for one to leave out)\n")
        #expect(tooMany.stdout.isEmpty)
        // Too few were padded with unknown: the customer channel of a stereo call lost its emotion events unsaid.
        let tooFew = try runAttune(["analyze", Self.sampleCall, "--roles", "agent"])
        #expect(tooFew.status == 64)
        #expect(tooFew.stderr.contains("--roles: 1 role given but \(Self.sampleCall) has 2 channels"), "\(tooFew.stderr)")
        #expect(tooFew.stdout.isEmpty)
        let ok = try runAttune(["analyze", Self.sampleCall, "--roles", "agent, customer"])
        #expect(ok.status == 0)
        #expect(decodeRecords(ok.stdout).summaries.map(\.role) == [.agent, .customer])
    }

    @Test(arguments: ["call-8k-mulaw.wav", "hello-16k.wav", "xin-chao-vi-16k.flac"])
    func samplesAnalyseToValidNDJSON(_ name: String) throws {
        let r = try runAttune(["analyze", repoRoot + "/Samples/" + name, "--frames"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderr.isEmpty)
        let records = decodeRecords(r.stdout)
        #expect(!records.frames.isEmpty)
        #expect(!records.summaries.isEmpty)
        #expect(records.summaries.allSatisfy { $0.speechS > 0.5 }, "every sample channel holds speech")
        // Summaries come last, one per channel.
        let types = r.stdoutLines.suffix(records.summaries.count)
        #expect(types.allSatisfy { $0.hasPrefix("{\"type\":\"summary\"") })
    }
}
