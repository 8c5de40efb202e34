/// Something that yields interleaved audio frames as Float in ±1: a file, or raw PCM on a pipe.
public protocol AudioSource: AnyObject {
    /// The file path, `-` for stdin, or the device name.
    var name: String { get }
    /// Native sample rate (Hz).
    var sampleRate: Int { get }
    /// Interleaved channels per frame.
    var channelCount: Int { get }
    /// Reads up to `buffer.count / channelCount` frames into `buffer`, interleaved; returns the frames read,
    /// 0 at the end of the stream.
    func read(into buffer: UnsafeMutableBufferPointer<Float>) throws(AudioError) -> Int
}
