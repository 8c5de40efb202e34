import AttuneEvents
#if canImport(Glibc)
import Glibc
#endif

/// Buffered writes to a file descriptor through write(2), so records leave in large chunks and nothing
/// touches C's global `stdout`/`stderr` streams (shared mutable state to Swift's concurrency checker).
final class FileDescriptorWriter {
    let fd: Int32
    private var buffer: [UInt8] = []
    private let capacity: Int

    init(fd: Int32, capacity: Int = 1 << 16) {
        self.fd = fd
        self.capacity = capacity
        buffer.reserveCapacity(capacity)
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { write($0) }
    }

    /// Bytes the caller owns, like a `JSONLine`'s (not copied into an array first).
    func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= capacity { flush() }
    }

    func write(_ text: String) { write(Array(text.utf8)) }

    /// Writes out everything buffered. A reader that went away (EPIPE) or a full disk ends the program with
    /// EX_IOERR, naming the call.
    func flush() {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let why = String(cString: strerror(errno))
                buffer.removeAll()
                if fd != 2 { standardError.write("attune: write to fd \(fd): \(why)\n"); standardError.flush() }
                exit(74)
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

nonisolated(unsafe) let standardOutput = FileDescriptorWriter(fd: 1)
nonisolated(unsafe) let standardError = FileDescriptorWriter(fd: 2, capacity: 1)

/// Prints `message` on stderr as one line, control characters escaped (line breaks too, unless the message is
/// several lines by design), and exits with a sysexits code.
func fail(_ code: Int32, _ message: String, keepingLineBreaks: Bool = false) -> Never {
    standardOutput.flush()
    let text = keepingLineBreaks
        ? message.split(separator: "\n", omittingEmptySubsequences: false).map { escapedForTerminal(String($0)) }.joined(separator: "\n")
        : escapedForTerminal(message)
    standardError.write(text + "\n")
    standardError.flush()
    exit(code)
}

/// Prints a warning on stderr as one line, control characters escaped, and carries on.
func warn(_ message: String) {
    standardError.write("attune: warning: " + escapedForTerminal(message) + "\n")
    standardError.flush()
}
