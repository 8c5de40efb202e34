import AttuneTestSupport
import Foundation
import Testing

/// Runs the real `attune bench` binary: one JSON line per file, and with `--stages` each stage's cost; with
/// `--channels`, one line per channel count and visit length.
/// The figures themselves depend on the machine and the build, so only their presence and sense are checked.
@Suite("BenchCLI")
struct BenchCLITests {
    func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func stagesNameEveryStageAndTheRateTheyRanAt() throws {
        let dir = TempDir()
        // 44.1 kHz is resampled to 16 kHz, so every stage, the resampler included, does work.
        let path = dir.file("voice-44k.wav")
        try wavData(rate: 44100, channels: 1, samples: AnalyzeCLITests.voiceLike(rate: 44100, seconds: 1)).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["bench", "--stages", "--runs", "1", path, AnalyzeCLITests.sampleCall])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdoutLines.count == 2)
        let resampled = try object(try #require(r.stdoutLines.first))
        #expect(resampled["file"] as? String == path)
        #expect(resampled["analysis_rate"] as? Int == 16000)
        for key in ["resample_us", "levels_us", "pitch_us", "activity_us", "us_per_frame"] {
            let v = try #require(resampled[key] as? Double, "\(key) missing")
            #expect(v > 0, "\(key) = \(v)")
        }
        let call = try object(try #require(r.stdoutLines.last))
        #expect(call["analysis_rate"] as? Int == 8000)
        #expect(call["resample_us"] as? Double == 0, "8 kHz input is analysed as it is")
    }

    @Test func withoutStagesTheLineHasNoStageFields() throws {
        let r = try runAttune(["bench", "--runs", "1", AnalyzeCLITests.sampleHello])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let line = try object(try #require(r.stdoutLines.first))
        #expect(line["x_realtime"] is Double)
        #expect(line["pitch_us"] == nil)
    }

    @Test func liveLevelsGiveOneLinePerChannelCountAndVisit() throws {
        for level in ["analyzer", "session"] {
            let r = try runAttune(["bench", AnalyzeCLITests.sampleCall, "--channels", "2", "4", "--visit-ms", "20", "100",
                                   "--level", level, "--runs", "1", "--hops", "2000"])
            #expect(r.status == 0, "stderr: \(r.stderr)")
            let lines = try r.stdoutLines.map(object)
            #expect(lines.map { $0["channels"] as? Int } == [2, 2, 4, 4])
            #expect(lines.map { $0["visit_ms"] as? Int } == [20, 100, 20, 100])
            for line in lines {
                #expect(line["level"] as? String == level)
                for key in ["us_per_hop", "us_per_hop_min", "us_per_hop_max", "cpu_us_per_hop"] {
                    let v = try #require(line[key] as? Double, "\(key) missing")
                    #expect(v > 0, "\(key) = \(v)")
                }
            }
        }
    }

    /// Every channel loops the file's audio; a file with none used to divide by zero (`% samples.count`).
    @Test(arguments: ["analyzer", "session"])
    func liveBenchOfAFileWithoutSamplesIs65(_ level: String) throws {
        let dir = TempDir()
        let path = dir.file("empty.wav")
        try wavData(rate: 8000, channels: 1, samples: []).write(to: URL(fileURLWithPath: path))
        let r = try runAttune(["bench", path, "--channels", "1", "--runs", "1", "--hops", "100", "--level", level])
        #expect(r.status == 65, "stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(r.stderrLines == ["attune: \(path): no samples to bench (0 frames of audio)"])
    }

    @Test func liveVisitsMustBeWholeHops() throws {
        let r = try runAttune(["bench", AnalyzeCLITests.sampleHello, "--channels", "1", "--visit-ms", "15"])
        #expect(r.status == 64)
        #expect(r.stdout.isEmpty)
    }

    @Test func zeroRunsIsAUsageError() throws {
        let r = try runAttune(["bench", "--runs", "0", AnalyzeCLITests.sampleHello])
        #expect(r.status == 64)
        #expect(r.stdout.isEmpty)
    }

    @Test func missingFileIs66() throws {
        let path = TempDir().file("gone.wav")
        let r = try runAttune(["bench", "--stages", path])
        #expect(r.status == 66)
        #expect(r.stderr.contains(path))
    }
}
