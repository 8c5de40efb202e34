/// Stage 1 of ``SpeechActivityAnalyzer``: the channel's noise floor by minimum statistics, the loudest recent
/// level, and the speech threshold placed between them.
///
/// The floor is the lowest level over the last `floorBlocks` blocks of `floorBlockFrames` frames (2 s of 250 ms
/// blocks), clamped at `floorClampDB`: it follows a rising noise within that span and a falling one at once. The
/// peak falls by `peakDecayDB` a frame unless a louder level lifts it. Storage is allocated once, in `init`;
/// the owner calls ``deallocate()``.
struct NoiseFloor {
    private let params: ActivityParameters
    private let blockMinima: UnsafeMutableBufferPointer<Float>
    private var blockMin: Float = .greatestFiniteMagnitude
    private var blockFill = 0
    private var blockIndex = 0
    /// Current floor (dBFS).
    private(set) var floor: Float = silenceDB
    /// Loudest recent level (dBFS).
    private(set) var peak: Float = silenceDB

    init(parameters: ActivityParameters) {
        params = parameters
        blockMinima = .allocate(parameters.floorBlocks, filledWith: .greatestFiniteMagnitude)
    }

    func deallocate() { blockMinima.deallocate() }

    /// Takes one frame's (smoothed) level into the minimum statistics.
    @inline(__always)
    mutating func addFloorLevel(_ level: Float) {
        blockMin = min(blockMin, level)
        blockFill += 1
        if blockFill == params.floorBlockFrames {
            blockMinima[blockIndex] = blockMin
            blockIndex = (blockIndex + 1) % blockMinima.count
            blockFill = 0
            blockMin = .greatestFiniteMagnitude
        }
        var lowest = blockMin
        for b in 0..<blockMinima.count { lowest = min(lowest, blockMinima[b]) }
        floor = max(params.floorClampDB, lowest)
    }

    /// Takes one frame's level into the decaying peak.
    @inline(__always)
    mutating func addPeakLevel(_ level: Float) {
        peak = max(level, peak - params.peakDecayDB)
    }

    /// Speech threshold from the current floor and peak: 30 % of the distance, 4–12 dB above the floor, at most
    /// 40 dB below the peak.
    @inline(__always)
    func threshold() -> Float {
        let above = min(params.thresholdMaxDB, max(params.thresholdMinDB, params.thresholdFraction * (peak - floor)))
        return max(floor + above, peak - params.thresholdBelowPeakDB)
    }
}
