import Foundation

/// Constants of the activity stage, in frames (10 ms) and dB. Internal: tests may vary them.
struct ActivityParameters: Sendable {
    /// The noise floor is the minimum level over `floorBlocks` blocks of `floorBlockFrames` frames.
    var floorBlockFrames = 25
    var floorBlocks = 8
    /// Floor never assumed below this: digital silence between words must not make breath noise "speech".
    var floorClampDB: Float = -80
    /// Frames the floor and peak trackers see past a frame before its raw decision.
    var rawLag = 20
    /// Frames in the mean level the floor tracks.
    var floorSmoothingFrames = 3
    /// How fast the loudest recent level forgets (dB per frame).
    var peakDecayDB: Float = 0.01
    /// Speech threshold above the floor: this fraction of the floor-to-peak distance, within [min, max] dB…
    var thresholdFraction: Float = 0.3
    var thresholdMinDB: Float = 4
    var thresholdMaxDB: Float = 12
    /// …and never more than this far below the recent peak level.
    var thresholdBelowPeakDB: Float = 40
    /// A stretch above threshold shorter than this is a click, not speech (unless a pause-bridge covers it).
    var minBurstFrames = 5
    /// Shorter gaps than this inside speech are not pauses (250 ms: stop closures and word joins stay inside
    /// a segment, the breath and hesitation pauses of conversational speech separate segments).
    var pauseFrames = 25
    /// Segments are force-split at this length so their statistics arrive while the call is live.
    var maxSegmentFrames = 3000
    /// Seconds of speech the recent syllable rate remembers (it picks the model's gain, see stage 4).
    var rateMemorySeconds: Double = 5
    /// How fast the loudest recent mean band level, the model's level reference, forgets (dB per frame).
    var bandPeakDecayDB: Float = 0.01
    /// No frame quieter than this (dBFS) is speech by its own raw decision; it can still lie inside a segment,
    /// in a gap shorter than a pause. Active telephone speech sits near −26 dBFS (ITU-T P.56's nominal level) and
    /// a quiet talker 10–15 dB below it; a room heard through a handset while its caller listens sits 35–50 dB
    /// below it, and before the caller first speaks there is no louder level to judge it against, so the floor and
    /// peak trackers alone took its swells for speech (segments whose "voice" then taught the emotion layer a
    /// baseline). On the real recordings of `Tools/pitch_eval_real.py` at their recorded levels (EmoDB, the
    /// meeting and read recordings of `Tools/pypi_speech.py`), 0.007 % of the frames Praat and RAPT both voice lie
    /// below −60 dBFS, against 45 % of the frames taken for speech more than 0.5 s from any voiced one.
    var speechFloorDB: Float = -60

    init() {}
}

/// Voice activity, speech/pause segmentation and syllable nuclei for one channel.
///
/// Stages, per frame, all in fixed preallocated storage:
/// 1. **Noise floor** (``NoiseFloor``): minimum statistics — the lowest 30 ms-mean broadband level over the last
///    ~2 s (blocks of 250 ms), clamped at `floorClampDB`, so it follows a rising noise within 2 s and a falling
///    one at once. Frames whose window reaches before the stream, and the padding after its end, are left out.
/// 2. **Raw activity** (against the floor and peak as they stood `rawLag` = 200 ms later, so the trackers have
///    seen a little of what follows — audio that opens mid-word still finds its floor; when the caller hands
///    over levels ahead of the decided frames, ``observeLevels(energyDB:)``, that costs no extra delay):
///    level above a threshold placed between the floor and
///    the loudest recent level (30 % of the distance, 4–12 dB above the floor, at most 40 dB below the peak),
///    so it works both at 5–10 dB SNR and on clean audio with digital silence; a voiced frame a few dB above
///    the floor also counts; nothing under `speechFloorDB` (−60 dBFS) does. With a level lead, "voiced" is the
///    pitch path as it stands then, before the frame is decided (``takeCue(voiced:periodicity:)``), so every
///    frame leaves 150 ms sooner. Against the decided voicing that changes 3 of EmoDB's 107,000 speech flags;
///    on the 570 telephone copies in pink noise of `Tools/pitch_eval_real.py` 330 of 91,239 speech frames go
///    (169 of them voiced by the reference), 3 come; no syllable count of `Tools/rate_eval.py --split tune`
///    moves.
/// 3. **Smoothing with look-ahead**: runs shorter than 50 ms are dropped, gaps shorter than 250 ms between
///    speech are filled. A segment is a maximal run of speech frames; a pause is a gap of ≥ 250 ms (stop
///    closures and word joins stay inside a segment; breath and hesitation pauses separate segments).
///    Segments longer than 30 s are split (not counted as pauses).
/// 4. **Syllables**: ``NucleusModel`` gives every frame a syllable-nucleus density from the spectrum, level,
///    periodicity and voicing of the frames within ±100 ms; a segment's syllables are the sum over its speech
///    frames, times a gain that depends on the syllable rate of recent speech (``SyllableGain``): the model,
///    seeing only ±100 ms, cannot know the speaker's tempo, and its errors lean one way for very fast speech.
///    Fractions carry over from segment to segment. Each segment's F0 median and range, and the channel's F0
///    median, come from ``F0Histogram``s.
///    Unlike De Jong & Wempe (2009), who count peaks of broadband intensity with a dip after them, the model
///    looks at what lies between two level peaks: a vowel whose pitch breaks (Vietnamese contour tones) keeps
///    one spectrum and counts once; two vowels joined by a liquid in fast speech change spectrum and count twice.
///
/// Frames leave ``lookAhead`` frames after they arrive, in order, each once.
/// ``ChannelAnalyzer`` hands each frame's level over as soon as it is measured, `levelLead` (the pitch
/// tracker's latency) frames before the decided frame follows, and its voicing cue `rawLag` frames later
/// (``takeCue(voiced:periodicity:)``), so stage 2 runs `levelLead − rawLag` frames ahead of the decided frames
/// and stage 3 waits only for the rest of its look-ahead.
public final class SpeechActivityAnalyzer {
    public let settings: AnalysisSettings
    public private(set) var totals = ChannelTotals()
    let params: ActivityParameters
    /// Frames between receiving a frame and emitting it.
    public let lookAhead: Int
    /// Frames by which ``observeLevels(energyDB:)`` runs ahead of ``process(_:onFrame:onSegment:)``; 0 when
    /// `process` takes each frame's level itself.
    public let levelLead: Int
    /// Frames by which the raw decisions (stage 2) run ahead of the received frames: with a level lead, the
    /// caller hands each frame's voicing cue over `levelLead − rawLag` frames before the frame
    /// (``takeCue(voiced:periodicity:)``); without one, stage 2 decides frame `n − rawLag` when frame `n` arrives.
    private let rawAhead: Int
    /// Raw decisions stage 3 needs past a frame before deciding it: a pause's worth to bridge a gap, a burst's to
    /// confirm one, and the frame after.
    private let rawNeeded: Int
    /// Raw decisions are made for frames `..< rawDecided`.
    private var rawDecided = 0
    /// Frames `..< nextFinal` have been emitted.
    private var nextFinal = 0
    /// Set by ``finish(durationSeconds:onFrame:onSegment:)``: every real frame has arrived, so stage 2 decides
    /// the frames no cue reached from the frames themselves.
    private var finishing = false
    /// Tap for Tools/rate_train.py: when set, receives every real frame's model inputs and every closed
    /// segment's density (``SyllableTrace``), as values; nil in production. The DSP does no I/O and builds
    /// no text: the command-line tool formats ``SyllableTrace/line`` (`ATTUNE_SYLLABLE_FEATURES=1` sends
    /// the lines to stderr).
    ///
    /// Unchecked: every frame reads it, and as a public class property each read paid a dynamic exclusivity
    /// check (swift_beginAccess, ~76 instructions) for copying one reference; no read overlaps another access.
    @exclusivity(unchecked) public var syllableTap: ((SyllableTrace) -> Void)?
    /// Weighted syllables of all closed segments, unrounded; segment counts are the steps of its rounding, so
    /// they always add up to the rounded total.
    private var softSyllables: Double = 0

    // Look-ahead ring, indexed by `frame & mask`.
    private let mask: Int
    private let ring: UnsafeMutableBufferPointer<FrameFeatures>
    private let raw: UnsafeMutableBufferPointer<Bool>
    private let qualified: UnsafeMutableBufferPointer<Bool>
    private let model: NucleusModel
    /// Next frame whose hidden layer the model has not computed; frames before it that no speech frame reaches
    /// are never computed.
    private var nextHidden = 0
    private var gain: SyllableGain
    private let speech: UnsafeMutableBufferPointer<Bool>

    /// Levels taken so far, and by level frame (`& mask`): the level, and the floor and speech threshold as
    /// they stood once that level was taken.
    private var observed = 0
    private let levelAt: UnsafeMutableBufferPointer<Float>
    private let floorAt: UnsafeMutableBufferPointer<Float>
    private let thresholdAt: UnsafeMutableBufferPointer<Float>

    /// Stage 1: the noise floor, the loudest recent level and the speech threshold between them.
    private var levels: NoiseFloor
    /// Loudest recent mean band level: the model's level reference.
    private var bandPeak: Float = silenceDB

    private var received = 0          // frames taken by process (real ones)
    private var pushed = 0            // frames through the pipeline, real and padding
    private var runLength = 0
    private var lastQualified = Int.min / 2

    // Open segment.
    private var segmentOpen = false
    private var segmentStart = 0
    private var segmentLast = 0
    private var segmentPower: Double = 0
    private var segmentFrames = 0
    private var segmentDensity: Double = 0
    private var hadSegment = false
    /// End of the audio in seconds, known once ``finish(durationSeconds:onFrame:onSegment:)`` starts.
    private var streamEnd = Double.infinity
    private var lastClosedByPause = false
    /// The last closed segment, which the next one's stats carry.
    private var previousSegment: SegmentBounds?

    private let segmentF0: F0Histogram
    private let totalF0: F0Histogram

    /// - Parameter levelLead: frames by which the caller hands over levels (``observeLevels(energyDB:)``) ahead
    ///   of the decided frames, at least `rawLag`; the caller then also answers each ``cueWanted`` with
    ///   ``takeCue(voiced:periodicity:)``. 0 (the default) when ``process(_:onFrame:onSegment:)`` should take
    ///   levels and voicing from the frames themselves.
    public convenience init(settings: AnalysisSettings, levelLead: Int = 0) {
        self.init(settings: settings, parameters: ActivityParameters(), levelLead: levelLead)
    }

    init(settings: AnalysisSettings, parameters: ActivityParameters, levelLead: Int = 0) {
        precondition(levelLead >= 0)
        self.settings = settings
        params = parameters
        self.levelLead = levelLead
        rawAhead = levelLead > 0 ? levelLead - parameters.rawLag : -parameters.rawLag
        precondition(levelLead == 0 || rawAhead >= 0, "SpeechActivityAnalyzer: a level lead shorter than rawLag")
        rawNeeded = parameters.pauseFrames + parameters.minBurstFrames + 1
        // Stage 3 decides frame k once raw decisions reach k + rawNeeded; the model needs the inputs of k + reach.
        lookAhead = max(rawNeeded - rawAhead, NucleusModel.reach + 1)
        var capacity = 1
        while capacity < lookAhead + max(levelLead, parameters.rawLag) + 2 * NucleusModel.reach + 8 { capacity <<= 1 }
        mask = capacity - 1
        ring = .allocate(capacity, filledWith: FrameFeatures(index: -1))
        raw = .allocate(capacity, filledWith: false)
        qualified = .allocate(capacity, filledWith: false)
        model = NucleusModel(capacity: capacity)
        speech = .allocate(capacity, filledWith: false)
        levelAt = .allocate(capacity, filledWith: silenceDB)
        floorAt = .allocate(capacity, filledWith: silenceDB)
        thresholdAt = .allocate(capacity, filledWith: silenceDB)
        gain = SyllableGain(memorySeconds: parameters.rateMemorySeconds)
        levels = NoiseFloor(parameters: parameters)
        segmentF0 = F0Histogram(settings: settings)
        totalF0 = F0Histogram(settings: settings)
    }

    deinit {
        ring.deallocate(); raw.deallocate(); qualified.deallocate(); speech.deallocate()
        levelAt.deallocate(); floorAt.deallocate(); thresholdAt.deallocate()
        model.deallocate(); gain.deallocate(); levels.deallocate(); segmentF0.deallocate(); totalF0.deallocate()
    }

    /// Takes the next frame; calls `onFrame` for frames now final and `onSegment` for segments now closed.
    /// With a `levelLead`, the frame's level must have been handed to ``observeLevels(energyDB:)`` already.
    public func process(_ frame: FrameFeatures, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        if levelLead == 0 { observeLevels(energyDB: frame.energyDB) }
        precondition(observed > received, "SpeechActivityAnalyzer: a frame's level must be observed before the frame")
        received += 1
        advance(frame, onFrame: onFrame, onSegment: onSegment)
    }

    /// Takes the broadband level (dBFS) of the next frame as soon as it is measured, ahead of the frame itself
    /// (only with a `levelLead`; at most that many frames ahead): stage 1 tracks the noise floor and the
    /// loudest level on it, so stage 2 can judge a frame against what followed it without waiting.
    public func observeLevels(energyDB: Float) {
        let j = observed
        precondition(j - received <= levelLead, "SpeechActivityAnalyzer: levels more than levelLead frames ahead")
        observed += 1
        levelAt[j & mask] = energyDB
        // 1: floor and peak.
        // The first two windows reach back before the stream (zeros) and would drag the floor down for
        // seconds; a short mean keeps one dropout frame from doing the same.
        if j >= 2 {
            var sum: Float = 0
            let from = max(2, j - params.floorSmoothingFrames + 1)
            for i in from...j { sum += levelAt[i & mask] }
            levels.addFloorLevel(sum / Float(j - from + 1))
        }
        levels.addPeakLevel(energyDB)
        floorAt[j & mask] = levels.floor
        thresholdAt[j & mask] = levels.threshold()
    }

    /// The frame whose voicing cue stage 2 waits for (``takeCue(voiced:periodicity:)``): its level and the
    /// `rawLag` levels after it have been observed. Nil without a level lead, or when no frame is waiting.
    public var cueWanted: Int? {
        levelLead > 0 && !finishing && rawDecided + params.rawLag < observed ? rawDecided : nil
    }

    /// Stage 2's voicing cue for frame ``cueWanted``: whether the pitch tracker's path voices it so far and its
    /// periodicity (``PitchTracker/provisional(_:)``), ahead of the frame's decided values.
    ///
    /// The raw decision is all that needs voicing before the frame is decided, and it can take the path as it
    /// stands `rawLag` frames after the frame: stage 3 then has its `pauseFrames + minBurstFrames` raw
    /// decisions past a frame `levelLead − rawLag` frames sooner, and every frame leaves that much earlier.
    public func takeCue(voiced: Bool, periodicity: Float) {
        precondition(cueWanted != nil, "SpeechActivityAnalyzer: a cue no frame waits for")
        decideRaw(voiced: voiced, periodicity: periodicity)
    }

    /// Ends the stream (`durationSeconds` of audio) and flushes pending frames and the open segment.
    public func finish(durationSeconds: Double, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        streamEnd = durationSeconds
        finishing = true
        // Silence after the end lets the look-ahead decide the last real frames like any others.
        while nextFinal < received {
            advance(FrameFeatures(index: pushed), onFrame: onFrame, onSegment: onSegment)
        }
        if segmentOpen { closeSegment(split: false, onSegment: onSegment) }
        totals.durationS = durationSeconds
        totals.f0MedianHz = totalF0.percentile(0.5).map(Double.init)
    }

    // MARK: - Pipeline

    @inline(__always)
    private func advance(_ input: FrameFeatures, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        let n = pushed
        pushed += 1
        var frame = input
        frame.index = n
        ring[n & mask] = frame

        // Stage 2 from the frames themselves: without cues, and for the frames no cue reached once the
        // stream has ended.
        if levelLead == 0 || finishing {
            while rawDecided <= n + min(0, rawAhead) {
                let f = ring[rawDecided & mask]
                decideRaw(voiced: f.f0 > 0, periodicity: f.voicing)
            }
        }

        // The model's inputs of frame n, against the loudest mean band level so far (padding frames read zero).
        if n < received {
            bandPeak = max(frame.bandsDB.sum() / 8, bandPeak - params.bandPeakDecayDB)
        }
        model.setInputs(n, frame: frame, peakDB: bandPeak, real: n < received)

        // 3 and 4 for the frames whose raw decisions reach far enough (during the finish, frames wait here
        // until stage 2 has caught up).
        while nextFinal <= n - lookAhead && nextFinal + rawNeeded < rawDecided {
            finalize(nextFinal, decidedThrough: rawDecided - 1, onFrame: onFrame, onSegment: onSegment)
            nextFinal += 1
        }
    }

    /// 2: raw decision for frame `rawDecided`, with floor and peak that have seen `rawLag` frames past it (so
    /// audio that starts with speech still finds the floor in the first pause). Past the end of the stream
    /// they stay as the last real frame left them: padding must not pull the floor down under it.
    @inline(__always)
    private func decideRaw(voiced: Bool, periodicity: Float) {
        let r = rawDecided
        rawDecided += 1
        let energyDB = r < observed ? levelAt[r & mask] : silenceDB
        let j = r + params.rawLag
        let noiseFloor = j < observed ? floorAt[j & mask] : levels.floor
        let threshold = j < observed ? thresholdAt[j & mask] : levels.threshold()
        var isRaw = energyDB > threshold
        if !isRaw && voiced && periodicity >= 0.5 && energyDB > noiseFloor + 3 { isRaw = true }
        if energyDB < params.speechFloorDB { isRaw = false }
        raw[r & mask] = isRaw
        qualified[r & mask] = false
        if isRaw {
            runLength += 1
            if runLength == params.minBurstFrames {
                for j in (r - runLength + 1)...r { qualified[j & mask] = true }
            } else if runLength > params.minBurstFrames {
                qualified[r & mask] = true
            }
        } else {
            runLength = 0
        }
    }

    /// Emits frame `k`; raw decisions are known through frame `decided`.
    @inline(__always)
    private func finalize(_ k: Int, decidedThrough decided: Int, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        // 3: speech = qualified, or inside a gap shorter than a pause between qualified frames. Frames past
        // `decided` hold a lap-old `qualified` and must not be read.
        var isSpeech = qualified[k & mask]
        if !isSpeech && k - lastQualified < params.pauseFrames {
            let limit = min(decided, lastQualified + params.pauseFrames)
            var j = k + 1
            while j <= limit {
                if qualified[j & mask] { isSpeech = true; break }
                j += 1
            }
        }
        if qualified[k & mask] { lastQualified = k }
        speech[k & mask] = isSpeech

        var frame = ring[k & mask]
        frame.speech = isSpeech
        let real = k < received

        if let tap = syllableTap, real {
            var inputs = SIMD16<Float>()
            for i in 0..<NucleusModel.inputCount { inputs[i] = model.input(k, i) }
            inputs[NucleusModel.inputCount] = frame.bandsDB.sum() / 8
            tap(.frame(index: k, speech: isSpeech, inputs: inputs))
        }
        if isSpeech && real {
            if !segmentOpen { openSegment(k) }
            segmentLast = k
            segmentFrames += 1
            segmentPower += Double(powf(10, frame.energyDB / 10))
            if frame.f0 > 0 {
                let bin = segmentF0.bin(of: frame.f0)
                segmentF0.add(bin: bin)
                totalF0.add(bin: bin)
            }
            // 4: the model's density of frame k needs the hidden layers of k ± taps2 / 2 (inputs up to k + reach,
            // which the look-ahead holds). Only speech frames take a density, so pauses skip the hidden layer:
            // a frame's hidden layer depends only on inputs the ring still holds, so computing it now rather
            // than when it first entered reach gives the same values.
            let halfTaps = NucleusModelWeights.taps2 / 2
            nextHidden = max(nextHidden, k - halfTaps)
            while nextHidden <= k + halfTaps {
                model.computeHidden(nextHidden, end: received)
                nextHidden += 1
            }
            segmentDensity += Double(model.density(k, end: received))
            if segmentFrames >= params.maxSegmentFrames {
                closeSegment(split: true, onSegment: onSegment)
                lastClosedByPause = false
            }
        } else if segmentOpen {
            closeSegment(split: false, onSegment: onSegment)
            lastClosedByPause = true
        }
        if real { onFrame(frame) }
    }

    // MARK: - Segments

    private func openSegment(_ k: Int) {
        if hadSegment && lastClosedByPause { totals.pauses += 1 }
        segmentOpen = true
        segmentStart = k
        segmentLast = k
        segmentDensity = 0
        segmentPower = 0
        segmentFrames = 0
        segmentF0.reset()
    }

    /// Closes the open segment; `split` when it reached the longest segment rather than a pause or the end.
    private func closeSegment(split: Bool, onSegment: (SegmentStats) -> Void) {
        segmentOpen = false
        hadSegment = true
        let hop = settings.hopSeconds
        let start = startSeconds(ofFrame: segmentStart)
        // The last frame's half-hop may reach past the audio's end.
        let end = min(streamEnd, (Double(segmentLast) + 0.5) * hop)
        let median = segmentF0.percentile(0.5).map(Double.init)
        let range = segmentF0.rangeST(from: 0.05, to: 0.95)
        // Rate of recent speech by the model, this segment included, picks the gain.
        let duration = max(0, end - start)
        let (segmentGain, rate) = gain.add(density: segmentDensity, duration: duration)
        let before = softSyllables.rounded()
        softSyllables += segmentDensity * segmentGain
        let segmentSyllables = Int(softSyllables.rounded() - before)
        if let tap = syllableTap {
            tap(.segment(first: segmentStart, last: segmentLast, seconds: duration, density: segmentDensity, recentRate: rate))
        }
        let meanPower = segmentPower / Double(max(1, segmentFrames))
        let energy = meanPower > 0 ? max(Double(silenceDB), 10 * log10(meanPower)) : Double(silenceDB)
        // After a pause the channel's next segment starts `pauseFrames` or more past this one's last frame (stage 3
        // fills shorter gaps); after a split it may start at the very next frame (a pause that happens to begin
        // there is not told apart, and the bound still holds). Once the stream has ended, no real frame is left to
        // start one.
        let nextFrame = segmentLast + 1 + (split ? 0 : params.pauseFrames)
        let nextStart = streamEnd.isFinite && nextFrame >= received ? Double.infinity : startSeconds(ofFrame: nextFrame)
        let stats = SegmentStats(start: start, end: end, syllables: segmentSyllables,
                                 rateSPS: end > start ? Double(segmentSyllables) / (end - start) : 0,
                                 f0MedianHz: median, f0RangeST: range, energyDB: energy,
                                 nextStart: nextStart, previous: previousSegment)
        previousSegment = stats.bounds
        totals.speechS += end - start
        totals.syllables += segmentSyllables
        if totals.firstSpeech == nil { totals.firstSpeech = start }
        totals.lastSpeech = end
        onSegment(stats)
    }

    /// Where a segment whose first frame is `frame` starts: the same arithmetic for a segment's own start and for
    /// the earliest next start, so the two compare exactly.
    private func startSeconds(ofFrame frame: Int) -> Double {
        max(0, (Double(frame) - 0.5) * settings.hopSeconds)
    }
}
