/// The whole per-channel analysis: frames the samples, measures level and pitch per 10 ms hop, and hands
/// finished frames to voice-activity, segmentation and syllable counting.
///
/// Everything is allocated in `init`; ``push(_:onFrame:onSegment:)`` does no heap work, so it may run on a
/// real-time thread. Frames come out in order, each once, a fixed number of hops after its audio went in
/// (the look-ahead of the pitch path search and of the activity stage).
public final class ChannelAnalyzer {
    public let settings: AnalysisSettings
    private let framer: Framer
    private let levels: LevelMeter
    private let pitch: PitchTracker
    private let activity: SpeechActivityAnalyzer
    /// Frames measured but not yet decided by the pitch tracker, indexed by `frame % capacity`.
    private let pending: UnsafeMutableBufferPointer<FrameFeatures>

    public init(settings: AnalysisSettings) {
        self.settings = settings
        levels = LevelMeter(settings: settings)
        pitch = PitchTracker(settings: settings)
        activity = SpeechActivityAnalyzer(settings: settings)
        framer = Framer(hop: settings.hopSize, maxWindow: max(levels.windowLength, pitch.windowLength))
        pending = .allocate(pitch.latency + 2, filledWith: FrameFeatures(index: -1))
    }

    deinit { pending.deallocate() }

    /// Receives the syllable counter's tuning lines (see ``SpeechActivityAnalyzer/tuningTrace``); nil in production.
    public var syllableTuningTrace: ((String) -> Void)? {
        get { activity.tuningTrace }
        set { activity.tuningTrace = newValue }
    }

    /// Totals for the summary record; final after ``finish(onFrame:onSegment:)``.
    public var totals: ChannelTotals { activity.totals }

    /// Hops between a sample entering ``push(_:onFrame:onSegment:)`` and the frame centred on it leaving:
    /// half the longest analysis window, the pitch path's look-ahead and the activity stage's. Fixed for the
    /// analyzer's life; the delay every live record carries.
    public var delayFrames: Int {
        let halfWindow = (framer.maxWindow + 1) / 2
        return (halfWindow + settings.hopSize - 1) / settings.hopSize + pitch.latency + activity.lookAhead
    }

    /// Samples consumed so far.
    public var samplesIn: Int { framer.samplesIn }

    /// Analyses `samples` (at `settings.sampleRate`, full scale ±1).
    @inline(__always)
    public func push(_ samples: UnsafeBufferPointer<Float>, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        framer.push(samples) { index in analyzeFrame(index, onFrame: onFrame, onSegment: onSegment) }
    }

    /// Ends the stream and flushes every pending frame and segment.
    public func finish(onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        framer.finish { index in analyzeFrame(index, onFrame: onFrame, onSegment: onSegment) }
        pitch.finish { index, f0, voicing in decide(index, f0, voicing, onFrame: onFrame, onSegment: onSegment) }
        let duration = Double(framer.samplesIn) / Double(settings.sampleRate)
        activity.finish(durationSeconds: duration, onFrame: onFrame, onSegment: onSegment)
    }

    @inline(__always)
    private func analyzeFrame(_ index: Int, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        pending[index % pending.count] = FrameFeatures(index: index, levels: levels.measure(framer.window(length: levels.windowLength)))
        pitch.analyze(index: index, window: framer.window(length: pitch.windowLength)) { frame, f0, voicing in
            decide(frame, f0, voicing, onFrame: onFrame, onSegment: onSegment)
        }
    }

    @inline(__always)
    private func decide(_ index: Int, _ f0: Float, _ voicing: Float, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        var frame = pending[index % pending.count]
        precondition(frame.index == index, "pitch tracker decided frames out of order")
        frame.f0 = f0
        frame.voicing = voicing
        activity.process(frame, onFrame: onFrame, onSegment: onSegment)
    }
}
