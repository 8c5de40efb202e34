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
    /// Spectral balance in dB, 968–2673 Hz over 492–968 Hz (see `FrameFeatures.balanceDB`); nil (JSON `null`)
    /// on digital silence.
    public var balanceDb: Double?
    /// Harmonics-to-noise ratio in dB, −10…40 (see `FrameFeatures.hnrDB`); nil (JSON `null`) when unvoiced.
    public var hnrDb: Double?

    enum CodingKeys: String, CodingKey {
        case type, v, call, channel, role, t, voicing, speech
        case f0Hz = "f0_hz", energyDb = "energy_db", balanceDb = "balance_db", hnrDb = "hnr_db"
    }

    /// The channel's encoded head, when the record was made with one; not part of the record's value.
    private var head = FrameHead.Slot()

    public init(_ ref: ChannelRef, t: Double, f0Hz: Double?, voicing: Double, energyDb: Double, speech: Bool,
                balanceDb: Double? = nil, hnrDb: Double? = nil) {
        call = ref.call; channel = ref.channel; role = ref.role
        self.t = t; self.f0Hz = f0Hz; self.voicing = voicing; self.energyDb = energyDb; self.speech = speech
        self.balanceDb = balanceDb; self.hnrDb = hnrDb
    }

    /// The same record, written with `head`'s bytes instead of encoding `type` to `role` again.
    public init(_ head: FrameHead, t: Double, f0Hz: Double?, voicing: Double, energyDb: Double, speech: Bool,
                balanceDb: Double? = nil, hnrDb: Double? = nil) {
        self.init(head.ref, t: t, f0Hz: f0Hz, voicing: voicing, energyDb: energyDb, speech: speech,
                  balanceDb: balanceDb, hnrDb: hnrDb)
        self.head = FrameHead.Slot(head)
    }

    public func write(to line: inout JSONLine) {
        // The head's bytes only while the fields it encodes are still the record's (they are public vars).
        if let h = head.head, type == "frame", v == recordSchemaVersion, call == h.ref.call, channel == h.ref.channel,
           role == h.ref.role {
            line.append(fields: UnsafeBufferPointer(h.fields))
        } else {
            Self.writeHead(type: type, v: v, ChannelRef(call: call, channel: channel, role: role), to: &line)
        }
        Self.writeTail(t: t, f0Hz: f0Hz, voicing: voicing, energyDb: energyDb, speech: speech, balanceDb: balanceDb,
                       hnrDb: hnrDb, to: &line)
    }

    /// The fields from `t` on.
    fileprivate static func writeTail(t: Double, f0Hz: Double?, voicing: Double, energyDb: Double, speech: Bool,
                                      balanceDb: Double?, hnrDb: Double?, to line: inout JSONLine) {
        line.field("t", t, decimals: 3)
        line.field("f0_hz", f0Hz, decimals: 2)
        line.field("voicing", voicing, decimals: 3)
        line.field("energy_db", energyDb, decimals: 2)
        line.field("speech", speech)
        // Last, so every line up to `speech` reads as it did before these fields existed.
        line.field("balance_db", balanceDb, decimals: 2)
        line.field("hnr_db", hnrDb, decimals: 2)
    }
}

extension FrameRecord {
    /// The fields before `t`: the reference encoding, which ``FrameHead`` stores.
    fileprivate static func writeHead(type: String, v: Int, _ ref: ChannelRef, to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        ref.write(to: &line)
    }
}

/// The fields every `frame` record of one channel begins with (`type` to `role`), encoded once per channel when the
/// call starts. Why: at 200,000 frame records a second they were a third of each line's encoding, call id escaping
/// included, and never change within a channel.
///
/// `@unchecked Sendable`: the bytes are written in `init` and only read after.
public final class FrameHead: @unchecked Sendable {
    /// The channel whose records it begins.
    public let ref: ChannelRef
    /// Raw memory, not the encoded `JSONLine.Fields`: reading an array held by a class retained it for every record.
    let fields: UnsafeMutableBufferPointer<UInt8>

    public init(_ ref: ChannelRef) {
        self.ref = ref
        let encoded = JSONLine.Fields { FrameRecord.writeHead(type: "frame", v: recordSchemaVersion, ref, to: &$0) }
        fields = .allocate(capacity: encoded.bytes.count)
        _ = fields.initialize(from: encoded.bytes)
    }

    deinit { fields.deallocate() }

    /// Writes the fields of the frame record `FrameRecord(self, t: …)` would write, without building the record.
    /// Why: the daemon's record thread writes 200,000 frame lines a second, and building, copying and destroying a
    /// record for each (its strings retained and released) was a tenth of its work.
    public func writeFrame(t: Double, f0Hz: Double?, voicing: Double, energyDb: Double, speech: Bool, balanceDb: Double?,
                           hnrDb: Double?, to line: inout JSONLine) {
        line.append(fields: UnsafeBufferPointer(fields))
        FrameRecord.writeTail(t: t, f0Hz: f0Hz, voicing: voicing, energyDb: energyDb, speech: speech,
                              balanceDb: balanceDb, hnrDb: hnrDb, to: &line)
    }

    /// Carries a head inside a record without taking part in its equality: two records with the same fields are
    /// the same record however they are written.
    struct Slot: Sendable, Equatable {
        var head: FrameHead?
        init(_ head: FrameHead? = nil) { self.head = head }
        static func == (_: Slot, _: Slot) -> Bool { true }
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

// MARK: - Live records (the daemon's event socket only)

/// The first line every event-socket subscriber reads (`"type": "hello"`): who is talking and what to expect.
public struct HelloRecord: NDJSONRecord, Equatable {
    public var type = "hello"
    public var v = recordSchemaVersion
    /// The daemon's version, e.g. `"0.3.0"`.
    public var version: String
    /// The record schema version the stream follows; the same as every record's `v`.
    public var schema: Int = recordSchemaVersion
    /// The node name (the host name unless configured), as fleet subjects spell it.
    public var node: String
    /// The roles whose channels get emotion events; by default only `customer` (design.md, Privacy).
    public var emotions: [Role]

    public init(version: String, node: String, emotions: [Role] = [.customer]) {
        self.version = version; self.node = node; self.emotions = emotions
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        line.field("version", version)
        line.field("schema", schema)
        line.field("node", node)
        line.field("emotions", emotions.map(\.rawValue))
    }
}

/// A call's audio starts flowing (`"type": "call_start"`).
public struct CallStartRecord: NDJSONRecord, Equatable {
    public var type = "call_start"
    public var v = recordSchemaVersion
    public var call: String
    /// The source URI it was started with (`alsa:hw:1,0`, `file:PATH`, `stdin:s16le:8000:2`).
    public var source: String
    /// One role per channel, in channel order.
    public var roles: [Role]
    public var sampleRate: Int
    public var channels: Int
    /// Seconds from the start of the call's audio: 0 unless the call joined a source already running.
    public var t: Double

    enum CodingKeys: String, CodingKey {
        case type, v, call, source, roles, channels, t
        case sampleRate = "sample_rate"
    }

    public init(call: String, source: String, roles: [Role], sampleRate: Int, channels: Int, t: Double = 0) {
        self.call = call; self.source = source; self.roles = roles
        self.sampleRate = sampleRate; self.channels = channels; self.t = t
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        line.field("call", call)
        line.field("source", source)
        line.field("roles", roles.map(\.rawValue))
        line.field("sample_rate", sampleRate)
        line.field("channels", channels)
        line.field("t", t, decimals: 3)
    }
}

/// Why a call ended, as `call_end`'s `reason` spells it.
public enum CallEndReason: String, Codable, Sendable, CaseIterable {
    /// The file or pipe ran out.
    case eof
    /// A `stop` command.
    case stopped
    /// The capture device vanished or could not be recovered.
    case deviceLost = "device_lost"
    /// Anything else that went wrong; `message` says what.
    case error
    /// The daemon is shutting down.
    case shutdown
}

/// A call is over (`"type": "call_end"`); the last record of the call.
public struct CallEndRecord: NDJSONRecord, Equatable {
    public var type = "call_end"
    public var v = recordSchemaVersion
    public var call: String
    public var reason: CallEndReason
    /// What went wrong, for `error` and `device_lost`; omitted from the line when nil.
    public var message: String?
    /// Seconds of the call's audio analysed when it ended.
    public var t: Double

    public init(call: String, reason: CallEndReason, message: String? = nil, t: Double) {
        self.call = call; self.reason = reason; self.message = message; self.t = t
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        line.field("call", call)
        line.field("reason", reason.rawValue)
        if let message { line.field("message", message) }
        line.field("t", t, decimals: 3)
    }
}

/// Something was lost and the stream says so (`"type": "gap"`), never silently.
///
/// - `what: "records"`: this subscriber fell behind and `count` records were dropped for it (it alone gets this
///   line, just before the first record after the loss).
/// - `what: "samples"`: a call's audio was dropped before analysis (capture or a worker fell behind);
///   `start`/`end` are the lost stretch in the call's time, `channel` is omitted when every channel lost it.
public struct GapRecord: NDJSONRecord, Equatable {
    public var type = "gap"
    public var v = recordSchemaVersion
    /// `"records"` or `"samples"`.
    public var what: String
    public var count: Int?
    public var call: String?
    public var channel: Int?
    public var start: Double?
    public var end: Double?

    /// `count` records were dropped for one subscriber, or (with `call`) of one call for the fleet publisher.
    public static func records(count: Int, call: String? = nil) -> GapRecord {
        GapRecord(what: "records", count: count, call: call, channel: nil, start: nil, end: nil)
    }

    /// A call's audio from `start` to `end` seconds was dropped before analysis.
    public static func samples(call: String, channel: Int?, start: Double, end: Double) -> GapRecord {
        GapRecord(what: "samples", count: nil, call: call, channel: channel, start: start, end: end)
    }

    private init(what: String, count: Int?, call: String?, channel: Int?, start: Double?, end: Double?) {
        self.what = what; self.count = count; self.call = call; self.channel = channel
        self.start = start; self.end = end
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        line.field("what", what)
        if let count { line.field("count", count) }
        if let call { line.field("call", call) }
        if let channel { line.field("channel", channel) }
        if let start { line.field("start", start, decimals: 3) }
        if let end { line.field("end", end, decimals: 3) }
    }
}

/// The kinds of `event` records (design.md, schema v1).
public enum EventKind: String, Codable, Sendable, CaseIterable {
    case frustration, urgency, hesitation, disengagement, satisfaction, incongruence
    case deadAir = "dead_air", talkOver = "talk_over", slowResponse = "slow_response"

    /// Conversation events read both channels' timing only; every other kind infers a speaker's state and runs on
    /// the channels whose roles have emotions enabled (customer only, by default).
    public var isConversation: Bool {
        switch self {
        case .deadAir, .talkOver, .slowResponse: true
        default: false
        }
    }
}

/// Where an event is in its life, as `state` spells it.
public enum EventState: String, Codable, Sendable, CaseIterable {
    case start, update, end
}

/// Why an event fired: the caller's features measured against their own baseline, and the words that counted.
/// Fields that played no part are nil and left out of the line.
public struct EventEvidence: Codable, Sendable, Equatable {
    /// Median F0 above (+) or below the caller's baseline, in semitones.
    public var f0St: Double?
    /// Level above or below the baseline, in dB.
    public var energyDb: Double?
    /// Articulation rate above or below the baseline, in percent.
    public var ratePct: Double?
    /// Spectral balance (alpha ratio, high band minus low band) above or below the baseline, in dB.
    public var balanceDb: Double?
    /// Harmonics-to-noise ratio above or below the baseline, in dB.
    public var hnrDb: Double?
    /// The pause or silence the event is about, in seconds.
    public var pauseS: Double?
    /// Words or phrases of the transcript that counted, as the text spelled them.
    public var words: [String]

    enum CodingKeys: String, CodingKey {
        case words
        case f0St = "f0_st", energyDb = "energy_db", ratePct = "rate_pct", balanceDb = "balance_db", hnrDb = "hnr_db"
        case pauseS = "pause_s"
    }

    public init(f0St: Double? = nil, energyDb: Double? = nil, ratePct: Double? = nil, balanceDb: Double? = nil,
                hnrDb: Double? = nil, pauseS: Double? = nil, words: [String] = []) {
        self.f0St = f0St; self.energyDb = energyDb; self.ratePct = ratePct; self.balanceDb = balanceDb
        self.hnrDb = hnrDb; self.pauseS = pauseS; self.words = words
    }

    fileprivate func write(to line: inout JSONLine) {
        line.beginObject("evidence")
        if let f0St { line.field("f0_st", f0St, decimals: 2) }
        if let energyDb { line.field("energy_db", energyDb, decimals: 2) }
        if let ratePct { line.field("rate_pct", ratePct, decimals: 1) }
        if let balanceDb { line.field("balance_db", balanceDb, decimals: 2) }
        if let hnrDb { line.field("hnr_db", hnrDb, decimals: 2) }
        if let pauseS { line.field("pause_s", pauseS, decimals: 3) }
        line.field("words", words)
        line.endObject()
    }
}

/// Something a person should know about the call (`"type": "event"`): it starts, may update as evidence or text
/// arrives, and ends. Advice for the agent or supervisor, never a decision (`needs_human`).
public struct EventRecord: NDJSONRecord, Equatable {
    public var type = "event"
    public var v = recordSchemaVersion
    /// Unique within the call (`"<call>-<n>"`); the same for an event's start, updates and end.
    public var id: String
    public var call: String
    public var channel: Int
    public var role: Role
    public var kind: EventKind
    public var state: EventState
    /// When this state was reached, in the call's time.
    public var t: Double
    public var start: Double
    /// Nil (JSON `null`) until the event ends.
    public var end: Double?
    /// How sure the layer is, 0…1 (low before the caller's baseline is ready).
    public var confidence: Double
    /// How strong, 0…1.
    public var intensity: Double
    /// −1…1.
    public var arousal: Double
    /// −1…1.
    public var valence: Double
    public var evidence: EventEvidence
    /// One sentence a person can read.
    public var explanation: String
    /// What the agent could do.
    public var suggestion: String
    /// Always a person's call to act on it; true when the layer thinks someone should look now.
    public var needsHuman: Bool

    enum CodingKeys: String, CodingKey {
        case type, v, id, call, channel, role, kind, state, t, start, end, confidence, intensity, arousal, valence
        case evidence, explanation, suggestion
        case needsHuman = "needs_human"
    }

    public init(id: String, _ ref: ChannelRef, kind: EventKind, state: EventState, t: Double, start: Double, end: Double?,
                confidence: Double, intensity: Double, arousal: Double, valence: Double, evidence: EventEvidence,
                explanation: String, suggestion: String, needsHuman: Bool) {
        self.id = id
        call = ref.call; channel = ref.channel; role = ref.role
        self.kind = kind; self.state = state; self.t = t; self.start = start; self.end = end
        self.confidence = confidence; self.intensity = intensity; self.arousal = arousal; self.valence = valence
        self.evidence = evidence; self.explanation = explanation; self.suggestion = suggestion; self.needsHuman = needsHuman
    }

    public func write(to line: inout JSONLine) {
        line.field("type", type)
        line.field("v", v)
        line.field("id", id)
        ChannelRef(call: call, channel: channel, role: role).write(to: &line)
        line.field("kind", kind.rawValue)
        line.field("state", state.rawValue)
        line.field("t", t, decimals: 3)
        line.field("start", start, decimals: 3)
        line.field("end", end, decimals: 3)
        line.field("confidence", confidence, decimals: 3)
        line.field("intensity", intensity, decimals: 3)
        line.field("arousal", arousal, decimals: 3)
        line.field("valence", valence, decimals: 3)
        evidence.write(to: &line)
        line.field("explanation", explanation)
        line.field("suggestion", suggestion)
        line.field("needs_human", needsHuman)
    }
}
