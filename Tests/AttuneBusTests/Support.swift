import AttuneBus
import AttuneEvents
import AttuneTestSupport
import Foundation
import NIOConcurrencyHelpers
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
    return (line.bytes, RecordRoute(type: type, call: call, kind: kind))
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

/// Descriptors this process holds for sockets bound inside `directory`: listeners and every connection they
/// accepted (Linux lists an accepted socket under its listener's bound path in /proc/net/unix; client ends have no
/// path). The bound path is the temporary name the socket file was renamed from, hence a directory, not a file.
/// Counting only these keeps the measurement to the bus under test while other suites open and close sockets.
func socketCount(boundInside directory: String) -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    let inodes = Set(entries.compactMap { name -> String? in
        var buf = [UInt8](repeating: 0, count: 256)
        let n = buf.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { readlink("/proc/self/fd/\(name)", $0.baseAddress!, 255) }
        }
        guard n > 0 else { return nil }
        let target = String(decoding: buf[0..<n], as: UTF8.self)
        guard target.hasPrefix("socket:["), target.hasSuffix("]") else { return nil }
        return String(target.dropFirst(8).dropLast())
    })
    return procNetUnix().split(separator: "\n").dropFirst().filter { line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        return fields.count >= 8 && fields[7].hasPrefix(directory + "/") && inodes.contains(String(fields[6]))
    }.count
}

/// /proc/net/unix read to its end with read(2). Foundation's file reading came back without the listener's line while
/// other suites held hundreds of sockets (the table is generated as it is read, a page at a time).
private func procNetUnix() -> String {
    let fd = open("/proc/net/unix", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
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

/// Readers on their own threads, each collecting `lines` lines, with their progress visible to the publisher.
struct Readers {
    let tasks: [Task<[UInt8], Error>]
    let progress: NIOLockedValueBox<[Int]>

    init(_ clients: [UnixClient], lines: Int) {
        let progress = NIOLockedValueBox([Int](repeating: 0, count: clients.count))
        self.progress = progress
        tasks = clients.enumerated().map { (i, client) in
            let box = UncheckedBox(client)
            return onThread {
                // The publisher checks each burst against its own deadline (`waitFor`); a deadline for the whole
                // stream here would end a reader mid-run once a loaded machine made the bursts add up to it.
                try box.value.readBytes(lines: lines, timeout: 600) { n in progress.withLockedValue { $0[i] = n } }
            }
        }
    }

    /// Waits up to 60 s until every reader has `lines` lines.
    func waitFor(_ lines: Int) async -> Bool {
        await eventually(timeout: 60) { () async -> Bool in progress.withLockedValue { $0.min()! } >= lines }
    }

    func streams() async throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for t in tasks { out.append(try await t.value) }
        return out
    }
}

/// Publishes records `0..<total` in bursts from `threads` threads at once (in `seq` order when one), waiting after each burst until the readers
/// have it: bursts much larger than a socket buffer, yet a subscriber that reads never falls a whole queue behind
/// on a loaded 2-core machine (which an unpaced loop would make it do, legitimately losing records).
func publishPaced(_ bus: EventBus, total: Int, burst: Int = 1000, padding: Int = 100, threads: Int = 1,
                  readers: Readers, afterBurst: (Int) -> Void = { _ in }) async throws {
    for start in stride(from: 0, to: total, by: burst) {
        let end = min(start + burst, total)
        let publishers = (0..<threads).map { p in
            onThread {
                for i in stride(from: start + p, to: end, by: threads) {
                    let (bytes, route) = record(i, padding: padding)
                    bus.publish(bytes, route: route)
                }
            }
        }
        for p in publishers { _ = try await p.value }
        #expect(await readers.waitFor(end), "readers stalled at \(readers.progress.withLockedValue { $0 }) of \(end)")
        afterBurst(end)
    }
}

/// Whether all streams are byte-identical (a Bool, so a failure does not print megabytes of bytes).
func allIdentical(_ streams: [[UInt8]]) -> Bool {
    streams.allSatisfy { $0 == streams[0] }
}

/// The `seq` numbers of a stream's records, in order.
func seqs(_ stream: [UInt8]) -> [Int] {
    stream.split(separator: UInt8(ascii: "\n")).compactMap { line in
        if case .number(let n)? = try? JSONValue.parse(line)["seq"] { return Int(n) }
        return nil
    }
}
