import Foundation

/// Signals for the robustness tests, built in code so every answer is known by construction.
enum TestSignals {
    /// A voice-like harmonic source: F0 follows `f0(t)` with cycle-to-cycle jitter of `jitter` (relative,
    /// uniform), harmonics 1/k between `lowCut` and `highCut` Hz (a telephone line removes those outside
    /// 300–3400 Hz), harmonics that are not multiples of `strongEvery` scaled by `otherGain` (with the default 2,
    /// the odd ones: below 1 the voice correlates almost as well at half its period, the telephone octave trap;
    /// with 3, at a third of it), switched on and off by `envelope(t)` (0…1), scaled so its loudest sample is
    /// `peak`.
    static func voice(rate: Int, seconds: Double, lowCut: Double = 0, highCut: Double = 3400, peak: Float,
                      jitter: Double = 0.01, otherGain: Double = 1, strongEvery: Int = 2, seed: UInt32 = 1,
                      envelope: (Double) -> Double = { _ in 1 }, f0: (Double) -> Double) -> [Float] {
        let n = Int(seconds * Double(rate))
        var rng = ActivityTests.LCG(state: seed)
        var out = [Float](repeating: 0, count: n)
        var phase = 0.0
        var wobble = 1.0
        for i in 0..<n {
            let t = Double(i) / Double(rate)
            let f = f0(t) * wobble
            phase += 2 * Double.pi * f / Double(rate)
            if phase >= 2 * Double.pi {
                // A new glottal cycle: jitter changes the period cycle by cycle, as a voice does.
                phase -= 2 * Double.pi
                wobble = 1 + jitter * Double(rng.next())
            }
            var v = 0.0
            var k = 1
            while Double(k) * f < min(highCut, 0.45 * Double(rate)) {
                if Double(k) * f >= lowCut { v += (k % strongEvery == 0 ? 1 : otherGain) * sin(Double(k) * phase) / Double(k) }
                k += 1
            }
            out[i] = Float(v * envelope(t))
        }
        let loudest = out.reduce(Float(0)) { max($0, abs($1)) }
        return loudest > 0 ? out.map { $0 * peak / loudest } : out
    }

    /// `signal` through a two-pole resonance at `frequency` Hz, `bandwidth` Hz wide (a formant), scaled back to
    /// its own peak.
    static func resonance(_ signal: [Float], rate: Int, frequency: Double, bandwidth: Double) -> [Float] {
        let r = exp(-Double.pi * bandwidth / Double(rate))
        let a1 = 2 * r * cos(2 * Double.pi * frequency / Double(rate)), a2 = -r * r
        var y1 = 0.0, y2 = 0.0
        let out = signal.map { x -> Float in
            let y = (1 - r) * Double(x) + a1 * y1 + a2 * y2
            (y2, y1) = (y1, y)
            return Float(y)
        }
        let peak = signal.reduce(Float(0)) { max($0, abs($1)) }, loudest = out.reduce(Float(0)) { max($0, abs($1)) }
        return loudest > 0 ? out.map { $0 * peak / loudest } : out
    }

    /// Syllable-like on/off envelope: `rate` syllables a second (raised-cosine, 70 % duty), words of
    /// `perWord` syllables separated by `pause` seconds of silence.
    static func syllables(rate: Double = 4, perWord: Int = 3, pause: Double = 0.3) -> (Double) -> Double {
        let word = Double(perWord) / rate
        return { t in
            let inWord = t.truncatingRemainder(dividingBy: word + pause)
            if inWord >= word { return 0 }
            let phase = (inWord * rate).truncatingRemainder(dividingBy: 1)
            return phase < 0.7 ? sin(Double.pi * phase / 0.7) : 0
        }
    }

    /// A pure tone (or a sum of tones) of amplitude `amplitude` each.
    static func tones(_ frequencies: [Double], rate: Int, seconds: Double, amplitude: Float) -> [Float] {
        (0..<Int(seconds * Double(rate))).map { i in
            let t = Double(i) / Double(rate)
            return amplitude * Float(frequencies.reduce(0) { $0 + sin(2 * Double.pi * $1 * t) })
        }
    }

    /// Deterministic white noise, uniform in ±amplitude.
    static func noise(count: Int, amplitude: Float, seed: UInt32 = 99) -> [Float] {
        var rng = ActivityTests.LCG(state: seed)
        return (0..<count).map { _ in amplitude * rng.next() }
    }

    /// Root-mean-square of `x` in dBFS (plain RMS: a full-scale sine reads −3 dB).
    static func rmsDB(_ x: [Float]) -> Float {
        10 * log10f(x.reduce(Float(0)) { $0 + $1 * $1 } / Float(max(1, x.count)))
    }

    static func silence(rate: Int, seconds: Double) -> [Float] {
        [Float](repeating: 0, count: Int(seconds * Double(rate)))
    }
}
