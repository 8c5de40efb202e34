import AttuneFleet
import AttuneTestSupport
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A free TCP port on loopback (bound, read, closed: a race with other processes is possible but unlikely).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            bind(fd, p, len) == 0 && getsockname(fd, p, &len) == 0
        }
    }
    guard ok else { throw DaemonTestFailure("no free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A `nats-server -js` of the test's own on a loopback port, storing in the test's temp dir; killed with the value.
final class NatsServer {
    let dir: TempDir
    let port: Int
    let token: String?
    private(set) var process: Child?
    private var starts = 0
    var url: String { "nats://127.0.0.1:\(port)" }
    var store: String { dir.file("jetstream") }

    init(dir: TempDir, token: String? = nil) throws {
        self.dir = dir
        self.port = try freePort()
        self.token = token
        try start()
    }

    /// Starts (or restarts, on the same port and store) and waits until it takes connections.
    func start() throws {
        starts += 1
        var args = ["-js", "-a", "127.0.0.1", "-p", "\(port)", "-sd", store]
        if let token { args += ["--auth", token] }
        let server = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let server else { throw DaemonTestFailure("nats-server not installed (Tools/setup installs it)") }
        let child = try Child(server, args, dir: dir, tag: "nats-server-\(starts)")
        process = child
        let ready = eventually(timeout: 20) { child.stderr.contains("Server is ready") || child.poll() != nil }
        guard ready, child.poll() == nil else { throw DaemonTestFailure("nats-server did not start: \(child.stderr)") }
    }

    func kill() {
        process?.signal(SIGKILL)
        _ = process?.wait(timeout: 10)
        process = nil
    }

    deinit { kill() }

    var settings: NatsConnectionSettings {
        var s = NatsConnectionSettings(urls: [url])
        s.token = token
        return s
    }

    func connect() throws -> NatsConnection { try NatsConnection(settings) }
}

/// One record as the stream holds it.
struct StoredRecord {
    var subject: String
    var node: String
    var call: String
    var seq: UInt64
    var line: String
}

/// Everything in the stream now, in stream order: read with an ordered consumer until nothing more comes.
func readStream(_ nats: NatsServer, stream: String = "ATTUNE", subject: String = "attune.*.*.*") throws -> [StoredRecord] {
    try readStream(nats.settings, stream: stream, subject: subject)
}

func readStream(_ settings: NatsConnectionSettings, stream: String = "ATTUNE", subject: String = "attune.*.*.*") throws -> [StoredRecord] {
    let connection = try NatsConnection(settings)
    let js = try JetStream(connection)
    let total = try js.streamMessageCount(stream)
    let sub = try js.subscribe(stream: stream, subject: subject, start: .all)
    var out: [StoredRecord] = []
    while UInt64(out.count) < total, let m = try sub.next(timeout: 5) {
        let id = (m.msgID ?? "").split(separator: ":", omittingEmptySubsequences: false)
        guard id.count >= 3, let seq = UInt64(id[id.count - 1]) else {
            throw DaemonTestFailure("record without a Nats-Msg-Id node:call:seq: \(m.subject) \(m.msgID ?? "nil")")
        }
        out.append(StoredRecord(subject: m.subject, node: String(id[0]), call: id[1..<(id.count - 1)].joined(separator: ":"),
                                seq: seq, line: try record(m.data)))
    }
    return out
}

/// A stored message as a socket line without its newline; the publisher sends the socket's bytes, newline and all.
func record(_ data: [UInt8]) throws -> String {
    guard data.last == UInt8(ascii: "\n"), data.dropLast().firstIndex(of: UInt8(ascii: "\n")) == nil else {
        throw DaemonTestFailure("stored message is not one NDJSON line: \(String(decoding: data.prefix(200), as: UTF8.self))")
    }
    return String(decoding: data.dropLast(), as: UTF8.self)
}

/// The `call` of a record line.
func callOf(_ line: String) -> String? { (try? jsonObject(line))?["call"] as? String }

/// The records a socket subscriber got, by call, in order (hello and subscribed left out).
func socketRecords(_ client: UnixClient) -> [String: [String]] {
    var out: [String: [String]] = [:]
    for line in published(client) {
        guard let call = callOf(line) else { continue }
        out[call, default: []].append(line)
    }
    return out
}

/// How most fleet tests begin: a temp dir, a nats-server of the test's own storing in it, and a short call WAV in it.
func fleetSetup(_ prefix: String, callSeconds: Double) throws -> (dir: TempDir, nats: NatsServer, wav: String) {
    let dir = TempDir(prefix: prefix)
    return (dir, try NatsServer(dir: dir), try shortCall(dir, seconds: callSeconds))
}

/// Writes `text` to the file `name` in `dir` and returns its path, for `--config`.
func configFile(_ dir: TempDir, _ name: String, _ text: String) throws -> String {
    let path = dir.file(name)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A short "voice" WAV for file: sources.
func shortCall(_ dir: TempDir, seconds: Double, name: String = "short.wav") throws -> String {
    let path = dir.file(name)
    try wavData(rate: 8000, channels: 2, samples: voiceLikeSamples(rate: 8000, seconds: seconds, channels: 2))
        .write(to: URL(fileURLWithPath: path))
    return path
}

/// Runs `body` on a thread of its own and waits without holding a thread of the cooperative pool, which the code
/// under test may need (FleetNode answers control requests in tasks) while other suites block the rest of it.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Every line a `Logger` was given (level, message, metadata), for tests that read what an in-process FleetNode
/// logged; the daemon's own tests read its stderr instead.
final class LogCapture: Sendable {
    fileprivate let lines = Mutex<[String]>([])

    var logger: Logger { Logger(label: "test") { _ in Handler(capture: self) } }

    /// The lines so far that contain `text`.
    func lines(containing text: String) -> [String] { lines.withLock { $0.filter { $0.contains(text) } } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.lines.withLock { $0.append("\(event.level) \(event.message) \(fields)") }
        }
    }
}

/// Makes a stream as an operator's tool would, through `$JS.API.STREAM.CREATE`, so a test can give it settings
/// `ensureStream` never writes (`max_msg_size`, …). `config` is the stream's JSON config without its name.
func createStream(_ nats: NatsServer, name: String = "ATTUNE", _ config: String) throws {
    let request = #"{"name":"\#(name)",\#(config)}"#
    let reply = try nats.connect().request("$JS.API.STREAM.CREATE.\(name)", Array(request.utf8), timeout: 10)
    let answer = String(decoding: reply.data, as: UTF8.self)
    guard !answer.contains(#""error""#) else { throw DaemonTestFailure("$JS.API.STREAM.CREATE.\(name): \(answer)") }
}

/// One record line as the engine writes them (`type`, `v`, `call`, then `i`), with `pad` bytes of padding to make it
/// as long as a test needs.
func recordLine(_ type: String, call: String, i: Int, pad: Int = 0) -> [UInt8] {
    let padding = pad > 0 ? #","pad":"\#(String(repeating: "x", count: pad))""# : ""
    return Array((#"{"type":"\#(type)","v":1,"call":"\#(call)","i":\#(i)\#(padding)}"# + "\n").utf8)
}
