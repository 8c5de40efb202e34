import AttuneAudio
import AttuneDSP
import AttuneEvents
import AttuneFusion

/// What each stage of ``ChannelAnalyzer`` costs on one channel of real audio, per 10 ms frame.
///
/// `attune bench --stages` prints it beside the whole analysis so an operator can see where the time goes
/// (resampling, levels, pitch, activity and syllables) on their own recordings. Each stage is run alone over the
/// whole channel, fed the previous stage's output, and the fastest of `runs` passes is kept; the stages are the
/// same objects ``ChannelAnalyzer`` composes, so the figures add up to the analysis minus its record plumbing.
public struct StageProfile: Sendable {
    /// Frames (hops) in the channel at the analysis rate.
    public var frames: Int
    /// Rate the stages ran at (the input's, or 8 / 16 kHz after resampling).
    public var analysisRate: Int
    /// Seconds per frame of libsamplerate conversion; 0 when the input is already at the analysis rate.
    public var resample: Double
    /// Seconds per frame of framing plus ``LevelMeter`` (energy, band energy, spectral balance).
    public var levels: Double
    /// Seconds per frame of framing plus ``PitchTracker`` (candidates, path search, harmonics-to-noise ratio).
    public var pitch: Double
    /// Seconds per frame of ``SpeechActivityAnalyzer`` (voice activity, segments, syllables, statistics).
    public var activity: Double
    /// The emotion layer (baseline, voice window, event trackers) per frame of a customer channel, in seconds.
    public var events: Double

    /// Profiles `channel` of `source`: all of its samples, whatever the source's read position (which it leaves alone).
    public static func measure(_ source: InMemorySource, channel: Int = 0, runs: Int = 3) throws(AudioError) -> StageProfile {
        precondition(runs >= 1 && channel >= 0 && channel < source.channelCount)
        let rate = AnalysisSettings.analysisRate(forInputRate: source.sampleRate)
        let settings = AnalysisSettings(sampleRate: rate)
        let input = source.channel(channel)

        var audio = input
        var resampleBest = 0.0
        if source.sampleRate != rate {
            resampleBest = .infinity
            for _ in 0..<runs {
                let resampler = try Resampler(from: source.sampleRate, to: rate)
                var out: [Float] = []
                out.reserveCapacity(input.count * rate / source.sampleRate + Resampler.blockFrames)
                resampleBest = min(resampleBest, elapsedSeconds {
                    input.withUnsafeBufferPointer { all in
                        resampler.process(all, end: true) { out.append(contentsOf: $0) }
                    }
                })
                if let failure = resampler.failure { throw failure }
                audio = out
            }
        }

        var levelFrames: [FrameFeatures] = []
        var levelsBest = Double.infinity
        for _ in 0..<runs {
            let meter = LevelMeter(settings: settings)
            let framer = Framer(hop: settings.hopSize, maxWindow: meter.windowLength)
            var frames: [FrameFeatures] = []
            frames.reserveCapacity(audio.count / settings.hopSize + 2)
            levelsBest = min(levelsBest, elapsedSeconds {
                let measure = { (k: Int) in
                    frames.append(FrameFeatures(index: k, levels: meter.measure(framer.window(length: meter.windowLength))))
                }
                audio.withUnsafeBufferPointer { framer.push($0, onFrame: measure) }
                framer.finish(onFrame: measure)
            })
            levelFrames = frames
        }

        var pitchBest = Double.infinity
        var frames = levelFrames
        for _ in 0..<runs {
            let tracker = PitchTracker(settings: settings)
            let framer = Framer(hop: settings.hopSize, maxWindow: tracker.windowLength)
            frames = levelFrames
            pitchBest = min(pitchBest, elapsedSeconds {
                let decided = { (k: Int, f0: Float, voicing: Float, hnr: Float?) in
                    if k < frames.count { frames[k].f0 = f0; frames[k].voicing = voicing; frames[k].hnrDB = hnr }
                }
                let analyze = { (k: Int) in tracker.analyze(index: k, window: framer.window(length: tracker.windowLength), decided: decided) }
                audio.withUnsafeBufferPointer { framer.push($0, onFrame: analyze) }
                framer.finish(onFrame: analyze)
                tracker.finish(decided: decided)
            })
        }

        var activityBest = Double.infinity
        let seconds = Double(audio.count) / Double(rate)
        for _ in 0..<runs {
            let activity = SpeechActivityAnalyzer(settings: settings)
            activityBest = min(activityBest, elapsedSeconds {
                for f in frames { activity.process(f, onFrame: { _ in }, onSegment: { _ in }) }
                activity.finish(durationSeconds: seconds, onFrame: { _ in }, onSegment: { _ in })
            })
        }

        // The emotion layer, as on a customer channel (the heavier case: agent channels get conversation events only),
        // over the frames the activity stage decided.
        var decided: [FrameFeatures] = []
        let activity = SpeechActivityAnalyzer(settings: settings)
        for f in frames { activity.process(f, onFrame: { decided.append($0) }, onSegment: { _ in }) }
        activity.finish(durationSeconds: seconds, onFrame: { decided.append($0) }, onSegment: { _ in })
        var eventsBest = Double.infinity
        for _ in 0..<runs {
            let fusion = CallFusion(call: "bench", roles: [.customer], channels: 1, hopSeconds: settings.hopSeconds, text: nil)
            eventsBest = min(eventsBest, elapsedSeconds {
                for f in decided { fusion.observe(frame: f, channel: 0) { _ in } }
                fusion.finish(at: seconds) { _ in }
            })
        }

        let n = Double(max(frames.count, 1))
        return StageProfile(frames: frames.count, analysisRate: rate, resample: resampleBest / n, levels: levelsBest / n,
                            pitch: pitchBest / n, activity: activityBest / n, events: eventsBest / n)
    }
}
