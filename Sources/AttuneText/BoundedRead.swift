#if canImport(Glibc)
import Glibc
#endif

/// Why a descriptor could not be read whole.
public enum BoundedReadFailure: Error, Equatable {
    /// The descriptor is a directory: it opens for reading, and only read(2) would say EISDIR.
    case directory
    /// More than the limit arrived; reading stopped there, so `/dev/zero` or a runaway pipe cannot exhaust memory.
    case tooLarge(limit: Int)
    /// read(2) failed (`errno`) after `after` bytes.
    case read(errno: Int32, after: Int)
}

/// Reads `fd` (a file, a pipe, a FIFO, a terminal) to its end, at most `limit` bytes; the descriptor stays open.
/// The one reader of the small text inputs a user names (transcripts, the daemon's config).
public func readWhole(_ fd: Int32, limit: Int) throws(BoundedReadFailure) -> [UInt8] {
    var st = stat()
    if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { throw .directory }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw .tooLarge(limit: limit) }
            continue
        }
        if n == 0 { return bytes }
        if errno == EINTR { continue }
        throw .read(errno: errno, after: bytes.count)
    }
}
