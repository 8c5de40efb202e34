import AttuneAudio
import AttuneDSP
import AttuneEvents
import AttuneText

/// One record of an analysis, in the order it is produced.
public enum AnalysisRecord: Sendable {
    case frame(FrameRecord)
    case segment(SegmentRecord)
    case summary(SummaryRecord)

    /// Writes the record as one NDJSON line.
    public func write(to line: inout JSONLine) {
        switch self {
        case .frame(let r): r.write(to: &line)
        case .segment(let r): r.write(to: &line)
        case .summary(let r): r.write(to: &line)
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
    /// Words to attach to the segments they fall in (by each word's midpoint).
    public var transcript: Transcript?

    /// Receives the syllable counter's tuning lines (Tools/rate_train.py); nil in production.
    public var syllableTuningTrace: (@Sendable (String) -> Void)?

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

/// Runs the whole engine over one source in the calling thread, as fast as the CPU allows.
///
/// Memory stays flat however long the source: audio is read in blocks, split per channel, resampled to the
/// analysis rate and analysed as it streams; only records leave.
public struct OfflineAnalysis {
    /// Frames read from the source per block.
    public static let blockFrames = 4096

    public let options: AnalysisOptions

    public init(options: AnalysisOptions) { self.options = options }

    /// Analyses `source` to its end, calling `emit` for each record; returns warnings about repaired input.
    public func run(_ source: some AudioSource, emit: (AnalysisRecord) -> Void) throws(AudioError) -> [AnalysisWarning] {
        let channels = source.channelCount
        let rate = AnalysisSettings.analysisRate(forInputRate: source.sampleRate)
        let settings = AnalysisSettings(sampleRate: rate)
        let hopSeconds = settings.hopSeconds
        let refs = (0..<channels).map { ChannelRef(call: options.call, channel: $0, role: $0 < options.roles.count ? options.roles[$0] : .unknown) }
        let analyzers = (0..<channels).map { _ in ChannelAnalyzer(settings: settings) }
        if let trace = options.syllableTuningTrace { for a in analyzers { a.syllableTuningTrace = trace } }
        var resamplers: [Resampler?] = []
        for _ in 0..<channels {
            resamplers.append(source.sampleRate == rate ? nil : try Resampler(from: source.sampleRate, to: rate))
        }

        let interleaved = UnsafeMutableBufferPointer<Float>.allocate(capacity: Self.blockFrames * channels)
        let channelBlock = UnsafeMutableBufferPointer<Float>.allocate(capacity: Self.blockFrames)
        defer { interleaved.deallocate(); channelBlock.deallocate() }

        var nonFinite = 0
        let wantFrames = options.frames
        let transcript = options.transcript
        func onFrame(_ c: Int, _ f: FrameFeatures) {
            guard wantFrames else { return }
            emit(.frame(FrameRecord(refs[c], t: Double(f.index) * hopSeconds, f0Hz: f.f0 > 0 ? Double(f.f0) : nil,
                                    voicing: Double(f.voicing), energyDb: Double(f.energyDB), speech: f.speech)))
        }
        func onSegment(_ c: Int, _ s: SegmentStats) {
            emit(.segment(SegmentRecord(refs[c], start: s.start, end: s.end, syllables: s.syllables, rateSps: s.rateSPS,
                                        f0MedianHz: s.f0MedianHz, f0RangeSt: s.f0RangeST, energyDb: s.energyDB,
                                        words: transcript?.words(channel: c, from: s.start, to: s.end) ?? [])))
        }
        func feed(_ c: Int, _ samples: UnsafeBufferPointer<Float>, end: Bool) {
            if let resampler = resamplers[c] {
                resampler.process(samples, end: end) {
                    analyzers[c].push($0, onFrame: { onFrame(c, $0) }, onSegment: { onSegment(c, $0) })
                }
            } else {
                analyzers[c].push(samples, onFrame: { onFrame(c, $0) }, onSegment: { onSegment(c, $0) })
            }
        }

        // Blocks are always filled to `blockFrames` (short reads from pipes are topped up), so the
        // interleaving of the channels' records depends only on the audio, never on how it arrived.
        var ended = false
        while !ended {
            var n = 0
            while n < Self.blockFrames {
                let got = try source.read(into: UnsafeMutableBufferPointer(rebasing: interleaved[(n * channels)...]))
                if got == 0 { ended = true; break }
                n += got
            }
            if n == 0 { break }
            for c in 0..<channels {
                for i in 0..<n {
                    var x = interleaved[i * channels + c]
                    // NaN or ±Inf would poison every sum it touches; the documented repair is silence.
                    if !x.isFinite { x = 0; nonFinite += 1 }
                    channelBlock[i] = x
                }
                feed(c, UnsafeBufferPointer(rebasing: channelBlock[0..<n]), end: false)
            }
        }
        for c in 0..<channels {
            feed(c, UnsafeBufferPointer(start: channelBlock.baseAddress, count: 0), end: true)
            // The resampler runs on the DSP path and cannot throw there; it parks its first failure instead.
            if let failure = resamplers[c]?.failure { throw failure }
            analyzers[c].finish(onFrame: { onFrame(c, $0) }, onSegment: { onSegment(c, $0) })
        }
        for c in 0..<channels {
            let t = analyzers[c].totals
            emit(.summary(SummaryRecord(refs[c], durationS: t.durationS, speechS: t.speechS, syllables: t.syllables,
                                        speechRateSps: t.speechRateSPS, articulationRateSps: t.articulationRateSPS,
                                        f0MedianHz: t.f0MedianHz, pauses: t.pauses)))
        }
        var warnings: [AnalysisWarning] = []
        if nonFinite > 0 {
            warnings.append(AnalysisWarning(description: "\(source.name): \(nonFinite) NaN or infinite samples replaced with silence"))
        }
        return warnings
    }
}
