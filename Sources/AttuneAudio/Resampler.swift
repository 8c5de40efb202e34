import CSampleRate

/// Converts one channel between sample rates with libsamplerate, streaming.
///
/// One `final class` per `SRC_STATE*`, freed in `deinit`. The output buffer is allocated in `init`, sized for
/// the engine's blocks of ``blockFrames`` input frames; ``process(_:end:_:)`` loops when a block would produce
/// more than that, so it never allocates. The converter's delay is compensated by libsamplerate itself:
/// output sample *k* sits at time *k / outputRate*, and flushing with `end` yields
/// `input count × ratio` samples in total (± one).
///
/// `SRC_SINC_FASTEST` is the default: its passband runs to ~80 % of the lower Nyquist with > 96 dB
/// stop-band rejection, far more than the analysis needs (F0 ≤ 500 Hz, energy and band levels ≤ 8 kHz), at
/// a fraction of the cost of the better sinc converters.
public final class Resampler {
    public let inputRate: Int
    public let outputRate: Int
    /// Input frames the preallocated output buffer is sized for (the engine's block).
    public static let blockFrames = 4096
    /// The first libsamplerate failure, if any. ``process(_:end:_:)`` keeps its non-throwing signature (it runs
    /// on the DSP path); after a failure it produces nothing more, and the caller checks this at the end.
    public private(set) var failure: AudioError?

    private let state: OpaquePointer
    private let ratio: Double
    private let output: UnsafeMutableBufferPointer<Float>
    /// A valid, empty input pointer for flush calls, which have no samples of their own.
    private let empty: UnsafeMutablePointer<Float>

    /// Creates a converter from `inputRate` to `outputRate` Hz; `converter` is a libsamplerate type constant.
    public init(from inputRate: Int, to outputRate: Int, converter: Int32 = Int32(SRC_SINC_FASTEST)) throws(AudioError) {
        let name = "resampler \(inputRate)→\(outputRate) Hz"
        guard inputRate > 0, outputRate > 0, src_is_valid_ratio(Double(outputRate) / Double(inputRate)) != 0 else {
            throw AudioError(.badData, path: name, "src_is_valid_ratio: ratio outside what libsamplerate supports")
        }
        var error: Int32 = 0
        guard let s = src_new(converter, 1, &error) else {
            throw AudioError(.io, path: name, "src_new: \(String(cString: src_strerror(error)))")
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        state = s
        ratio = Double(outputRate) / Double(inputRate)
        output = .allocate(capacity: Int((Double(Self.blockFrames) * ratio).rounded(.up)) + 64)
        empty = .allocate(capacity: 1)
        empty.initialize(to: 0)
    }

    deinit {
        src_delete(state)
        output.deallocate()
        empty.deallocate()
    }

    /// Converts `input` and calls `body` with the samples produced (valid only during the call; possibly
    /// several calls, possibly none). With `end` set, flushes the filter's tail and resets the converter, so
    /// the same object can start a new stream.
    public func process(_ input: UnsafeBufferPointer<Float>, end: Bool, _ body: (UnsafeBufferPointer<Float>) -> Void) {
        if failure != nil { return }
        var data = SRC_DATA()
        data.src_ratio = ratio
        data.end_of_input = end ? 1 : 0
        data.data_out = output.baseAddress
        data.output_frames = output.count
        var offset = 0
        while true {
            let remaining = input.count - offset
            data.data_in = remaining > 0 ? UnsafePointer(input.baseAddress! + offset) : UnsafePointer(empty)
            data.input_frames = remaining
            let error = src_process(state, &data)
            if error != 0 {
                failure = AudioError(.io, path: "resampler \(inputRate)→\(outputRate) Hz",
                                     "src_process: \(String(cString: src_strerror(error)))")
                return
            }
            offset += data.input_frames_used
            let produced = data.output_frames_gen
            if produced > 0 { body(UnsafeBufferPointer(rebasing: output[0..<produced])) }
            // Guards against a converter that neither consumes nor produces, which would otherwise spin.
            if data.input_frames_used == 0 && produced == 0 { break }
            if offset < input.count { continue }
            // At the end, keep draining until the filter's tail is out.
            if end && produced > 0 { continue }
            break
        }
        if end { src_reset(state) }
    }
}
