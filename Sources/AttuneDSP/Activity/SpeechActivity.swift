import Foundation

/// One stretch of speech between pauses, with its prosodic statistics.
public struct SegmentStats: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var syllables: Int
    /// Syllables per second over the segment.
    public var rateSPS: Double
    /// Median F0 of the voiced frames (Hz), or nil when none was voiced.
    public var f0MedianHz: Double?
    /// Spread of F0 in semitones (5th to 95th percentile), or nil when none was voiced.
    public var f0RangeST: Double?
    /// Mean level of the segment's frames (dBFS, power average).
    public var energyDB: Double

    public init(start: Double, end: Double, syllables: Int, rateSPS: Double, f0MedianHz: Double?, f0RangeST: Double?, energyDB: Double) {
        self.start = start; self.end = end; self.syllables = syllables; self.rateSPS = rateSPS
        self.f0MedianHz = f0MedianHz; self.f0RangeST = f0RangeST; self.energyDB = energyDB
    }
}

/// Whole-channel totals, for the `summary` record.
public struct ChannelTotals: Sendable, Equatable {
    public var durationS: Double = 0
    public var speechS: Double = 0
    public var syllables: Int = 0
    /// Start of the first and end of the last speech segment, nil when there was no speech.
    public var firstSpeech: Double?
    public var lastSpeech: Double?
    public var f0MedianHz: Double?
    public var pauses: Int = 0
    public init() {}

    /// Syllables per second from the first to the last speech.
    public var speechRateSPS: Double {
        guard let first = firstSpeech, let last = lastSpeech, last > first else { return 0 }
        return Double(syllables) / (last - first)
    }
    /// Syllables per second of speech time.
    public var articulationRateSPS: Double { speechS > 0 ? Double(syllables) / speechS : 0 }
}

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
    /// Nucleus: a peak of the smoothed nucleus envelope standing `prominenceDB` above the higher of its two
    /// surrounding dips, looked for within `prominenceWindow` frames each side…
    var prominenceDB: Float = 2
    var prominenceWindow = 20
    /// …at least `minNucleusFrames` after the previous nucleus (the higher of two closer ones wins)…
    var minNucleusFrames = 5
    /// Three detectors run side by side on differently smoothed envelopes (unsmoothed, 5 and 9 taps). The sharp
    /// one looks at the raw envelope with a lower prominence, because fast speech blurs the dips the others need;
    /// the smooth one wants 3 dB and 100 ms spacing, because slow, drawn-out vowels and Vietnamese contour tones
    /// wobble enough to fake extra peaks. How much each one's count is worth depends on the speaking rate:
    /// see ``SyllableBlend``. Values chosen on the tune split (Tools/rate_fit.py).
    var sharpProminenceDB: Float = 1.5
    var sharpMinNucleusFrames = 5
    var smoothProminenceDB: Float = 3
    var smoothMinNucleusFrames = 10
    var blend = SyllableBlend()
    /// Seconds of speech the rate estimate remembers.
    var rateMemorySeconds: Double = 5
    /// …no more than this far below the loudest recent band level…
    var nucleusBelowPeakDB: Float = 25
    /// …and periodic within `voicingReach` frames, once the pitch tracker has shown it reports voicing at all:
    /// voiced by the tracker, or with a normalised autocorrelation peak of at least `periodicityGate`. The
    /// tracker's path search drops short voiced runs between consonants in fast and telephone speech (its
    /// transition costs are there to keep octave jumps out), yet those runs are vowels; the raw periodicity
    /// still sees them.
    var periodicityGate: Float = 0.5
    var voicingReach = 3
    /// Peaks with prominence from this up to the detector's threshold are weak nuclei (see ``NucleusDetector``):
    /// some are unstressed syllables whose dip is shallow beside a liquid or nasal, the rest are wobbles, so
    /// ``SyllableBlend`` gives them their own weights.
    var weakProminenceDB: Float = 0.75

    init() {}
}

/// Voice activity, speech/pause segmentation and syllable nuclei for one channel.
///
/// Stages, per frame, all in fixed preallocated storage:
/// 1. **Noise floor**: minimum statistics — the lowest 30 ms-mean broadband level over the last ~2 s (blocks
///    of 250 ms), clamped at `floorClampDB`, so it follows a rising noise within 2 s and a falling one at once.
///    Frames whose window reaches before the stream, and the padding after its end, are left out.
/// 2. **Raw activity** (decided `rawLag` = 200 ms late, so the trackers have seen a little of what follows —
///    audio that opens mid-word still finds its floor): level above a threshold placed between the floor and
///    the loudest recent level (30 % of the distance, 4–12 dB above the floor, at most 40 dB below the peak),
///    so it works both at 5–10 dB SNR and on clean audio with digital silence; a voiced frame a few dB above
///    the floor also counts.
/// 3. **Smoothing with look-ahead**: runs shorter than 50 ms are dropped, gaps shorter than 250 ms between
///    speech are filled. A segment is a maximal run of speech frames; a pause is a gap of ≥ 250 ms (stop
///    closures and word joins stay inside a segment; breath and hesitation pauses separate segments).
///    Segments longer than 30 s are split (not counted as pauses).
/// 4. **Syllable nuclei**: peaks of the nucleus envelope (``FrameFeatures/nucleusEnvelopeDB``, the mean dB of
///    four sub-bands between 250 and 3800 Hz) that are prominent — 1.5 to 3 dB above the higher of the
///    dips on both sides, within ±200 ms — inside speech, within 25 dB of the recent envelope peak, and periodic
///    within ±30 ms (voiced, or a normalised autocorrelation peak of at least 0.5) once the pitch tracker has
///    shown it reports voicing. Three detectors run on the raw
///    envelope and on 5- and 9-frame smoothings (1.5, 2 and 3 dB; 50, 50 and 100 ms minimum spacing), each also
///    counting weaker peaks (0.75 dB up to its threshold) apart. A segment's syllables are a weighted sum of
///    the six counts whose weights depend on the syllable rate of recent speech by the middle detector (decaying
///    over ~5 s of speech), so the counter adapts to fast and slow speakers (``SyllableBlend``). Fractions carry
///    over from segment to segment.
///    Unlike De Jong & Wempe (2009), who look only at the dip after a peak of broadband intensity, the
///    two-sided prominence on sub-band levels ignores fricative and burst energy, sees nasals and liquids that
///    empty one band, and does not split a vowel whose level sags on one side.
///
/// Frames leave ``lookAhead`` frames after they arrive, in order, each once.
public final class SpeechActivityAnalyzer {
    public let settings: AnalysisSettings
    public private(set) var totals = ChannelTotals()
    let params: ActivityParameters
    /// Frames between receiving a frame and emitting it.
    public let lookAhead: Int
    /// Frames between a frame's arrival and its smoothed envelopes (half the longest smoothing).
    static let envelopeDelay = 4
    /// Tuning trace for Tools/rate_fit.py: when set, receives one `F` line per frame and one `SYLFEAT` line per
    /// segment with the syllable detectors' inputs and counts. nil in production; the DSP itself does no I/O,
    /// the command-line tool decides where the lines go (`ATTUNE_SYLLABLE_FEATURES=1` sends them to stderr).
    public var tuningTrace: ((String) -> Void)?
    /// Weighted syllables of all closed segments, unrounded; segment counts are the steps of its rounding, so
    /// they always add up to the rounded total.
    private var softSyllables: Double = 0

    // Look-ahead ring, indexed by `frame & mask`.
    private let mask: Int
    private let ring: UnsafeMutableBufferPointer<FrameFeatures>
    private let raw: UnsafeMutableBufferPointer<Bool>
    private let qualified: UnsafeMutableBufferPointer<Bool>
    /// Nucleus envelopes: unsmoothed, 5-tap, 9-tap.
    private let envelopes: (UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>)
    private var detectors: (NucleusDetector, NucleusDetector, NucleusDetector)
    /// Decaying sums of the middle detector's nuclei and of speech time, for the rate estimate.
    private var rateNuclei: Double = 0
    private var rateSeconds: Double = 0
    private let speech: UnsafeMutableBufferPointer<Bool>
    /// ``SyllableBlend/table`` of the parameters.
    private let blendTable: UnsafeMutableBufferPointer<Double>

    // Minimum statistics.
    private let blockMinima: UnsafeMutableBufferPointer<Float>
    private var blockMin: Float = .greatestFiniteMagnitude
    private var blockFill = 0
    private var blockIndex = 0
    private var noiseFloor: Float = silenceDB
    private var levelPeak: Float = silenceDB
    private var bandPeak: Float = silenceDB
    private var sawVoicing = false

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
    private var hadSegment = false
    /// End of the audio in seconds, known once ``finish(durationSeconds:onFrame:onSegment:)`` starts.
    private var streamEnd = Double.infinity
    private var lastClosedByPause = false

    // F0 histograms in 0.1-semitone bins above the pitch floor.
    private let segmentF0: UnsafeMutableBufferPointer<Int32>
    private let totalF0: UnsafeMutableBufferPointer<Int32>
    private var segmentVoiced = 0
    private var totalVoiced = 0
    private let f0Floor: Float

    public convenience init(settings: AnalysisSettings) {
        self.init(settings: settings, parameters: ActivityParameters())
    }

    init(settings: AnalysisSettings, parameters: ActivityParameters) {
        self.settings = settings
        params = parameters
        lookAhead = max(parameters.rawLag + parameters.pauseFrames + parameters.minBurstFrames, parameters.prominenceWindow + Self.envelopeDelay) + 1
        var capacity = 1
        while capacity < lookAhead + parameters.prominenceWindow + 8 { capacity <<= 1 }
        mask = capacity - 1
        ring = .allocate(capacity, filledWith: FrameFeatures(index: -1))
        raw = .allocate(capacity, filledWith: false)
        qualified = .allocate(capacity, filledWith: false)
        envelopes = (.allocate(capacity, filledWith: silenceDB), .allocate(capacity, filledWith: silenceDB), .allocate(capacity, filledWith: silenceDB))
        detectors = (NucleusDetector(prominenceDB: parameters.sharpProminenceDB, minFrames: parameters.sharpMinNucleusFrames, weakProminenceDB: parameters.weakProminenceDB),
                     NucleusDetector(prominenceDB: parameters.prominenceDB, minFrames: parameters.minNucleusFrames, weakProminenceDB: parameters.weakProminenceDB),
                     NucleusDetector(prominenceDB: parameters.smoothProminenceDB, minFrames: parameters.smoothMinNucleusFrames, weakProminenceDB: parameters.weakProminenceDB))
        speech = .allocate(capacity, filledWith: false)
        let table = parameters.blend.table
        precondition(table.count == 7 * parameters.blend.knots.count && parameters.blend.knots.count >= 2, "SyllableBlend needs six weight rows of one weight per knot")
        blendTable = .allocate(copying: table)
        blockMinima = .allocate(parameters.floorBlocks, filledWith: .greatestFiniteMagnitude)
        f0Floor = Float(settings.pitchFloor)
        let bins = Int((120 * log2(settings.pitchCeiling / settings.pitchFloor)).rounded(.up)) + 1
        segmentF0 = .allocate(bins, filledWith: 0)
        totalF0 = .allocate(bins, filledWith: 0)
    }

    deinit {
        ring.deallocate(); raw.deallocate(); qualified.deallocate(); speech.deallocate(); blendTable.deallocate()
        envelopes.0.deallocate(); envelopes.1.deallocate(); envelopes.2.deallocate()
        blockMinima.deallocate(); segmentF0.deallocate(); totalF0.deallocate()
    }

    /// Takes the next frame; calls `onFrame` for frames now final and `onSegment` for segments now closed.
    public func process(_ frame: FrameFeatures, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        received += 1
        advance(frame, onFrame: onFrame, onSegment: onSegment)
    }

    /// Ends the stream (`durationSeconds` of audio) and flushes pending frames and the open segment.
    public func finish(durationSeconds: Double, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        streamEnd = durationSeconds
        // Silence after the end lets the look-ahead decide the last real frames like any others.
        for _ in 0..<lookAhead {
            advance(FrameFeatures(index: pushed), onFrame: onFrame, onSegment: onSegment)
        }
        if segmentOpen { closeSegment(onSegment: onSegment) }
        totals.durationS = durationSeconds
        totals.f0MedianHz = totalVoiced > 0 ? Double(percentile(totalF0, count: totalVoiced, 0.5)) : nil
    }

    // MARK: - Pipeline

    @inline(__always)
    private func advance(_ input: FrameFeatures, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        let n = pushed
        pushed += 1
        var frame = input
        frame.index = n
        ring[n & mask] = frame
        if frame.f0 > 0 { sawVoicing = true }

        // 1: floor and peak.
        // The first two windows reach back before the stream (zeros) and would drag the floor down for
        // seconds; a short mean keeps one dropout frame from doing the same.
        // Padding frames after the end must not pull the floor down under the last real frames.
        if n >= 2 && n < received {
            var sum: Float = 0
            let from = max(2, n - params.floorSmoothingFrames + 1)
            for j in from...n { sum += ring[j & mask].energyDB }
            updateFloor(sum / Float(n - from + 1))
        }
        if n < received { levelPeak = max(frame.energyDB, levelPeak - params.peakDecayDB) }

        // 1–2: raw decision for frame r, with floor and peak that have seen `rawLag` frames past it (so audio
        // that starts with speech still finds the floor in the first pause).
        let r = n - params.rawLag
        if r >= 0 {
            let f = ring[r & mask]
            let above = min(params.thresholdMaxDB, max(params.thresholdMinDB, params.thresholdFraction * (levelPeak - noiseFloor)))
            let threshold = max(noiseFloor + above, levelPeak - params.thresholdBelowPeakDB)
            var isRaw = f.energyDB > threshold
            if !isRaw && sawVoicing && f.f0 > 0 && f.voicing >= 0.5 && f.energyDB > noiseFloor + 3 { isRaw = true }
            if f.energyDB <= silenceDB + 1 { isRaw = false }
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

        // Nucleus envelopes of frame m: as measured, and triangular smoothing over 5 and 9 frames (clamped at the
        // stream start).
        let m = n - Self.envelopeDelay
        if m >= 0 {
            var e5: Float = 0, e9: Float = 0
            for d in -4...4 {
                let x = ring[max(0, m + d) & mask].nucleusEnvelopeDB
                let a = abs(d)
                e9 += Float(5 - a) * x
                if a <= 2 { e5 += Float(3 - a) * x }
            }
            envelopes.0[m & mask] = ring[m & mask].nucleusEnvelopeDB
            envelopes.1[m & mask] = e5 / 9
            envelopes.2[m & mask] = e9 / 25
            bandPeak = max(e5 / 9, bandPeak - params.peakDecayDB)
        }

        let k = n - lookAhead
        if k >= 0 { finalize(k, newest: n, onFrame: onFrame, onSegment: onSegment) }
    }

    @inline(__always)
    private func updateFloor(_ level: Float) {
        blockMin = min(blockMin, level)
        blockFill += 1
        if blockFill == params.floorBlockFrames {
            blockMinima[blockIndex] = blockMin
            blockIndex = (blockIndex + 1) % blockMinima.count
            blockFill = 0
            blockMin = .greatestFiniteMagnitude
        }
        var floor = blockMin
        for b in 0..<blockMinima.count { floor = min(floor, blockMinima[b]) }
        noiseFloor = max(params.floorClampDB, floor)
    }

    @inline(__always)
    private func finalize(_ k: Int, newest n: Int, onFrame: (FrameFeatures) -> Void, onSegment: (SegmentStats) -> Void) {
        // 3: speech = qualified, or inside a gap shorter than a pause between qualified frames.
        var isSpeech = qualified[k & mask]
        if !isSpeech && k - lastQualified < params.pauseFrames {
            let limit = min(n, lastQualified + params.pauseFrames)
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

        if let trace = tuningTrace, real {
            let g = isSpeech ? (passesGates(k, newest: n) ? 1 : 0) : -1
            let line = "F \(k) \(g) \(frame.f0 > 0 ? 1 : 0) \(envelopes.1[k & mask] >= bandPeak - params.nucleusBelowPeakDB ? 1 : 0) \(sawVoicing ? 1 : 0) \(frame.nucleusEnvelopeDB) \(envelopes.0[k & mask]) \(envelopes.1[k & mask]) \(envelopes.2[k & mask]) \(frame.f0) \(frame.voicing) \(frame.energyDB) \(bandPeak)\n"
            trace(line)
        }
        if isSpeech && real {
            if !segmentOpen { openSegment(k) }
            segmentLast = k
            segmentFrames += 1
            segmentPower += Double(powf(10, frame.energyDB / 10))
            if frame.f0 > 0 { addF0(frame.f0) }
            // 4: syllable nucleus at k, for each detector?
            if passesGates(k, newest: n) {
                let w = params.prominenceWindow
                let newestEnvelope = n - Self.envelopeDelay
                detectors.0.consider(k, envelope: envelopes.0, mask: mask, window: w, newest: newestEnvelope)
                detectors.1.consider(k, envelope: envelopes.1, mask: mask, window: w, newest: newestEnvelope)
                detectors.2.consider(k, envelope: envelopes.2, mask: mask, window: w, newest: newestEnvelope)
            }
            if segmentFrames >= params.maxSegmentFrames {
                closeSegment(onSegment: onSegment)
                lastClosedByPause = false
            }
        } else if segmentOpen {
            closeSegment(onSegment: onSegment)
            lastClosedByPause = true
        }
        if real { onFrame(frame) }
    }

    /// Conditions every detector shares: near the recent band peak, and voiced once voicing is known.
    @inline(__always)
    private func passesGates(_ k: Int, newest n: Int) -> Bool {
        guard envelopes.1[k & mask] >= bandPeak - params.nucleusBelowPeakDB else { return false }
        if sawVoicing {
            for j in max(0, k - params.voicingReach)...min(n, k + params.voicingReach) {
                let f = ring[j & mask]
                if f.f0 > 0 || f.voicing >= params.periodicityGate { return true }
            }
            return false
        }
        return true
    }

    // MARK: - Segments

    private func openSegment(_ k: Int) {
        if hadSegment && lastClosedByPause { totals.pauses += 1 }
        segmentOpen = true
        segmentStart = k
        segmentLast = k
        detectors.0.count = 0; detectors.1.count = 0; detectors.2.count = 0
        // A weak peak of the last segment cannot be the shoulder of this one's first nucleus.
        detectors.0.weak = 0; detectors.1.weak = 0; detectors.2.weak = 0
        detectors.0.lastWeak = Int.min / 2; detectors.1.lastWeak = Int.min / 2; detectors.2.lastWeak = Int.min / 2
        segmentPower = 0
        segmentFrames = 0
        segmentVoiced = 0
        segmentF0.update(repeating: 0)
    }

    private func closeSegment(onSegment: (SegmentStats) -> Void) {
        segmentOpen = false
        hadSegment = true
        let hop = settings.hopSeconds
        let start = max(0, (Double(segmentStart) - 0.5) * hop)
        // The last frame's half-hop may reach past the audio's end.
        let end = min(streamEnd, (Double(segmentLast) + 0.5) * hop)
        var median: Double?
        var range: Double?
        if segmentVoiced > 0 {
            median = Double(percentile(segmentF0, count: segmentVoiced, 0.5))
            let lo = percentileBin(segmentF0, count: segmentVoiced, 0.05)
            let hi = percentileBin(segmentF0, count: segmentVoiced, 0.95)
            range = Double(hi - lo) / 10
        }
        // Rate of recent speech by the middle detector, this segment included, picks the count.
        let duration = max(0, end - start)
        let decay = exp(-duration / params.rateMemorySeconds)
        rateNuclei = rateNuclei * decay + Double(detectors.1.count)
        rateSeconds = rateSeconds * decay + duration
        let rate = rateSeconds > 0 ? rateNuclei / rateSeconds : 0
        let before = softSyllables.rounded()
        softSyllables += SyllableBlend.syllables(table: blendTable, rate: rate,
                                                 counts: (detectors.0.count, detectors.1.count, detectors.2.count,
                                                          detectors.0.weak, detectors.1.weak, detectors.2.weak))
        let segmentSyllables = Int(softSyllables.rounded() - before)
        if let trace = tuningTrace {
            let line = "SYLFEAT \(segmentStart) \(segmentLast) \(duration) \(segmentFrames) \(segmentVoiced) \(rate) \(detectors.0.count) \(detectors.1.count) \(detectors.2.count) \(detectors.0.weak) \(detectors.1.weak) \(detectors.2.weak)\n"
            trace(line)
        }
        let meanPower = segmentPower / Double(max(1, segmentFrames))
        let energy = meanPower > 0 ? max(Double(silenceDB), 10 * log10(meanPower)) : Double(silenceDB)
        let stats = SegmentStats(start: start, end: end, syllables: segmentSyllables,
                                 rateSPS: end > start ? Double(segmentSyllables) / (end - start) : 0,
                                 f0MedianHz: median, f0RangeST: range, energyDB: energy)
        totals.speechS += end - start
        totals.syllables += segmentSyllables
        if totals.firstSpeech == nil { totals.firstSpeech = start }
        totals.lastSpeech = end
        onSegment(stats)
    }

    @inline(__always)
    private func addF0(_ f0: Float) {
        let bin = Int((120 * log2f(f0 / f0Floor)).rounded(.down))
        let b = min(max(0, bin), segmentF0.count - 1)
        segmentF0[b] += 1
        totalF0[b] += 1
        segmentVoiced += 1
        totalVoiced += 1
    }

    private func percentileBin(_ histogram: UnsafeMutableBufferPointer<Int32>, count: Int, _ p: Double) -> Int {
        let target = max(1, Int((p * Double(count)).rounded(.up)))
        var cumulative = 0
        for b in 0..<histogram.count {
            cumulative += Int(histogram[b])
            if cumulative >= target { return b }
        }
        return histogram.count - 1
    }

    private func percentile(_ histogram: UnsafeMutableBufferPointer<Int32>, count: Int, _ p: Double) -> Float {
        let b = percentileBin(histogram, count: count, p)
        return f0Floor * exp2f((Float(b) + 0.5) / 120)
    }
}

/// How a segment's syllables follow from its detectors' counts: a weighted sum of the strong and weak peak counts of
/// the sharp, middle and smooth detectors, with weights that move linearly between speaking-rate knots.
///
/// A hard switch between detectors at fixed rates made errors of opposite sign on either side of each threshold,
/// and which detector is right at a given rate varies from voice to voice, so the counts are blended instead.
/// The weights are a ridge regression (towards such a switch) of the true syllable counts on the six counts,
/// fitted on the tune split of Tools/rate_eval.py's corpus by `Tools/rate_fit.py --fit-blend`; they are checked on
/// the test split and on a held-out corpus of other sentences, voices and rates (`Tools/rate_eval.py --heldout`).
/// Some weights are negative (a detector's count corrects another's where they overlap); a segment never counts
/// below zero.
struct SyllableBlend: Sendable {
    /// Rates (syllables per second by the middle detector) where the weights below hold exactly, ascending.
    var knots: [Double] = [3.0, 4.5, 6.0, 7.5, 9.0]
    /// Weights per knot of: sharp, middle, smooth strong counts, then sharp, middle, smooth weak counts. At each
    /// knot the three strong weights add up to 1, so where the detectors agree (clear syllables) the blend counts
    /// exactly what they count; only their disagreements and the weak peaks are weighed.
    var weights: [[Double]] = [
        [0.051, 0.149, 0.657, 0.933, 0.833],
        [0.357, -0.094, 0.051, 0.088, 0.203],
        [0.592, 0.945, 0.292, -0.021, -0.036],
        [-0.053, 0.074, 0.264, 0.503, 0.372],
        [0.042, 0.276, 0.441, 0.146, 0.013],
        [0.099, 0.861, 0.313, 0.365, 0.091],
    ]

    /// Knots, then the weights row by row, for ``syllables(table:rate:counts:)``.
    var table: [Double] { knots + weights.flatMap { $0 } }

    /// Syllables of a segment from its detectors' counts (sharp, middle, smooth strong; then weak) at the recent
    /// speaking rate, from a ``table`` kept in preallocated storage: the segment path must not touch the heap.
    static func syllables(table: UnsafeMutableBufferPointer<Double>, rate: Double, counts: (Int, Int, Int, Int, Int, Int)) -> Double {
        let k = table.count / 7
        // Outside the knots the nearest knot's weights hold.
        let r = min(max(rate, table[0]), table[k - 1])
        var i = 0
        while i < k - 2 && r >= table[i + 1] { i += 1 }
        let a = (r - table[i]) / (table[i + 1] - table[i])
        let at = (knots: k, knot: i, fraction: a)
        let total = term(table, at, 0, counts.0) + term(table, at, 1, counts.1) + term(table, at, 2, counts.2)
            + term(table, at, 3, counts.3) + term(table, at, 4, counts.4) + term(table, at, 5, counts.5)
        return max(0, total)
    }

    /// One count times its row's weight, interpolated between knots `at.knot` and `at.knot + 1`. A static function
    /// rather than a closure: a closure capturing a `var` boxes it on the heap in debug builds.
    @inline(__always)
    private static func term(_ table: UnsafeMutableBufferPointer<Double>, _ at: (knots: Int, knot: Int, fraction: Double),
                             _ row: Int, _ count: Int) -> Double {
        let base = at.knots * (row + 1) + at.knot
        return Double(count) * ((1 - at.fraction) * table[base] + at.fraction * table[base + 1])
    }
}

/// Peak picking on one smoothed envelope: a local maximum whose two-sided prominence (height above the higher
/// of the lowest points reached on each side before the envelope climbs above it, within `window` frames) is
/// at least `prominenceDB`; of two closer than `minFrames`, the higher wins.
struct NucleusDetector {
    let prominenceDB: Float
    let minFrames: Int
    /// Peaks between `weakProminenceDB` and `prominenceDB`, at least `minFrames` from every counted peak, are
    /// counted apart in `weak`: unstressed syllables beside liquids and nasals dip less than a strong peak needs.
    let weakProminenceDB: Float
    var count = 0
    var weak = 0
    var last = Int.min / 2
    var lastLevel: Float = 0
    var lastWeak = Int.min / 2

    init(prominenceDB: Float, minFrames: Int, weakProminenceDB: Float = 1) {
        self.prominenceDB = prominenceDB
        self.minFrames = minFrames
        self.weakProminenceDB = weakProminenceDB
    }

    @inline(__always)
    mutating func consider(_ k: Int, envelope: UnsafeMutableBufferPointer<Float>, mask: Int, window w: Int, newest: Int) {
        if k == 0 || k >= newest { return }
        let env = envelope[k & mask]
        guard env > envelope[(k - 1) & mask], env >= envelope[(k + 1) & mask] else { return }
        var leftDip = env
        var i = k - 1
        while i >= max(0, k - w) {
            let e = envelope[i & mask]
            if e > env { break }
            leftDip = min(leftDip, e)
            i -= 1
        }
        var rightDip = env
        i = k + 1
        while i <= min(newest, k + w) {
            let e = envelope[i & mask]
            if e > env { break }
            rightDip = min(rightDip, e)
            i += 1
        }
        let prominence = env - max(leftDip, rightDip)
        guard prominence >= prominenceDB else {
            if prominence >= weakProminenceDB && k - last >= minFrames && k - lastWeak >= minFrames {
                weak += 1
                lastWeak = k
            }
            return
        }
        // A strong peak right after a weak one is the same nucleus: the weak one was its shoulder.
        if k - lastWeak < minFrames && lastWeak > last { weak -= 1; lastWeak = Int.min / 2 }
        if k - last < minFrames {
            if env > lastLevel { last = k; lastLevel = env }
        } else {
            count += 1
            last = k
            lastLevel = env
        }
    }
}
