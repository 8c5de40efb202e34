import AttuneEvents
import AttuneText

/// Everything one call's report shows, gathered record by record as an analysis streams them, then drawn with
/// ``svg(style:)``.
///
/// Frames are kept compactly (a 30-minute two-channel call is 360,000 of them, a few MB) and reduced to one
/// point per pixel only when drawn, since the call's length — and so the time scale — is known only at the end.
public struct CallReport: Sendable {
    /// The call id shown in the title.
    public var call: String
    /// Whether the analysis heard words with the built-in recogniser. Its words never reach the report (segments do
    /// not carry them); this only has the subtitle say so, so that an empty words lane is not read as silence.
    public var recognizerWordsLeftOut = false
    /// Per channel, in channel order once drawn.
    var channels: [Int: ChannelData] = [:]
    /// Events by id, in the order their first record arrived; later states of the same id replace earlier ones.
    var events: [EventRecord] = []
    private var eventIndex: [String: Int] = [:]

    /// The compact frame values the drawing needs.
    struct Frame: Sendable {
        var t: Double
        /// Hz, 0 when unvoiced.
        var f0: Float
        var energyDb: Float
        var speech: Bool
    }

    /// What was seen of one channel.
    struct ChannelData: Sendable {
        var role: Role = .unknown
        var frames: [Frame] = []
        var segments: [SegmentRecord] = []
        var summary: SummaryRecord?
        var words: [TranscriptWord] = []
    }

    /// An empty report for `call`.
    public init(call: String) { self.call = call }

    /// Adds one 10 ms frame.
    public mutating func add(_ frame: FrameRecord) {
        let f0 = frame.f0Hz.flatMap { $0.isFinite && $0 > 0 ? Float($0) : nil } ?? 0
        let energy = frame.energyDb.isFinite ? Float(frame.energyDb) : -120
        channels[frame.channel, default: ChannelData()].role = frame.role
        channels[frame.channel]!.frames.append(Frame(t: frame.t, f0: f0, energyDb: energy, speech: frame.speech))
    }

    /// Adds a stretch of speech; its rate is drawn as a step and it is shaded as speech.
    public mutating func add(_ segment: SegmentRecord) {
        channels[segment.channel, default: ChannelData()].role = segment.role
        channels[segment.channel]!.segments.append(segment)
    }

    /// Adds a channel's summary: its duration bounds the time axis and its median F0 is the pitch lane's zero.
    public mutating func add(_ summary: SummaryRecord) {
        channels[summary.channel, default: ChannelData()].role = summary.role
        channels[summary.channel]!.summary = summary
    }

    /// Adds an event record. A later `update` or `end` of the same `id` replaces what is drawn for it, so the
    /// band shows the event's final span and explanation; one still open when the call ends runs to the end.
    public mutating func add(_ event: EventRecord) {
        if channels[event.channel] == nil { channels[event.channel] = ChannelData(role: event.role) }
        if let i = eventIndex[event.id] {
            events[i] = event
        } else {
            eventIndex[event.id] = events.count
            events.append(event)
        }
    }

    /// Adds the timed words of a transcript to the channels they belong to. Channels the report has no other
    /// record of get no lane of their own for words alone.
    public mutating func add(_ transcript: Transcript) {
        for u in transcript.utterances {
            channels[u.channel, default: ChannelData()].words.append(contentsOf: u.words)
        }
    }

    /// The length of the call in seconds: the longest channel summary, else the last thing any record mentions.
    public var duration: Double {
        var d = 0.0
        for c in channels.values {
            if let s = c.summary { d = max(d, s.durationS) }
            if let f = c.frames.last { d = max(d, f.t) }
            if let s = c.segments.last { d = max(d, s.end) }
            for w in c.words { d = max(d, w.end) }
        }
        for e in events { d = max(d, e.end ?? e.start, e.t) }
        return d.isFinite ? d : 0
    }

    /// The channels that get a lane, in order: those with frames, segments, a summary or an event.
    var laneChannels: [Int] {
        let withEvents = Set(events.map(\.channel))
        return channels.filter { channel, data in
            !data.frames.isEmpty || !data.segments.isEmpty || data.summary != nil || withEvents.contains(channel)
        }.keys.sorted()
    }
}
