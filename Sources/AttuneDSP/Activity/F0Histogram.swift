import Foundation

/// Voiced frames' F0 in 0.1-semitone bins above the pitch floor: the median and range of a segment, and the
/// median of a whole channel, in fixed storage however long the call; every percentile is within half a bin.
/// Storage is allocated once, in `init`; the owner calls ``deallocate()``. Nothing but the storage changes, so the
/// owner holds it in a `let`: a `var` in a class costs a dynamic exclusivity check on every frame it counts.
struct F0Histogram {
    private let bins: UnsafeMutableBufferPointer<Int32>
    private let floorHz: Float
    /// Frames counted, behind a pointer like the bins.
    private let counted: UnsafeMutablePointer<Int>
    private var count: Int { counted.pointee }

    init(settings: AnalysisSettings) {
        floorHz = Float(settings.pitchFloor)
        bins = .allocate(Int((120 * log2(settings.pitchCeiling / settings.pitchFloor)).rounded(.up)) + 1, filledWith: 0)
        counted = .allocate(capacity: 1)
        counted.initialize(to: 0)
    }

    func deallocate() { bins.deallocate(); counted.deallocate() }

    /// The bin counting `f0`: the same in every histogram made with the same settings, so a frame counted in
    /// two of them takes one logarithm.
    @inline(__always)
    func bin(of f0: Float) -> Int {
        let bin = Int((120 * log2f(f0 / floorHz)).rounded(.down))
        return min(max(0, bin), bins.count - 1)
    }

    /// Counts one frame in `bin`, from ``bin(of:)``.
    @inline(__always)
    func add(bin: Int) {
        bins[bin] += 1
        counted.pointee += 1
    }

    func reset() {
        bins.update(repeating: 0)
        counted.pointee = 0
    }

    /// The bin holding the `p` quantile (0…1) of the counted frames; the histogram must not be empty.
    func percentileBin(_ p: Double) -> Int {
        let target = max(1, Int((p * Double(count)).rounded(.up)))
        var cumulative = 0
        for b in 0..<bins.count {
            cumulative += Int(bins[b])
            if cumulative >= target { return b }
        }
        return bins.count - 1
    }

    /// The `p` quantile in Hz (its bin's centre), nil when no frame was counted.
    func percentile(_ p: Double) -> Float? {
        guard count > 0 else { return nil }
        return floorHz * exp2f((Float(percentileBin(p)) + 0.5) / 120)
    }

    /// Spread in semitones between the `low` and `high` quantiles, nil when no frame was counted.
    func rangeST(from low: Double, to high: Double) -> Double? {
        guard count > 0 else { return nil }
        return Double(percentileBin(high) - percentileBin(low)) / 10
    }
}
