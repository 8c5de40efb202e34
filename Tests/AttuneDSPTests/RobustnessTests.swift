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
        let voice = S.voice(rate: rate, seconds: 6, lowCut: 300, peak: 0.3, jitter: 0.02, oddGain: 0.3,
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
