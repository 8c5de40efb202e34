import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a socket client call failed: the call and the errno text.
public struct SocketClientError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A plain blocking Unix-socket client (no NIO), as a subscriber, `socat` or `attune ctl` would be. It keeps every
/// byte it has received (`received`), so a test can compare whole streams, and hands out lines from a cursor.
public final class UnixClient {
    public let fd: CInt
    private var buffer: [UInt8] = []
    /// Every byte received so far, including lines already handed out by `readLine`.
    public private(set) var received: [UInt8] = []
    public private(set) var eof = false

    public init(path: String) throws {
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketClientError("socket: \(String(cString: strerror(errno)))") }
        let rc = withUnixAddress(path) { connect(fd, $0, $1) }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw SocketClientError("connect \(path): \(String(cString: strerror(e))) (errno \(e))")
        }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends all of `bytes`; MSG_NOSIGNAL so a server that closed on us is an error here, never a SIGPIPE.
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SocketClientError("send: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Reads whatever arrives within `timeout` seconds into the buffer; false on timeout or EOF.
    @discardableResult
    public func fill(timeout: Double) throws -> Bool {
        if eof { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&pfd, 1, Int32(max(0, timeout) * 1000))
        guard rc > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { eof = true; return false }
        buffer.append(contentsOf: chunk[0..<n])
        received.append(contentsOf: chunk[0..<n])
        return true
    }

    /// The next line (without its newline), or nil at EOF or after `timeout` seconds without one.
    public func readLine(timeout: Double = 5) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            if eof { return nil }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            try fill(timeout: left)
        }
    }

    /// Rewrites the lines already handed out by `readLine` as `lines`, so `received` and `receivedLines` hold
    /// them followed by whatever is still unread: for a subscriber that skipped records sent before its filter
    /// took hold, which are not part of the stream under test.
    public func replaceReadLines(with lines: [String]) {
        received = Array(lines.map { $0 + "\n" }.joined().utf8) + buffer
        lineCache = []
        linesUpTo = 0
        searched = [:]
    }

    /// Raw bytes until `count` newlines have arrived (or the timeout).
    public func readBytes(lines count: Int, timeout: Double = 20, progress: ((Int) -> Void)? = nil) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        var out: [UInt8] = []
        var seen = 0
        while seen < count {
            if buffer.isEmpty {
                if eof { break }
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else { break }
                try fill(timeout: left)
                continue
            }
            // Take whole lines only.
            var take = 0
            for (i, b) in buffer.enumerated() where b == UInt8(ascii: "\n") {
                seen += 1
                take = i + 1
                if seen == count { break }
            }
            out.append(contentsOf: buffer[..<take])
            buffer.removeSubrange(..<take)
            progress?(seen)
            if take == 0 {
                let left = deadline.timeIntervalSinceNow
                guard left > 0, !eof else { break }
                try fill(timeout: left)
            }
        }
        return out
    }

    /// True once the server has closed the connection (reads drained).
    public func waitForEOF(timeout: Double = 5) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !eof {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return false }
            buffer.removeAll()
            try fill(timeout: left)
        }
        return true
    }

    /// Reads from every client that has data until `done` holds or `timeout` seconds pass, so several subscribers
    /// are drained side by side from one thread and none falls behind while another is read. True if `done` held.
    @discardableResult
    public static func pump(_ clients: [UnixClient], timeout: Double, until done: () -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !done() {
            let open = clients.filter { !$0.eof }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, !open.isEmpty else { return done() }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let rc = poll(&fds, nfds_t(fds.count), Int32(min(left, 0.2) * 1000))
            guard rc > 0 else { continue }
            for (i, p) in fds.enumerated() where p.revents != 0 { try open[i].fill(timeout: 0) }
        }
        return true
    }

    private var lineCache: [String] = []
    private var linesUpTo = 0

    /// The received bytes as complete lines (a trailing partial line is left out). Split incrementally, so tests
    /// that poll it while megabytes of frames arrive do not fall behind the daemon by re-reading everything.
    public var receivedLines: [String] {
        let nl = UInt8(ascii: "\n")
        if let last = received.lastIndex(of: nl), last >= linesUpTo {
            for piece in received[linesUpTo...last].split(separator: nl, omittingEmptySubsequences: false).dropLast() {
                lineCache.append(String(decoding: piece, as: UTF8.self))
            }
            linesUpTo = last + 1
        }
        return lineCache
    }

    /// How far each needle of ``hasReceived(lineContaining:)`` has been searched, and whether it was found.
    private var searched: [String: (upTo: Int, found: Bool)] = [:]

    /// True once a complete received line contains `needle`. Each call searches only the lines that arrived since
    /// the last call for the same needle: tests poll this between reads, and rescanning every line each time made a
    /// debug-build reader fall thousands of records behind a call replayed at full speed.
    public func hasReceived(lineContaining needle: String) -> Bool {
        let lines = receivedLines
        var state = searched[needle] ?? (0, false)
        if !state.found {
            state.found = lines[state.upTo...].contains { $0.contains(needle) }
            state.upTo = lines.count
            searched[needle] = state
        }
        return state.found
    }
}

/// Calls `body` with a `sockaddr_un` for `path` (at most 107 bytes; longer is cut, and connect or bind then fails).
func withUnixAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
    }
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// Leaves a socket file at `path` that nobody listens on any more (bound, listened on, closed without unlinking),
/// as a crashed daemon leaves it.
public func makeStaleSocket(_ path: String) throws {
    let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketClientError("socket: \(String(cString: strerror(errno)))") }
    defer { Glibc.close(fd) }
    guard withUnixAddress(path, { bind(fd, $0, $1) }) == 0, listen(fd, 1) == 0 else {
        throw SocketClientError("bind \(path): \(String(cString: strerror(errno)))")
    }
}
