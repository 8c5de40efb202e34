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

    @Test func keepsFrequencyAmplitudeAndLength() throws {
        let input = Self.sine(1000, amplitude: 0.5, rate: 44100, count: 44100)
        let out = try Self.resample(input, from: 44100, to: 16000, block: 4096)
        // Length: one second in, one second out, within one 10 ms hop.
        #expect(abs(out.count - 16000) <= 160, "got \(out.count) samples")
        // Steady-state middle, away from the filter's start and end transients; 1600 samples = 100 periods exactly.
        let middle = out[4000..<5600]
        let a1000 = Self.amplitude(of: middle, at: 1000, rate: 16000)
        let db = 20 * log10(a1000 / 0.5)
        #expect(abs(db) <= 0.5, "1 kHz amplitude off by \(db) dB")
        // The energy sits at 1 kHz, not at a neighbouring frequency.
        #expect(Self.amplitude(of: middle, at: 900, rate: 16000) < a1000 * 0.05)
        #expect(Self.amplitude(of: middle, at: 1100, rate: 16000) < a1000 * 0.05)
        // Phase: the output lines up with the input in time (libsamplerate compensates its own delay).
        let expected = Self.sine(1000, amplitude: 0.5, rate: 16000, count: 16000)
        var err = 0.0
        for i in 4000..<5600 { err = max(err, Double(abs(out[i] - expected[i]))) }
        #expect(err < 0.02, "output differs from an ideal 16 kHz sine by up to \(err)")
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
        #expect(first == second)
    }

    @Test func refusesImpossibleRatios() {
        #expect(throws: AudioError.self) { try Resampler(from: 8000, to: 8000 * 300) }
        #expect(throws: AudioError.self) { try Resampler(from: 0, to: 16000) }
    }
}
