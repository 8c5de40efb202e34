import Foundation

/// Frames reduced to what the plot can show: at most one point per pixel column, so a 30-minute call draws
/// ~1,500 points per line instead of 180,000 and the SVG stays small. Short calls keep every frame.
struct FrameSeries {
    /// Pitch in semitones from the speaker's median, as runs of (t, st); a new run starts after unvoiced time,
    /// so the line has gaps where there was no voice.
    var pitchRuns: [[(t: Double, st: Double)]] = []
    /// The loudest frame per column, (t, dBFS), for an envelope that keeps every syllable's peak.
    var energy: [(t: Double, db: Double)] = []

    /// Frames closer than this are one stretch of the line; the hop is 10 ms.
    static let frameGap = 0.025
    /// A column counts as voiced when at least this share of its frames are.
    static let voicedShare = 0.25

    init(frames: [CallReport.Frame], medianHz: Double?, secondsPerColumn: Double) {
        // Up to ~1.5 hops per pixel every frame is drawn; beyond, frames are pooled per pixel column.
        let bucket = secondsPerColumn > 0.015 ? secondsPerColumn : 0
        var run: [(t: Double, st: Double)] = []
        func endRun() {
            if !run.isEmpty { pitchRuns.append(run) }
            run = []
        }
        func semitones(_ f0: Float) -> Double? {
            guard let medianHz, medianHz > 0, f0 > 0 else { return nil }
            return 12 * log2(Double(f0) / medianHz)
        }
        if bucket == 0 {
            var lastVoiced = -Double.infinity
            for f in frames {
                energy.append((f.t, Double(f.energyDb)))
                guard let st = semitones(f.f0) else { endRun(); continue }
                if f.t - lastVoiced > Self.frameGap { endRun() }
                run.append((f.t, st))
                lastVoiced = f.t
            }
            endRun()
            return
        }
        var column = Int.min, lastVoicedColumn = Int.min
        var voiced: [Double] = [], count = 0, loudest = -Double.infinity
        func flush() {
            guard count > 0 else { return }
            let centre = (Double(column) + 0.5) * bucket
            energy.append((centre, loudest))
            if Double(voiced.count) >= max(1, Self.voicedShare * Double(count)) {
                if column != lastVoicedColumn + 1 { endRun() }
                voiced.sort()
                run.append((centre, voiced[voiced.count / 2]))
                lastVoicedColumn = column
            } else {
                endRun()
            }
            voiced.removeAll(keepingCapacity: true)
            count = 0
            loudest = -.infinity
        }
        for f in frames {
            let c = Int((f.t / bucket).rounded(.down))
            if c != column {
                flush()
                column = c
            }
            count += 1
            loudest = max(loudest, Double(f.energyDb))
            if let st = semitones(f.f0) { voiced.append(st) }
        }
        flush()
        endRun()
    }
}

/// The median of `values` (the upper one of an even count), nil when empty.
func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// The `q` quantile (0…1) of `values` by nearest rank, nil when empty.
func quantile(_ values: [Double], _ q: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count - 1)).rounded())))]
}
