import AttuneEvents
import AttuneTestSupport
import Foundation
import Testing

/// `attune analyze --transcript`: words land in the segments they fall in; a bad transcript is bad data.
@Suite("TranscriptCLI")
struct TranscriptCLITests {
    @Test func wordsGoIntoTheirSegments() throws {
        let dir = TempDir()
        let audio = dir.file("burst.wav")
        // Speech-like bursts 0.2–1.2 s and 2.0–3.0 s, silence between.
        let rate = 16000
        let samples: [Float] = (0..<(rate * 4)).map { i in
            let t = Double(i) / Double(rate)
            guard (0.2..<1.2).contains(t) || (2.0..<3.0).contains(t) else { return 0 }
            var x = 0.0
            for h in 1...8 { x += sin(2 * .pi * 140 * Double(h) * t) / Double(h) }
            return Float(0.2 * x * (0.6 + 0.4 * sin(2 * .pi * 4 * t)))
        }
        try wavData(rate: rate, channels: 1, samples: samples).write(to: URL(fileURLWithPath: audio))
        let transcript = dir.file("t.ndjson")
        try """
        {"asr": {"channel": 0, "start": 0.3, "end": 1.1, "text": "I want", "words": [{"w": "I", "start": 0.3, "end": 0.5}, {"w": "want", "start": 0.6, "end": 1.0}]}}
        {"channel": 0, "start": 2.1, "end": 2.9, "text": "a refund"}
        """.write(toFile: transcript, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", audio, "--transcript", transcript])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let segments = decodeRecords(r.stdout).segments
        #expect(segments.count == 2)
        #expect(segments.first?.words == ["I", "want"])
        #expect(segments.last?.words == ["a", "refund"])
    }

    @Test func malformedTranscriptIs65() throws {
        let dir = TempDir()
        let transcript = dir.file("bad.ndjson")
        try "{\"start\": 0, \"end\": 1, \"text\": \"ok\"}\nnot json\n".write(toFile: transcript, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", repoRoot + "/Samples/hello-16k.wav", "--transcript", transcript])
        #expect(r.status == 65)
        #expect(r.stderr == "attune: \(transcript):2: malformed JSON (expected one object per line)\n")
        #expect(r.stdout.isEmpty)
    }

    @Test func missingTranscriptIs66() throws {
        let r = try runAttune(["analyze", repoRoot + "/Samples/hello-16k.wav", "--transcript", "/nonexistent/t.vtt"])
        #expect(r.status == 66)
        #expect(r.stderr.hasPrefix("attune: /nonexistent/t.vtt: "))
    }
}
