import AttuneDSP
import AttuneEvents
import AttuneFusion
import AttuneText

/// One call's records, events included: the ``RecordBuilder``'s frame, segment and summary records, and the
/// emotion layer (``CallFusion``) fed with the same outputs in the same order, its `event` records placed
/// right after the frame that decided them. `attune analyze` and the daemon both record calls through it, so the
/// same audio and text give the same records.
///
/// It is also where a call's text divides (``add(_:)``): every word reaches the emotion layer, but only a transcript's
/// reach the segment records.
///
/// Not thread-safe: one thread (the analysis thread offline, the record thread live) owns it.
public final class CallRecorder {
    public let builder: RecordBuilder
    /// Nil when events are off (or the call gave no consent).
    public let fusion: CallFusion?
    private var finished = false
    /// The words segment records carry: the analysis' transcript, then the final text ``add(_:)`` keeps.
    public private(set) var transcript: Transcript?
    /// Utterances ``transcript`` keeps of text added during the call: only its recent part matters to segments.
    static let keptUtterances = 2000

    public init(options: AnalysisOptions, channels: Int, hopSeconds: Double) {
        builder = RecordBuilder(options: options, channels: channels, hopSeconds: hopSeconds)
        transcript = options.transcript
        if options.events {
            let fusion = CallFusion(call: options.call, roles: options.roles, channels: channels, hopSeconds: hopSeconds,
                                    text: options.textAnalyzer, options: options.fusion)
            for u in options.transcript?.utterances ?? [] { fusion.add(u) }
            self.fusion = fusion
        } else {
            fusion = nil
        }
    }

    /// Adds text that arrived during the call (an `asr` message, a recogniser's result). The emotion layer reads all of
    /// it, interim results too. Segments get the words of final transcript utterances only, a later one over the same
    /// stretch of the same channel replacing earlier ones: never the built-in recogniser's, which are evidence for
    /// events but too often wrong to show as what was said (README, "Built-in recogniser"), and which must not
    /// displace a real transcript's words when a call has both.
    public func add(_ utterance: TranscriptUtterance) {
        fusion?.add(utterance)
        guard utterance.final, utterance.origin == .transcript else { return }
        var utterances = transcript?.utterances ?? []
        utterances.removeAll { $0.channel == utterance.channel && $0.start < utterance.end && utterance.start < $0.end }
        utterances.append(Transcript.withWordTimes(utterance))
        // Bounded: the text of a long call must not grow without limit.
        if utterances.count > Self.keptUtterances { utterances.removeFirst(utterances.count - Self.keptUtterances) }
        transcript = Transcript(utterances: utterances)
    }

    /// The records `output` gives, in order, segments with the words of ``transcript``.
    /// `frames: false` leaves frame records out without building them (no live subscriber wants them); the emotion
    /// layer still sees every frame.
    public func take(_ output: SessionOutput, frames: Bool = true, emit: (AnalysisRecord) -> Void) {
        take(output, frames: frames, writeFrame: { c, f in
            emit(.frame(builder.frameRecord(channel: c, f)))
        }, emit: emit)
    }

    /// The same, but each wanted frame record is left to `writeFrame`, called with the channel and features, which
    /// writes the line itself (``RecordBuilder/writeFrame(channel:_:to:)``): no record is built.
    public func take(_ output: SessionOutput, frames: Bool,
                     writeFrame: (Int, FrameFeatures) -> Void, emit: (AnalysisRecord) -> Void) {
        switch output {
        case .frame(let c, let f):
            if frames, builder.frames { writeFrame(c, f) }
            fusion?.observe(frame: f, channel: c) { emit(.event($0)) }
        case .segment(let c, let s):
            if let record = builder.record(for: output, transcript: transcript) { emit(record) }
            fusion?.observe(segment: s, channel: c)
        case .summary(_, let totals):
            // Open events end with the audio, before the summaries.
            if !finished {
                finished = true
                fusion?.finish(at: totals.durationS) { emit(.event($0)) }
            }
            if let record = builder.record(for: output, transcript: transcript) { emit(record) }
        case .gap:
            if let record = builder.record(for: output, transcript: transcript) { emit(record) }
        }
    }
}
