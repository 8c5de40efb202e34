import CSndFile
#if canImport(Glibc)
import Glibc
#endif

/// Reads any file libsndfile decodes (WAV PCM 8/16/24/32-bit and float, μ-law and A-law, FLAC, OGG Vorbis,
/// AIFF, AU, …) as Float frames in ±1, streaming: each ``read(into:)`` is one `sf_readf_float` into the
/// caller's buffer, so memory stays flat however long the file.
///
/// One `final class` per `SNDFILE*`, closed in `deinit`. Problems are reported as ``AudioError``s that name
/// the file and quote libsndfile's own reason:
/// - missing, unreadable or a directory → ``AudioError/Kind/missing`` (66), checked with `open`/`fstat`
///   before `sf_open_fd` so a missing file is never reported as bad data;
/// - a 0-byte file, unknown or malformed data, more than 8 channels, a rate outside 8–48 kHz (also one libsndfile
///   itself refuses, such as 0 or 4 GHz, read from the header), or a decode error part-way →
///   ``AudioError/Kind/badData`` (65);
/// - an operating-system read failure part-way → ``AudioError/Kind/io`` (74).
///
/// A valid header that declares no frames is not an error: it is a recording of zero duration. A file cut short is
/// read as far as it goes, with a warning in ``warnings`` where libsndfile lets the cut be seen: a WAV, AIFF, AU or
/// FLAC header that declares more data than the file holds, an Ogg file cut inside a page. (A FLAC file cut inside a
/// frame fails there as bad data instead: its decoder loses sync.)
public final class SoundFileReader: AudioSource {
    public let name: String
    public let sampleRate: Int
    public let channelCount: Int
    /// Frames the header declares, or nil when the stream cannot tell (a pipe).
    public let declaredFrames: Int?
    public private(set) var warnings: [String] = []
    /// Frames delivered so far.
    public private(set) var framesRead = 0
    /// The descriptor libsndfile reads.
    let descriptor: Int32
    /// Whether a read may wait for data that never comes: the descriptor is a FIFO, socket or character device,
    /// not a regular file. (libsndfile's read loop retries EINTR until its buffer is full or the data ends, so a
    /// capture thread stops such a read by cutting the descriptor off: see `CaptureThread`.)
    let readsMayBlock: Bool
    private let handle: OpaquePointer
    private var ended = false
    /// An Ogg file whose length libsndfile could not find (see ``init(fileDescriptor:name:closeWhenDone:unrecognisedHint:)``).
    private let oggEndMissing: Bool

    /// Opens `path` for reading.
    public convenience init(path: String) throws(AudioError) {
        try self.init(fileDescriptor: openForReading(Array(path.utf8CString), name: path), name: path, closeWhenDone: true)
    }

    /// Reads from `fd`: a file opened by the caller, or a self-describing stream (WAV, AU, … whatever libsndfile
    /// can parse without seeking) on a pipe. `name` is what errors call it (`-` for stdin). With `closeWhenDone`
    /// the reader owns the descriptor, also when this throws; otherwise it stays open (unless libsndfile refuses
    /// the stream: libsndfile 1.2 then closes it whatever it was told). `unrecognisedHint` ends the error for
    /// data libsndfile does not recognise, e.g. how to give headerless PCM instead.
    public init(fileDescriptor fd: Int32, name: String, closeWhenDone: Bool = false, unrecognisedHint: String? = nil)
        throws(AudioError) {
        self.name = name
        let kind: mode_t
        do {
            kind = try checkReadable(fd, name: name, allowEmpty: false).st_mode & S_IFMT
        } catch {
            if closeWhenDone { close(fd) }
            throw error
        }
        // Read before sf_open_fd: on failure libsndfile has already closed the descriptor.
        let header = HeaderFields(peeking: fd)
        var info = SF_INFO()
        guard let h = sf_open_fd(fd, Int32(SFM_READ), &info, closeWhenDone ? Int32(SF_TRUE) : Int32(SF_FALSE)) else {
            if let problem = header?.problem { throw AudioError(.badData, path: name, problem) }
            if String(cString: sf_strerror(nil)).contains("SF_INFO struct incomplete") {
                // What libsndfile says when a header it parsed has a rate or channel count it cannot hold, on a
                // pipe where the header could not be read again to say which.
                throw Self.openError(path: name, call: "sf_open_fd",
                                     notes: ["The header's sample rate or channel count is invalid."])
            }
            var notes: [String] = []
            if kind == S_IFIFO || kind == S_IFSOCK {
                // Formats that need seeking (FLAC, …) fail on a pipe with misleading decoder errors.
                notes.append("On a pipe libsndfile reads only streamable formats (WAV, AIFF, AU, OGG); "
                             + "give FLAC and others by path or with < FILE.")
            }
            if let unrecognisedHint { notes.append(sentence(unrecognisedHint)) }
            throw Self.openError(path: name, call: "sf_open_fd", notes: notes)
        }
        descriptor = fd
        readsMayBlock = kind != S_IFREG
        (handle, sampleRate, channelCount, declaredFrames) = try Self.adopt(h, info, path: name, seekable: info.seekable != 0)
        // libsndfile takes an Ogg stream's length from its last page; a file cut inside a page has no last page, and
        // the length comes back unknown although the file can be sought. That is the only sign libsndfile gives of a
        // cut Ogg file (one cut exactly between pages looks whole), so the warning waits for the end of the data.
        oggEndMissing = kind == S_IFREG && info.seekable != 0 && declaredFrames == nil
            && info.format & Int32(SF_FORMAT_TYPEMASK) == Int32(SF_FORMAT_OGG)
        if kind == S_IFREG, let note = Self.lengthMismatch(h) {
            warnings.append("\(name): the header claims more audio than the file holds (libsndfile: \"\(note)\"); "
                            + "truncated file? Analysing the \(formatSeconds(declaredFrames ?? 0, rate: sampleRate)) s present")
        }
    }

    deinit { sf_close(handle) }

    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws(AudioError) -> Int {
        if ended { return 0 }
        let want = buffer.count / channelCount
        guard want > 0 else { return 0 }
        let got = Int(sf_readf_float(handle, buffer.baseAddress, sf_count_t(want)))
        if got < want {
            // A short read is either the end of the data or a failure; only sf_error tells them apart.
            let code = sf_error(handle)
            if code != 0 {
                let why = String(cString: sf_strerror(handle))
                let at = Self.seconds(framesRead + max(got, 0), rate: sampleRate)
                let kind: AudioError.Kind = code == Int32(SF_ERR_SYSTEM) ? .io : .badData
                let what = kind == .io ? "read failed after \(at) s" : "truncated or corrupt after \(at) s"
                throw AudioError(kind, path: name, "\(what): sf_readf_float: \(why)")
            }
            ended = true
            if oggEndMissing {
                warnings.append("\(name): the Ogg stream ends without its last page (libsndfile cannot tell its length); "
                                + "truncated file? Analysed the \(Self.seconds(framesRead + max(got, 0), rate: sampleRate)) s present")
            }
            if let declared = declaredFrames, framesRead + max(got, 0) < declared {
                warnings.append("\(name): audio ends after \(Self.seconds(framesRead + max(got, 0), rate: sampleRate)) s, "
                                + "but the header declares \(Self.seconds(declared, rate: sampleRate)) s (truncated file?)")
            }
        }
        framesRead += max(got, 0)
        return max(got, 0)
    }

    // MARK: - Opening

    private static func openError(path: String, call: String, notes: [String]) -> AudioError {
        let code = sf_error(nil)
        let why = String(cString: sf_strerror(nil))
        // SF_ERR_SYSTEM after our own open/fstat checks means the read itself failed (EIO, a vanished mount).
        if code == Int32(SF_ERR_SYSTEM) { return AudioError(.io, path: path, "\(call): \(why)") }
        return AudioError(.badData, path: path, ([sentence("\(call): \(why)")] + notes).joined(separator: " "))
    }

    /// Validates what the header says, closing the handle if the stream is refused.
    private static func adopt(_ h: OpaquePointer, _ info: SF_INFO, path: String, seekable: Bool)
        throws(AudioError) -> (OpaquePointer, Int, Int, Int?) {
        do {
            try AudioLimits.check(sampleRate: Int(info.samplerate), channelCount: Int(info.channels), path: path)
        } catch {
            sf_close(h)
            throw error
        }
        // Integer formats come normalised to ±1 already; say so explicitly rather than rely on the default.
        sf_command(h, Int32(SFC_SET_NORM_FLOAT), nil, Int32(SF_TRUE))
        // libsndfile reports SF_COUNT_MAX frames for streams whose length it cannot know.
        let frames: Int? = seekable && info.frames >= 0 && info.frames < Int64.max / 2 ? Int(info.frames) : nil
        return (h, Int(info.samplerate), Int(info.channels), frames)
    }

    /// libsndfile quietly shortens a WAV/AIFF/AU whose header promises more data than the file holds, noting it only
    /// in its log as `data : 131238 (should be 65597)` (`SSND : …` for AIFF, `Data Size : …` for AU); that line, if any.
    private static func lengthMismatch(_ h: OpaquePointer) -> String? {
        var log = [CChar](repeating: 0, count: 4096)
        let n = log.withUnsafeMutableBytes { sf_command(h, Int32(SFC_GET_LOG_INFO), $0.baseAddress, Int32($0.count)) }
        guard n > 0 else { return nil }
        let text = log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        for line in text.split(separator: "\n") {
            let l = line.drop { $0 == " " }
            if (l.hasPrefix("data") || l.hasPrefix("SSND") || l.hasPrefix("Data Size")) && l.contains("(should be") {
                return String(l)
            }
        }
        return nil
    }

    private static func seconds(_ frames: Int, rate: Int) -> String { formatSeconds(frames, rate: rate) }
}

/// `frames` at `rate` as seconds with exactly three decimals, for messages ("after 2.048 s").
func formatSeconds(_ frames: Int, rate: Int) -> String {
    let ms = Int((Double(frames) * 1000 / Double(rate)).rounded())
    let frac = ms % 1000
    return "\(ms / 1000)." + (frac < 10 ? "00" : frac < 100 ? "0" : "") + "\(frac)"
}

/// `text` ending in a full stop, so that sentences can follow it.
func sentence(_ text: String) -> String {
    let trimmed = text.hasSuffix(" ") ? String(text.reversed().drop { $0 == " " }.reversed()) : text
    return trimmed.hasSuffix(".") ? trimmed : trimmed + "."
}

/// Opens a path given as the bytes of a C string (so names that are not UTF-8 work) for reading; a missing or
/// unreadable path is ``AudioError/Kind/missing`` (66), named `name` in the error.
public func openForReading(_ path: [CChar], name: String) throws(AudioError) -> Int32 {
    let fd = path.withUnsafeBufferPointer { open($0.baseAddress!, O_RDONLY | O_CLOEXEC) }
    guard fd >= 0 else { throw AudioError(.missing, path: name, "cannot open: \(String(cString: strerror(errno)))") }
    return fd
}

/// Tells "missing" (66) from "not audio" (65) before libsndfile, which reports both as an open failure: a
/// directory is missing input, an empty regular file bad data. Returns the descriptor's status.
@discardableResult
func checkReadable(_ fd: Int32, name: String, allowEmpty: Bool) throws(AudioError) -> stat {
    var st = stat()
    if fstat(fd, &st) != 0 {
        throw AudioError(.missing, path: name, "cannot open: fstat: \(String(cString: strerror(errno)))")
    }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        throw AudioError(.missing, path: name, "is a directory, not an audio file")
    }
    if !allowEmpty && (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 {
        throw AudioError(.badData, path: name, "empty file (0 bytes)")
    }
    return st
}
