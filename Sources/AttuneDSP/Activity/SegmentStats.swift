/// One stretch of speech between pauses, with its prosodic statistics.
public struct SegmentStats: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var syllables: Int
    /// Syllables per second over the segment.
    public var rateSPS: Double
    /// Median F0 of the voiced frames (Hz), or nil when none was voiced.
    public var f0MedianHz: Double?
    /// Spread of F0 in semitones (5th to 95th percentile), or nil when none was voiced.
    public var f0RangeST: Double?
    /// Mean level of the segment's frames (dBFS, power average).
    public var energyDB: Double
    /// The earliest its channel's next segment can start (see ``SegmentBounds/nextStart``).
    public var nextStart: Double
    /// The channel's segment before this one; nil for the first.
    public var previous: SegmentBounds?

    public init(start: Double, end: Double, syllables: Int, rateSPS: Double, f0MedianHz: Double?, f0RangeST: Double?, energyDB: Double,
                nextStart: Double, previous: SegmentBounds?) {
        self.start = start; self.end = end; self.syllables = syllables; self.rateSPS = rateSPS
        self.f0MedianHz = f0MedianHz; self.f0RangeST = f0RangeST; self.energyDB = energyDB
        self.nextStart = nextStart; self.previous = previous
    }

    /// Where the segment lies and how near the next one can come.
    public var bounds: SegmentBounds { SegmentBounds(start: start, end: end, nextStart: nextStart) }
}

/// Where a segment lies and how it closed, as much as is known when it closes: what placing a transcript's words in
/// segments needs, since a segment's record is built before the next segment has begun.
public struct SegmentBounds: Sendable, Equatable {
    public var start: Double
    public var end: Double
    /// The earliest time its channel's next segment can start: `end` plus the shortest pause (250 ms) when a pause
    /// closed it, `end` when it was split at the longest segment (30 s), infinity when the audio ended before
    /// another could start.
    public var nextStart: Double

    public init(start: Double, end: Double, nextStart: Double) {
        self.start = start; self.end = end; self.nextStart = nextStart
    }
}

/// Whole-channel totals, for the `summary` record.
public struct ChannelTotals: Sendable, Equatable {
    public var durationS: Double = 0
    public var speechS: Double = 0
    public var syllables: Int = 0
    /// Start of the first and end of the last speech segment, nil when there was no speech.
    public var firstSpeech: Double?
    public var lastSpeech: Double?
    public var f0MedianHz: Double?
    public var pauses: Int = 0
    public init() {}

    /// Syllables per second from the first to the last speech.
    public var speechRateSPS: Double {
        guard let first = firstSpeech, let last = lastSpeech, last > first else { return 0 }
        return Double(syllables) / (last - first)
    }
    /// Syllables per second of speech time.
    public var articulationRateSPS: Double { speechS > 0 ? Double(syllables) / speechS : 0 }
}
