import AttuneAudio

/// Audio already decoded into memory, served in blocks like a file. Lets a benchmark time the analysis
/// alone, without the decoder or the disk.
public final class InMemorySource: AudioSource {
    public let name: String
    public let sampleRate: Int
    public let channelCount: Int
    private let samples: [Float]
    private var position = 0
    /// Most frames one `read` returns; lets tests deliver the same audio in differently sized blocks.
    public var maxFramesPerRead = Int.max

    /// - Parameter samples: interleaved frames.
    public init(name: String, sampleRate: Int, channelCount: Int, samples: [Float]) {
        self.name = name
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        self.samples = samples
    }

    /// Reads `source` to its end into memory.
    public convenience init(reading source: some AudioSource) throws(AudioError) {
        var all: [Float] = []
        let block = UnsafeMutableBufferPointer<Float>.allocate(capacity: 65536 * source.channelCount)
        defer { block.deallocate() }
        while true {
            let n = try source.read(into: block)
            if n == 0 { break }
            all.append(contentsOf: block[0..<(n * source.channelCount)])
        }
        self.init(name: source.name, sampleRate: source.sampleRate, channelCount: source.channelCount, samples: all)
    }

    /// Frames held.
    public var frameCount: Int { samples.count / channelCount }

    /// The samples of one channel, de-interleaved.
    public func channel(_ c: Int) -> [Float] {
        precondition(c >= 0 && c < channelCount, "InMemorySource: no channel \(c) in \(channelCount)")
        return stride(from: c, to: samples.count, by: channelCount).map { samples[$0] }
    }

    /// Starts reading from the beginning again.
    public func rewind() { position = 0 }

    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws(AudioError) -> Int {
        let frames = min(buffer.count / channelCount, maxFramesPerRead, (samples.count - position) / channelCount)
        let n = frames * channelCount
        guard n > 0 else { return 0 }
        samples.withUnsafeBufferPointer { all in
            _ = buffer.update(fromContentsOf: all[position..<(position + n)])
        }
        position += n
        return n / channelCount
    }
}
