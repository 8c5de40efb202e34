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
    /// Things the source noticed and worked around (a header that promised more frames than the file holds,
    /// a partial frame dropped at the end of a pipe), for the user to hear about once the stream has ended.
    var warnings: [String] { get }
}

extension AudioSource {
    public var warnings: [String] { [] }
}

/// The sample rates and channel counts the engine accepts; anything else is refused as bad data (65) when it
/// comes from a file header, or as a usage error (64) when the user typed it.
public enum AudioLimits {
    /// Narrow-band telephony up to studio rate; below 8 kHz speech loses the cues the analysis needs.
    public static let sampleRates = 8000...48000
    /// One analyzer per channel; more than 8 is a multitrack recording, not a call.
    public static let channelCounts = 1...8

    /// Checks a header's rate and channel count, naming the unsupported value.
    public static func check(sampleRate: Int, channelCount: Int, path: String, kind: AudioError.Kind = .badData) throws(AudioError) {
        guard channelCount >= channelCounts.lowerBound else {
            throw AudioError(kind, path: path, "\(channelCount) channels; at least \(channelCounts.lowerBound) is needed")
        }
        guard channelCount <= channelCounts.upperBound else {
            throw AudioError(kind, path: path, "\(channelCount) channels; at most \(channelCounts.upperBound) are supported")
        }
        guard sampleRates.contains(sampleRate) else {
            throw AudioError(kind, path: path,
                             "sample rate \(sampleRate) Hz; \(sampleRates.lowerBound)–\(sampleRates.upperBound) Hz supported")
        }
    }
}
