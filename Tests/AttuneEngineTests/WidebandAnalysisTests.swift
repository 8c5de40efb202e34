import AttuneEngine
import AttuneEvents
import Foundation
import Testing

/// Wide-band input is resampled to the 16 kHz analysis rate; what comes out must be what the same sound
/// recorded at 16 kHz gives: pitch, voicing, energy, speech, syllables and rates.
@Suite("Wide-band analysis")
struct WidebandAnalysisTests {
    /// Two channels of voiced, syllable-like bursts with pauses, like ``OfflineAnalysisTests/call(sampleRate:seconds:)``
    /// but written as functions of continuous time, smooth and band-limited (harmonics ≤ 4.4 kHz, raised-cosine
    /// envelopes), so that rendering it at two rates samples the very same sound and only the resampler differs.
    static func call(sampleRate: Int, seconds: Double) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        var out = [Float](repeating: 0, count: 2 * n)
        for i in 0..<n {
            let t = Double(i) / Double(sampleRate)
            for c in 0..<2 {
                let base = c == 0 ? 110.0 : 210.0
                // f0(t) = base · (1 + 0.1 sin(2π·0.5 t)), integrated in closed form.
                let phase = 2 * .pi * base * (t + 0.1 * (1 - cos(2 * .pi * 0.5 * t)) / (2 * .pi * 0.5))
                var v = 0.0
                for h in 1...(c == 0 ? 20 : 12) { v += sin(Double(h) * phase) / Double(h) }
                let syllable = pow(sin(.pi * (c == 0 ? 3.0 : 4.0) * t), 2)
                // 1.5 s talking, 1.5 s pause, with 50 ms raised-cosine edges.
                let cycle = (t + Double(c) * 1.5).truncatingRemainder(dividingBy: 3)
                let edge = min(cycle, 1.5 - cycle) / 0.05
                let talking = cycle >= 1.5 ? 0 : edge >= 1 ? 1 : 0.5 - 0.5 * cos(.pi * max(edge, 0))
                out[2 * i + c] = Float(0.2 * v * syllable * talking)
            }
        }
        return out
    }

    /// The call rendered at 16 kHz, analysed once and shared by the comparisons.
    static let reference = try! OfflineAnalysisTests.analyse(call(sampleRate: 16000, seconds: 6), rate: 16000, maxFramesPerRead: 4096)

    /// Frame records by channel, then time. (How the channels' records interleave follows the input blocks,
    /// which hold a different number of hops at each input rate.)
    static func frames(_ records: [AnalysisRecord]) -> [FrameRecord] {
        records.compactMap { if case .frame(let f) = $0 { f } else { nil } }.sorted { ($0.channel, $0.t) < ($1.channel, $1.t) }
    }

    static func summaries(_ records: [AnalysisRecord]) -> [SummaryRecord] {
        records.compactMap { if case .summary(let s) = $0 { s } else { nil } }
    }

    @Test("the same call at 22.05–48 kHz gives the 16 kHz frame and summary records", arguments: [44100, 48000, 32000, 22050])
    func matchesSixteenKilohertz(_ rate: Int) throws {
        let wide = try OfflineAnalysisTests.analyse(Self.call(sampleRate: rate, seconds: 6), rate: rate, maxFramesPerRead: 4096)
        let a = Self.frames(Self.reference), b = Self.frames(wide)
        try #require(a.count == b.count, "\(rate) Hz: \(b.count) frames, 16 kHz: \(a.count)")
        var f0Worst = 0.0, energyWorst = 0.0, voicingWorst = 0.0, voicedDiffer = 0, speechDiffer = 0, misplaced = 0
        for (x, y) in zip(a, b) {
            if x.t != y.t || x.channel != y.channel { misplaced += 1 }
            if let f = x.f0Hz, let g = y.f0Hz { f0Worst = max(f0Worst, abs(1200 * log2(g / f))) }
            if (x.f0Hz == nil) != (y.f0Hz == nil) { voicedDiffer += 1 }
            if x.speech != y.speech { speechDiffer += 1 }
            // In the pauses (below -60 dBFS) level and periodicity are those of float rounding noise.
            if max(x.energyDb, y.energyDb) > -60 {
                energyWorst = max(energyWorst, abs(x.energyDb - y.energyDb))
                voicingWorst = max(voicingWorst, abs(x.voicing - y.voicing))
            }
        }
        #expect(misplaced == 0, "\(rate) Hz: \(misplaced) frames at other times or channels")
        // Measured with libsoxr: F0 ≤ 0.001 cent, energy ≤ 2e-5 dB, voicing ≤ 4e-6 apart, at every rate.
        #expect(f0Worst <= 0.01, "\(rate) Hz: F0 differs by up to \(f0Worst) cents")
        #expect(energyWorst <= 0.001, "\(rate) Hz: energy differs by up to \(energyWorst) dB")
        #expect(voicingWorst <= 1e-4, "\(rate) Hz: voicing differs by up to \(voicingWorst)")
        #expect(voicedDiffer == 0, "\(rate) Hz: \(voicedDiffer) of \(a.count) frames change voiced/unvoiced")
        #expect(speechDiffer == 0, "\(rate) Hz: \(speechDiffer) of \(a.count) frames change speech/pause")
        let s = Self.summaries(Self.reference), w = Self.summaries(wide)
        try #require(s.count == 2 && w.count == 2)
        for c in 0..<2 {
            #expect(s[c].syllables == w[c].syllables && s[c].pauses == w[c].pauses)
            #expect(abs(s[c].speechS - w[c].speechS) < 1e-9 && abs(s[c].durationS - w[c].durationS) < 1e-9)
            #expect(abs(s[c].speechRateSps - w[c].speechRateSps) < 1e-9)
        }
    }

    @Test("wide-band records do not depend on how the audio is split into blocks")
    func blockSizesDoNotMatter() throws {
        let audio = Self.call(sampleRate: 44100, seconds: 3)
        let reference = OfflineAnalysisTests.lines(try OfflineAnalysisTests.analyse(audio, rate: 44100, maxFramesPerRead: 4096))
        for block in [1, 441, 1000] {
            let lines = OfflineAnalysisTests.lines(try OfflineAnalysisTests.analyse(audio, rate: 44100, maxFramesPerRead: block))
            #expect(lines == reference, "block of \(block) frames")
        }
    }
}
