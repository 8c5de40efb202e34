import AttuneAudio
import AttuneDSP
import AttuneEngine
import AttuneEvents
import AttuneTestSupport
import AttuneText
import Foundation
import Testing

/// ``Transcript/words(channel:in:after:)``: which segment each word of an utterance that reaches into pauses goes to,
/// decided one segment at a time as segments close.
@Suite("Segment words: the rule")
struct SegmentWordRuleTests {
    typealias Segment = SegmentBounds

    /// Each segment's words, asked in order with the segment before, as the record builder asks as segments close.
    static func place(_ t: Transcript, _ segments: [Segment], channel: Int = 0) -> [[String]] {
        segments.indices.map { i in t.words(channel: channel, in: segments[i], after: i > 0 ? segments[i - 1] : nil) }
    }

    static func utterance(_ start: Double, _ end: Double, _ words: [(String, Double, Double)],
                          channel: Int = 0) -> TranscriptUtterance {
        TranscriptUtterance(channel: channel, start: start, end: end, text: words.map(\.0).joined(separator: " "),
                            words: words.map { TranscriptWord(word: $0.0, start: $0.1, end: $0.2) })
    }

    @Test("a word in the pause goes to the segment before up to its earliest next start, the rest to the one after")
    func pauses() {
        let t = Transcript(utterances: [
            // Ends in the pause after the first segment, 0.6 s past its speech; the second segment starts later still.
            Self.utterance(0.8, 2.6, [("a", 0.9, 1.5), ("b", 1.9, 2.1), ("c", 2.1, 2.3), ("d", 2.3, 2.6)]),
            // Starts in the pause before the second segment.
            Self.utterance(2.7, 3.5, [("e", 2.75, 2.95), ("f", 3.1, 3.4)]),
            // On the other channel: never here.
            Self.utterance(1.0, 2.0, [("other", 1.2, 1.6)], channel: 1),
        ])
        let segments = [Segment(start: 1, end: 2, nextStart: 2.25), Segment(start: 3, end: 4, nextStart: .infinity)]
        // "d" (midpoint 2.45) could have been the next segment's when the first closed: it waits for it.
        #expect(Self.place(t, segments) == [["a", "b", "c"], ["d", "e", "f"]])
    }

    @Test("an utterance that ends before the next segment could start goes wholly to the segment before")
    func shortTail() {
        // "late" has its midpoint past the earliest next start, but its utterance ends before it.
        let t = Transcript(utterances: [Self.utterance(1.0, 2.2, [("early", 1.0, 1.5), ("late", 2.1, 2.5)])])
        let segments = [Segment(start: 1, end: 2, nextStart: 2.25), Segment(start: 2.5, end: 3, nextStart: .infinity)]
        #expect(Self.place(t, segments) == [["early", "late"], []])
    }

    @Test("an utterance across a pause is cut at the earliest next start")
    func acrossAPause() {
        let t = Transcript(utterances: [
            Self.utterance(1.0, 3.5, [("a", 1.3, 1.7), ("b", 2.0, 2.2), ("c", 2.2, 2.4), ("d", 2.7, 2.9), ("e", 3.1, 3.3)]),
        ])
        let segments = [Segment(start: 1, end: 2, nextStart: 2.25), Segment(start: 2.6, end: 3.5, nextStart: .infinity)]
        #expect(Self.place(t, segments) == [["a", "b"], ["c", "d", "e"]])
    }

    @Test("across a 30 s split, with no pause, a word goes where its midpoint is: never to both")
    func split() {
        let t = Transcript(utterances: [Self.utterance(29, 31, [("a", 29.2, 29.8), ("b", 29.9, 30.2), ("c", 30.3, 30.9)])])
        let segments = [Segment(start: 0, end: 30, nextStart: 30), Segment(start: 30, end: 45, nextStart: .infinity)]
        #expect(Self.place(t, segments) == [["a"], ["b", "c"]])
    }

    @Test("an utterance that overlaps no segment is in none")
    func outsideSpeech() {
        let t = Transcript(utterances: [Self.utterance(5, 6, [("lost", 5.2, 5.8)])])
        let segments = [Segment(start: 1, end: 4, nextStart: 4.25), Segment(start: 7, end: 8, nextStart: .infinity)]
        #expect(Self.place(t, segments) == [[], []])
    }

    /// Random segmentations (pauses of 250 ms and more, 30 s splits) and utterances (evenly spread, or timed within
    /// the 0.5 s a word may stray from its utterance): each word of an utterance that overlaps a segment is placed
    /// exactly once, the others never. The last segment ends the audio, so nothing waits for a segment that never comes.
    @Test("every word of an utterance that overlaps speech lands in exactly one segment", arguments: 0..<20)
    func exactlyOnce(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        var segments: [Segment] = []
        var t = Double.random(in: 0...1, using: &g)
        for _ in 0..<Int.random(in: 1...12, using: &g) {
            let end = t + Double.random(in: 0.05...3, using: &g)
            let split = Bool.random(using: &g) && Int.random(in: 0..<4, using: &g) == 0
            segments.append(Segment(start: t, end: end, nextStart: split ? end : end + 0.25))
            t = split ? end : end + 0.25 + Double.random(in: 0...1.5, using: &g)
        }
        segments[segments.count - 1].nextStart = .infinity
        var utterances: [TranscriptUtterance] = []
        var u = Double.random(in: 0...1, using: &g)
        var token = 0
        while u < t + 1 {
            let end = u + Double.random(in: 0.1...4, using: &g)
            let words = (0..<Int.random(in: 1...8, using: &g)).map { _ -> String in token += 1; return "w\(token)" }
            var utterance = TranscriptUtterance(start: u, end: end, text: words.joined(separator: " "))
            if Bool.random(using: &g) {
                utterance.words = words.map { w in
                    let a = Double.random(in: (u - 0.5)...(end + 0.4), using: &g)
                    return TranscriptWord(word: w, start: max(0, a), end: max(0, a) + Double.random(in: 0...0.1, using: &g))
                }
            }
            utterances.append(Transcript.withWordTimes(utterance))
            u = end + Double.random(in: 0...0.8, using: &g)
        }
        let transcript = Transcript(utterances: utterances)
        let placed = Self.place(transcript, segments).flatMap { $0 }
        let expected = utterances.filter { u in segments.contains { u.start <= $0.end && u.end >= $0.start } }
            .flatMap { $0.words.map(\.word) }
        #expect(placed.sorted() == expected.sorted())
    }
}

/// The words of a transcript whose utterances reach into the pauses around the speech, as a recogniser's bounds
/// usually do: each word lands in exactly one segment record, offline and live alike.
@Suite("Segment words: records")
struct SegmentRecordWordsTests {
    static let rate = 16000
    /// Speech-like bursts: a segment, two separated by a 300 ms pause (one utterance spans both), and one the
    /// transcript has no words for, which takes what the utterance before it left beyond the pause's first 250 ms.
    static let bursts: [(Double, Double)] = [(0.3, 1.0), (1.5, 2.1), (2.4, 2.9), (3.6, 4.0)]

    /// 4.5 s of one channel: a harmonic voice at 140 Hz, modulated at 4 Hz, during the bursts; silence between.
    static func audio() -> [Float] {
        (0..<(rate * 9 / 2)).map { i in
            let t = Double(i) / Double(rate)
            guard bursts.contains(where: { ($0.0..<$0.1).contains(t) }) else { return 0 }
            var x = 0.0
            for h in 1...8 { x += sin(2 * .pi * 140 * Double(h) * t) / Double(h) }
            return Float(0.2 * x * (0.6 + 0.4 * sin(2 * .pi * 4 * t)))
        }
    }

    /// Utterances without word timings whose bounds end 0.4 s after the speech (and, for the second, span a pause),
    /// so evenly spread words have midpoints in the pauses.
    static let utterances = [
        TranscriptUtterance(channel: 0, start: 0.3, end: 1.4, text: "please cancel it today"),
        TranscriptUtterance(channel: 0, start: 1.5, end: 3.3, text: "I was charged twice for the same order again"),
    ]

    static func words(of lines: [String]) throws -> [String] {
        try lines.compactMap { line -> [String]? in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard object["type"] as? String == "segment" else { return nil }
            return try #require(object["words"] as? [String])
        }.flatMap { $0 }
    }

    static func offlineLines() throws -> [String] {
        let source = InMemorySource(name: "call", sampleRate: rate, channelCount: 1, samples: audio())
        var options = AnalysisOptions(call: "c1", roles: [.customer])
        options.transcript = Transcript(utterances: utterances.map(Transcript.withWordTimes))
        var line = JSONLine()
        var lines: [String] = []
        _ = try OfflineAnalysis(options: options).run(source) { r in
            line.begin(); r.write(to: &line); line.end()
            lines.append(String(decoding: line.bytes, as: UTF8.self))
        }
        return lines
    }

    @Test("offline, every word of utterances that reach into pauses is in exactly one segment, in order")
    func everyWordOnceOffline() throws {
        let lines = try Self.offlineLines()
        #expect(lines.filter { $0.hasPrefix("{\"type\":\"segment\"") }.count == Self.bursts.count)
        let expected = Self.utterances.flatMap { $0.text.split(separator: " ").map(String.init) }
        let words = try Self.words(of: lines)
        #expect(words == expected)
    }

    /// Live, the text arrives as `asr` messages once the call has started (paced at real time, so well before the
    /// first segment closes): the segment records are the offline ones, words included.
    @Test("live, segments get the same words as offline")
    func liveEqualsOffline() throws {
        let dir = TempDir()
        let path = dir.file("call.wav")
        try wavData(rate: Self.rate, channels: 1, samples: Self.audio()).write(to: URL(fileURLWithPath: path))
        let sink = CollectingSink()
        let engine = LiveEngine(configuration: LiveEngineConfiguration(workers: 1), sink: sink)
        defer { engine.shutdown() }
        _ = try engine.start(LiveCallRequest(call: "c1", source: "file:\(path)", roles: [.customer]))
        for u in Self.utterances { try engine.addTranscript(call: "c1", u) }
        #expect(LiveEngineTests.waitFor { engine.callCount == 0 })
        let segments = { (lines: [String]) in lines.filter { $0.hasPrefix("{\"type\":\"segment\"") } }
        let live = segments(sink.records(call: "c1"))
        #expect(live == segments(try Self.offlineLines()))
        let words = try Self.words(of: live)
        #expect(words.count == 13, "\(words)")
    }
}
