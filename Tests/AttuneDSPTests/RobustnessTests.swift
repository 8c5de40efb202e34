@testable import AttuneDSP
import Foundation
import Testing

/// What real calls carry and synthetic speech does not: mains hum, clicks, ringback and hold music,
/// voices at the edges of the pitch range. Each case is built in code with its answer known.
@Suite("Robustness: hum, clicks, tones, range")
struct RobustnessTests {
    typealias S = TestSignals

    /// Voiced frames of `frames` whose index lies in `range`.
    static func voiced(_ frames: [FrameFeatures], in range: Range<Int>) -> [FrameFeatures] {
        frames.filter { range.contains($0.index) && $0.f0 > 0 }
    }

    /// Frame index of time `t`.
    static func frame(_ t: Double) -> Int { Int((t / 0.01).rounded()) }

    // MARK: - Mains hum

    @Test("speech at −31 dBFS under mains hum of amplitude 0.04 is found",
          arguments: [(50.0, 16000), (60.0, 8000), (50.0, 8000), (60.0, 16000)])
    func speechUnderHum(hum: Double, rate: Int) {
        // 1 s of hum alone, 2.4 s of syllables over it, 1 s of hum alone.
        var speech = S.voice(rate: rate, seconds: 2.4, lowCut: 0, peak: 1, envelope: S.syllables(pause: 0.1)) { 120 + 20 * sin($0) }
        let gain = powf(10, (-31 - S.rmsDB(speech)) / 20)
        speech = speech.map { $0 * gain }
        var audio = S.silence(rate: rate, seconds: 1) + speech + S.silence(rate: rate, seconds: 1)
        // A little DC as well, as a cheap sound card adds.
        for i in audio.indices { audio[i] += 0.04 * Float(sin(2 * Double.pi * hum * Double(i) / Double(rate))) + 0.01 }
        let run = ActivityTests.analyze(audio, sampleRate: rate)
        let speechFrames = run.frames.filter { (100..<340).contains($0.index) }
        let found = speechFrames.filter(\.speech).count
        #expect(Double(found) >= 0.9 * Double(speechFrames.count), "\(found) of \(speechFrames.count) speech frames found")
        // The notches take ~100 ms to settle on hum that is there from the first sample (see LevelMeter).
        let humOnly = run.frames.filter { ($0.index >= 15 && $0.index < 90) || $0.index >= 350 }
        let falseAlarms = humOnly.filter(\.speech).count
        #expect(falseAlarms <= 5, "\(falseAlarms) hum-only frames called speech")
        #expect(run.segments.filter { $0.end > 0.2 }.count == 1, "segments \(run.segments.map { ($0.start, $0.end) })")
    }

    @Test("the broadband level ignores DC and 50/60 Hz hum but keeps a 100 Hz voice's fundamental", arguments: [8000, 16000])
    func levelRejectsHum(rate: Int) {
        let settings = AnalysisSettings(sampleRate: rate)
        for hum in [50.0, 60.0] {
            let audio = S.tones([hum], rate: rate, seconds: 1, amplitude: 0.5).map { $0 + 0.2 }
            let reading = ActivityTests.lastReading(LevelMeter(settings: settings), audio, hop: settings.hopSize)
            #expect(reading.energyDB < -40, "\(hum) Hz hum at −6 dBFS plus DC reads \(reading.energyDB) dBFS")
        }
        let low = S.tones([100], rate: rate, seconds: 1, amplitude: 1)
        let reading = ActivityTests.lastReading(LevelMeter(settings: settings), low, hop: settings.hopSize)
        #expect(abs(reading.energyDB) < 1.5, "a full-scale 100 Hz tone reads \(reading.energyDB) dBFS")
    }

    // MARK: - Clicks and the pitch tracker's level reference

    @Test("one full-scale click does not silence a quiet voice that follows", arguments: [false, true])
    func clickBeforeQuietVoice(voiceBefore: Bool) {
        let rate = 8000
        let quiet = powf(10, -36 / 20)
        var audio = voiceBefore ? S.voice(rate: rate, seconds: 1, lowCut: 300, peak: quiet, seed: 3) { _ in 130 }
                                : S.silence(rate: rate, seconds: 1)
        audio += S.silence(rate: rate, seconds: 0.2)
        audio += [Float](repeating: 1, count: rate * 4 / 1000)   // 4 ms at full scale
        audio += S.silence(rate: rate, seconds: 0.5)
        let start = audio.count / 80
        audio += S.voice(rate: rate, seconds: 4.5, lowCut: 300, peak: quiet) { 140 + 30 * sin(2 * $0) }
        let end = audio.count / 80
        audio += S.silence(rate: rate, seconds: 0.3)
        let run = ActivityTests.analyze(audio, sampleRate: rate)
        let inner = (start + 5)..<(end - 5)
        let voiced = Self.voiced(run.frames, in: inner).count
        #expect(Double(voiced) >= 0.95 * Double(inner.count), "\(voiced) of \(inner.count) voice frames voiced")
    }

    // MARK: - Tones that are not a voice

    /// Six seconds of something tonal on the line (ringback, hold music), then a low voice in the telephone
    /// band with weak periodicity: its octave must not be pulled towards the tones.
    /// Without tones ("none") it is the plain low-voice octave test: 66–78 Hz, no fundamental, odd harmonics weak.
    @Test("ringback and hold music before a low voice do not move its octave", arguments: ["none", "ringback", "melody"])
    func tonesBeforeLowVoice(kind: String) {
        let rate = 8000
        var audio: [Float] = []
        if kind == "ringback" {
            // North American ringback: 440 + 480 Hz, 2 s on, 1 s off (shortened from 4 s), twice.
            for _ in 0..<2 {
                audio += S.tones([440, 480], rate: rate, seconds: 2, amplitude: 0.1)
                audio += S.silence(rate: rate, seconds: 1)
            }
        } else if kind == "melody" {
            // A tune of pure tones, 250 ms notes, as cheap hold music plays it.
            let notes = [392.0, 440, 494, 523, 494, 440, 392, 330, 349, 392, 440, 392]
            for _ in 0..<2 { for f in notes { audio += S.tones([f], rate: rate, seconds: 0.25, amplitude: 0.2) } }
        }
        audio += S.silence(rate: rate, seconds: 0.5)
        let start = audio.count / 80
        let truth = { (t: Double) in 72 + 6 * sin(1.3 * t) }
        let voice = S.voice(rate: rate, seconds: 6, lowCut: 300, peak: 0.3, jitter: 0.02, otherGain: 0.3,
                            envelope: S.syllables(rate: 5, perWord: 2, pause: 0.25), f0: truth)
        // A noisy mobile caller (so the voice's periodicity is weak and the octave choice leans on the speaker's
        // mean) on a line whose own noise is 20 dB below the tones.
        let hiss = S.noise(count: voice.count, amplitude: 0.06)
        audio += zip(voice, hiss).map { $0 + $1 }
        let line = S.noise(count: audio.count, amplitude: 0.01, seed: 5)
        for i in audio.indices { audio[i] += line[i] }
        let run = ActivityTests.analyze(audio, sampleRate: rate)
        let voiced = Self.voiced(run.frames, in: start..<(audio.count / 80))
        #expect(voiced.count >= 130, "\(voiced.count) voiced frames in the voice")
        let right = voiced.filter { abs(Double($0.f0) / truth(Double($0.index - start) * 0.01) - 1) <= 0.2 }
        let m = voiced.map(\.f0).sorted()[voiced.count / 2]
        #expect(Double(right.count) >= 0.85 * Double(voiced.count), "\(right.count) of \(voiced.count) voiced frames within 20 %, median \(m) Hz")
    }

    @Test("a low voice in the telephone band reads neither an octave up nor down", arguments: [62.0, 78.0])
    func lowVoiceOctave(f0: Double) {
        let rate = 8000
        let truth = { (t: Double) in f0 * (1 + 0.06 * sin(1.7 * t)) }
        var audio = S.silence(rate: rate, seconds: 0.3)
        let start = audio.count / 80
        audio += S.voice(rate: rate, seconds: 4, lowCut: 300, peak: 0.3, jitter: 0.01,
                         envelope: S.syllables(rate: 4, perWord: 3, pause: 0.3), f0: truth)
        let hiss = S.noise(count: audio.count, amplitude: 0.01)
        for i in audio.indices { audio[i] += hiss[i] }
        let run = ActivityTests.analyze(audio, sampleRate: rate)
        let voiced = Self.voiced(run.frames, in: start..<run.frames.count)
        // About 270 frames of speech, the quieter syllable edges unvoiced.
        #expect(voiced.count >= 150, "\(voiced.count) voiced frames")
        let right = voiced.filter { abs(Double($0.f0) / truth(Double($0.index - start) * 0.01) - 1) <= 0.2 }
        #expect(Double(right.count) >= 0.95 * Double(voiced.count), "\(right.count) of \(voiced.count) voiced frames within 20 %")
    }

    @Test("telephone speech under white noise at 10 dB SNR: speech found, F0 right")
    func telephoneInNoise() {
        let rate = 8000
        let truth = { (t: Double) in 160 + 30 * sin(2.1 * t) }
        var audio = S.silence(rate: rate, seconds: 1)
        let voice = S.voice(rate: rate, seconds: 3.7, lowCut: 300, peak: 0.4, jitter: 0.01,
                            envelope: S.syllables(rate: 4, perWord: 4, pause: 0.35), f0: truth)
        audio += voice + S.silence(rate: rate, seconds: 1)
        // Uniform noise of power a²/3, 10 dB below the voice's.
        let power = voice.reduce(Float(0)) { $0 + $1 * $1 } / Float(voice.count)
        let hiss = S.noise(count: audio.count, amplitude: (power / 10 * 3).squareRoot())
        for i in audio.indices { audio[i] += hiss[i] }
        let run = ActivityTests.analyze(audio, sampleRate: rate)
        // Three words of 1 s (the last syllable's silent 30 % at the end of each is not speech), 0.35 s pauses.
        let spoken = 3 * (1 - 0.3 / 4)
        #expect(abs(run.totals.speechS - spoken) <= 0.15, "speech \(run.totals.speechS) s")
        #expect(run.segments.count == 3, "\(run.segments.count) segments")
        #expect(!run.frames.contains { $0.speech && ($0.index < 98 || $0.index > 465) }, "speech in the noise alone")
        #expect(!run.frames.contains { $0.f0 > 0 && ($0.index < 98 || $0.index > 465) }, "voicing in the noise alone")
        // About 270 frames of speech; noise unvoices the quieter syllable edges.
        let voiced = Self.voiced(run.frames, in: 100..<465)
        #expect(voiced.count >= 170, "\(voiced.count) voiced frames")
        let right = voiced.filter { abs(Double($0.f0) / truth(Double($0.index - 100) * 0.01) - 1) <= 0.2 }
        #expect(Double(right.count) >= 0.95 * Double(voiced.count), "\(right.count) of \(voiced.count) voiced frames within 20 %")
        let median = run.totals.f0MedianHz ?? 0
        #expect(abs(median / 160 - 1) <= 0.06, "F0 median \(median) Hz")
    }

    @Test("F0 and energy start with the voice, within a frame of it and of each other", arguments: [8000, 16000])
    func f0AndEnergyAlign(rate: Int) {
        // Silence over faint noise, then a steady voice from exactly 1.000 s.
        var audio = S.silence(rate: rate, seconds: 1)
        audio += S.voice(rate: rate, seconds: 1, peak: 0.3) { _ in 140 }
        let hiss = S.noise(count: audio.count, amplitude: 0.0005)
        for i in audio.indices { audio[i] += hiss[i] }
        let run = ActivityTests.analyze(audio, sampleRate: rate)
        let steady = run.frames[150].energyDB
        let energyOnset = run.frames.firstIndex { $0.energyDB > steady - 6 } ?? -1
        // The first frame of a voiced run of at least three.
        let f0Onset = run.frames.indices.first { k in k + 2 < run.frames.count && (k...(k + 2)).allSatisfy { run.frames[$0].f0 > 0 } } ?? -1
        #expect(abs(energyOnset - 100) <= 1, "energy onset at frame \(energyOnset)")
        #expect(abs(f0Onset - 100) <= 1, "F0 onset at frame \(f0Onset)")
        #expect(abs(f0Onset - energyOnset) <= 1)
        let speechOnset = run.frames.firstIndex { $0.speech } ?? -1
        #expect(abs(speechOnset - 100) <= 1, "speech onset at frame \(speechOnset)")
        // Frame 98, whose 41.5 ms pitch window just reaches the voice, was voiced alone at 300–500 Hz before
        // the short-window check against unvoiced.
        let first = run.frames.firstIndex { $0.f0 > 0 } ?? -1
        #expect(first >= 99, "first voiced frame \(first) at \(first >= 0 ? run.frames[first].f0 : 0) Hz")
    }

    // MARK: - Range

    @Test("F0 is never reported outside [floor, ceiling]", arguments: [8000, 16000])
    func f0WithinRange(rate: Int) {
        // A 515 Hz voice lies above the 500 Hz ceiling, within the candidates' 5 % margin.
        let audio = S.voice(rate: rate, seconds: 1.5, peak: 0.3, jitter: 0) { _ in 515 }
        let run = ActivityTests.analyze(audio, sampleRate: rate)
        let voiced = run.frames.filter { $0.f0 > 0 }
        #expect(voiced.count >= 100, "\(voiced.count) voiced frames")
        let outside = voiced.filter { $0.f0 < 50 || $0.f0 > 500 }
        #expect(outside.count == 0, "\(outside.count) frames outside the range, up to \(outside.map(\.f0).max() ?? 0) Hz")
    }
}

/// The engine's fixed delay, as a live consumer sees it.
@Suite("ChannelAnalyzer delay and taps")
struct DelayTests {
    @Test("every frame comes out exactly fixedDelaySamples after its centre", arguments: [8000, 16000])
    func fixedDelayIsObserved(rate: Int) {
        let analyzer = ChannelAnalyzer(settings: AnalysisSettings(sampleRate: rate))
        let hop = analyzer.settings.hopSize
        let audio = AllocationTests.speechLike(sampleRate: rate, seconds: 3)
        var emittedAt: [Int] = []   // samples in when frame k came out, by k
        audio.withUnsafeBufferPointer { all in
            for i in all.indices {
                analyzer.push(UnsafeBufferPointer(rebasing: all[i..<(i + 1)]), onFrame: { frame in
                    #expect(frame.index == emittedAt.count)
                    emittedAt.append(analyzer.samplesIn)
                }, onSegment: { _ in })
            }
        }
        let live = emittedAt.count
        analyzer.finish(onFrame: { _ in emittedAt.append(-1) }, onSegment: { _ in })
        #expect(live > 100 && emittedAt.count == (audio.count - 1) / hop + 1)
        let late = (0..<live).filter { emittedAt[$0] - $0 * hop != analyzer.fixedDelaySamples }
        #expect(late.isEmpty, "\(late.count) frames off the fixed delay, first \(late.first.map { emittedAt[$0] - $0 * hop } ?? 0)")
        // 51 hops (pitch path 35, activity 16) and the framer's half-window (25 ms at 8 kHz, 24.4 ms at 16 kHz).
        #expect(analyzer.fixedDelaySamples == 51 * hop + (rate == 8000 ? 200 : 390))
    }

    @Test("the syllable tap sees every frame and segment, and its lines are the trace rate_train.py reads")
    func syllableTap() {
        let rate = 8000
        let analyzer = ChannelAnalyzer(settings: AnalysisSettings(sampleRate: rate))
        var tapped: [SyllableTrace] = []
        analyzer.syllableTap = { tapped.append($0) }
        var frames = 0, segments: [SegmentStats] = []
        let audio = AllocationTests.speechLike(sampleRate: rate, seconds: 4)
        audio.withUnsafeBufferPointer { analyzer.push($0, onFrame: { _ in frames += 1 }, onSegment: { segments.append($0) }) }
        analyzer.finish(onFrame: { _ in frames += 1 }, onSegment: { segments.append($0) })
        let frameIndices = tapped.compactMap { if case let .frame(index, _, _) = $0 { index } else { nil } }
        #expect(frameIndices == Array(0..<frames))
        let spans = tapped.compactMap { if case let .segment(first, last, _, _, _) = $0 { (first, last) } else { nil } }
        #expect(spans.count == segments.count && segments.count >= 2)
        #expect(zip(spans, segments).allSatisfy { abs(Double($0.0) * 0.01 - $1.start) <= 0.005 + 1e-9 })
        let line = SyllableTrace.frame(index: 7, speech: true, inputs: SIMD16(0.5, -1, 0, 0, 0, 0, 0, 0, 0, 0.25, 1, 9, 9, 9, 9, 9)).line
        #expect(line == "F 7 1 0.5 -1.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.25 1.0 9.0\n")
        #expect(SyllableTrace.segment(first: 3, last: 40, seconds: 0.38, density: 2.5, recentRate: 4.25).line
                == "SYLFEAT 3 40 0.38 2.5 4.25\n")
    }
}
