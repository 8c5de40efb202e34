import Foundation

/// Syllable-nucleus density of each frame, from a small two-layer convolutional network over the frames around it.
///
/// Counting peaks of a level envelope (De Jong & Wempe) plateaus: a Vietnamese contour tone or a glottal break
/// inside one vowel makes two peaks, while in fast speech two vowels joined by a liquid make one. What tells them
/// apart is the spectrum on both sides — the same vowel quality, or a consonant between — so the model reads, for
/// each frame, the shape of the eight-band spectrum (``LevelMeter``), its level below the channel's recent peak,
/// the periodicity and the voicing decision, over ±100 ms. It outputs a density: a non-negative number per frame
/// that adds up to about one over each syllable nucleus, so the syllables of a stretch are the sum of its frames'
/// densities — no threshold, no peak picking, and a nucleus cut by a segment edge still counts in part.
///
/// Layers: inputs → ``NucleusModelWeights/hidden1`` units, each seeing ``NucleusModelWeights/taps1`` frames spaced
/// ``NucleusModelWeights/dilation1`` apart, ReLU → ``NucleusModelWeights/hidden2`` units over
/// ``NucleusModelWeights/taps2`` adjacent frames, ReLU → one unit, softplus. Frames outside the stream are zero
/// at both layers (the padding the network was trained with). The weights are fitted by `Tools/rate_train.py` on
/// generated speech whose vowel timings the synthesisers report, never on the evaluation corpus's sentences.
///
/// Storage is fixed at `init`; the per-frame calls do no heap work. The caller keeps the frame order: inputs of
/// frame `j` are set before the hidden layer of any frame within ``reach`` of it is computed.
struct NucleusModel {
    typealias W = NucleusModelWeights
    /// Values per frame the model reads: eight band shapes, level, periodicity, voicing.
    static let inputCount = 11
    /// Frames after a frame whose inputs its density depends on (and as many before).
    static let reach = (W.taps1 / 2) * W.dilation1 + W.taps2 / 2
    /// dB scale of the level inputs.
    static let decibelScale: Float = 10

    private let chunks1 = W.hidden1 / 8
    private let chunks2 = W.hidden2 / 8
    /// The process's one copy of the weights (see ``Weights``), copied here so the per-frame path reads no global.
    private let conv1: UnsafeBufferPointer<SIMD8<Float>>
    private let bias1: UnsafeBufferPointer<SIMD8<Float>>
    private let conv2: UnsafeBufferPointer<SIMD8<Float>>
    private let bias2: UnsafeBufferPointer<SIMD8<Float>>
    private let output: UnsafeBufferPointer<SIMD8<Float>>
    /// Inputs and hidden activations by frame, at `frame & mask`.
    private let inputs: UnsafeMutableBufferPointer<Float>
    private let hidden: UnsafeMutableBufferPointer<SIMD8<Float>>
    private let mask: Int

    /// - Parameter capacity: frames of history kept (a power of two, more than twice ``reach``).
    init(capacity: Int) {
        precondition(capacity & (capacity - 1) == 0 && capacity > 2 * Self.reach + 2)
        precondition(W.hidden1 == 32 && W.hidden2 % 8 == 0 && W.hidden2 <= 16)
        precondition(W.conv1.count == W.taps1 * Self.inputCount * W.hidden1 && W.conv2.count == W.taps2 * W.hidden1 * W.hidden2)
        precondition(W.bias1.count == W.hidden1 && W.bias2.count == W.hidden2 && W.output.count == W.hidden2)
        mask = capacity - 1
        let weights = Weights.shared
        conv1 = weights.conv1
        bias1 = weights.bias1
        conv2 = weights.conv2
        bias2 = weights.bias2
        output = weights.output
        inputs = .allocate(capacity * Self.inputCount, filledWith: 0)
        hidden = .allocate(capacity * W.hidden1 / 8, filledWith: .zero)
    }

    func deallocate() {
        inputs.deallocate(); hidden.deallocate()
    }

    /// The weights in SIMD8 chunks of output units: conv1 as `[tap][input][chunk]`, conv2 as `[tap][unit][chunk]`.
    ///
    /// One copy per process, shared read-only by every channel. Each frame reads all of conv1 (12.7 kB) and, in
    /// speech, all of conv2 (10 kB): with a copy per channel a daemon visiting a thousand channels in turn found
    /// them evicted at every visit, while one copy stays in cache.
    ///
    /// `@unchecked Sendable`: the buffers are filled in `init`, before `shared` is published (a global's lazy
    /// initialisation orders that before any reader), and never written or freed afterwards.
    struct Weights: @unchecked Sendable {
        let conv1, bias1, conv2, bias2, output: UnsafeBufferPointer<SIMD8<Float>>

        static let shared = Weights()

        private init() {
            conv1 = Self.chunked(W.conv1)
            bias1 = Self.chunked(W.bias1)
            conv2 = Self.chunked(W.conv2)
            bias2 = Self.chunked(W.bias2)
            output = Self.chunked(W.output)
        }

        private static func chunked(_ values: [Float]) -> UnsafeBufferPointer<SIMD8<Float>> {
            UnsafeBufferPointer(UnsafeMutableBufferPointer.allocate(copying: stride(from: 0, to: values.count, by: 8).map { SIMD8(values[$0..<($0 + 8)]) }))
        }
    }

    /// Sets frame `j`'s inputs from its features and the channel's recent peak band level (`peakDB`), or zeros
    /// for a frame past the end of the stream.
    @inline(__always)
    func setInputs(_ j: Int, frame: FrameFeatures, peakDB: Float, real: Bool) {
        let base = (j & mask) * Self.inputCount
        guard real else {
            for i in 0..<Self.inputCount { inputs[base + i] = 0 }
            return
        }
        let bands = frame.bandsDB
        let mean = bands.sum() / 8
        let shape = (bands - SIMD8(repeating: mean)) / Self.decibelScale
        for b in 0..<8 { inputs[base + b] = shape[b] }
        inputs[base + 8] = (mean - peakDB) / Self.decibelScale
        inputs[base + 9] = frame.voicing
        inputs[base + 10] = frame.f0 > 0 ? 1 : 0
    }

    /// The inputs of frame `j` as set last, for the tuning trace.
    func input(_ j: Int, _ i: Int) -> Float { inputs[(j & mask) * Self.inputCount + i] }

    /// Computes the hidden layer of frame `j` from the inputs of frames `j ± reach` that lie in `0..<end`.
    @inline(__always)
    func computeHidden(_ j: Int, end: Int) {
        let h = hidden.baseAddress! + (j & mask) * chunks1
        guard j >= 0 && j < end else {
            for c in 0..<chunks1 { h[c] = .zero }
            return
        }
        // The 32 units in four accumulators held in registers: summed through `h`, each update was stored and
        // read back (the weights might alias it, as far as the compiler knows), and the 99 updates of a unit
        // waited on one another through memory. Same additions in the same order, so the same sums to the bit.
        var a0 = bias1[0], a1 = bias1[1], a2 = bias1[2], a3 = bias1[3]
        for t in 0..<W.taps1 {
            let f = j + (t - W.taps1 / 2) * W.dilation1
            guard f >= 0 && f < end else { continue }
            let x = inputs.baseAddress! + (f & mask) * Self.inputCount
            let w = conv1.baseAddress! + t * Self.inputCount * 4
            for i in 0..<Self.inputCount {
                let v = SIMD8(repeating: x[i])
                let wi = w + i * 4
                a0 += v * wi[0]; a1 += v * wi[1]; a2 += v * wi[2]; a3 += v * wi[3]
            }
        }
        h[0] = a0.replacing(with: 0, where: a0 .< 0)
        h[1] = a1.replacing(with: 0, where: a1 .< 0)
        h[2] = a2.replacing(with: 0, where: a2 .< 0)
        h[3] = a3.replacing(with: 0, where: a3 .< 0)
    }

    /// Density of frame `k`, from the hidden layers of frames `k ± taps2 / 2` (already computed; frames outside
    /// `0..<end` count as zero).
    @inline(__always)
    func density(_ k: Int, end: Int) -> Float {
        var acc = (SIMD8<Float>.zero, SIMD8<Float>.zero)
        acc.0 = bias2[0]
        if chunks2 > 1 { acc.1 = bias2[1] }
        for t in 0..<W.taps2 {
            let f = k + t - W.taps2 / 2
            guard f >= 0 && f < end else { continue }
            let h = hidden.baseAddress! + (f & mask) * chunks1
            let w = conv2.baseAddress! + t * W.hidden1 * chunks2
            for c in 0..<chunks1 {
                let hc = h[c]
                for lane in 0..<8 {
                    let v = SIMD8(repeating: hc[lane])
                    let wu = w + (8 * c + lane) * chunks2
                    acc.0 += v * wu[0]
                    if chunks2 > 1 { acc.1 += v * wu[1] }
                }
            }
        }
        var sum = W.outputBias
        sum += (acc.0.replacing(with: 0, where: acc.0 .< 0) * output[0]).sum()
        if chunks2 > 1 { sum += (acc.1.replacing(with: 0, where: acc.1 .< 0) * output[1]).sum() }
        // softplus, written to stay finite for large arguments
        return sum > 20 ? sum : log1pf(expf(sum))
    }
}
