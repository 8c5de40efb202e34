/// What the analysis knows about one 10 ms hop of one channel. A fixed-size value: it travels through
/// the real-time path without touching the heap.
public struct FrameFeatures: Sendable, Equatable {
    /// Index of the frame; its window is centred on `index × hop` seconds.
    public var index: Int
    /// Fundamental frequency in Hz, or 0 when the frame is unvoiced.
    public var f0: Float
    /// Strength of periodicity, 0…1: the frame's best autocorrelation peak among all its candidates (not
    /// necessarily at `f0`), of the 0–2 kHz band, scaled by the root of that band's share of the frame's
    /// energy, clamped (``PitchTracker``). A soft cue, not a correlation coefficient: ``hnrDB`` is the
    /// periodicity at `f0` on a proper scale. Reported for unvoiced frames too, so a consumer can see how
    /// close to voiced they were.
    public var voicing: Float
    /// Level of the frame in dBFS, a full-scale sine reading 0 dB (AES17), without DC and 50/60 Hz mains hum
    /// (``LevelMeter``). Digital silence reads −120 dB.
    public var energyDB: Float
    /// Levels in dBFS of eight log-spaced bands between 250 and 3800 Hz (``LevelMeter/bandEdges``): the coarse
    /// spectrum the syllable-nucleus model reads.
    public var bandsDB: SIMD8<Float>
    /// Voice-activity decision for the frame.
    public var speech: Bool
    /// Spectral balance in dB: the level of 968–2673 Hz minus that of 492–968 Hz (``LevelMeter/balance(_:)``),
    /// both inside the telephone band so it reads alike on 8 kHz and wide-band lines. Higher is a flatter,
    /// more effortful spectrum. Nil on digital silence.
    public var balanceDB: Float?
    /// Harmonics-to-noise ratio in dB at the chosen F0 (Boersma 1993, from the 0–2 kHz band the pitch tracker
    /// correlates), within ``PitchTracker/hnrRange``. Nil when the frame is unvoiced.
    public var hnrDB: Float?

    public init(index: Int, f0: Float = 0, voicing: Float = 0, energyDB: Float = -120,
                bandsDB: SIMD8<Float> = SIMD8(repeating: -120), speech: Bool = false,
                balanceDB: Float? = nil, hnrDB: Float? = nil) {
        self.index = index
        self.f0 = f0
        self.voicing = voicing
        self.energyDB = energyDB
        self.bandsDB = bandsDB
        self.speech = speech
        self.balanceDB = balanceDB
        self.hnrDB = hnrDB
    }

    /// A frame the level meter has measured and the pitch tracker has not yet decided.
    @inline(__always)
    public init(index: Int, levels: LevelMeter.Reading) {
        self.init(index: index, energyDB: levels.energyDB, bandsDB: levels.bandsDB, balanceDB: levels.balanceDB)
    }

    /// Whether the pitch tracker found a fundamental.
    public var isVoiced: Bool { f0 > 0 }
}

/// The lowest level any feature reports, standing for digital silence.
public let silenceDB: Float = -120
