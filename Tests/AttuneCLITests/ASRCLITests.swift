import AttuneTestSupport
import Foundation
import Testing

/// `attune analyze --asr pocketsphinx`: the built-in recogniser's words in the segments, usage and model errors.
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

    @Test("the customer channel's words land in its segments, the agent's channel gets none, same on every run")
    func bundledCall() throws {
        // The call's first 9 s (the customer's first turn is 4.4-8.0 s): decoding is slow on a shared machine.
        let dir = TempDir()
        let call = dir.file("call.wav")
        let sox = Process()
        sox.executableURL = URL(fileURLWithPath: "/usr/bin/sox")
        sox.arguments = [Self.call, call, "trim", "0", "9"]
        try sox.run()
        sox.waitUntilExit()
        try #require(sox.terminationStatus == 0)
        let a = try runAttune(["analyze", call, "--roles", "agent,customer", "--asr", "pocketsphinx"])
        #expect(a.status == 0, "\(a.stderr)")
        let segments = a.stdoutLines.compactMap { line -> [String: Any]? in
            guard let r = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], r["type"] as? String == "segment"
            else { return nil }
            return r
        }
        let words = { (c: Int) in segments.filter { $0["channel"] as? Int == c }.flatMap { $0["words"] as? [String] ?? [] } }
        #expect(words(0).isEmpty, "the agent's channel is not recognised: \(words(0))")
        // espeak-ng's voice is recognised poorly (README), so this counts words, not which.
        #expect(words(1).count >= 3, "the customer's segments carry recognised words: \(words(1))")
        let b = try runAttune(["analyze", call, "--roles", "agent,customer", "--asr", "pocketsphinx"])
        #expect(a.stdout == b.stdout, "deterministic")
    }
}
