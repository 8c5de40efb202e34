import Foundation

/// Stage 4's gain: the nucleus model sees only ±100 ms and cannot know the speaker's tempo, so each segment's
/// density is scaled by a gain that depends on the syllable rate of recent speech (``NucleusModelWeights/gains``,
/// linear between the rate knots, constant beyond them). The rate remembers `rateMemorySeconds` of speech,
/// decaying per second of segment, and includes the segment being counted. Storage is allocated once, in
/// `init`; the owner calls ``deallocate()``.
struct SyllableGain {
    private let memorySeconds: Double
    /// ``NucleusModelWeights/gainKnots`` then ``NucleusModelWeights/gains``.
    private let table: UnsafeMutableBufferPointer<Double>
    /// Decaying sums of the model's raw syllables and of speech time.
    private var nuclei: Double = 0
    private var seconds: Double = 0

    init(memorySeconds: Double) {
        precondition(NucleusModelWeights.gainKnots.count >= 2 && NucleusModelWeights.gains.count == NucleusModelWeights.gainKnots.count,
                     "one gain per rate knot")
        self.memorySeconds = memorySeconds
        table = .allocate(copying: NucleusModelWeights.gainKnots + NucleusModelWeights.gains)
    }

    func deallocate() { table.deallocate() }

    /// Takes a closed segment (the model's summed `density` over `duration` seconds); returns the gain for it
    /// and the recent rate that chose it.
    mutating func add(density: Double, duration: Double) -> (gain: Double, rate: Double) {
        let decay = exp(-duration / memorySeconds)
        nuclei = nuclei * decay + density
        seconds = seconds * decay + duration
        let rate = seconds > 0 ? nuclei / seconds : 0
        return (gain(at: rate), rate)
    }

    /// The gain at `rate`, linear between knots and constant beyond them.
    private func gain(at rate: Double) -> Double {
        let k = table.count / 2
        let r = min(max(rate, table[0]), table[k - 1])
        var i = 0
        while i < k - 2 && r >= table[i + 1] { i += 1 }
        let a = (r - table[i]) / (table[i + 1] - table[i])
        return (1 - a) * table[k + i] + a * table[k + i + 1]
    }
}
