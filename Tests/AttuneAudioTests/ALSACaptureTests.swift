import AttuneAudio
import AttuneTestSupport
import Foundation
import Testing

/// ALSA capture for real, without sound hardware: libasound's own `file` PCM plugin reads an `infile` of raw
/// S16_LE audio and hands it to the capturing application in place of what its slave (`null`, built into
/// libasound — no alsa-plugins package needed) captured. The config is self-contained, so it does not include the
/// system `alsa.conf`: `ALSA_CONFIG_PATH` replaces the whole configuration, and `tap` is the only PCM.
///
/// libasound loads its configuration on first use from `ALSA_CONFIG_PATH`, process-wide; rather than change the
/// environment of this multi-threaded test process, the capture runs in `attune-capture-probe` (built next to
/// this test bundle), which opens `alsa:tap` with the real ``ALSACapture`` and capture thread and writes the
/// Float samples it received to a file.
@Suite("ALSA capture")
struct ALSACaptureTests {
    /// Writes raw S16_LE `samples` and an ALSA config whose `pcm.tap` replays them.
    func makeTap(_ dir: TempDir, samples: [Int16]) throws -> String {
        let raw = dir.file("in.raw")
        let bytes = samples.flatMap { s -> [UInt8] in
            let u = UInt16(bitPattern: s)
            return [UInt8(u & 0xFF), UInt8(u >> 8)]
        }
        try Data(bytes).write(to: URL(fileURLWithPath: raw))
        let config = dir.file("asound.conf")
        try """
        # Capture from `tap` reads in.raw (raw S16_LE, whatever rate and channels the application asks for);
        # `null` supplies the timing-free capture stream the file plugin overwrites.
        pcm.tap {
            type file
            slave.pcm "attune_null"
            file "/dev/null"
            infile "\(raw)"
            format "raw"
        }
        pcm.attune_null { type null }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    struct ProbeResult {
        var status: Int32
        var fields: [String: String]
        var samples: [Float]
        var stderr: String
    }

    func runProbe(_ uri: String, frames: Int, config: String?, dir: TempDir) throws -> ProbeResult {
        let out = dir.file("out.f32"), errPath = dir.file("err.txt"), stdoutPath = dir.file("stdout.txt")
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try probeBinary())
        p.arguments = [uri, String(frames), out]
        var env = ProcessInfo.processInfo.environment
        if let config { env["ALSA_CONFIG_PATH"] = config }
        p.environment = env
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        p.waitUntilExit()
        let line = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for item in line.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = item.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        var samples: [Float] = []
        if let data = FileManager.default.contents(atPath: out) {
            samples = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        return ProbeResult(status: p.terminationStatus, fields: fields, samples: samples,
                           stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// Every sample of the infile arrives, bit-exact after S16 → Float (v / 32768), through period after period of
    /// the real capture loop; the loop's steady state allocates nothing.
    @Test(arguments: [1, 2])
    func tapCapturesTheInfileBitExactly(channels: Int) throws {
        let dir = TempDir()
        // Every 16-bit value, including both extremes, in a scrambled order (period boundaries land anywhere).
        let frames = 16_000
        var samples: [Int16] = []
        for i in 0..<(frames * channels) { samples.append(Int16(truncatingIfNeeded: i &* 40_503 &+ 12_345)) }
        samples[0] = .min
        samples[1] = .max
        let config = try makeTap(dir, samples: samples)
        let r = try runProbe("alsa:tap?rate=8000&channels=\(channels)&period=160", frames: frames, config: config, dir: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.fields["frames"] == String(frames))
        #expect(r.fields["rate"] == "8000")
        #expect(r.fields["channels"] == String(channels))
        #expect(r.fields["end"] == "stopped")
        #expect(r.fields["xruns"] == "0")
        #expect(r.fields["discontinuities"] == "0")
        #expect(r.fields["allocations"] == "0")
        #expect(r.samples.count == frames * channels)
        let expected = samples.map { Float($0) / 32768 }
        let mismatches = zip(r.samples, expected).filter { $0 != $1 }.count
        #expect(mismatches == 0)
        #expect(r.samples.first == -1)
    }

    @Test func unknownDeviceIsUnavailableInProcess() {
        do {
            _ = try CaptureSources.open("alsa:attune_no_such_pcm")
            Issue.record("a PCM that does not exist opened")
        } catch {
            #expect(error.kind == .unavailable)
            #expect(error.exitCode == 69)
            #expect(error.path == "alsa:attune_no_such_pcm")
            #expect(error.reason.hasPrefix("snd_pcm_open: "), "\(error)")
        }
    }

    @Test func unknownDeviceExits69FromTheProbe() throws {
        let dir = TempDir()
        let config = try makeTap(dir, samples: [0, 1, 2])
        let r = try runProbe("alsa:speaker", frames: 10, config: config, dir: dir)
        #expect(r.status == 69)
        #expect(r.stderr.contains("alsa:speaker: snd_pcm_open: No such file or directory (ALSA: Unknown PCM speaker)"),
                "\(r.stderr)")
    }
}

/// `attune-capture-probe`, built by SwiftPM next to this test bundle (`swift test` builds every target first).
func probeBinary() throws -> String {
    var candidates: [String] = []
    for exe in [CommandLine.arguments.first, Bundle.main.executablePath].compactMap({ $0 }) {
        var dir = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("attune-capture-probe").path)
            dir = dir.deletingLastPathComponent()
        }
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    candidates.append(root + "/.build/debug/attune-capture-probe")
    for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
    throw TestFailure("attune-capture-probe not found (looked in \(candidates)); run swift build first")
}
