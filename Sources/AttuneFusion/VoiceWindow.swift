/// The caller's voice *now*: the last ``FusionSettings/windowSpeechSeconds`` of their speech frames (pauses
/// skipped), with medians read on demand.
///
/// Medians over a fixed number of frames, not means: a cough, a click or one octave error must not move the
/// reading. Reading sorts scratch copies, so callers read every few frames, not every frame.
public struct VoiceWindow: Sendable {
    private var f0: [Double]
    private var energy: [Double]
    private var balance: [Double]
    private var hnr: [Double]
    private var next = 0
    /// Speech frames held (up to the capacity).
    public private(set) var count = 0
    public let capacity: Int
    private var scratch: [Double]

    public init(frames: Int) {
        capacity = max(1, frames)
        f0 = Array(repeating: .nan, count: capacity)
        energy = f0; balance = f0; hnr = f0; scratch = []
        scratch.reserveCapacity(capacity)
    }

    /// Adds a speech frame (others are ignored).
    public mutating func add(_ s: VoiceSample) {
        guard s.speech else { return }
        f0[next] = s.f0ST; energy[next] = s.energyDB; balance[next] = s.balanceDB; hnr[next] = s.hnrDB
        next = (next + 1) % capacity
        count = min(count + 1, capacity)
    }

    /// Forgets everything (a long silence: the next words are a new reading).
    public mutating func reset() {
        count = 0
        next = 0
    }

    /// Medians of the window's finite values; each nil when it has fewer than `minimum` of them.
    public struct Reading: Sendable, Equatable {
        public var f0ST: Double?
        public var energyDB: Double?
        public var balanceDB: Double?
        public var hnrDB: Double?
        /// Voiced share of the window's frames.
        public var voicedShare: Double
        public var frames: Int
    }

    public mutating func read(minimumVoiced: Int) -> Reading {
        let (voiced, voicedCount) = median(f0, need: minimumVoiced)
        return Reading(f0ST: voiced, energyDB: median(energy, need: 1).value,
                       balanceDB: median(balance, need: max(1, count / 2)).value, hnrDB: median(hnr, need: minimumVoiced).value,
                       voicedShare: count > 0 ? Double(voicedCount) / Double(count) : 0, frames: count)
    }

    /// The median of the window's finite `values` (nil when fewer than `need`), and how many there were.
    private mutating func median(_ values: [Double], need: Int) -> (value: Double?, finite: Int) {
        scratch.removeAll(keepingCapacity: true)
        for i in 0..<count where values[i].isFinite { scratch.append(values[i]) }
        guard scratch.count >= need, !scratch.isEmpty else { return (nil, scratch.count) }
        let n = scratch.count
        // Selection, not a sort: the window is read ten times a second per caller, on the analysis thread offline.
        let upper = select(n / 2)
        guard n % 2 == 0 else { return (upper, n) }
        // The lower middle is the largest value left of the upper one after selection.
        var lower = scratch[0]
        for i in 1..<(n / 2) where scratch[i] > lower { lower = scratch[i] }
        return ((lower + upper) / 2, n)
    }

    /// Hoare's selection: puts the `k`-th smallest of `scratch` at `k`, smaller ones before it; returns it.
    private mutating func select(_ k: Int) -> Double {
        var lo = 0, hi = scratch.count - 1
        while lo < hi {
            let pivot = scratch[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while scratch[i] < pivot { i += 1 }
                while scratch[j] > pivot { j -= 1 }
                if i <= j { scratch.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { break }
        }
        return scratch[k]
    }
}
