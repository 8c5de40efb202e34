import AttuneDSP
import AttuneEvents
import AttuneFusion
import AttuneText

/// One call's records, events included: the ``RecordBuilder``'s frame, segment and summary records, and the
/// emotion layer (``CallFusion``) fed with the same outputs in the same order, its `event` records placed
/// right after the frame that decided them. `attune analyze` and the daemon both record calls through it, so the
/// same audio and text give the same records.
///
/// Not thread-safe: one thread (the analysis thread offline, the record thread live) owns it.
public final class CallRecorder {
    public let builder: RecordBuilder
    /// Nil when events are off (or the call gave no consent).
    public let fusion: CallFusion?
    private var finished = false

    public init(options: AnalysisOptions, channels: Int, hopSeconds: Double) {
        builder = RecordBuilder(options: options, channels: channels, hopSeconds: hopSeconds)
        if options.events {
            let fusion = CallFusion(call: options.call, roles: options.roles, channels: channels, hopSeconds: hopSeconds,
                                    text: options.textAnalyzer, options: options.fusion)
            for u in options.transcript?.utterances ?? [] { fusion.add(u) }
            self.fusion = fusion
        } else {
            fusion = nil
        }
    }

    /// Adds text that arrived during the call (an `asr` message, a recogniser's result).
    public func add(_ utterance: TranscriptUtterance) { fusion?.add(utterance) }

    /// The records `output` gives, in order; `transcript` supplies segment words (a live call's text so far).
    /// `frames: false` leaves frame records out without building them (no live subscriber wants them); the emotion
    /// layer still sees every frame.
    public func take(_ output: SessionOutput, transcript: Transcript?, frames: Bool = true, emit: (AnalysisRecord) -> Void) {
        take(output, transcript: transcript, frames: frames, writeFrame: { c, f in
            emit(.frame(builder.frameRecord(channel: c, f)))
        }, emit: emit)
    }

    /// The same, but each wanted frame record is left to `writeFrame`, called with the channel and features, which
    /// writes the line itself (``RecordBuilder/writeFrame(channel:_:to:)``): no record is built.
    public func take(_ output: SessionOutput, transcript: Transcript?, frames: Bool,
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
