import CSndFile

/// Reads any file libsndfile decodes (WAV PCM/float/μ-law/A-law, FLAC, OGG, …) as Float frames, streaming.
/// One `final class` per `SNDFILE*`, closed in `deinit`.
public final class SoundFileReader: AudioSource {
    public let name: String
    public let sampleRate: Int
    public let channelCount: Int
    private let handle: OpaquePointer

    /// Opens `path` for reading.
    public init(path: String) throws(AudioError) {
        name = path
        var info = SF_INFO()
        guard let h = sf_open(path, Int32(SFM_READ), &info) else {
            let why = String(cString: sf_strerror(nil))
            throw AudioError(.badData, path: path, "sf_open: \(why)")
        }
        handle = h
        sampleRate = Int(info.samplerate)
        channelCount = Int(info.channels)
    }

    deinit { sf_close(handle) }

    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws(AudioError) -> Int {
        let frames = buffer.count / channelCount
        let n = sf_readf_float(handle, buffer.baseAddress, sf_count_t(frames))
        return Int(n)
    }
}
