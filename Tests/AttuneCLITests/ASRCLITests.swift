import AttuneTestSupport
import Foundation
import Testing

/// `attune analyze --asr pocketsphinx`: the built-in recogniser feeds the events but not the segments; usage and model errors.
@Suite("attune analyze --asr")
struct ASRCLITests {
    static let call = repoRoot + "/Samples/call-8k-mulaw.wav"

    @Test("--asr with --transcript is a usage error (64), naming both")
    func withTranscript() throws {
        let dir = TempDir()
        let t = dir.file("t.ndjson")
        try #"{"channel": 1, "start": 1, "end": 2, "text": "cancel"}"#.write(toFile: t, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", Self.call, "--asr", "pocketsphinx", "--transcript", t])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--asr and --transcript"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("an unknown recogniser is a usage error (64)")
    func unknown() throws {
        let r = try runAttune(["analyze", Self.call, "--asr", "whisper"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("unknown recogniser 'whisper'"), "\(r.stderr)")
    }

    @Test("a model directory that holds no model is a configuration error (78) naming it")
    func missingModel() async throws {
        let r = try await runAttuneAsync(["analyze", Self.call, "--asr", "pocketsphinx"],
                                         environment: ["ATTUNE_POCKETSPHINX_MODEL": "/nonexistent/ps-model"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("/nonexistent/ps-model: no such model directory"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("the recogniser hears the customer channel only, its words stay out of the segments, same on every run")
    func bundledCall() throws {
        let dir = TempDir()
        let call = try bundledCallOpening(in: dir)
        // ATTUNE_ASR_TRACE shows what the recogniser heard, so the empty segments below are not a silent recogniser.
        let a = try runAttune(["analyze", call, "--roles", "agent,customer", "--asr", "pocketsphinx"], environment: ["ATTUNE_ASR_TRACE": "1"])
        #expect(a.status == 0, "\(a.stderr)")
        let heard = recognisedWords(trace: a.stderr)
        #expect(heard[0] == nil, "the agent's channel is not recognised: \(heard)")
        // espeak-ng's voice is recognised poorly (README), so this counts words, not which.
        #expect(heard[1, default: []].count >= 3, "the customer's channel is recognised: \(heard)")
        let segments = a.stdoutLines.compactMap { line -> [String: Any]? in
            guard let r = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], r["type"] as? String == "segment"
            else { return nil }
            return r
        }
        #expect(segments.contains { $0["channel"] as? Int == 1 }, "the customer spoke")
        // Its words are evidence for events, never a transcript to show (README, "Built-in recogniser").
        let shown = segments.flatMap { $0["words"] as? [String] ?? ["words missing"] }
        #expect(shown.isEmpty, "segments carry the recogniser's words: \(shown)")
        let b = try runAttune(["analyze", call, "--roles", "agent,customer", "--asr", "pocketsphinx"], environment: ["ATTUNE_ASR_TRACE": "1"])
        #expect(a.stdout == b.stdout && a.stderr == b.stderr, "deterministic")
    }
}
