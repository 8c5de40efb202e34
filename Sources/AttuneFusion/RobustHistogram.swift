/// A weighted histogram over a fixed range with fixed-width bins: robust statistics (median, quantiles, median
/// absolute deviation) of a stream in bounded memory, and forgetting by scaling every weight.
///
/// Why a histogram and not a sorted buffer: a caller's baseline gathers tens of thousands of frames and then
/// adapts for the rest of the call; a histogram keeps memory and cost flat however long the call, and forgetting
/// is one multiplication per bin. The bin width bounds the error of every statistic (half a bin).
public struct RobustHistogram: Sendable, Equatable {
    public let lower: Double
    public let upper: Double
    public let binWidth: Double
    private var weights: [Double]
    /// Sum of all weights.
    public private(set) var total: Double = 0
    /// No bin below this one has ever had weight: quantiles start their scan here. Why: a caller's features fill a
    /// narrow part of the range (a voice's F0 a fifth of its 720 bins) and the baseline's medians are
    /// read ten times a second per caller. Starting at the first bin that can hold weight skips only empty bins,
    /// so every sum is the one a full scan makes.
    private var lowestUsed = Int.max

    public init(lower: Double, upper: Double, binWidth: Double) {
        precondition(upper > lower && binWidth > 0, "RobustHistogram: empty range")
        self.lower = lower
        self.upper = upper
        self.binWidth = binWidth
        weights = Array(repeating: 0, count: Int(((upper - lower) / binWidth).rounded(.up)))
    }

    /// Adds `value` (clamped into the range; NaN is ignored) with `weight`.
    public mutating func add(_ value: Double, weight: Double = 1) {
        guard value.isFinite, weight > 0 else { return }
        let i = min(max(Int(((value - lower) / binWidth).rounded(.down)), 0), weights.count - 1)
        weights[i] += weight
        total += weight
        lowestUsed = min(lowestUsed, i)
    }

    /// Multiplies every weight by `factor` (0…1): what was seen earlier counts less.
    public mutating func decay(by factor: Double) {
        for i in weights.indices { weights[i] *= factor }
        total *= factor
    }

    /// The `q` quantile (0…1), interpolated within its bin; nil when empty.
    public func quantile(_ q: Double) -> Double? {
        guard total > 0 else { return nil }
        let target = min(max(q, 0), 1) * total
        return weights.withUnsafeBufferPointer { weights in
            var cumulative = 0.0
            for i in lowestUsed..<weights.count {
                let w = weights[i]
                guard w > 0 else { continue }
                if cumulative + w >= target {
                    let within = (target - cumulative) / w
                    return lower + (Double(i) + within) * binWidth
                }
                cumulative += w
            }
            return upper
        }
    }

    public var median: Double? { quantile(0.5) }

    /// Equal when they have the same range, bins and weights, however they came to them.
    public static func == (a: RobustHistogram, b: RobustHistogram) -> Bool {
        a.lower == b.lower && a.upper == b.upper && a.binWidth == b.binWidth && a.weights == b.weights && a.total == b.total
    }

    /// Median absolute deviation from the median, scaled by 1.4826 so it estimates a normal distribution's
    /// standard deviation; nil when empty.
    public var spread: Double? {
        guard let m = median else { return nil }
        // The deviations' histogram is built from bin centres: the error stays within a bin.
        var deviations: [(Double, Double)] = []
        deviations.reserveCapacity(weights.count)
        for (i, w) in weights.enumerated() where w > 0 {
            deviations.append((abs(lower + (Double(i) + 0.5) * binWidth - m), w))
        }
        deviations.sort { $0.0 < $1.0 }
        var cumulative = 0.0
        for (d, w) in deviations {
            cumulative += w
            if cumulative >= total / 2 { return 1.4826 * d }
        }
        return nil
    }
}
