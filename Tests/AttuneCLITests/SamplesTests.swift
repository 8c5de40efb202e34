import AttuneEvents
import Foundation
import Testing

/// What the real binary says about each file in `Samples/`, pinned. The syllable counts are the texts' own
/// (Tools/make_samples.sh), the customer's F0 per turn is Praat's (Samples/README.md); segment counts,
/// speech time and the other F0 medians are this engine's, so a change that moves them has to say why.
@Suite("Samples: pinned summaries")
struct SamplesTests {
    struct Expected: Sendable, CustomTestStringConvertible {
        var file: String
        var channel: Int
        var segments: Int
        var speechS: Double
        /// Syllables in the text, and how far the count may stray from it.
        var syllables: Int
        var syllableSlack: Int
        var f0MedianHz: Double
        var testDescription: String { "\(file) channel \(channel)" }
    }

    static let expected: [Expected] = [
        // "Hello, thank you for calling. How can I help you today?"
        Expected(file: "hello-16k.wav", channel: 0, segments: 2, speechS: 3.38, syllables: 14, syllableSlack: 1, f0MedianHz: 100.3),
        // "Xin chào, tôi có thể giúp gì cho bạn hôm nay?"
        Expected(file: "xin-chao-vi-16k.flac", channel: 0, segments: 1, speechS: 3.12, syllables: 11, syllableSlack: 1, f0MedianHz: 111.9),
        // The agent's four turns (50 syllables) and the customer's four (51).
        Expected(file: "call-8k-mulaw.wav", channel: 0, segments: 8, speechS: 10.90, syllables: 50, syllableSlack: 3, f0MedianHz: 87.8),
        Expected(file: "call-8k-mulaw.wav", channel: 1, segments: 5, speechS: 12.01, syllables: 51, syllableSlack: 3, f0MedianHz: 235.8),
    ]

    @Test(arguments: expected)
    func summary(_ e: Expected) throws {
        let r = try runAttune(["analyze", repoRoot + "/Samples/" + e.file])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let records = decodeRecords(r.stdout)
        let segments = records.segments.filter { $0.channel == e.channel }
        let summary = try #require(records.summaries.first { $0.channel == e.channel })
        #expect(segments.count == e.segments)
        #expect(abs(summary.speechS - e.speechS) <= 0.15, "speech \(summary.speechS) s")
        #expect(abs(summary.syllables - e.syllables) <= e.syllableSlack, "\(summary.syllables) syllables")
        let f0 = try #require(summary.f0MedianHz, "no F0 median")
        #expect(abs(f0 / e.f0MedianHz - 1) <= 0.03, "F0 median \(f0) Hz")
    }

    /// The customer gets annoyed turn by turn and her voice rises: each turn's median F0 within 5 % of Praat's.
    @Test func customerF0RisesTurnByTurn() throws {
        let r = try runAttune(["analyze", repoRoot + "/Samples/call-8k-mulaw.wav", "--frames"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let frames = decodeRecords(r.stdout).frames.filter { $0.channel == 1 }
        let turns: [(Double, Double, Double)] = [(4.4, 8.0, 210), (11.8, 15.1, 226), (20.8, 23.9, 249), (26.5, 29.7, 273)]
        var medians: [Double] = []
        for (start, end, praat) in turns {
            let f0 = frames.filter { $0.t >= start && $0.t <= end }.compactMap(\.f0Hz).sorted()
            #expect(f0.count >= 100, "\(f0.count) voiced frames in \(start)–\(end) s")
            let median = f0.isEmpty ? 0 : f0[f0.count / 2]
            #expect(abs(median / praat - 1) <= 0.05, "turn \(start)–\(end) s: median \(median) Hz, Praat \(praat) Hz")
            medians.append(median)
        }
        #expect(medians == medians.sorted(), "medians \(medians) rise")
    }
}
