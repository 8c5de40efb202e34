import CAttuneKernels
import Foundation

/// Broadband level and a coarse spectrum (eight band levels) of each frame.
///
/// Eight band-passes (each a 2nd-order Butterworth high-pass then a 2nd-order Butterworth low-pass) run side by
/// side in the lanes of one vector (`attune_level_hop` in CAttuneKernels, AVX2 where the CPU has it), over the
/// stream once: each call filters only the newest hop of its window
/// (the samples no earlier call has seen) and keeps per-hop sums of squares, so a frame costs one hop of
/// vector filtering instead of a whole window or an FFT. That is why ``measure(_:)`` must see every frame's
/// window, in order. The bands split 250–3800 Hz into eight of equal width on a log scale (``bandEdges``),
/// every corner capped below Nyquist, so a telephone line and a wide-band line give the same picture of a
/// vowel: the syllable-nucleus model (``NucleusModel``) reads them.
///
/// The broadband level is that of the window less its mean, after notches at 50 and 60 Hz (Q 3, 17–20 Hz
/// wide): DC offset and mains hum are not speech, yet hum at −28 dBFS under a −31 dBFS voice would leave the
/// voice-activity stage nothing to see. Speech loses little (a 72 Hz fundamental 2 dB); hum harmonics (100,
/// 150, 180 Hz …) are not removed. The notches ring for ~50 ms when a sound starts or stops, so the level is
/// the lower of the notched and the unfiltered window's: a loud sound that stops into digital silence ends
/// where it ends. What remains is ~100 ms of hum at the very start of a stream that begins with hum.
/// The bands need no notch: their 250 Hz high-pass already holds 50 Hz some 28 dB down.
///
/// Levels are dBFS by AES17: the mean square is doubled so a full-scale sine reads 0 dB. A window of digital
/// silence reads ``silenceDB``.
///
/// The same band powers give the frame's spectral balance (``balance(_:)``) for a few additions and one
/// logarithm, so the voice-quality cue costs no filtering of its own.
public final class LevelMeter {
    /// One frame's levels, as ``measure(_:)`` returns them: `balanceDB` is nil when the bands hold no energy.
    public typealias Reading = (energyDB: Float, bandsDB: SIMD8<Float>, balanceDB: Float?)

    /// Samples of the window ``measure(_:)`` wants, centred on the frame: three hops (30 ms).
    public let windowLength: Int
    private let hop: Int
    /// Per-hop sums of squares of the last three hops, band-passed, indexed by `hopCount % 3`…
    private var sums: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) = (.zero, .zero, .zero)
    /// …and of the signal, unfiltered and without hum, with their per-hop sums (for the window mean).
    private var broadband: (BroadbandSums, BroadbandSums, BroadbandSums) = (.init(), .init(), .init())
    private var hopCount = 0
    /// The bank's coefficients and state. The hum notches: 50 Hz in lane 0, 60 Hz in lane 1 fed with lane 0's
    /// previous output, the cascade in one vector step per sample, its output one sample late (which a level
    /// does not notice).
    /// Allocated in `init`, not stored properties: passing a stored property to C as a pointer costs a dynamic
    /// exclusivity check per call.
    private let coefficients: UnsafeMutablePointer<AttuneLevelCoefficients> = .allocate(capacity: 1)
    private let state: UnsafeMutablePointer<AttuneLevelState> = .allocate(capacity: 1)
    private let hopSums: UnsafeMutablePointer<AttuneLevelHop> = .allocate(capacity: 1)

    /// Edges of the eight bands (Hz): 250 · (3800 / 250)^(i / 8), i = 0…8.
    public static let bandEdges: [Double] = (0...8).map { 250 * pow(3800.0 / 250, Double($0) / 8) }

    /// Bands summed into the low side of ``balance(_:)``: 492–968 Hz (bands 2–3).
    public static let balanceLowBands = 2...3
    /// Bands summed into the high side of ``balance(_:)``: 968–2673 Hz (bands 4–6).
    public static let balanceHighBands = 4...6
    /// Lanes of ``balanceLowBands`` and ``balanceHighBands``, for a masked sum per frame.
    private static let lowMask = SIMD8<Float>(0, 0, 1, 1, 0, 0, 0, 0)
    private static let highMask = SIMD8<Float>(0, 0, 0, 0, 1, 1, 1, 0)

    public init(settings: AnalysisSettings) {
        coefficients.initialize(to: AttuneLevelCoefficients())
        state.initialize(to: AttuneLevelState())
        hopSums.initialize(to: AttuneLevelHop())
        hop = settings.hopSize
        windowLength = 3 * settings.hopSize
        let fs = Double(settings.sampleRate)
        for b in 0..<8 {
            // Keep every corner below Nyquist for any rate the engine might be given.
            let high = min(Self.bandEdges[b + 1], 0.45 * fs)
            BiquadSection.butterworth(highPass: true, cutoff: min(Self.bandEdges[b], 0.5 * high), sampleRate: fs)
                .set(in: coefficients, bank: 0, lane: b)
            BiquadSection.butterworth(highPass: false, cutoff: high, sampleRate: fs).set(in: coefficients, bank: 1, lane: b)
        }
        BiquadSection.notch(frequency: 50, q: 3, sampleRate: fs).set(in: coefficients, bank: 2, lane: 0)
        BiquadSection.notch(frequency: 60, q: 3, sampleRate: fs).set(in: coefficients, bank: 2, lane: 1)
    }

    deinit {
        coefficients.deallocate(); state.deallocate(); hopSums.deallocate()
    }

    /// Returns the broadband level and the eight band levels of the window, in dBFS.
    /// Call once per frame, in frame order, with windows `windowLength` long that advance by one hop each call
    /// (as ``Framer`` gives them).
    @inline(__always)
    public func measure(_ window: UnsafeBufferPointer<Float>) -> Reading {
        let n = min(hop, window.count)
        attune_level_hop(window.baseAddress! + (window.count - n), n, coefficients, state, hopSums)
        let acc = UnsafeRawPointer(hopSums).loadUnaligned(as: SIMD8<Float>.self)  // `bands` comes first
        let out = hopSums.pointee
        let hop = BroadbandSums(squares: SIMD2(out.squares.0, out.squares.1), sums: SIMD2(out.sums.0, out.sums.1))
        switch hopCount % 3 {
        case 0: sums.0 = acc; broadband.0 = hop
        case 1: sums.1 = acc; broadband.1 = hop
        default: sums.2 = acc; broadband.2 = hop
        }
        hopCount += 1
        let scale = 2 / Float(windowLength)
        let power = (sums.0 + sums.1 + sums.2) * scale
        // Eight scalars, then one vector: a lane set in a loop spilled and reloaded the whole vector around each
        // log10f call, about twenty instructions a band.
        let bands = SIMD8(Self.decibels(power[0]), Self.decibels(power[1]), Self.decibels(power[2]), Self.decibels(power[3]),
                          Self.decibels(power[4]), Self.decibels(power[5]), Self.decibels(power[6]), Self.decibels(power[7]))
        let window = broadband.0.squares + broadband.1.squares + broadband.2.squares
        let sum = broadband.0.sums + broadband.1.sums + broadband.2.sums
        // Energy about the window's mean, unfiltered (lane 0) and without hum (lane 1).
        let energy = window - sum * sum / Float(windowLength)
        return (Self.decibels(max(0, min(energy[0], energy[1])) * scale), bands, Self.balance(power))
    }

    /// Spectral balance of a frame from its eight band powers: the level of 968–2673 Hz minus that of
    /// 492–968 Hz, in dB (an alpha ratio, as eGeMAPS's 1–5 kHz over 50 Hz–1 kHz, moved inside the telephone
    /// band). Raised vocal effort (anger, tension) flattens the source spectrum and raises the figure; a soft,
    /// breathy or resigned voice lowers it. Powers are summed, not levels averaged: each side is the energy
    /// of its stretch of spectrum, as in the alpha ratio.
    ///
    /// The sides keep well inside 300–3400 Hz so the figure means the same on an 8 kHz μ-law line as on
    /// wide-band audio. The bands' skirts are only 12 dB/octave: bands 0–1 (250–492 Hz) let the first
    /// harmonics (100–250 Hz, often a voice's strongest, and gone on a telephone line) through 12–30 dB down,
    /// which lowered the wide-band figure against the telephone one by 1–1.5 dB; band 7 (2673–3800 Hz) holds
    /// the line's 3.4 kHz cut and most of μ-law's noise relative to the voice. Without them espeak-ng speech in
    /// three voices reads within 0.8 dB on both lines (`VoiceQualityTests`), against up to 1.7 dB for
    /// 250–968 over 968–3800 Hz. The price: the low side misses the first formant of close vowels (/i/, /u/,
    /// ~300 Hz), so vowel mix moves a frame's figure; the emotion layer compares medians with the caller's own.
    ///
    /// Each side is floored at ``silenceDB``; nil when both are there (digital silence: no spectrum to weigh).
    @inline(__always)
    public static func balance(_ power: SIMD8<Float>) -> Float? {
        let low = (power * lowMask).sum(), high = (power * highMask).sum()
        if low <= 1e-12 && high <= 1e-12 { return nil }
        return decibels(high) - decibels(low)
    }

    @inline(__always)
    static func decibels(_ power: Float) -> Float {
        power > 1e-12 ? max(silenceDB, 10 * log10f(power)) : silenceDB
    }
}

/// Per-hop sums for the broadband level: lane 0 the unfiltered signal, lane 1 the signal after the hum notches.
struct BroadbandSums {
    var squares = SIMD2<Float>.zero
    var sums = SIMD2<Float>.zero
}

/// One biquad section's coefficients, normalised so a0 = 1 (RBJ audio-EQ cookbook).
struct BiquadSection {
    var b0: Float, b1: Float, b2: Float, a1: Float, a2: Float

    static func butterworth(highPass: Bool, cutoff: Double, sampleRate: Double) -> Self {
        let w0 = 2 * Double.pi * cutoff / sampleRate
        let q = 0.5.squareRoot()  // Butterworth
        let alpha = sin(w0) / (2 * q)
        let c = cos(w0)
        let a0 = 1 + alpha
        let b0 = highPass ? (1 + c) / 2 : (1 - c) / 2
        let b1 = highPass ? -(1 + c) : 1 - c
        return Self(b0: Float(b0 / a0), b1: Float(b1 / a0), b2: Float(b0 / a0),
                    a1: Float(-2 * c / a0), a2: Float((1 - alpha) / a0))
    }

    /// A notch (band-stop) at `frequency`, −3 dB points `frequency / q` apart.
    static func notch(frequency: Double, q: Double, sampleRate: Double) -> Self {
        let w0 = 2 * Double.pi * frequency / sampleRate
        let alpha = sin(w0) / (2 * q)
        let a0 = 1 + alpha
        let b1 = -2 * cos(w0) / a0
        return Self(b0: Float(1 / a0), b1: Float(b1), b2: Float(1 / a0), a1: Float(b1), a2: Float((1 - alpha) / a0))
    }

    /// Stores the section as lane `lane` of `bank` (0 high-pass, 1 low-pass, 2 hum).
    func set(in coefficients: UnsafeMutablePointer<AttuneLevelCoefficients>, bank: Int, lane: Int) {
        attune_level_set_section(coefficients, Int32(bank), Int32(lane), b0, b1, b2, a1, a2)
    }
}
