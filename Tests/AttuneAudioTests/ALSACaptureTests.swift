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

    /// Runs the probe with `config` as ALSA_CONFIG_PATH and `environment` added to this process's environment
    /// (which is never changed itself: other tests run in parallel).
    func runProbe(_ uri: String, frames: Int, config: String?, dir: TempDir,
                  environment: [String: String] = [:]) throws -> ProbeResult {
        let out = dir.file("out.f32"), errPath = dir.file("err.txt"), stdoutPath = dir.file("stdout.txt")
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try probeBinary())
        p.arguments = [uri, String(frames), out]
        var env = ProcessInfo.processInfo.environment
        if let config { env["ALSA_CONFIG_PATH"] = config }
        env.merge(environment) { $1 }
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

/// A sound card without hardware: `Tests/ALSATickPlugin/attune_tick.c`, an ALSA I/O plugin whose pointer moves
/// with CLOCK_MONOTONIC, whose poll descriptor is a timerfd ticking once a period, which overruns when the reader
/// falls a buffer behind and which can be unplugged (`lose_after_ms`). Each sample is the device frame number it
/// was captured at (mod 32768), so a test knows exactly which frames arrived. Compiled here with clang (the Swift
/// toolchain has one) against libasound2-dev, and loaded by libasound from the probe's ALSA config.
@Suite("ALSA capture from a clocked device")
struct ALSAClockedDeviceTests {
    /// Builds the plugin into `dir` and writes a config with `pcm.tick` (runs until stopped) and `pcm.lost`
    /// (disconnects 300 ms after opening).
    func makeTickConfig(_ dir: TempDir) throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ALSATickPlugin/attune_tick.c").path
        let library = dir.file("libasound_module_pcm_attunetick.so")
        let compiler = try findCompiler()
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: compiler)
        // -DPIC: alsa's plugin macros export the versioned entry symbol only for position-independent builds.
        cc.arguments = ["-shared", "-fPIC", "-DPIC", "-O1", "-o", library, source, "-lasound"]
        try cc.run()
        cc.waitUntilExit()
        guard cc.terminationStatus == 0 else { throw TestFailure("\(compiler) failed to build \(source)") }
        let config = dir.file("tick.conf")
        try """
        pcm_type.attunetick { lib "\(library)" }
        pcm.tick { type attunetick }
        pcm.lost { type attunetick lose_after_ms 300 }
        pcm.broken { type attunetick always_overrun 1 }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    func findCompiler() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        for dir in path.split(separator: ":") {
            for name in ["clang", "cc", "gcc"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
        }
        throw TestFailure("no C compiler (clang, cc, gcc) on PATH to build the test ALSA plugin")
    }

    /// Device frame numbers of captured mono samples (the plugin writes frame mod 32768 as S16).
    func frameNumbers(_ samples: [Float]) -> [Int] { samples.map { Int(($0 * 32768).rounded()) } }

    /// Stop is prompt even while the capture thread is parked in poll() for a period that is a second long:
    /// the wake pipe, not the device's next tick, ends the wait.
    @Test func stopWakesACaptureWaitingForTheDevice() throws {
        let dir = TempDir()
        let config = try makeTickConfig(dir)
        let r = try ALSACaptureTests().runProbe("alsa:tick?period=8000&buffer=32000", frames: 100, config: config, dir: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.fields["end"] == "stopped")
        #expect(r.fields["block"] == "8000")
        let stopMs = try #require(r.fields["stop_ms"].flatMap(Double.init))
        // The next period is ~1 s away when stop is called; without the wake, stop would wait for it.
        #expect(stopMs < 300, "stop took \(stopMs) ms")
        #expect(frameNumbers(r.samples) == Array(0..<100))
    }

    /// A consumer stuck for 1 s overruns a 500 ms buffer: the xrun is recovered and counted, capture goes on,
    /// and `streamFrame` skips the frames the device lost, as the device's own frame numbers show. (A machine
    /// loaded enough to stall the capture thread half a second may add an xrun of its own; the accounting must
    /// hold for every one of them.)
    @Test func overrunIsRecoveredCountedAndKeepsTheTimeline() throws {
        let dir = TempDir()
        let config = try makeTickConfig(dir)
        let r = try ALSACaptureTests().runProbe("alsa:tick?period=160&buffer=4000", frames: 16_000, config: config, dir: dir,
                                                environment: ["PROBE_STALL_AT_BLOCK": "5", "PROBE_STALL_MS": "1000"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.fields["end"] == "stopped")
        let xruns = try #require(r.fields["xruns"].flatMap(Int.init))
        #expect(xruns >= 1)
        // The recovery is inside the allocation window (blocks 3 to 40): it allocates nothing either.
        #expect(r.fields["allocations"] == "0")
        let lost = try #require(r.fields["lost"].flatMap(Int.init))
        #expect(r.fields["skipped"] == String(lost))
        #expect(r.fields["discontinuities"] == String(xruns))
        // The device's frame numbers: the frames before the first one captured, and every jump, were overwritten.
        let frames = frameNumbers(r.samples)
        let jumps = (1..<frames.count).filter { (frames[$0] - frames[$0 - 1] + 32768) % 32768 != 1 }
        #expect(jumps.count + (frames.first == 0 ? 0 : 1) == xruns, "jumps at \(jumps), first frame \(frames.first ?? -1)")
        let trueLost = frames[0] + jumps.map { (frames[$0] - frames[$0 - 1] + 32768) % 32768 - 1 }.reduce(0, +)
        #expect(trueLost >= 8000) // at least the stall
        // The estimate is the wall time from the last read to the restart: within 50 ms of the truth per xrun,
        // even under ThreadSanitizer on a loaded machine (typically exact to a few frames).
        #expect(abs(lost - trueLost) <= 400 * xruns, "estimated \(lost) lost frames, the device lost \(trueLost)")
    }

    /// A device that overruns again the moment it restarts is not recovering: after a bounded number of tries
    /// capture ends with an error instead of spinning on the capture thread.
    @Test func aDeviceThatNeverRecoversEndsWithAnError() throws {
        let dir = TempDir()
        let config = try makeTickConfig(dir)
        let r = try ALSACaptureTests().runProbe("alsa:broken", frames: 8000, config: config, dir: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.fields["end"] == "error")
        #expect(r.fields["xruns"] == String(ALSACapture.maximumRecoveriesWithoutData))
        #expect(r.stderr.contains("recoveries in a row without audio; last: snd_pcm_readi: Broken pipe"), "\(r.stderr)")
    }

    @Test func unpluggedDeviceEndsTheCaptureAsDeviceLost() throws {
        let dir = TempDir()
        let config = try makeTickConfig(dir)
        let r = try ALSACaptureTests().runProbe("alsa:lost", frames: 80_000, config: config, dir: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.fields["end"] == "device_lost")
        #expect(r.stderr.contains("device lost: snd_pcm_"), "\(r.stderr)")
        // Up to 300 ms of audio arrived first (less if the machine was slow to start the capture thread), in order.
        let frames = frameNumbers(r.samples)
        #expect(frames.count > 0 && frames.count <= 2400 + 160)
        #expect(frames == Array(0..<frames.count))
    }
}

/// `attune-capture-probe`, built by SwiftPM next to this test bundle (`swift test` builds every target first).
func probeBinary() throws -> String { try builtBinary("attune-capture-probe") }
