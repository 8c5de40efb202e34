/// What the analysis knows about one 10 ms hop of one channel. A fixed-size value: it travels through
/// the real-time path without touching the heap.
public struct FrameFeatures: Sendable, Equatable {
    /// Index of the frame; its window is centred on `index × hop` seconds.
    public var index: Int
    /// Fundamental frequency in Hz, or 0 when the frame is unvoiced.
    public var f0: Float
    /// Strength of periodicity, 0…1: the frame's best normalised autocorrelation peak, clamped. Reported for
    /// unvoiced frames too, so a consumer can see how close to voiced they were.
    public var voicing: Float
    /// Level of the frame in dBFS, a full-scale sine reading 0 dB (AES17). Digital silence reads −120 dB.
    public var energyDB: Float
    /// Level of the 300–2500 Hz band in dBFS: vowels carry most of their energy there, so syllable
    /// nuclei show up as its peaks even when noise or fricatives dominate the broadband level.
    public var bandEnergyDB: Float
    /// Mean level in dB of the sub-bands 250–700, 700–1400, 1400–2800 and 2800–3800 Hz: the envelope whose
    /// prominent peaks are syllable nuclei (see ``LevelMeter``).
    public var nucleusEnvelopeDB: Float
    /// Voice-activity decision for the frame.
    public var speech: Bool

    public init(index: Int, f0: Float = 0, voicing: Float = 0, energyDB: Float = -120, bandEnergyDB: Float = -120,
                nucleusEnvelopeDB: Float = -120, speech: Bool = false) {
        self.index = index
        self.f0 = f0
        self.voicing = voicing
        self.nucleusEnvelopeDB = nucleusEnvelopeDB
        self.energyDB = energyDB
        self.bandEnergyDB = bandEnergyDB
        self.speech = speech
    }

    /// A frame the level meter has measured and the pitch tracker has not yet decided.
    @inline(__always)
    public init(index: Int, levels: LevelMeter.Reading) {
        self.init(index: index, energyDB: levels.energyDB, bandEnergyDB: levels.bandEnergyDB, nucleusEnvelopeDB: levels.nucleusEnvelopeDB)
    }

    /// Whether the pitch tracker found a fundamental.
    public var isVoiced: Bool { f0 > 0 }
}

/// The lowest level any feature reports, standing for digital silence.
public let silenceDB: Float = -120
