import AttuneAudio
import AttuneDSP
import CAttuneKernels

/// What a call's analysis hands downstream, in time order: small fixed-size values, so they cross from the
/// DSP worker to the record builder through an ``SPSCQueue`` without touching the heap.
public enum SessionOutput: Sendable, Equatable {
    /// One 10 ms hop of one channel, decided.
    case frame(channel: Int, FrameFeatures)
    /// A stretch of speech of one channel, closed.
    case segment(channel: Int, SegmentStats)
    /// Input audio lost before analysis (the capture side found the rings full), in seconds on the call's
    /// timeline. The analysis heard silence there, so every later time stays where it belongs; except in the last
    /// gap of a stopped call, which nothing follows and which is not analysed (see `CallSession.cutAt`).
    case gap(start: Double, end: Double)
    /// A channel's totals, after ``CallSession/finish()``.
    case summary(channel: Int, ChannelTotals)
}

/// One call's analysis, from interleaved input samples to time-ordered features: the one streaming path that
/// `attune analyze` and the daemon share.
///
/// Per block of input it repairs samples (NaN/±Inf become silence, absurd magnitudes are clipped), splits
/// the channels, resamples each to the analysis rate and runs each channel's ``ChannelAnalyzer``; the frames
/// and segments of all channels are merged in time order (frame by frame, both sides of the call) into
/// ``outputs``, a fixed-size queue another thread may drain. Records are built from those values off the DSP
/// path.
///
/// Everything is allocated — and any FFT plan not yet in the process made — in `init`, on the thread that sets the call up;
/// ``push(interleaved:)``, ``pull(from:budget:)`` and ``finish()`` never allocate, lock or
/// log, so a DSP worker may run them. A session is used by one thread at a time: it is not `Sendable`, and
/// moves to its worker as a `sending` value (Swift 6 checks that the setup thread keeps no reference).
/// Release it off the worker too: releasing frees its buffers (a heap call, which may lock).
public final class CallSession {
    /// Input frames one internal step analyses; bounds the staging memory and the worst-case output per step.
    public static let stepFrames = 1024
    /// Outputs a channel may hold staged before the merge releases them: a step's hops plus the flush at the
    /// end (the fixed delay's hops and the segments they close), checked in `init`. Kept small on purpose: each
    /// hop writes its frame to the next slot, and in a daemon with thousands of channels a slot revisited after
    /// the whole ring has gone round is a cache miss; 1,024 slots made staging two thirds of a channel's memory.
    private static let stagingCapacity = 128

    /// Native rate of the input (Hz).
    public let inputRate: Int
    public let channelCount: Int
    /// Settings every channel is analysed with (the analysis rate is 8 or 16 kHz).
    public let settings: AnalysisSettings
    /// Features waiting for the record builder. **Consumer side** of the session: drain it with `pop()` from
    /// one thread (the same as the DSP side's, offline).
    public let outputs: SPSCQueue<SessionOutput>

    private let analyzers: [ChannelAnalyzer]
    /// Per channel, the ring that receives its repaired input samples (see ``attachTap(_:channel:)``), or nil.
    private var taps: [SPSCRingBuffer?]
    private let resamplers: [Resampler?]
    /// One channel's samples of the current step, per channel.
    private let planar: UnsafeMutableBufferPointer<UnsafeMutableBufferPointer<Float>>
    /// Per-channel FIFOs of outputs not yet merged: `staged[c * stagingCapacity + slot]`.
    private let staged: UnsafeMutableBufferPointer<Staged>
    private let stagedHead: UnsafeMutableBufferPointer<Int>
    private let stagedCount: UnsafeMutableBufferPointer<Int>
    /// Index of the newest frame each channel has handed out, −1 before the first.
    private let newestFrame: UnsafeMutableBufferPointer<Int>
    private var finished = false
    /// Analysis hops one step of input can yield per channel, rounded up with margin.
    private let hopsPerStep: Int
    /// Output slots kept free beyond the steps' worst case: what staging may release on top of a step, the final
    /// flush, and a gap notice.
    private let reservedOutputs: Int

    /// Input frames consumed so far, gaps included: the call's clock, in input samples.
    public private(set) var timelineFrames = 0
    /// Samples that were NaN or ±Inf and became silence.
    public private(set) var nonFiniteSamples = 0
    /// Finite samples beyond ±``clipLimit`` that were clipped (a float file's garbage would otherwise
    /// overflow every level to infinity).
    public private(set) var clippedSamples = 0
    /// Largest magnitude a sample keeps: 60 dB above full scale, far beyond any real float recording.
    public static let clipLimit: Float = 1000

    private struct Staged {
        /// Frame index a frame sits at; for a segment, the index of the frame that follows it.
        var position: Int
        var output: SessionOutput
        /// Within one position, segments (closed before the frame) come first.
        var isFrame: Bool
    }

    /// Sets a call up: analyzers, FFT plans and resamplers for `channels` channels at `sampleRate`.
    public init(sampleRate: Int, channels: Int) throws(AudioError) {
        try AudioLimits.check(sampleRate: sampleRate, channelCount: channels, path: "call", kind: .usage)
        inputRate = sampleRate
        channelCount = channels
        let settings = AnalysisSettings(sampleRate: AnalysisSettings.analysisRate(forInputRate: sampleRate))
        self.settings = settings
        let analyzers = (0..<channels).map { _ in ChannelAnalyzer(settings: settings) }
        self.analyzers = analyzers
        taps = Array(repeating: nil, count: channels)
        var resamplers: [Resampler?] = []
        for _ in 0..<channels {
            resamplers.append(sampleRate == settings.sampleRate ? nil : try Resampler(from: sampleRate, to: settings.sampleRate))
        }
        self.resamplers = resamplers
        planar = .allocate(channels, filledWith: UnsafeMutableBufferPointer<Float>(start: nil, count: 0))
        for c in 0..<channels { planar[c] = .allocate(Self.stepFrames, filledWith: 0) }
        staged = .allocate(channels * Self.stagingCapacity,
                           filledWith: Staged(position: 0, output: .gap(start: 0, end: 0), isFrame: false))
        stagedHead = .allocate(channels, filledWith: 0)
        stagedCount = .allocate(channels, filledWith: 0)
        newestFrame = .allocate(channels, filledWith: -1)
        // Room for a whole step of every channel plus the flush at the end, with margin: the worst case is a
        // frame and a segment per hop per channel.
        hopsPerStep = Self.stepFrames * settings.sampleRate / sampleRate / settings.hopSize + 2
        let flushHops = analyzers[0].fixedDelaySamples / settings.hopSize + 8
        precondition(hopsPerStep + flushHops + 16 <= Self.stagingCapacity,
                     "CallSession: staging (\(Self.stagingCapacity)) cannot hold a step and the final flush")
        // What `finish()` may add once `pull` has seen the end with room for one step: every channel's flushed
        // frames and the segments they close, the summaries, and a gap notice.
        reservedOutputs = 2 * channels * flushHops + 16
        outputs = SPSCQueue(minimumCapacity: 2 * channels * (hopsPerStep + flushHops) + reservedOutputs)
    }

    deinit {
        for p in planar { p.deallocate() }
        planar.deallocate()
        staged.deallocate()
        stagedHead.deallocate()
        stagedCount.deallocate()
        newestFrame.deallocate()
    }

    /// Delay from a sample entering the session to the frame record for its time leaving it (the pitch path's
    /// and the activity stage's look-ahead, and the analysis window's half), in seconds. Fixed for the call.
    public var fixedDelaySeconds: Double { analyzers[0].fixedDelaySeconds }

    /// Lets a tool reach each channel's analyzer before the first sample (e.g. to attach a tuning tap).
    public func forEachAnalyzer(_ body: (Int, ChannelAnalyzer) -> Void) {
        for (c, a) in analyzers.enumerated() { body(c, a) }
    }

    /// Copies every step's repaired samples of `channel` (input rate, full scale ±1, gaps as the silence the
    /// analysis hears) into `ring`, whose consumer — the built-in recogniser's thread — thereby sees the call's
    /// audio on the call's own timeline. The DSP side is the ring's producer and never waits on it: a step that does
    /// not fit is dropped for the tap alone and counted in the ring's `overflowCount` (the consumer learns the gap).
    /// Attach before the session moves to its worker; one ring per channel, replacing any earlier one.
    public func attachTap(_ ring: SPSCRingBuffer, channel: Int) {
        precondition(channel >= 0 && channel < channelCount, "CallSession: no channel \(channel) to tap")
        taps[channel] = ring
    }

    /// The first resampler failure, if any: the DSP path cannot throw, so it parks its error and produces
    /// nothing more for that channel. Check it when the stream ends.
    public var failure: AudioError? {
        for r in resamplers { if let f = r?.failure { return f } }
        return nil
    }

    /// Input frames that may be pushed now without overrunning ``outputs`` (which the caller must otherwise
    /// drain first). **DSP side.**
    public var acceptableFrames: Int {
        let free = outputs.freeCount - reservedOutputs
        guard free > 0 else { return 0 }
        let steps = free / (2 * channelCount * hopsPerStep)
        return steps * Self.stepFrames
    }

    // MARK: DSP side

    /// Analyses interleaved frames (`channelCount` samples each, full scale ±1). At most ``acceptableFrames``
    /// frames at a time. **DSP side.**
    public func push(interleaved: UnsafeBufferPointer<Float>) {
        precondition(!finished, "CallSession: push after finish")
        let frames = interleaved.count / channelCount
        var done = 0
        while done < frames {
            let n = min(Self.stepFrames, frames - done)
            let base = interleaved.baseAddress! + done * channelCount
            if channelCount == 1 {
                planar[0].baseAddress!.update(from: base, count: n)
            } else {
                // Wrapping arithmetic: the overflow checks of `*` and `+` kept this loop scalar, and at 48 kHz it
                // cost as much as the analysis of a frame.
                for c in 0..<channelCount {
                    let dst = planar[c].baseAddress!
                    for i in 0..<n { dst[i] = base[i &* channelCount &+ c] }
                }
            }
            step(n)
            done += n
        }
    }

    /// What ``pull(from:)`` did.
    public enum Pull: Equatable, Sendable {
        /// Analysed this many frames (gaps included).
        case analysed(Int)
        /// Nothing to read yet, or no room in ``outputs`` until they are drained.
        case idle
        /// The producer has finished and every sample has been analysed; call ``finish()``.
        case ended
    }

    /// Reads what the capture side has written to `rings` (one per channel, as many as ``channelCount``) and
    /// analyses it, gaps included, as far as ``outputs`` has room and at most about `budget` input frames, so
    /// a worker moves on to its other calls even while a fast source (a file at `speed=max`) keeps the rings
    /// full. **DSP side.**
    public func pull(from rings: CallRings, budget: Int = 8 * CallSession.stepFrames) -> Pull {
        precondition(rings.channelCount == channelCount, "CallSession: \(rings.channelCount) rings for \(channelCount) channels")
        var total = 0
        stoppedShort = true
        while total < budget {
            let room = min(acceptableFrames, Self.stepFrames)
            if room == 0 { break }
            if cutAt == nil, pendingGapFrames > 0, rings.isStopped { cutAt = timelineFrames + pendingGapFrames }
            if let at = cutAt {
                // Stopped, and past the samples before the first gap: drop the rest, told as one gap at the end.
                pendingGapFrames = 0
                switch rings.read(into: planar, maxFrames: Self.stepFrames) {
                case .samples(let n), .gap(let n):
                    cutFrames += n
                    continue
                case .empty:
                    stoppedShort = false
                    return total > 0 ? .analysed(total) : .idle
                case .ended:
                    if cutFrames > 0 {
                        outputs.push(.gap(start: Double(at) / Double(inputRate), end: Double(at + cutFrames) / Double(inputRate)))
                        cutFrames = 0
                    }
                    stoppedShort = total > 0
                    return total > 0 ? .analysed(total) : .ended
                }
            }
            if pendingGapFrames > 0 {
                // A lost stretch is analysed as silence step by step, within the output room like audio.
                let n = min(room, pendingGapFrames)
                for c in 0..<channelCount { planar[c].baseAddress!.update(repeating: 0, count: n) }
                step(n)
                pendingGapFrames -= n
                total += n
                continue
            }
            switch rings.read(into: planar, maxFrames: room) {
            case .samples(let n):
                step(n)
                total += n
            case .gap(let n):
                if rings.isStopped {
                    cutAt = timelineFrames + pendingGapFrames
                    cutFrames = n
                } else {
                    announceGap(frames: n)
                }
            case .empty:
                stoppedShort = false
                return total > 0 ? .analysed(total) : .idle
            case .ended:
                // Found after some samples, the end is told on the next pull: come back for it, nothing will ring.
                stoppedShort = total > 0
                return total > 0 ? .analysed(total) : .ended
            }
        }
        return total > 0 ? .analysed(total) : .idle
    }

    /// Whether the last ``pull(from:budget:)`` stopped before reading everything the rings held (its budget ran
    /// out, or ``outputs`` had no room), so its caller should come back without waiting for new audio.
    /// **DSP side.**
    public private(set) var stoppedShort = false

    /// Input frames lost before analysis and not yet analysed as silence.
    private var pendingGapFrames = 0

    /// Once the capture was stopped (``CallRings/markStopped()``) and the analysis meets a gap — a stand-in for
    /// lost audio, which a source running faster than real time (a device without a clock) makes far longer than
    /// the time that passed, hours of silence for the worker behind seconds of a call — the call ends there: the
    /// samples before the gap were analysed, the silence still owed for earlier gaps is dropped, and so is
    /// everything the rings hold from the gap on, told as one gap (`what` "samples") from `cutAt` over
    /// `cutFrames` when the end is read. Without a stop nothing changes: every gap is analysed as silence so
    /// later frames keep their times.
    private var cutAt: Int?
    private var cutFrames = 0

    /// Accounts for `frames` input frames lost before analysis: announces the gap in ``outputs`` now and
    /// queues silence in its place (analysed by ``pull(from:budget:)``), so every later frame keeps its time.
    private func announceGap(frames: Int) {
        guard frames > 0 else { return }
        let start = Double(timelineFrames + pendingGapFrames) / Double(inputRate)
        outputs.push(.gap(start: start, end: start + Double(frames) / Double(inputRate)))
        pendingGapFrames += frames
    }

    /// Ends the call: flushes every channel's pending frames and segments, then its summary. **DSP side.**
    public func finish() {
        guard !finished else { return }
        finished = true
        for c in 0..<channelCount {
            resamplers[c]?.process(UnsafeBufferPointer(start: planar[c].baseAddress, count: 0), end: true) {
                analyzers[c].push($0, onFrame: { stageFrame(c, $0) }, onSegment: { stageSegment(c, $0) })
            }
            analyzers[c].finish(onFrame: { stageFrame(c, $0) }, onSegment: { stageSegment(c, $0) })
        }
        release(upTo: Int.max)
        for c in 0..<channelCount { outputs.push(.summary(channel: c, analyzers[c].totals)) }
        // A gap at the very end has no later write to carry it to the tap's consumer.
        for tap in taps { tap?.publishPendingGap() }
    }

    /// Repairs and analyses the first `n` samples of every planar buffer.
    private func step(_ n: Int) {
        for c in 0..<channelCount {
            let samples = UnsafeMutableBufferPointer(rebasing: planar[c][0..<n])
            repair(samples)
            taps[c]?.write(UnsafeBufferPointer(samples))
            if let resampler = resamplers[c] {
                resampler.process(UnsafeBufferPointer(samples), end: false) {
                    analyzers[c].push($0, onFrame: { stageFrame(c, $0) }, onSegment: { stageSegment(c, $0) })
                }
            } else {
                analyzers[c].push(UnsafeBufferPointer(samples), onFrame: { stageFrame(c, $0) }, onSegment: { stageSegment(c, $0) })
            }
        }
        timelineFrames += n
        var limit = Int.max
        for c in 0..<channelCount { limit = min(limit, newestFrame[c]) }
        release(upTo: limit)
    }

    @inline(__always)
    private func repair(_ samples: UnsafeMutableBufferPointer<Float>) {
        // Counted first in a vector loop (CAttuneKernels): nearly every block needs no repair at all.
        var unusual = 0
        attune_count_unusual(samples.baseAddress!, samples.count, Self.clipLimit, &unusual)
        guard unusual > 0 else { return }
        for i in samples.indices {
            let x = samples[i]
            if !x.isFinite {
                // NaN or ±Inf would poison every sum it touches; the documented repair is silence.
                samples[i] = 0
                nonFiniteSamples += 1
            } else if abs(x) > Self.clipLimit {
                samples[i] = x > 0 ? Self.clipLimit : -Self.clipLimit
                clippedSamples += 1
            }
        }
    }

    @inline(__always)
    private func stageFrame(_ c: Int, _ f: FrameFeatures) {
        newestFrame[c] = f.index
        stage(c, Staged(position: f.index, output: .frame(channel: c, f), isFrame: true))
    }

    @inline(__always)
    private func stageSegment(_ c: Int, _ s: SegmentStats) {
        stage(c, Staged(position: newestFrame[c] + 1, output: .segment(channel: c, s), isFrame: false))
    }

    @inline(__always)
    private func stage(_ c: Int, _ item: Staged) {
        precondition(stagedCount[c] < Self.stagingCapacity, "CallSession: staging overflow (step too large)")
        staged[c * Self.stagingCapacity + (stagedHead[c] + stagedCount[c]) % Self.stagingCapacity] = item
        stagedCount[c] += 1
    }

    /// Moves staged outputs at positions up to `limit` into ``outputs``, merged across channels by (position,
    /// segment before frame, channel). Holding back what lies beyond the slowest channel's newest frame makes
    /// the merged order the same however the input was cut into blocks.
    private func release(upTo limit: Int) {
        while true {
            var best = -1
            var bestKey = (Int.max, true)
            for c in 0..<channelCount where stagedCount[c] > 0 {
                let item = staged[c * Self.stagingCapacity + stagedHead[c]]
                guard item.position <= limit else { continue }
                if item.position < bestKey.0 || (item.position == bestKey.0 && !item.isFrame && bestKey.1) {
                    best = c
                    bestKey = (item.position, item.isFrame)
                }
            }
            guard best >= 0 else { return }
            let item = staged[best * Self.stagingCapacity + stagedHead[best]]
            stagedHead[best] = (stagedHead[best] + 1) % Self.stagingCapacity
            stagedCount[best] -= 1
            let pushed = outputs.push(item.output)
            precondition(pushed, "CallSession: outputs full (push more than acceptableFrames)")
        }
    }
}
