import AttuneBus
import AttuneEvents
import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A plain blocking Unix-socket client (no NIO), as a subscriber or `attune ctl` would be.
final class UnixClient {
    let fd: CInt
    private var buffer: [UInt8] = []
    private(set) var eof = false

    init(path: String) throws {
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw TestFailure("connect \(path): errno \(e)")
        }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send: errno \(errno)") }
            offset += n
        }
    }

    /// Reads whatever arrives within `timeout` seconds into the buffer; false on timeout.
    @discardableResult
    private func fill(timeout: Double) throws -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&pfd, 1, Int32(timeout * 1000))
        guard rc > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { eof = true; return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// The next line (without its newline), or nil at EOF or after `timeout` seconds without one.
    func readLine(timeout: Double = 5) throws -> String? {
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

    /// Raw bytes until `count` newlines have arrived (or the timeout).
    func readBytes(lines count: Int, timeout: Double = 20, progress: ((Int) -> Void)? = nil) throws -> [UInt8] {
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
    func waitForEOF(timeout: Double = 5) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !eof {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return false }
            buffer.removeAll()
            try fill(timeout: left)
        }
        return true
    }
}

/// Parses a line the bus wrote, for field checks.
func json(_ line: String?) throws -> JSONValue {
    guard let line else { throw TestFailure("no line") }
    return try JSONValue.parse(Array(line.utf8))
}

/// A test record: `{"type":"segment","v":1,"call":CALL,"seq":N,...}` with a route to match.
func record(_ seq: Int, call: String = "c1", type: String = "segment", kind: String? = nil, padding: Int = 40)
    -> ([UInt8], RecordRoute)
{
    var line = JSONLine()
    line.begin()
    line.field("type", type)
    line.field("v", 1)
    line.field("call", call)
    line.field("seq", seq)
    if let kind { line.field("kind", kind) }
    line.field("pad", String(repeating: "x", count: padding))
    line.end()
    return (line.bytes, RecordRoute(type: type, call: call, kind: kind, isFrame: type == "frame"))
}

/// Runs `body` on its own thread (not the test's cooperative pool, which has two threads on this machine), so
/// blocking readers can run side by side with the publisher.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> Task<T, Error> {
    Task.detached {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}

/// Polls `condition` every 10 ms for up to `timeout` seconds.
func eventually(timeout: Double = 5, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// Unix-socket descriptors this process holds (other suites running alongside open files and pipes, never sockets).
func openSocketCount() -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return entries.filter { name in
        var buf = [UInt8](repeating: 0, count: 256)
        let n = buf.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { readlink("/proc/self/fd/\(name)", $0.baseAddress!, 255) }
        }
        return n > 0 && String(decoding: buf[0..<n], as: UTF8.self).hasPrefix("socket:")
    }.count
}

/// All descriptors this process holds.
func openDescriptorCount() -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
}

/// Resident set size in bytes, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// A bus in a fresh temporary run directory.
func makeBus(_ dir: TempDir, configure: (inout EventBusConfiguration) -> Void = { _ in }) -> EventBus {
    var config = EventBusConfiguration(socketPath: dir.file("events.sock"),
                                       hello: HelloRecord(version: "test", node: "n1"))
    configure(&config)
    return EventBus(configuration: config)
}

extension UnixClient {
    /// `readLine` on a thread of its own. Control tests wait for replies that the daemon's async handler produces
    /// on the cooperative pool; blocking a pool thread (two on this machine) in the test could starve it.
    func line(timeout: Double = 5) async throws -> String? {
        let box = UncheckedBox(self)
        return try await onThread { try box.value.readLine(timeout: timeout) }.value
    }

    /// `waitForEOF` on a thread of its own.
    func eofOffPool(timeout: Double = 5) async throws -> Bool {
        let box = UncheckedBox(self)
        return try await onThread { try box.value.waitForEOF(timeout: timeout) }.value
    }
}
