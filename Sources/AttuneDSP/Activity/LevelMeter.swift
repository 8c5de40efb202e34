import Foundation

/// Broadband and 300–2500 Hz band level of each frame.
///
/// The band level comes from a 2nd-order Butterworth high-pass at 300 Hz followed by a 2nd-order Butterworth
/// low-pass at 2500 Hz, run over the stream once: each call filters only the newest hop of its window (the
/// samples no earlier call has seen) and keeps per-hop sums of squares, so a frame costs one hop of filtering
/// instead of a whole window or an FFT. That is why ``measure(_:)`` must see every frame's window, in order.
///
/// Levels are dBFS by AES17: the mean square is doubled so a full-scale sine reads 0 dB. A window of digital
/// silence reads ``silenceDB``.
public final class LevelMeter {
    /// Samples of the window ``measure(_:)`` wants, centred on the frame: three hops (30 ms).
    public let windowLength: Int
    private let hop: Int
    /// Per-hop sums of squares of the last three hops, raw and band-passed, indexed by `hopCount % 3`.
    private var rawSums: (Float, Float, Float) = (0, 0, 0)
    private var bandSums: (Float, Float, Float) = (0, 0, 0)
    private var hopCount = 0
    private let hp: BiquadCoefficients
    private let lp: BiquadCoefficients
    private var hpState = BiquadState()
    private var lpState = BiquadState()

    public init(settings: AnalysisSettings) {
        hop = settings.hopSize
        windowLength = 3 * settings.hopSize
        let fs = Double(settings.sampleRate)
        hp = .butterworth(highPass: true, cutoff: 300, sampleRate: fs)
        // Keep the low-pass corner below Nyquist for any rate the engine might be given.
        lp = .butterworth(highPass: false, cutoff: min(2500, 0.45 * fs), sampleRate: fs)
    }

    /// Returns (broadband dBFS, 300–2500 Hz band dBFS) of the window. Call once per frame, in frame order,
    /// with windows `windowLength` long that advance by one hop each call (as ``Framer`` gives them).
    @inline(__always)
    public func measure(_ window: UnsafeBufferPointer<Float>) -> (energyDB: Float, bandEnergyDB: Float) {
        let n = min(hop, window.count)
        let base = window.baseAddress! + (window.count - n)
        var raw: Float = 0
        var band: Float = 0
        var h = hpState
        var l = lpState
        for i in 0..<n {
            let x = base[i]
            raw += x * x
            let y = l.step(h.step(x, hp), lp)
            band += y * y
        }
        // Denormals in a decaying filter after the audio stops would slow every later sample.
        h.flushTiny(); l.flushTiny()
        hpState = h
        lpState = l
        switch hopCount % 3 {
        case 0: rawSums.0 = raw; bandSums.0 = band
        case 1: rawSums.1 = raw; bandSums.1 = band
        default: rawSums.2 = raw; bandSums.2 = band
        }
        hopCount += 1
        let scale = 2 / Float(windowLength)
        return (Self.decibels(scale * (rawSums.0 + rawSums.1 + rawSums.2)),
                Self.decibels(scale * (bandSums.0 + bandSums.1 + bandSums.2)))
    }

    @inline(__always)
    static func decibels(_ power: Float) -> Float {
        power > 1e-12 ? max(silenceDB, 10 * log10f(power)) : silenceDB
    }
}

/// Coefficients of one biquad section, normalised so a0 = 1 (RBJ audio-EQ cookbook forms).
struct BiquadCoefficients {
    var b0: Float, b1: Float, b2: Float, a1: Float, a2: Float

    static func butterworth(highPass: Bool, cutoff: Double, sampleRate: Double) -> BiquadCoefficients {
        let w0 = 2 * Double.pi * cutoff / sampleRate
        let q = 0.5.squareRoot()  // Butterworth
        let alpha = sin(w0) / (2 * q)
        let c = cos(w0)
        let a0 = 1 + alpha
        let b0 = highPass ? (1 + c) / 2 : (1 - c) / 2
        let b1 = highPass ? -(1 + c) : 1 - c
        return BiquadCoefficients(b0: Float(b0 / a0), b1: Float(b1 / a0), b2: Float(b0 / a0),
                                  a1: Float(-2 * c / a0), a2: Float((1 - alpha) / a0))
    }
}

/// Transposed direct form II state of one biquad section.
struct BiquadState {
    var z1: Float = 0
    var z2: Float = 0

    @inline(__always)
    mutating func step(_ x: Float, _ c: BiquadCoefficients) -> Float {
        let y = c.b0 * x + z1
        z1 = c.b1 * x - c.a1 * y + z2
        z2 = c.b2 * x - c.a2 * y
        return y
    }

    @inline(__always)
    mutating func flushTiny() {
        if abs(z1) < 1e-20 { z1 = 0 }
        if abs(z2) < 1e-20 { z2 = 0 }
    }
}
