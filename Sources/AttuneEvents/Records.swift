/// The schema version every record carries as `"v"`.
public let recordSchemaVersion = 1

/// A speaker's part in the call, as the `role` field spells it.
public enum Role: String, Codable, Sendable, CaseIterable {
    case customer, agent, unknown
}

/// A record that can write itself as one NDJSON line.
public protocol NDJSONRecord: Codable, Sendable {
    /// Writes the record, `type` and `v` first.
    func write(to line: inout JSONLine)
}

/// Identifies the audio a record is about.
public struct ChannelRef: Codable, Sendable, Equatable {
    public var call: String
    public var channel: Int
    public var role: Role
    public init(call: String, channel: Int, role: Role) {
        self.call = call; self.channel = channel; self.role = role
    }

    fileprivate func write(to line: inout JSONLine) {
        line.field("call", call)
        line.field("channel", channel)
        line.field("role", role.rawValue)
    }
}

/// One 10 ms hop (`"type": "frame"`, opt-in). `t` is the centre of the analysis window.
public struct FrameRecord: NDJSONRecord, Equatable {
    public var type = "frame"
    public var v = recordSchemaVersion
    public var call: String
    public var channel: Int
    public var role: Role
    public var t: Double
    /// F0 in Hz, nil (JSON `null`) when unvoiced.
    public var f0Hz: Double?
    public var voicing: Double
    public var energyDb: Double
    public var speech: Bool

    enum CodingKeys: String, CodingKey {
        case type, v, call, channel, role, t, voicing, speech
        case f0Hz = "f0_hz", energyDb = "energy_db"
    }

    public init(_ ref: ChannelRef, t: Double, f0Hz: Double?, voicing: Double, energyDb: Double, speech: Bool) {
        call = ref.call; channel = ref.channel; role = ref.role
        self.t = t; self.f0Hz = f0Hz; self.voicing = voicing; self.energyDb = energyDb; self.speech = speech
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        ChannelRef(call: call, channel: channel, role: role).write(to: &line)
        line.field("t", t, decimals: 3)
        line.field("f0_hz", f0Hz, decimals: 2)
        line.field("voicing", voicing, decimals: 3)
        line.field("energy_db", energyDb, decimals: 2)
        line.field("speech", speech)
    }
}

/// One stretch of speech between pauses (`"type": "segment"`).
public struct SegmentRecord: NDJSONRecord, Equatable {
    public var type = "segment"
    public var v = recordSchemaVersion
    public var call: String
    public var channel: Int
    public var role: Role
    public var start: Double
    public var end: Double
    public var syllables: Int
    public var rateSps: Double
    public var f0MedianHz: Double?
    public var f0RangeSt: Double?
    public var energyDb: Double
    /// Transcript words that fall inside the segment; empty when there is no transcript.
    public var words: [String]

    enum CodingKeys: String, CodingKey {
        case type, v, call, channel, role, start, end, syllables, words
        case rateSps = "rate_sps", f0MedianHz = "f0_median_hz", f0RangeSt = "f0_range_st", energyDb = "energy_db"
    }

    public init(_ ref: ChannelRef, start: Double, end: Double, syllables: Int, rateSps: Double,
                f0MedianHz: Double?, f0RangeSt: Double?, energyDb: Double, words: [String] = []) {
        call = ref.call; channel = ref.channel; role = ref.role
        self.start = start; self.end = end; self.syllables = syllables; self.rateSps = rateSps
        self.f0MedianHz = f0MedianHz; self.f0RangeSt = f0RangeSt; self.energyDb = energyDb; self.words = words
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        ChannelRef(call: call, channel: channel, role: role).write(to: &line)
        line.field("start", start, decimals: 3)
        line.field("end", end, decimals: 3)
        line.field("syllables", syllables)
        line.field("rate_sps", rateSps, decimals: 3)
        line.field("f0_median_hz", f0MedianHz, decimals: 2)
        line.field("f0_range_st", f0RangeSt, decimals: 3)
        line.field("energy_db", energyDb, decimals: 2)
        line.field("words", words)
    }
}

/// Whole-channel figures, last in an offline analysis (`"type": "summary"`).
public struct SummaryRecord: NDJSONRecord, Equatable {
    public var type = "summary"
    public var v = recordSchemaVersion
    public var call: String
    public var channel: Int
    public var role: Role
    public var durationS: Double
    public var speechS: Double
    public var syllables: Int
    /// Syllables over the time from the first to the last speech.
    public var speechRateSps: Double
    /// Syllables over the time spent speaking.
    public var articulationRateSps: Double
    public var f0MedianHz: Double?
    public var pauses: Int

    enum CodingKeys: String, CodingKey {
        case type, v, call, channel, role, syllables, pauses
        case durationS = "duration_s", speechS = "speech_s", speechRateSps = "speech_rate_sps"
        case articulationRateSps = "articulation_rate_sps", f0MedianHz = "f0_median_hz"
    }

    public init(_ ref: ChannelRef, durationS: Double, speechS: Double, syllables: Int, speechRateSps: Double,
                articulationRateSps: Double, f0MedianHz: Double?, pauses: Int) {
        call = ref.call; channel = ref.channel; role = ref.role
        self.durationS = durationS; self.speechS = speechS; self.syllables = syllables
        self.speechRateSps = speechRateSps; self.articulationRateSps = articulationRateSps
        self.f0MedianHz = f0MedianHz; self.pauses = pauses
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        ChannelRef(call: call, channel: channel, role: role).write(to: &line)
        line.field("duration_s", durationS, decimals: 3)
        line.field("speech_s", speechS, decimals: 3)
        line.field("syllables", syllables)
        line.field("speech_rate_sps", speechRateSps, decimals: 3)
        line.field("articulation_rate_sps", articulationRateSps, decimals: 3)
        line.field("f0_median_hz", f0MedianHz, decimals: 2)
        line.field("pauses", pauses)
    }
}
