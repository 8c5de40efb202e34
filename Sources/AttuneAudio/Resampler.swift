import CSoxr

/// Converts one channel between sample rates with libsoxr, streaming.
///
/// One `final class` per `soxr_t`, freed in `deinit`. Everything is allocated in `init`: the output buffer,
/// sized for the engine's blocks of ``blockFrames`` input frames (``process(_:end:_:)`` loops when a block would
/// produce more), and libsoxr's own FIFOs, which `init` grows by running silence through the converter. The
/// per-block path and the end-of-stream flush then never allocate.
///
/// Timing is exact: output sample *k* of a stream sits at time *k / outputRate* (libsoxr compensates its
/// linear-phase filter's delay), and flushing with `end` yields `input count × ratio` samples, rounded.
///
/// libsoxr's own flush (`soxr_process` with no input) can only be undone by `soxr_clear`, which frees and
/// rebuilds the whole converter. So the converter instead runs as one endless stream and each stream the caller
/// sees is a window of it: a stream starts on a multiple of the rate ratio's period (``period``) input samples,
/// where the converter's phase is the same as at its start, and is flushed by feeding silence until its last
/// output is out; the silence that follows is discarded. Outputs are the filter's response to the stream
/// preceded and followed by silence, exactly what a fresh converter gives, up to float rounding (< 1e-6).
///
/// Why libsoxr: on wide-band input (44.1 and 48 kHz → 16 kHz) libsamplerate's `SRC_SINC_FASTEST` cost about
/// thirteen times the whole analysis; libsoxr's multi-stage converter (half-band decimators and an FFT-filtered
/// polyphase stage) does the same conversion about twenty times faster (`attune bench --stages`: ~2 against
/// ~50 µs per 10 ms frame) with a better filter.
/// `Tools/resampler_tradeoff.py` puts the candidates side by side; ``quality`` says what was chosen.
public final class Resampler {
    public let inputRate: Int
    public let outputRate: Int
    /// Input frames the preallocated output buffer is sized for (the engine's block).
    public static let blockFrames = 4096
    /// Most input samples handed to libsoxr in one call. Bounding the chunk bounds how full its FIFOs can get,
    /// so that priming them in `init` covers every later block size.
    static let chunkFrames = 1024
    /// Largest up- or down-sampling factor accepted; it bounds the output buffer and covers anything the engine
    /// asks for (at most 192 kHz → 8 kHz, 24 : 1) with a wide margin.
    public static let maximumRatio = 256
    /// The first libsoxr failure, if any. ``process(_:end:_:)`` keeps its non-throwing signature (it runs on the
    /// DSP path); after a failure it produces nothing more, and the caller checks this at the end.
    public private(set) var failure: AudioError?

    private let state: soxr_t
    private let output: UnsafeMutableBufferPointer<Float>
    /// Zeros: the silence that primes the converter and flushes each stream.
    private let silence: UnsafeMutableBufferPointer<Float>
    /// Input samples after which input and output line up on whole samples again: `inputRate / gcd`.
    private let period: Int
    /// Samples handed to / taken from libsoxr since `init`, silence included.
    private var fed = 0, got = 0
    /// Where the current stream starts, in libsoxr's input and output samples.
    private var originIn = 0, originOut = 0

    /// Creates a converter from `inputRate` to `outputRate` Hz, one thread, float samples.
    public init(from inputRate: Int, to outputRate: Int) throws(AudioError) {
        let name = "resampler \(inputRate)→\(outputRate) Hz"
        guard inputRate > 0, outputRate > 0,
              outputRate <= inputRate * Self.maximumRatio, inputRate <= outputRate * Self.maximumRatio else {
            throw AudioError(.badData, path: name, "ratio outside 1/\(Self.maximumRatio)…\(Self.maximumRatio)")
        }
        var quality = Self.quality
        var runtime = soxr_runtime_spec(1)
        var error: soxr_error_t? = nil
        let created = soxr_create(Double(inputRate), Double(outputRate), 1, &error, nil, &quality, &runtime)
        guard let created, error == nil else {
            if let created { soxr_delete(created) }
            throw AudioError(.io, path: name, "soxr_create: \(error.map { String(cString: $0) } ?? "no converter")")
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        state = created
        output = .allocate(capacity: (Self.blockFrames * outputRate + inputRate - 1) / inputRate + 64)
        silence = .allocate(capacity: Self.blockFrames)
        silence.initialize(repeating: 0)
        var a = inputRate, b = outputRate
        while b != 0 { (a, b) = (b, a % b) }
        period = inputRate / a
        // libsoxr grows its FIFOs on demand, by how much depending on the order of chunk sizes it is handed.
        // Silence in 400 chunks of 1, 37, 333 and 1024 samples, in a fixed pseudo-random order, grows them to
        // their steady size here rather than on the first blocks of audio (AudioAllocationTests: nothing is
        // allocated afterwards, over streams in blocks of 1 to 8192 frames).
        let sizes = [1, 37, 333, Self.chunkFrames]
        var seed: UInt32 = 1
        for _ in 0..<400 {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            push(silence.baseAddress!, sizes[Int(seed >> 30)], limit: 0) { _ in }
        }
        startStream(after: 0)
        if let failure { throw failure }
    }

    deinit {
        soxr_delete(state)
        output.deallocate()
        silence.deallocate()
    }

    /// libsoxr's "high quality" recipe: 20-bit precision (stop band ≥ 120 dB down, so nothing aliases into the
    /// output at all), linear phase, pass band flat to 91 % of the lower Nyquist (7.3 kHz at 16 kHz out).
    /// The cheaper recipes were measured: under 15 % faster, with aliases only 108–114 dB down and LQ's pass band
    /// ending below 7 kHz (`Tools/resampler_tradeoff.py`).
    static var quality: soxr_quality_spec_t { soxr_quality_spec(UInt(SOXR_HQ), 0) }

    /// Converts `input` and calls `body` with the samples produced (valid only during the call; possibly
    /// several calls, possibly none). With `end` set, flushes the filter's tail and starts a new stream, so the
    /// same object can convert another recording.
    public func process(_ input: UnsafeBufferPointer<Float>, end: Bool, _ body: (UnsafeBufferPointer<Float>) -> Void) {
        if failure != nil { return }
        if let base = input.baseAddress, !input.isEmpty { push(base, input.count, limit: .max, body) }
        guard end, failure == nil else { return }
        // The stream's last output, rounded to the nearest sample; silence pushes it out of the filter.
        let count = fed - originIn
        let last = originOut + (count * outputRate + inputRate / 2) / inputRate
        while got < last, failure == nil { push(silence.baseAddress!, silence.count, limit: last, body) }
        startStream(after: 0)
    }

    /// Feeds silence up to the next multiple of ``period`` at least `minimum` samples on, discarding what comes
    /// out, and starts the next stream there. Nothing of the last stream reaches the next one: its last output is
    /// out, so libsoxr has read at least the filter's look-ahead (half its span) past the stream's end, and
    /// every output from the new start on looks back no further than that.
    private func startStream(after minimum: Int) {
        let start = (fed + minimum + period - 1) / period * period
        while fed < start, failure == nil {
            push(silence.baseAddress!, min(silence.count, start - fed), limit: 0) { _ in }
        }
        originIn = start
        originOut = start / period * (outputRate * period / inputRate)
    }

    /// Hands `count` samples to libsoxr and `body` the outputs of the current stream before index `limit`.
    private func push(_ samples: UnsafePointer<Float>, _ count: Int, limit: Int, _ body: (UnsafeBufferPointer<Float>) -> Void) {
        var offset = 0
        var used = 0, produced = 0
        while offset < count {
            let error = soxr_process(state, samples + offset, min(count - offset, Self.chunkFrames), &used,
                                     output.baseAddress, output.count, &produced)
            if let error { return fail("soxr_process", error) }
            // libsoxr takes as much input as the output buffer has room for, so every call makes progress.
            if used == 0 && produced == 0 { return fail("soxr_process", "consumed and produced nothing") }
            offset += used
            fed += used
            let first = got
            got += produced
            let from = max(first, originOut), to = min(got, limit)
            if from < to { body(UnsafeBufferPointer(rebasing: output[(from - first)..<(to - first)])) }
        }
    }

    /// Parks the first libsoxr error in ``failure``; builds a `String` only on that (final) path.
    private func fail(_ call: StaticString, _ error: UnsafePointer<CChar>) {
        failure = AudioError(.io, path: "resampler \(inputRate)→\(outputRate) Hz", "\(call): \(String(cString: error))")
    }
}
