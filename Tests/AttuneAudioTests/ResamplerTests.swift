import AttuneAudio
import Foundation
import Testing

@Suite("Resampler")
struct ResamplerTests {
    static func sine(_ hz: Double, amplitude: Float, rate: Int, count: Int) -> [Float] {
        (0..<count).map { amplitude * Float(sin(2 * Double.pi * hz * Double($0) / Double(rate))) }
    }

    /// Runs `input` through a fresh resampler in blocks of `block` frames (the whole signal when nil).
    static func resample(_ input: [Float], from: Int, to: Int, block: Int?) throws -> [Float] {
        let r = try Resampler(from: from, to: to)
        var out: [Float] = []
        input.withUnsafeBufferPointer { all in
            let step = block ?? max(all.count, 1)
            var i = 0
            while i < all.count {
                let n = min(step, all.count - i)
                r.process(UnsafeBufferPointer(rebasing: all[i..<(i + n)]), end: false) { out.append(contentsOf: $0) }
                i += n
            }
            r.process(UnsafeBufferPointer(rebasing: all[all.count..<all.count]), end: true) { out.append(contentsOf: $0) }
        }
        #expect(r.failure == nil)
        return out
    }

    /// Magnitude of the DFT of `x` at `hz` (one bin, Goertzel-style), normalised to a sine's amplitude.
    static func amplitude(of x: ArraySlice<Float>, at hz: Double, rate: Int) -> Double {
        var re = 0.0, im = 0.0
        for (k, v) in x.enumerated() {
            let w = 2 * Double.pi * hz * Double(k) / Double(rate)
            re += Double(v) * cos(w)
            im -= Double(v) * sin(w)
        }
        return 2 * (re * re + im * im).squareRoot() / Double(x.count)
    }

    /// Level in dB (re amplitude 1) of the `hz` component of `x`, Hann-windowed so that a tone between DFT bins
    /// and the signal's cut ends leak nothing measurable (sidelobes fall 18 dB per octave).
    static func levelDB(of x: ArraySlice<Float>, at hz: Double, rate: Int) -> Double {
        var re = 0.0, im = 0.0, weight = 0.0
        let n = Double(x.count)
        for (k, v) in x.enumerated() {
            let w = 0.5 - 0.5 * cos(2 * Double.pi * (Double(k) + 0.5) / n)
            let phase = 2 * Double.pi * hz * Double(k) / Double(rate)
            re += w * Double(v) * cos(phase)
            im -= w * Double(v) * sin(phase)
            weight += w
        }
        return 20 * log10(max(2 * (re * re + im * im).squareRoot() / weight, 1e-30))
    }

    /// Pass band: a tone anywhere the analysis looks (F0 and its harmonics, the band levels up to 3.8 kHz, the
    /// broadband energy up to 7 kHz) keeps its level within 0.01 dB through every wide-band conversion (worst
    /// measured: 0.0065 dB at 7 kHz from 44.1 and 22.05 kHz; libsamplerate's SRC_SINC_FASTEST, whose pass band
    /// ends at 6.4 kHz, was 13.8 dB down at 7 kHz).
    @Test(arguments: [44100, 48000, 32000, 24000, 22050, 11025])
    func passBandIsFlat(_ rate: Int) throws {
        for hz in [60.0, 200, 500, 1000, 2500, 3800, 5000, 6000, 7000] where hz < 0.45 * Double(rate) {
            let out = try Self.resample(Self.sine(hz, amplitude: 0.5, rate: rate, count: rate), from: rate, to: 16000, block: 4096)
            let db = Self.levelDB(of: out[4000..<12000], at: hz, rate: 16000) - 20 * log10(0.5)
            #expect(abs(db) <= 0.01, "\(rate) Hz input: \(hz) Hz tone off by \(db) dB")
        }
    }

    /// Stop band: a tone above the 8 kHz output Nyquist must not fold back into the output. Every alias, wherever
    /// it lands in 0–8 kHz, is at least 120 dB below the tone (measured: 136 dB or more, the float noise floor;
    /// libsamplerate's SRC_SINC_FASTEST left 97 dB at 48 kHz, 103 dB at 44.1 kHz).
    @Test(arguments: [44100, 48000, 32000, 24000, 22050])
    func aliasesAreRejected(_ rate: Int) throws {
        var hz = 8100.0
        while hz < 0.49 * Double(rate) {
            let out = try Self.resample(Self.sine(hz, amplitude: 0.9, rate: rate, count: rate), from: rate, to: 16000, block: 4096)
            let alias = abs(hz - 16000 * (hz / 16000).rounded())
            let db = Self.levelDB(of: out[4000..<12000], at: alias, rate: 16000) - 20 * log10(0.9)
            #expect(db <= -120, "\(rate) Hz input: \(hz) Hz tone leaves an alias at \(alias) Hz of \(db) dB")
            hz += 700
        }
    }

    /// Timing: output sample k of one second of 1 kHz sine sits at k / 16 kHz, and the output is one second long
    /// to the sample, for every input rate the engine brings to 16 kHz.
    @Test(arguments: [44100, 48000, 32000, 24000, 22050, 11025])
    func keepsFrequencyAmplitudeAndTiming(_ rate: Int) throws {
        let input = Self.sine(1000, amplitude: 0.5, rate: rate, count: rate)
        let out = try Self.resample(input, from: rate, to: 16000, block: 4096)
        #expect(abs(out.count - 16000) <= 1, "got \(out.count) samples")
        // Steady-state middle, away from the filter's start and end transients; 1600 samples = 100 periods exactly.
        let middle = out[4000..<5600]
        let a1000 = Self.amplitude(of: middle, at: 1000, rate: 16000)
        let db = 20 * log10(a1000 / 0.5)
        #expect(abs(db) <= 0.01, "1 kHz amplitude off by \(db) dB")
        // The energy sits at 1 kHz, not at a neighbouring frequency.
        #expect(Self.amplitude(of: middle, at: 900, rate: 16000) < a1000 * 1e-4)
        #expect(Self.amplitude(of: middle, at: 1100, rate: 16000) < a1000 * 1e-4)
        // Phase: the output lines up with the input in time (libsoxr compensates its filter's delay). An error of
        // 1e-4 on a 0.5 sine at 1 kHz is a shift under 0.04 µs.
        let expected = Self.sine(1000, amplitude: 0.5, rate: 16000, count: 16000)
        var err = 0.0
        for i in 2000..<14000 { err = max(err, Double(abs(out[i] - expected[i]))) }
        #expect(err < 1e-4, "output differs from an ideal 16 kHz sine by up to \(err)")
    }

    @Test(arguments: [(44100, 16000), (48000, 16000), (22050, 16000), (11025, 16000), (8000, 16000), (16000, 8000)])
    func blockwiseEqualsOneShot(_ rates: (Int, Int)) throws {
        let input = Self.sine(440, amplitude: 0.4, rate: rates.0, count: rates.0 / 2)
        let whole = try Self.resample(input, from: rates.0, to: rates.1, block: nil)
        for block in [1, 37, 1000, 4096] {
            let pieces = try Self.resample(input, from: rates.0, to: rates.1, block: block)
            #expect(pieces.count == whole.count, "block \(block): \(pieces.count) vs \(whole.count)")
            var worst: Float = 0
            for i in 0..<min(pieces.count, whole.count) { worst = max(worst, abs(pieces[i] - whole[i])) }
            #expect(worst < 1e-5, "block \(block): differs by \(worst)")
        }
        let expectedCount = Double(input.count) * Double(rates.1) / Double(rates.0)
        #expect(abs(Double(whole.count) - expectedCount) <= 2)
    }

    @Test func endResetsForANewStream() throws {
        let r = try Resampler(from: 44100, to: 16000)
        let input = Self.sine(300, amplitude: 0.3, rate: 44100, count: 10000)
        var first: [Float] = [], second: [Float] = []
        input.withUnsafeBufferPointer { p in
            r.process(p, end: true) { first.append(contentsOf: $0) }
            r.process(p, end: true) { second.append(contentsOf: $0) }
        }
        // The second stream runs through the converter later than the first, so libsoxr's internal FFT blocks
        // fall elsewhere: equal to float rounding, not bit for bit.
        #expect(first.count == second.count)
        var worst: Float = 0
        for i in 0..<min(first.count, second.count) { worst = max(worst, abs(first[i] - second[i])) }
        #expect(worst < 1e-5, "second stream differs by \(worst)")
    }

    @Test func refusesImpossibleRatios() {
        #expect(throws: AudioError.self) { try Resampler(from: 8000, to: 8000 * 300) }
        #expect(throws: AudioError.self) { try Resampler(from: 0, to: 16000) }
    }
}
