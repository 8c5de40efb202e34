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

// `UnixClient`, the plain blocking socket client, lives in AttuneTestSupport (the daemon tests use it too).

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
