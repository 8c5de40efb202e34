import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fresh temporary directory per test, removed when the value goes away. Tests write real files into it
/// (audio, transcripts, ALSA configs) rather than mocking the file system.
public final class TempDir {
    public let path: String

    public init(prefix: String = "attune-test") {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Makes a FIFO named `name` inside the directory and returns its path.
    public func fifo(_ name: String) throws -> String {
        let path = file(name)
        guard mkfifo(path, 0o600) == 0 else { throw DaemonTestFailure("mkfifo \(path): \(String(cString: strerror(errno)))") }
        return path
    }
}
