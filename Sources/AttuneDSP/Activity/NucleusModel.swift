import CAttuneKernels
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
/// The two layers' weighted sums are `attune_nucleus_hidden` and `attune_nucleus_units` in CAttuneKernels (AVX2
/// where the CPU has it). Storage is fixed at `init`; the per-frame calls do no heap work. The caller keeps the
/// frame order: inputs of frame `j` are set before the hidden layer of any frame within ``reach`` of it is computed.
struct NucleusModel {
    typealias W = NucleusModelWeights
    /// Values per frame the model reads: eight band shapes, level, periodicity, voicing.
    static let inputCount = 11
    /// Frames after a frame whose inputs its density depends on (and as many before).
    static let reach = (W.taps1 / 2) * W.dilation1 + W.taps2 / 2
    /// dB scale of the level inputs.
    static let decibelScale: Float = 10

    private let chunks1 = W.hidden1 / 8
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
        // the widths CAttuneKernels' layers are written for
        precondition(W.hidden1 == 32 && W.hidden2 == 16 && Self.inputCount == ATTUNE_NUCLEUS_INPUTS)
        precondition(W.conv1.count == W.taps1 * Self.inputCount * W.hidden1 && W.conv2.count == W.taps2 * W.hidden1 * W.hidden2)
        precondition(W.bias1.count == W.hidden1 && W.bias2.count == W.hidden2 && W.output.count == W.hidden2)
        // attune_nucleus_units skips zero hidden units, which is exact only for these weights.
        precondition(W.conv2.allSatisfy(\.isFinite) && !W.bias2.contains { $0 == 0 && $0.sign == .minus })
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

    /// The floats of a weight or activation buffer, for the C layers (which read them as plain float arrays).
    @inline(__always)
    private static func floats(_ buffer: UnsafeBufferPointer<SIMD8<Float>>) -> UnsafePointer<Float> {
        UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: Float.self)
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
        attune_nucleus_hidden(UnsafePointer(inputs.baseAddress!), mask, j, end, W.taps1, W.dilation1,
                              Self.floats(conv1), Self.floats(bias1), UnsafeMutableRawPointer(h).assumingMemoryBound(to: Float.self))
    }

    /// Density of frame `k`, from the hidden layers of frames `k ± taps2 / 2` (already computed; frames outside
    /// `0..<end` count as zero).
    @inline(__always)
    func density(_ k: Int, end: Int) -> Float {
        var acc = (SIMD8<Float>.zero, SIMD8<Float>.zero)
        withUnsafeMutableBytes(of: &acc) { units in
            attune_nucleus_units(Self.floats(UnsafeBufferPointer(hidden)), mask, k, end, W.taps2, Self.floats(conv2), Self.floats(bias2),
                                 units.baseAddress!.assumingMemoryBound(to: Float.self))
        }
        var sum = W.outputBias
        sum += (acc.0.replacing(with: 0, where: acc.0 .< 0) * output[0]).sum()
        sum += (acc.1.replacing(with: 0, where: acc.1 .< 0) * output[1]).sum()
        // softplus, written to stay finite for large arguments
        return sum > 20 ? sum : log1pf(expf(sum))
    }
}
