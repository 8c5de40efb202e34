import AttuneAudio
import AttuneDSP
import AttuneEvents
import AttuneFusion
import AttuneRecognizer
import AttuneText

/// One record of an analysis, in the order it is produced.
public enum AnalysisRecord: Sendable {
    case frame(FrameRecord)
    case segment(SegmentRecord)
    case summary(SummaryRecord)
    case event(EventRecord)

    /// The record's `type`.
    public var type: String {
        switch self {
        case .frame: "frame"
        case .segment: "segment"
        case .summary: "summary"
        case .event: "event"
        }
    }

    /// The event's `kind` (subscribers filter on it); nil for other records.
    public var kind: String? {
        if case .event(let r) = self { r.kind.rawValue } else { nil }
    }

    /// Writes the record as one NDJSON line.
    public func write(to line: inout JSONLine) {
        switch self {
        case .frame(let r): r.write(to: &line)
        case .segment(let r): r.write(to: &line)
        case .summary(let r): r.write(to: &line)
        case .event(let r): r.write(to: &line)
        }
    }
}

/// What `attune analyze` was asked for.
public struct AnalysisOptions: Sendable {
    /// The call id records carry (the file's base name offline).
    public var call: String
    /// Emit a `frame` record per hop.
    public var frames: Bool
    /// Role of each channel by index; channels beyond the list are `unknown`.
    public var roles: [Role]
    /// Words to attach to the segments they fall in (``Transcript/words(channel:in:after:)``), and for the emotion layer.
    public var transcript: Transcript?
    /// Emit `event` records (the emotion layer and the conversation events).
    public var events = true
    /// What the emotion layer does: which roles get emotion kinds, consent, language.
    public var fusion = FusionOptions()
    /// The lexicons the emotion layer reads text with; nil reads no text (events from the voice and timing only).
    public var textAnalyzer: TextAnalyzer?
    /// Recognise the channels of ``recognisedChannels(roles:channels:)`` with the built-in recogniser, whose words
    /// the emotion layer reads as it reads a ``transcript``'s but segments do not carry (see ``CallRecorder/add(_:)``);
    /// nil for none. Not together with `transcript`.
    public var asr: SpeechRecognizerConfiguration?
    /// Receives each utterance the built-in recogniser produces, in the order produced (`ATTUNE_ASR_TRACE`).
    public var utteranceTap: (@Sendable (TranscriptUtterance) -> Void)?

    /// Receives what the syllable counter saw, as fixed-size values (Tools/rate_train.py reads their
    /// ``SyllableTrace/line``s); nil in production.
    public var syllableTap: (@Sendable (SyllableTrace) -> Void)?
    /// Called after each block of audio has been analysed and its records emitted; returning false ends the analysis
    /// there, as though the source had ended (summaries and all). The CLI flushes a live input's records here and
    /// stops on Ctrl-C.
    public var afterBlock: (@Sendable () -> Bool)?

    public init(call: String, frames: Bool = false, roles: [Role] = [], transcript: Transcript? = nil) {
        self.call = call
        self.frames = frames
        self.roles = roles
        self.transcript = transcript
    }
}

/// Something the analysis noticed and repaired, for the user to hear about on stderr.
public struct AnalysisWarning: Sendable, CustomStringConvertible {
    public var description: String
}

/// Turns a session's outputs into records: the channel's call id and role, times in seconds, the words of a
/// transcript that fall in each segment. Runs off the DSP path (it builds strings).
public struct RecordBuilder: Sendable {
    public let refs: [ChannelRef]
    public let hopSeconds: Double
    /// Whether `frame` records are wanted.
    public let frames: Bool
    /// Each channel's encoded frame head, built here rather than per frame; empty without `frames`.
    private let frameHeads: [FrameHead]

    public init(options: AnalysisOptions, channels: Int, hopSeconds: Double) {
        refs = (0..<channels).map { ChannelRef(call: options.call, channel: $0, role: $0 < options.roles.count ? options.roles[$0] : .unknown) }
        frameHeads = options.frames ? refs.map(FrameHead.init) : []
        self.hopSeconds = hopSeconds
        frames = options.frames
    }

    /// The record for `output`, a segment with the words of `transcript` that fall in it, or nil when none is wanted
    /// (a frame without `frames`, or a gap, which only live calls have and which the daemon publishes itself).
    public func record(for output: SessionOutput, transcript: Transcript? = nil) -> AnalysisRecord? {
        switch output {
        case .frame(let c, let f):
            guard frames else { return nil }
            return .frame(frameRecord(channel: c, f))
        case .segment(let c, let s):
            return .segment(SegmentRecord(refs[c], start: s.start, end: s.end, syllables: s.syllables, rateSps: s.rateSPS,
                                          f0MedianHz: s.f0MedianHz, f0RangeSt: s.f0RangeST, energyDb: s.energyDB,
                                          words: transcript?.words(channel: c, in: s.bounds, after: s.previous) ?? []))
        case .summary(let c, let t):
            return .summary(SummaryRecord(refs[c], durationS: t.durationS, speechS: t.speechS, syllables: t.syllables,
                                          speechRateSps: t.speechRateSPS, articulationRateSps: t.articulationRateSPS,
                                          f0MedianHz: t.f0MedianHz, pauses: t.pauses))
        case .gap:
            return nil
        }
    }

    /// The frame record of `f` on channel `c` (requires `frames`).
    func frameRecord(channel c: Int, _ f: FrameFeatures) -> FrameRecord {
        Self.withFrameValues(f, hopSeconds) {
            FrameRecord(frameHeads[c], t: $0, f0Hz: $1, voicing: $2, energyDb: $3, speech: $4, balanceDb: $5, hnrDb: $6)
        }
    }

    /// Writes the frame record of `f` on channel `c` (requires `frames`): the line ``record(for:transcript:)``'s
    /// record writes, without building the record (see ``FrameHead/writeFrame(t:f0Hz:voicing:energyDb:speech:balanceDb:hnrDb:to:)``).
    public func writeFrame(channel c: Int, _ f: FrameFeatures, to line: inout JSONLine) {
        Self.withFrameValues(f, hopSeconds) {
            frameHeads[c].writeFrame(t: $0, f0Hz: $1, voicing: $2, energyDb: $3, speech: $4, balanceDb: $5, hnrDb: $6, to: &line)
        }
    }

    /// A frame's record fields (`t` to `hnr_db`) from its features, for both ways of making its line.
    private static func withFrameValues<R>(
        _ f: FrameFeatures, _ hopSeconds: Double, _ body: (Double, Double?, Double, Double, Bool, Double?, Double?) -> R
    ) -> R {
        body(Double(f.index) * hopSeconds, f.f0 > 0 ? Double(f.f0) : nil, Double(f.voicing), Double(f.energyDB), f.speech,
             f.balanceDB.map(Double.init), f.hnrDB.map(Double.init))
    }
}

/// Runs the whole engine over one source in the calling thread, as fast as the CPU allows: a thin driver
/// over ``CallSession``, the same streaming path the daemon runs live.
///
/// Memory stays flat however long the source: audio is read in blocks and pushed through the session as it
/// streams; only records leave.
public struct OfflineAnalysis {
    /// Frames read from the source per block.
    public static let blockFrames = 4096

    public let options: AnalysisOptions

    public init(options: AnalysisOptions) { self.options = options }

    /// Analyses `source` to its end, calling `emit` for each record; returns warnings about repaired input.
    public func run(_ source: some AudioSource, emit: (AnalysisRecord) -> Void) throws(AudioError) -> [AnalysisWarning] {
        let channels = source.channelCount
        let session = try CallSession(sampleRate: source.sampleRate, channels: channels)
        if let tap = options.syllableTap { session.forEachAnalyzer { $1.syllableTap = tap } }
        let recorder = CallRecorder(options: options, channels: channels, hopSeconds: session.settings.hopSeconds)
        let asr = try options.asr.map { c throws(AudioError) in
            try OfflineRecognition(c, session: session, roles: options.roles, tap: options.utteranceTap)
        }
        func drain() throws(AudioError) {
            guard let asr else {
                while let output = session.outputs.pop() { recorder.take(output, emit: emit) }
                return
            }
            try asr.recognise()
            for u in asr.takeNew() { recorder.add(u) }
            while let output = session.outputs.pop() { asr.held.append(output) }
            asr.release(ended: false) { recorder.take($0, emit: emit) }
        }

        let interleaved = UnsafeMutableBufferPointer<Float>.allocate(capacity: Self.blockFrames * channels)
        defer { interleaved.deallocate() }
        while true {
            let got = try source.read(into: interleaved)
            if got == 0 { break }
            var done = 0
            while done < got {
                let n = min(got - done, max(session.acceptableFrames, 1))
                session.push(interleaved: UnsafeBufferPointer(rebasing: interleaved[(done * channels)..<((done + n) * channels)]))
                try drain()
                done += n
            }
            if let afterBlock = options.afterBlock, !afterBlock() { break }
        }
        session.finish()
        try drain()
        if let asr {
            try asr.finish()
            for u in asr.takeNew() { recorder.add(u) }
            asr.release(ended: true) { recorder.take($0, emit: emit) }
        }
        if let failure = session.failure { throw failure }
        var warnings: [AnalysisWarning] = []
        if session.nonFiniteSamples > 0 {
            warnings.append(AnalysisWarning(description: "\(source.name): \(session.nonFiniteSamples) NaN or infinite samples replaced with silence"))
        }
        if session.clippedSamples > 0 {
            warnings.append(AnalysisWarning(description: "\(source.name): \(session.clippedSamples) samples beyond ±\(Int(CallSession.clipLimit)) (60 dB above full scale) clipped"))
        }
        return warnings
    }
}

/// The built-in recogniser inside an offline analysis: the same tap as live, but drained on the analysing thread
/// after every block, so nothing is ever dropped and the words are the same on every run.
///
/// The words said in a segment are known only once the recogniser has settled every utterance that starts before
/// the segment ends, so outputs wait in ``held`` (in order) until then, as long as one utterance at most: the emotion
/// layer then has them before anything after the segment, however the audio was cut into blocks.
final class OfflineRecognition {
    private var channels: [(ring: SPSCRingBuffer, recognizer: SpeechRecognizer)] = []
    private let tap: (@Sendable (TranscriptUtterance) -> Void)?
    /// Session outputs not yet turned into records, oldest first from `heldStart`.
    var held: [SessionOutput] = []
    private var heldStart = 0
    private let buffer: UnsafeMutableBufferPointer<Float>

    init(_ configuration: SpeechRecognizerConfiguration, session: CallSession, roles: [Role],
         tap: (@Sendable (TranscriptUtterance) -> Void)?) throws(AudioError) {
        self.tap = tap
        buffer = .allocate(capacity: 4096)
        for c in recognisedChannels(roles: roles, channels: session.channelCount) {
            // Two blocks of room: the ring is emptied after every block the session is pushed.
            let ring = SPSCRingBuffer(minimumCapacity: 2 * OfflineAnalysis.blockFrames + CallSession.stepFrames)
            do {
                channels.append((ring, try SpeechRecognizer(configuration: configuration, channel: c, sampleRate: session.inputRate)))
            } catch {
                throw AudioError(error.exitCode == 69 ? .unavailable : .io, path: "pocketsphinx", error.message)
            }
            session.attachTap(ring, channel: c)
        }
    }

    deinit { buffer.deallocate() }

    /// Utterances recognised since the last call, for the emotion layer.
    private var fresh: [TranscriptUtterance] = []
    func takeNew() -> [TranscriptUtterance] {
        defer { fresh.removeAll() }
        return fresh
    }

    /// Feeds the recognisers everything the session has tapped since the last call.
    func recognise() throws(AudioError) {
        for (ring, recognizer) in channels {
            while true {
                let n = ring.read(into: buffer)
                if n > 0 {
                    try collect { () throws(RecognizerError) in try recognizer.process(UnsafeBufferPointer(rebasing: buffer[0..<n])) }
                    continue
                }
                let gap = ring.takeGap()
                guard gap > 0 else { break }
                try collect { () throws(RecognizerError) in try recognizer.skip(gap) }
            }
        }
    }

    /// Decodes every open utterance: the end of the audio.
    func finish() throws(AudioError) {
        try recognise()
        for (_, recognizer) in channels { try collect { () throws(RecognizerError) in try recognizer.finish() } }
    }

    private func collect(_ body: () throws(RecognizerError) -> [TranscriptUtterance]) throws(AudioError) {
        let new: [TranscriptUtterance]
        do { new = try body() } catch { throw AudioError(.io, path: "pocketsphinx", error.message) }
        guard !new.isEmpty else { return }
        for u in new { tap?(u) }
        fresh += new
    }

    /// Hands `body` the held outputs, in order, up to the first segment whose words may still come (all of them
    /// once `ended`).
    func release(ended: Bool, _ body: (SessionOutput) -> Void) {
        let settled = ended ? Double.infinity : channels.map(\.recognizer.settledSeconds).min() ?? .infinity
        while heldStart < held.count {
            let output = held[heldStart]
            if case .segment(_, let s) = output, s.end > settled { break }
            body(output)
            heldStart += 1
        }
        if heldStart > 4096 || heldStart == held.count {
            held.removeFirst(heldStart)
            heldStart = 0
        }
    }
}

/// The channels the built-in recogniser listens to: those whose role is `customer`; when no channel has a role
/// (none were given, or all are `unknown`), every channel. Offline and live use the same rule.
public func recognisedChannels(roles: [Role], channels: Int) -> [Int] {
    let role = { (c: Int) in c < roles.count ? roles[c] : Role.unknown }
    if (0..<channels).allSatisfy({ role($0) == .unknown }) { return Array(0..<channels) }
    return (0..<channels).filter { role($0) == .customer }
}
