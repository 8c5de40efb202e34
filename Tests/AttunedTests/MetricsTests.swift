import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `METHOD path` (GET by default) over a real TCP connection to 127.0.0.1:`port`; the status code and the body. The
/// endpoint closes the connection after one response, so the body is everything after the header up to end-of-file.
func httpGet(port: Int, _ path: String, method: String = "GET", timeout: Double = 10) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw DaemonTestFailure("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw DaemonTestFailure("connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
    let request = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
        throw DaemonTestFailure("send to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
    }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let left = deadline.timeIntervalSinceNow
        guard left > 0, poll(&pfd, 1, Int32(left * 1000)) > 0 else {
            throw DaemonTestFailure("\(method) \(path) on port \(port): no complete response in \(timeout) s")
        }
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { break }
        response.append(contentsOf: chunk[0..<n])
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let end = text.range(of: "\r\n\r\n"), let status = Int(text.split(separator: " ").dropFirst().first ?? "") else {
        throw DaemonTestFailure("\(method) \(path): not an HTTP response: \(text.prefix(200))")
    }
    return (status, String(text[end.upperBound...]))
}

/// The value of the sample `name` (the whole name with its labels, e.g. `x_bucket{le="+Inf"}`) in Prometheus text.
func metric(_ name: String, in text: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}

extension DaemonSuite {
    @Suite("Prometheus metrics") struct MetricsTests {
        /// Port 0 in the config, the port the daemon logs: no window in which another process on this shared
        /// machine takes a port the test picked and freed.
        static func metricsPort(_ daemon: Daemon) throws -> Int {
            guard daemon.logged("serving metrics"),
                  let line = daemon.loggedLines("serving metrics").first,
                  let range = line.range(of: #"listen=127\.0\.0\.1:[0-9]+"#, options: .regularExpression),
                  let port = Int(line[range].split(separator: ":").last ?? ""), port > 0 else {
                throw DaemonTestFailure("no metrics port logged: \(daemon.process.stderr)")
            }
            return port
        }

        @Test("/metrics over TCP: calls active, frames, dropped samples, subscriber gaps, lag histogram and xruns agree with stats")
        func scrape() throws {
            let dir = TempDir(prefix: "attuned-metrics")
            let config = dir.file("attune.toml")
            // A 10-record queue, so a subscriber that never reads loses frame records: the gap counter has
            // something to count.
            try """
            [metrics]
            listen = "127.0.0.1:0"
            [events]
            queue_records = 10
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try Daemon(["--config", config, "--ring-seconds", "10"], dir: dir, logLevel: "info")
            let port = try Self.metricsPort(daemon)
            let stalled = try daemon.subscribe(#"{"subscribe":{"frames":true}}"#)

            // One paced call keeps a call live across several of the sampler's one-second ticks; the speed=max one
            // pushes a whole call's frames through quickly.
            try daemon.start("paced", "file:\(sampleCall)")
            try daemon.start("fast", "file:\(sampleCall)?speed=max")
            var live = ""
            #expect(try eventually(timeout: 30) {
                live = try httpGet(port: port, "/metrics").body
                return (metric("attune_calls_active", in: live) ?? 0) >= 1 && (metric("attune_frames_per_second", in: live) ?? 0) > 0
                    && (metric("attune_call_lag_seconds_count", in: live) ?? 0) >= 1
            }, "no live call in the metrics: \(live)")
            #expect(live.contains("# TYPE attune_call_lag_seconds histogram"))
            let lagCount = metric("attune_call_lag_seconds_count", in: live)
            #expect(lagCount != nil && metric(#"attune_call_lag_seconds_bucket{le="+Inf"}"#, in: live) == lagCount)
            #expect(metric("attune_subscribers", in: live) == 1)
            // No NATS here, so none of its series (README: they come "with NATS").
            #expect(!live.contains("attune_nats_"), "\(live)")

            #expect(eventually(timeout: 120) { (try? daemon.calls()) == ["paced"] }, "the speed=max call did not end")
            #expect(try daemon.command(#"{"cmd":"stop","call":"paced"}"#)["ok"] as? Bool == true)
            #expect(eventually(timeout: 30) { (try? daemon.calls())?.isEmpty == true })

            // The last records (call_end) still reach the stalled subscriber's queue, and get dropped, after the list
            // is empty; once that settles, each tick of the sampler must agree with `stats`.
            var stats: [String: Any] = [:]
            var final = ""
            func agree() -> Bool {
                metric("attune_calls_active", in: final) == 0
                    && metric("attune_frames_analysed_total", in: final) == stats["frames_analysed"] as? Double
                    && metric("attune_samples_dropped_total", in: final) == stats["samples_dropped"] as? Double
                    && metric("attune_subscriber_records_dropped_total", in: final) == stats["subscriber_records_dropped"] as? Double
                    && metric("attune_capture_xruns_total", in: final) == stats["xruns"] as? Double
            }
            #expect(try eventually(timeout: 15) {
                stats = try daemon.command(#"{"cmd":"stats"}"#)
                final = try httpGet(port: port, "/metrics").body
                return agree()
            }, "metrics \(final) vs stats \(stats)")
            #expect((stats["frames_analysed"] as? Double ?? 0) >= 241_000, "the speed=max call alone is 241,654 frames: \(stats)")
            #expect((stats["subscriber_records_dropped"] as? Double ?? 0) > 0, "the stalled subscriber lost nothing: \(stats)")
            #expect(metric("attune_capture_xruns_total", in: final) == 0)

            #expect(try httpGet(port: port, "/other").status == 404)
            // Uptime checks probe with HEAD: the headers of a GET, no body. Another method is 405, not 404.
            let head = try httpGet(port: port, "/metrics", method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty, "\(head)")
            #expect(try httpGet(port: port, "/metrics", method: "POST").status == 405)
            withExtendedLifetime(stalled) {}
            #expect(daemon.terminate() == 0)
        }

        @Test("--check-config refuses metrics beyond loopback with 78 unless the file says allow_remote = true", arguments: [
            ("[metrics]\nlisten = \"0.0.0.0:9464\"\n", [String](), 78, "metrics.listen: '0.0.0.0:9464': metrics are served on loopback only"),
            ("", ["--metrics", "0.0.0.0:9464"], 78, "--metrics: '0.0.0.0:9464': metrics are served on loopback only"),
            ("[metrics]\nlisten = \"192.168.1.5:9464\"\nallow_remote = false\n", [], 78, "allow_remote = true"),
            ("[metrics]\nallow_remote = \"yes\"\n", [], 78, "metrics.allow_remote: expected true or false"),
            ("[metrics]\nlisten = \"127.0.0.1:65536\"\n", [], 78, "metrics.listen: '127.0.0.1:65536' is not HOST:PORT"),
            ("[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_remote = true\n", [], 0, "metrics 0.0.0.0:9464"),
            ("[metrics]\nallow_remote = true\n", ["--metrics", "0.0.0.0:9464"], 0, "metrics 0.0.0.0:9464"),
            ("[metrics]\nlisten = \"[::1]:0\"\n", [], 0, "metrics ::1:0"),
        ])
        func exposure(_ text: String, _ flags: [String], _ status: Int32, _ expected: String) throws {
            let dir = TempDir(prefix: "attuned-metrics-conf")
            let config = dir.file("attune.toml")
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let child = try runAttuned(["--config", config, "--check-config"] + flags, dir: dir)
            #expect(child.status == status, "\(child.stderr)")
            let said = status == 0 ? child.stdout : child.stderr
            #expect(said.contains(expected), "\(said)")
            if status != 0 && flags.isEmpty { #expect(child.stderr.contains(config), "\(child.stderr)") }
        }
    }
}
