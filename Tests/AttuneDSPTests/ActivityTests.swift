@testable import AttuneDSP
import Foundation
import Testing

/// Levels, voice activity, segmentation and syllable nuclei on signals whose answer is known by construction.
@Suite("Activity: levels, VAD, segments, nuclei")
struct ActivityTests {
    struct Run {
        var frames: [FrameFeatures] = []
        var segments: [SegmentStats] = []
        var totals = ChannelTotals()
        var speechFraction: Double { frames.isEmpty ? 0 : Double(frames.filter(\.speech).count) / Double(frames.count) }
    }

    /// Runs the whole channel analysis over `audio` in blocks of `block` samples.
    static func analyze(_ audio: [Float], sampleRate: Int, block: Int = 4096) -> Run {
        let analyzer = ChannelAnalyzer(settings: AnalysisSettings(sampleRate: sampleRate))
        var run = Run()
        audio.withUnsafeBufferPointer { all in
            var start = 0
            while start < all.count {
                let end = min(all.count, start + block)
                analyzer.push(UnsafeBufferPointer(rebasing: all[start..<end]), onFrame: { run.frames.append($0) },
                              onSegment: { run.segments.append($0) })
                start = end
            }
        }
        analyzer.finish(onFrame: { run.frames.append($0) }, onSegment: { run.segments.append($0) })
        run.totals = analyzer.totals
        return run
    }

    /// A deterministic uniform noise generator (the tests must not depend on a system RNG).
    struct LCG {
        var state: UInt32
        mutating func next() -> Float {
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 2 - 1
        }
    }

    /// A vowel-like harmonic complex (f0 120 Hz, harmonics falling 6 dB/octave up to 3.5 kHz), amplitude
    /// modulated at `rate` Hz from silence to full level: one "syllable" per modulation period.
    static func modulatedVowel(sampleRate: Int, seconds: Double, rate: Double, level: Float = 0.3) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        return (0..<n).map { i in
            let t = Double(i) / Double(sampleRate)
            var v = 0.0
            for h in 1...29 where Double(h) * 120 < 3500 { v += sin(2 * .pi * 120 * Double(h) * t) / Double(h) }
            let envelope = 0.5 - 0.5 * cos(2 * .pi * rate * t)
            return level * Float(v * envelope) / 2
        }
    }

    // MARK: - LevelMeter

    @Test("full-scale sine reads 0 dBFS and peaks in its own band; silence reads silenceDB", arguments: [8000, 16000])
    func levelCalibration(sampleRate: Int) {
        let settings = AnalysisSettings(sampleRate: sampleRate)
        let meter = LevelMeter(settings: settings)
        let sine = (0..<sampleRate).map { Float(sin(2 * Double.pi * 1100 * Double($0) / Double(sampleRate))) }
        let last = Self.lastReading(meter, sine, hop: settings.hopSize)
        #expect(abs(last.energyDB) < 0.1)
        // 1100 Hz lies in band 4 (968–1358 Hz). The 2nd-order skirts overlap, so only bands two or more away
        // fall off clearly.
        let loudest = (0..<8).max { last.bandsDB[$0] < last.bandsDB[$1] }
        #expect(loudest == 4, "bands \(last.bandsDB)")
        #expect(last.bandsDB[4] > -3, "bands \(last.bandsDB)")
        #expect(last.bandsDB[2] < last.bandsDB[4] - 3 && last.bandsDB[6] < last.bandsDB[4] - 3, "bands \(last.bandsDB)")
        #expect(last.bandsDB[0] < last.bandsDB[4] - 8 && last.bandsDB[7] < last.bandsDB[4] - 8, "bands \(last.bandsDB)")
        let silence = [Float](repeating: 0, count: meter.windowLength)
        let quiet = LevelMeter(settings: settings)
        let reading = silence.withUnsafeBufferPointer { quiet.measure($0) }
        #expect(reading.energyDB == silenceDB)
        #expect(reading.bandsDB == SIMD8(repeating: silenceDB))
    }

    @Test("a tone below 250 Hz barely reaches any band")
    func bandsRejectOutOfBand() {
        let settings = AnalysisSettings(sampleRate: 16000)
        let tone = (0..<16000).map { Float(0.5 * sin(2 * Double.pi * 100 * Double($0) / 16000)) }
        let last = Self.lastReading(LevelMeter(settings: settings), tone, hop: settings.hopSize)
        // The tone reads −6 dBFS (amplitude 0.5).
        #expect(last.bandsDB.max() < -16, "bands \(last.bandsDB)")
    }

    /// The reading of the last whole window when `audio` is fed to `meter` hop by hop.
    static func lastReading(_ meter: LevelMeter, _ audio: [Float], hop: Int) -> LevelMeter.Reading {
        var last: LevelMeter.Reading = (0, .zero, nil)
        audio.withUnsafeBufferPointer { all in
            var end = meter.windowLength
            while end <= all.count {
                last = meter.measure(UnsafeBufferPointer(rebasing: all[(end - meter.windowLength)..<end]))
                end += hop
            }
        }
        return last
    }

    // MARK: - Activity

    @Test("digital silence: no speech, no syllables, valid totals")
    func silence() {
        let run = Self.analyze([Float](repeating: 0, count: 8000 * 3), sampleRate: 8000)
        #expect(run.segments.isEmpty)
        #expect(run.frames.count == 300)
        #expect(!run.frames.contains { $0.speech })
        #expect(run.totals.syllables == 0)
        #expect(run.totals.speechS == 0)
        #expect(run.totals.firstSpeech == nil && run.totals.lastSpeech == nil)
        #expect(run.totals.pauses == 0)
        #expect(abs(run.totals.durationS - 3) < 1e-9)
        #expect(run.totals.speechRateSPS == 0 && run.totals.articulationRateSPS == 0)
        #expect(run.totals.f0MedianHz == nil)
    }

    @Test("tone bursts with 400 ms gaps: one segment each, edges within 30 ms")
    func toneBursts() {
        let rate = 16000
        // 0.5 s silence, then three 0.6 s bursts of a 440 Hz tone separated by 0.4 s, then 0.5 s silence.
        let bursts: [(Double, Double)] = [(0.5, 1.1), (1.5, 2.1), (2.5, 3.1)]
        var audio = [Float](repeating: 0, count: Int(3.6 * Double(rate)))
        for (a, b) in bursts {
            for i in Int(a * Double(rate))..<Int(b * Double(rate)) {
                audio[i] = 0.3 * Float(sin(2 * Double.pi * 440 * Double(i) / Double(rate)))
            }
        }
        let run = Self.analyze(audio, sampleRate: rate)
        #expect(run.segments.count == 3)
        for (segment, burst) in zip(run.segments, bursts) {
            #expect(abs(segment.start - burst.0) <= 0.030, "start \(segment.start) vs \(burst.0)")
            #expect(abs(segment.end - burst.1) <= 0.030, "end \(segment.end) vs \(burst.1)")
        }
        #expect(run.totals.pauses == 2)
        #expect(abs(run.totals.speechS - 1.8) < 0.1)
        // A pause closed the first two: the next cannot start within 250 ms of their ends. Each carries the one before.
        for s in run.segments.prefix(2) { #expect(abs(s.nextStart - (s.end + 0.25)) < 1e-9, "\(s.bounds)") }
        #expect(run.segments.map(\.previous) == [nil] + run.segments.dropLast().map(\.bounds))
    }

    @Test("a vowel modulated at 4 Hz for 2 s has 8 ± 1 nuclei", arguments: [8000, 16000])
    func modulatedVowelNuclei(sampleRate: Int) {
        var audio = [Float](repeating: 0, count: sampleRate / 2)
        audio += Self.modulatedVowel(sampleRate: sampleRate, seconds: 2, rate: 4)
        audio += [Float](repeating: 0, count: sampleRate / 2)
        let run = Self.analyze(audio, sampleRate: sampleRate)
        #expect(abs(run.totals.syllables - 8) <= 1, "\(run.totals.syllables) nuclei")
        #expect(run.segments.count == 1)
        let median = run.totals.f0MedianHz ?? 0
        #expect(abs(median - 120) < 6, "F0 median \(median)")
    }

    @Test("stationary noise alone is not speech", arguments: [Float(0.001), 0.01, 0.1])
    func noiseOnly(amplitude: Float) {
        var rng = LCG(state: 99)
        let audio = (0..<(8000 * 4)).map { _ in amplitude * rng.next() }
        let run = Self.analyze(audio, sampleRate: 8000)
        #expect(run.speechFraction < 0.1, "speech in \(run.speechFraction * 100) % of frames")
        #expect(run.totals.syllables <= 1)
    }

    /// Low-frequency noise that swells and fades, as a room sounds through a handset while its caller listens.
    static func roomNoise(sampleRate: Int, seconds: Double, rmsDB: Float, seed: UInt32) -> [Float] {
        var rng = LCG(state: seed)
        let n = Int(Double(sampleRate) * seconds)
        var low: Float = 0, slow: Float = 0
        var out = (0..<n).map { i -> Float in
            low += 0.02 * (rng.next() - low)          // a rumble under ~25 Hz…
            slow += 0.002 * (low - slow)              // …without its drift
            let t = Double(i) / Double(sampleRate)
            return (low - slow) * Float(1 + 0.8 * sin(2 * .pi * 0.7 * t) * sin(2 * .pi * 0.23 * t))
        }
        let rms = (out.reduce(Float(0)) { $0 + $1 * $1 } / Float(n)).squareRoot()
        let gain = powf(10, rmsDB / 20) / rms
        for i in out.indices { out[i] *= gain }
        return out
    }

    @Test("room noise 45 dB below the caller, before they speak, is no segment; their voice is", arguments: [8000, 16000])
    func quietRoomBeforeSpeech(rate: Int) {
        // 6 s of a room at about -66 dBFS (room noise through a handset; active telephone speech sits near
        // -26 dBFS), then 2 s of voice at about -21 dBFS over the same room, then the room again.
        var audio = Self.roomNoise(sampleRate: rate, seconds: 10, rmsDB: -66, seed: 5)
        let voice = Self.modulatedVowel(sampleRate: rate, seconds: 2, rate: 4, level: 0.3)
        for i in voice.indices { audio[6 * rate + i] += voice[i] }
        let run = Self.analyze(audio, sampleRate: rate)
        #expect(run.segments.allSatisfy { $0.start >= 5.8 && $0.end <= 8.3 },
                "segments at \(run.segments.map { String(format: "%.2f-%.2f", $0.start, $0.end) })")
        #expect(abs(run.totals.speechS - 2) < 0.3, "speech \(run.totals.speechS) s")
    }

    @Test("speech-like bursts in noise at 10 dB SNR are found")
    func burstsInNoise() {
        let rate = 8000
        var rng = LCG(state: 7)
        var audio = [Float](repeating: 0, count: rate)  // 1 s of noise first, for the floor
        audio += Self.modulatedVowel(sampleRate: rate, seconds: 2, rate: 4, level: 0.3)
        audio += [Float](repeating: 0, count: rate)
        // Noise 10 dB below the vowel's mean power.
        let speechPower = audio.reduce(Float(0)) { $0 + $1 * $1 } / Float(2 * rate)
        let noiseAmplitude = (speechPower / 10 * 3).squareRoot()  // uniform noise has power a²/3
        for i in audio.indices { audio[i] += noiseAmplitude * rng.next() }
        let run = Self.analyze(audio, sampleRate: rate)
        #expect(run.segments.count >= 1)
        #expect(abs(run.totals.speechS - 2) < 0.4, "speech \(run.totals.speechS) s")
        #expect(abs(run.totals.syllables - 8) <= 2, "\(run.totals.syllables) nuclei")
    }

    @Test("results do not depend on the block size")
    func blockSizeIndependence() {
        let rate = 8000
        var rng = LCG(state: 3)
        var audio = Self.modulatedVowel(sampleRate: rate, seconds: 1.5, rate: 5)
        audio += [Float](repeating: 0, count: rate / 2)
        audio += Self.modulatedVowel(sampleRate: rate, seconds: 1, rate: 3)
        for i in audio.indices { audio[i] += 0.002 * rng.next() }
        let reference = Self.analyze(audio, sampleRate: rate, block: 4096)
        for block in [1, 37, 80, 1000] {
            let run = Self.analyze(audio, sampleRate: rate, block: block)
            #expect(run.frames == reference.frames, "block \(block)")
            #expect(run.segments == reference.segments, "block \(block)")
            #expect(run.totals == reference.totals, "block \(block)")
        }
    }

    @Test("long speech is force-split into segments of at most 30 s, and F0 statistics come from the histogram")
    func forceSplitAndF0() {
        let settings = AnalysisSettings(sampleRate: 8000)
        let activity = SpeechActivityAnalyzer(settings: settings)
        var segments: [SegmentStats] = []
        var frames = 0
        for i in 0..<(65 * 100) {
            // 1 s of silence, then voiced frames whose level swings ±8 dB at 4 Hz, F0 alternating 100 / 200 Hz.
            var f = FrameFeatures(index: i)
            if i >= 100 {
                let level = -20 + 8 * Float(sin(2 * Double.pi * 4 * Double(i) / 100))
                f = FrameFeatures(index: i, f0: i % 2 == 0 ? 100 : 200, voicing: 0.9, energyDB: level,
                                  bandsDB: SIMD8(repeating: level - 3))
            }
            activity.process(f, onFrame: { _ in frames += 1 }, onSegment: { segments.append($0) })
        }
        activity.finish(durationSeconds: 65, onFrame: { _ in frames += 1 }, onSegment: { segments.append($0) })
        #expect(frames == 6500)
        #expect(segments.count == 3)
        #expect(segments.allSatisfy { $0.end - $0.start <= 30.01 })
        let syllables = segments.reduce(0) { $0 + $1.syllables }
        #expect(syllables == activity.totals.syllables, "segment counts add up to the total (fractions carried)")
        #expect(activity.totals.pauses == 0, "a forced split is not a pause")
        // After a split the next segment may start at once; speech to the end of the audio leaves no next one.
        #expect(segments.map(\.nextStart) == [segments[1].start, segments[2].start, .infinity])
        #expect(segments[0].end == segments[1].start && segments[1].end == segments[2].start)
        #expect(segments.map(\.previous) == [nil, segments[0].bounds, segments[1].bounds])
        let range = segments.first?.f0RangeST ?? 0
        #expect(abs(range - 12) < 0.2, "range \(range) st")
        // Half the frames at 100 Hz, half at 200 Hz: the median is the lower one's bin (100.3 Hz).
        let median = activity.totals.f0MedianHz ?? 0
        #expect(abs(median - 100) < 1.5, "median \(median) Hz")
    }
}
