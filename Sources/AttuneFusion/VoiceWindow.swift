/// The caller's voice *now*: the last ``FusionSettings/windowSpeechSeconds`` of their speech frames (pauses
/// skipped), with medians read on demand.
///
/// Medians over a fixed number of frames, not means: a cough, a click or one octave error must not move the
/// reading. Each feature's finite values are also kept in ascending order as frames come and go, so a reading
/// looks up two values instead of selecting over the window: a frame moves at most one value out and one in,
/// while a reading used to select over every value of four features.
public struct VoiceWindow: Sendable {
    private var f0: Track
    private var energy: Track
    private var balance: Track
    private var hnr: Track
    private var next = 0
    /// Speech frames held (up to the capacity).
    public private(set) var count = 0
    public let capacity: Int

    public init(frames: Int) {
        capacity = max(1, frames)
        f0 = Track(capacity: capacity)
        energy = f0; balance = f0; hnr = f0
    }

    /// Adds a speech frame (others are ignored).
    public mutating func add(_ s: VoiceSample) {
        guard s.speech else { return }
        // A full window's slot holds its oldest frame, which leaves; before that the slot holds nothing counted.
        let full = count == capacity
        f0.put(s.f0ST, at: next, replacing: full)
        energy.put(s.energyDB, at: next, replacing: full)
        balance.put(s.balanceDB, at: next, replacing: full)
        hnr.put(s.hnrDB, at: next, replacing: full)
        next = next + 1 == capacity ? 0 : next + 1
        count = min(count + 1, capacity)
    }

    /// Forgets everything (a long silence: the next words are a new reading).
    public mutating func reset() {
        count = 0
        next = 0
        f0.removeAll(); energy.removeAll(); balance.removeAll(); hnr.removeAll()
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

    public func read(minimumVoiced: Int) -> Reading {
        let (voiced, voicedCount) = f0.median(need: minimumVoiced)
        return Reading(f0ST: voiced, energyDB: energy.median(need: 1).value,
                       balanceDB: balance.median(need: max(1, count / 2)).value, hnrDB: hnr.median(need: minimumVoiced).value,
                       voicedShare: count > 0 ? Double(voicedCount) / Double(count) : 0, frames: count)
    }

    /// One feature over the window: its values in arrival order (a ring, to know which one leaves) and its finite
    /// values in ascending order.
    private struct Track: Sendable {
        private var ring: [Double]
        private var sorted: [Double] = []

        init(capacity: Int) {
            ring = Array(repeating: .nan, count: capacity)
            sorted.reserveCapacity(capacity)
        }

        /// Stores `value` in slot `i`, taking the slot's old value out of the order first when `replacing`.
        mutating func put(_ value: Double, at i: Int, replacing: Bool) {
            let old = ring[i]
            ring[i] = value
            // The first value equal to the old one leaves: which of equal values leaves changes nothing read.
            // Every case is one shift over the values in between, not a removal and an insertion that each move half
            // the window (and, unspecialised in a debug build, allocate).
            switch (replacing && old.isFinite, value.isFinite) {
            case (true, true):
                move(from: firstIndex(notBelow: old), to: value)
            case (true, false):
                move(from: firstIndex(notBelow: old), to: .infinity)
                sorted.removeLast()
            case (false, true):
                sorted.append(value)
                move(from: sorted.count - 1, to: value)
            case (false, false):
                break
            }
        }

        /// Puts `value` where the value at `from` was and shifts it to its place among the others: past the values
        /// after it that are below it, or else past the values before it that are above it (so among equal values
        /// it stays nearest `from`). Why a search and one block move rather than a step per value: the values in
        /// between are tens on average, and a step each was most of a frame's cost in the emotion layer.
        private mutating func move(from: Int, to value: Double) {
            sorted.withUnsafeMutableBufferPointer { s in
                let base = s.baseAddress!
                let right = Track.firstIndex(in: s, from: from + 1, notBelow: value) - 1
                if right > from {
                    (base + from).update(from: base + from + 1, count: right - from)
                    base[right] = value
                    return
                }
                let left = Track.firstIndex(in: s, before: from, above: value)
                if left < from { (base + left + 1).update(from: base + left, count: from - left) }
                base[left] = value
            }
        }

        /// The first index from `start` whose value is not below `value` (the count when there is none).
        private static func firstIndex(in s: UnsafeMutableBufferPointer<Double>, from start: Int, notBelow value: Double) -> Int {
            var low = start, high = s.count
            while low < high {
                let mid = (low + high) / 2
                if s[mid] < value { low = mid + 1 } else { high = mid }
            }
            return low
        }

        /// The first index before `end` whose value is above `value` (`end` when there is none).
        private static func firstIndex(in s: UnsafeMutableBufferPointer<Double>, before end: Int, above value: Double) -> Int {
            var low = 0, high = end
            while low < high {
                let mid = (low + high) / 2
                if s[mid] > value { high = mid } else { low = mid + 1 }
            }
            return low
        }

        mutating func removeAll() { sorted.removeAll(keepingCapacity: true) }

        /// The median of the finite values (nil when fewer than `need`), and how many there are.
        func median(need: Int) -> (value: Double?, finite: Int) {
            let n = sorted.count
            guard n >= need, n > 0 else { return (nil, n) }
            let upper = sorted[n / 2]
            guard n % 2 == 0 else { return (upper, n) }
            return ((sorted[n / 2 - 1] + upper) / 2, n)
        }

        /// Where the first value not below `value` is (the count when there is none). Halving with a select, not a
        /// branch: whether a new value lies left or right of the middle is a coin toss, and mispredicted branches cost
        /// more than the comparisons.
        private func firstIndex(notBelow value: Double) -> Int {
            sorted.withUnsafeBufferPointer { s in
                guard !s.isEmpty else { return 0 }
                var base = 0, length = s.count
                while length > 1 {
                    let half = length / 2
                    base = s[base + half] < value ? base + half : base
                    length -= half
                }
                return s[base] < value ? base + 1 : base
            }
        }
    }
}
