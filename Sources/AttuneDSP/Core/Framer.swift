/// Cuts a stream of samples into overlapping windows centred on frame times `k × hop`.
///
/// Allocates its history once in `init`; ``push(_:onFrame:)`` never allocates. The stream is taken to be
/// zero before its first sample and, at ``finish(onFrame:)``, after its last, so frame 0 is centred on
/// time 0 and the last frame is the last centre at or before the end of the audio.
public final class Framer {
    /// Samples between frame centres.
    public let hop: Int
    /// Longest window any stage asks for; ``window(length:)`` serves any length up to this.
    public let maxWindow: Int
    /// Half of the longest window, rounded up: how far a frame's window reaches past its centre, so the
    /// samples that must arrive after a frame's centre before the frame is emitted.
    public let reach: Int
    private let storage: UnsafeMutableBufferPointer<Float>
    /// Samples in `storage`; the newest is at `filled - 1`.
    private var filled: Int
    /// Stream position of `storage[0]` (negative while the leading zeros are still in view).
    private var origin: Int
    /// Index of the next frame to emit.
    public private(set) var nextFrame = 0
    /// Stream samples consumed so far.
    public private(set) var samplesIn = 0
    /// Stream position of the centre of the frame being emitted.
    private var centre = 0

    /// - Parameters:
    ///   - hop: samples between frame centres.
    ///   - maxWindow: the longest window that will be requested.
    public init(hop: Int, maxWindow: Int) {
        precondition(hop > 0 && maxWindow > 0)
        self.hop = hop
        self.maxWindow = maxWindow
        reach = (maxWindow + 1) / 2
        // Room for one full window plus a hop, twice, so the history moves back at most once per hop.
        storage = .allocate(2 * (maxWindow + 2 * hop) + 2 * reach, filledWith: 0)
        filled = reach          // the zeros before the stream
        origin = -reach
    }

    deinit { storage.deallocate() }

    /// Appends samples and calls `onFrame(index)` for every frame whose window is now complete.
    /// Inside `onFrame`, ``window(length:)`` gives that frame's windows.
    @inline(__always)
    public func push(_ samples: UnsafeBufferPointer<Float>, onFrame: (Int) -> Void) {
        var offset = 0
        while offset < samples.count {
            let room = storage.count - filled
            if room == 0 { compact(); continue }
            let n = min(room, samples.count - offset)
            (storage.baseAddress! + filled).update(from: samples.baseAddress! + offset, count: n)
            filled += n
            offset += n
            samplesIn += n
            emitReady(onFrame: onFrame)
        }
    }

    /// Ends the stream: pads with zeros and emits the remaining frames whose centre lies within the audio.
    public func finish(onFrame: (Int) -> Void) {
        let lastCentre = samplesIn == 0 ? -1 : samplesIn - 1
        while nextFrame * hop <= lastCentre {
            let needed = nextFrame * hop + reach - origin
            if needed > storage.count { compact(); continue }
            if filled < needed {
                (storage.baseAddress! + filled).update(repeating: 0, count: needed - filled)
                filled = needed
            }
            emitOne(onFrame: onFrame)
        }
    }

    /// The `length` samples centred on the current frame (`length ≤ maxWindow`). Valid only inside `onFrame`.
    @inline(__always)
    public func window(length: Int) -> UnsafeBufferPointer<Float> {
        let start = centre - length / 2 - origin
        return UnsafeBufferPointer(start: storage.baseAddress! + start, count: length)
    }

    @inline(__always)
    private func emitReady(onFrame: (Int) -> Void) {
        // A frame is ready once its window's last sample has arrived.
        while nextFrame * hop + reach <= origin + filled {
            emitOne(onFrame: onFrame)
        }
    }

    @inline(__always)
    private func emitOne(onFrame: (Int) -> Void) {
        centre = nextFrame * hop
        onFrame(nextFrame)
        nextFrame += 1
    }

    /// Drops history no future window can reach.
    private func compact() {
        let keepFrom = nextFrame * hop - reach - origin
        let drop = max(0, keepFrom)
        precondition(drop > 0, "Framer storage too small")
        let keep = filled - drop
        storage.baseAddress!.update(from: storage.baseAddress! + drop, count: keep)
        filled = keep
        origin += drop
    }
}
