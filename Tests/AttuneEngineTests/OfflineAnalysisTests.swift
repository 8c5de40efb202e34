import AttuneEngine
import AttuneEvents
import Foundation
import Testing

@Suite("Offline analysis")
struct OfflineAnalysisTests {
    /// Two channels of different speech-like signals: a voiced source in syllable-sized bursts with pauses.
    static func call(sampleRate: Int, seconds: Double) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        var out = [Float](repeating: 0, count: 2 * n)
        var phases = [0.0, 0.0]
        for i in 0..<n {
            let t = Double(i) / Double(sampleRate)
            for c in 0..<2 {
                let f0 = (c == 0 ? 110.0 : 210.0) * (1 + 0.1 * sin(2 * .pi * 0.5 * t))
                phases[c] += 2 * .pi * f0 / Double(sampleRate)
                var v = 0.0
                for h in 1...10 where Double(h) * f0 < Double(sampleRate) / 2 { v += sin(Double(h) * phases[c]) / Double(h) }
                let envelope = max(0, sin(2 * .pi * (c == 0 ? 3.0 : 4.0) * t))
                let talking = ((t + Double(c) * 1.5).truncatingRemainder(dividingBy: 3) < 1.5) ? 1.0 : 0.0
                out[2 * i + c] = Float(0.2 * v * envelope * talking)
            }
        }
        return out
    }

    static func analyse(_ samples: [Float], rate: Int, maxFramesPerRead: Int, frames: Bool = true) throws -> [AnalysisRecord] {
        let source = InMemorySource(name: "test", sampleRate: rate, channelCount: 2, samples: samples)
        source.maxFramesPerRead = maxFramesPerRead
        var records: [AnalysisRecord] = []
        _ = try OfflineAnalysis(options: AnalysisOptions(call: "c1", frames: frames, roles: [.agent, .customer])).run(source) {
            records.append($0)
        }
        return records
    }

    static func lines(_ records: [AnalysisRecord]) -> [String] {
        var line = JSONLine()
        return records.map { r in
            line.begin()
            r.write(to: &line)
            line.end()
            return String(decoding: line.bytes, as: UTF8.self)
        }
    }

    /// Uneven block sizes at every kind of rate (the resampler is in the path at 16 and 44.1 kHz input): any
    /// dependence of the records on how the audio arrived — in the resampler, the framer or the merge of the
    /// two channels — would show as a difference.
    @Test("records do not depend on how the audio is split into blocks", arguments: [8000, 16000, 44100])
    func blockSizeIndependence(rate: Int) throws {
        let audio = Self.call(sampleRate: rate, seconds: 3)
        let reference = Self.lines(try Self.analyse(audio, rate: rate, maxFramesPerRead: 4096))
        #expect(reference.count > 600)
        for block in [1, 37, 160, 1000, 4095] where rate == 8000 || block != 1 {
            #expect(Self.lines(try Self.analyse(audio, rate: rate, maxFramesPerRead: block)) == reference, "block of \(block) frames")
        }
    }

    @Test("both channels' frames come out merged in time order")
    func channelsMergeFrameByFrame() throws {
        let records = try Self.analyse(Self.call(sampleRate: 8000, seconds: 2), rate: 8000, maxFramesPerRead: 333)
        let frames = records.compactMap { r -> FrameRecord? in if case .frame(let f) = r { return f } else { return nil } }
        #expect(frames.count == 400)
        for (i, f) in frames.enumerated() {
            #expect(f.channel == i % 2)
            #expect(abs(f.t - Double(i / 2) * 0.01) < 1e-9)
        }
    }

    @Test("one frame per hop per channel, then one summary per channel, last")
    func recordShape() throws {
        let audio = Self.call(sampleRate: 16000, seconds: 2)
        let records = try Self.analyse(audio, rate: 16000, maxFramesPerRead: 4096)
        var frames = [0, 0]
        var summaries: [SummaryRecord] = []
        for r in records {
            switch r {
            case .frame(let f): frames[f.channel] += 1; #expect(summaries.isEmpty)
            case .segment: #expect(summaries.isEmpty)
            case .summary(let s): summaries.append(s)
            case .event: Issue.record("the engine has no event layer yet")
            }
        }
        // Frame centres at 0, 10, …, 1990 ms: the last centre at or before the end of 2 s of audio.
        #expect(frames == [200, 200])
        #expect(summaries.map(\.channel) == [0, 1])
        #expect(summaries.map(\.role) == [.agent, .customer])
        #expect(summaries.allSatisfy { abs($0.durationS - 2) < 1e-9 })
    }

    @Test("every line is one JSON object that decodes to its record type with type and v first")
    func linesDecode() throws {
        let records = try Self.analyse(Self.call(sampleRate: 8000, seconds: 3), rate: 8000, maxFramesPerRead: 4096)
        let decoder = JSONDecoder()
        for (record, text) in zip(records, Self.lines(records)) {
            #expect(text.hasPrefix("{\"type\":\""))
            #expect(text.hasSuffix("}\n"))
            #expect(text.dropLast().contains("\n") == false)
            let data = Data(text.utf8)
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            #expect(object?["v"] as? Int == 1)
            switch record {
            case .frame(let f):
                let back = try decoder.decode(FrameRecord.self, from: data)
                #expect(abs(back.t - f.t) < 5e-4)
                #expect((back.f0Hz == nil) == (f.f0Hz == nil))
                #expect(back.speech == f.speech)
            case .segment(let s):
                let back = try decoder.decode(SegmentRecord.self, from: data)
                #expect(back.syllables == s.syllables)
                #expect(abs(back.start - s.start) < 5e-4)
            case .summary(let s):
                let back = try decoder.decode(SummaryRecord.self, from: data)
                #expect(back.syllables == s.syllables)
                #expect(back.pauses == s.pauses)
            case .event(let e):
                let back = try decoder.decode(EventRecord.self, from: data)
                #expect(back == e)
            }
        }
    }
}
