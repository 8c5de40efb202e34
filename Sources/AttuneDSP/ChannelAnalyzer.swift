/// The whole per-channel analysis: frames the samples, measures level and pitch per 10 ms hop, and hands
/// finished frames to voice-activity, segmentation and syllable counting.
///
/// Everything is allocated in `init`; ``push(_:onFrame:onSegment:)`` does no heap work, so it may run on a
/// real-time thread. Frames come out in order, each once, a fixed delay after their audio went in
/// (``fixedDelaySamples``: the framer's half-window, the pitch path search's look-ahead and what remains of the
/// activity stage's). The activity stage's own look-ahead runs mostly inside the pitch tracker's: each frame's
/// level goes to it as soon as it is measured, and its voicing as the path stands `rawLag` frames later
/// (``PitchTracker/provisional(_:)``), so its raw speech decisions run ahead of the decided frames.
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
        activity = SpeechActivityAnalyzer(settings: settings, levelLead: pitch.latency)
        framer = Framer(hop: settings.hopSize, maxWindow: max(levels.windowLength, pitch.windowLength))
        pending = .allocate(pitch.latency + 2, filledWith: FrameFeatures(index: -1))
        fixedDelaySamples = (pitch.latency + activity.lookAhead) * settings.hopSize + framer.reach
    }

    /// Samples that must arrive after a frame's centre before ``push(_:onFrame:onSegment:)`` hands the frame
    /// out: the frame centred on sample `c` comes out of the push that brings the stream to `c + fixedDelaySamples`
    /// samples. The same for every frame (``finish(onFrame:onSegment:)`` flushes the last ones early).
    public let fixedDelaySamples: Int

    /// ``fixedDelaySamples`` in seconds: how long after a sound a live consumer can know about it
    /// (0.535 s at 8 kHz, 0.534 s at 16 kHz).
    public var fixedDelaySeconds: Double { Double(fixedDelaySamples) / Double(settings.sampleRate) }

    deinit { pending.deallocate() }

    /// Receives what the syllable counter saw, frame by frame and segment by segment
    /// (see ``SpeechActivityAnalyzer/syllableTap``); nil in production.
    public var syllableTap: ((SyllableTrace) -> Void)? {
        get { activity.syllableTap }
        set { activity.syllableTap = newValue }
    }

    /// Totals for the summary record; final after ``finish(onFrame:onSegment:)``.
    public var totals: ChannelTotals { activity.totals }


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
        pitch.finish { index, f0, voicing, hnr in decide(index, f0, voicing, hnr, onFrame: onFrame, onSegment: onSegment) }
        let duration = Double(framer.samplesIn) / Double(settings.sampleRate)
        activity.finish(durationSeconds: duration, onFrame: onFrame, onSegment: onSegment)
    }

    @inline(__always)
    private func analyzeFrame(_ index: Int, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        let frame = FrameFeatures(index: index, levels: levels.measure(framer.window(length: levels.windowLength)))
        pending[index % pending.count] = frame
        activity.observeLevels(energyDB: frame.energyDB)
        if let r = activity.cueWanted {
            let cue = pitch.provisional(r)
            activity.takeCue(voiced: cue.voiced, periodicity: cue.periodicity)
        }
        pitch.analyze(index: index, window: framer.window(length: pitch.windowLength)) { frame, f0, voicing, hnr in
            decide(frame, f0, voicing, hnr, onFrame: onFrame, onSegment: onSegment)
        }
    }

    @inline(__always)
    private func decide(_ index: Int, _ f0: Float, _ voicing: Float, _ hnr: Float?, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        var frame = pending[index % pending.count]
        precondition(frame.index == index, "pitch tracker decided frames out of order")
        frame.f0 = f0
        frame.voicing = voicing
        frame.hnrDB = hnr
        activity.process(frame, onFrame: onFrame, onSegment: onSegment)
    }
}
