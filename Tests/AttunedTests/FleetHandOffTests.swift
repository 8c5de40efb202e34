import AttuneBus
import AttuneEvents
import AttuneFleet
import AttuneTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DaemonSuite {
    /// FleetNode in-process against a real nats-server: the hand-offs between the record thread (`publish`), the
    /// publisher thread, libnats' threads (acks, the error handler) and the control responders' tasks. Run under
    /// ThreadSanitizer by Tools/tsan_ring.sh.
    @Suite("FleetHandOff") struct FleetHandOffTests {
        @Test("records from two threads reach the stream once and in order while control requests are answered")
        func handOff() async throws {
            let dir = TempDir(prefix: "fleet-handoff")
            let nats = try NatsServer(dir: dir)
            var settings = FleetSettings(connection: NatsConnectionSettings(urls: [nats.url]), node: "h1")
            settings.heartbeatSeconds = 0.2
            settings.bufferRecords = 100_000
            let node = FleetNode(settings: settings, logger: Logger(label: "test"))
            let handler = ControlHandlerClosure { command, _ in .ok(["cmd": .string(command.name)]) }
            node.start(handler: handler) { [("calls", 2)] }

            let perCall = 3000
            let threads = (0..<2).map { t in
                Thread {
                    for i in 1...perCall {
                        let type = i == perCall ? "call_end" : "segment"
                        node.publish(recordLine(type, call: "c\(t)", i: i), call: "c\(t)", type: type)
                    }
                    node.publish(Array("{\"type\":\"hello\"}\n".utf8), call: nil, type: "hello")
                }
            }
            threads.forEach { $0.start() }

            let connection = try nats.connect()
            #expect(try await offPool { eventually(timeout: 20) { node.stats.connected } })
            let reply = try await offPool { try connection.request("attune.control", Array(#"{"cmd":"list"}"#.utf8), timeout: 10) }
            #expect(String(decoding: reply.data, as: UTF8.self) == #"{"ok":true,"node":"h1","cmd":"list"}"# + "\n")
            let bad = try await offPool { try connection.request("attune.control", Array(#"{"cmd":"nope"}"#.utf8), timeout: 10) }
            #expect(String(decoding: bad.data, as: UTF8.self).contains(#""ok":false,"node":"h1","error":"unknown command"#))

            #expect(try await offPool { eventually(timeout: 60) { node.stats.published == 2 * perCall && node.stats.buffered == 0 } })
            let server = nats.settings
            let stored = try await offPool { try readStream(server) }
            #expect(stored.count == 2 * perCall)
            for t in 0..<2 {
                let call = stored.filter { $0.call == "c\(t)" }
                #expect(call.map(\.seq) == (1...UInt64(perCall)).map { $0 })
                #expect(call.enumerated().allSatisfy { $0.element.line.contains(#""i":\#($0.offset + 1)}"#) })
                #expect(call.allSatisfy { $0.subject.hasPrefix("attune.h1.c\(t).") })
            }
            await node.shutdown(timeout: 2)
        }

        @Test("[nats] config: unknown keys, bad node names and half a TLS pair exit 78 naming the problem")
        func config() throws {
            let dir = TempDir(prefix: "fleet-config")
            let cases: [(String, [String], Int32, String)] = [
                ("[nats]\nurl = \"nats://127.0.0.1:4222\"\nbufer_records = 10\n", [], 78, "nats.bufer_records: unknown setting"),
                ("[nats]\nurl = \"nats://127.0.0.1:4222\"\n", ["--node", "a.b"], 78, "node 'a.b' contains '.'"),
                // Message ids are <node>:<call>:<seq> and call ids may hold ':': a node name may not.
                ("[nats]\nurl = \"nats://127.0.0.1:4222\"\n", ["--node", "n1:a"], 78, "node 'n1:a' contains ':'"),
                ("[nats]\ntls_cert = \"/etc/hostname\"\n", ["--nats", "nats://x:4222"], 78, "tls_cert and tls_key go together"),
                ("[nats]\n# url = \"nats://127.0.0.1:4222\"\n", [], 0, "nats off"),
                ("[nats]\nframes = true\n", ["--nats", "nats://127.0.0.1:4222", "--node", "n1"], 0,
                 "nats nats://127.0.0.1:4222 stream ATTUNE prefix attune"),
            ]
            for (i, (toml, flags, code, needle)) in cases.enumerated() {
                let file = dir.file("c\(i).toml")
                try toml.write(toFile: file, atomically: true, encoding: .utf8)
                let child = try Child(try builtBinary("attuned"), ["--config", file, "--check-config"] + flags, dir: dir, tag: "c\(i)")
                #expect(child.wait(timeout: 30) == code, "\(toml): \(child.stderr)")
                #expect((child.stderr + child.stdout).contains(needle), "\(toml): \(child.stderr)\(child.stdout)")
            }
        }

        @Test("a password or token in a NATS URL never reaches stdout, stderr or the logs")
        func credentialsRedacted() throws {
            #expect(NatsConnectionSettings.redacted("nats://user:s3cret@10.0.0.1:4222") == "nats://***@10.0.0.1:4222")
            #expect(NatsConnectionSettings.redacted("tls://tok3n@h:4222/x@y") == "tls://***@h:4222/x@y")
            #expect(NatsConnectionSettings.redacted("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222")
            #expect(NatsConnectionSettings.redacted("u:p@host") == "***@host")
            let dir = TempDir(prefix: "fleet-secret")
            let runs: [(String, [String])] = [
                ("attuned", ["--check-config", "--nats", "nats://user:s3cret@127.0.0.1:4222", "--node", "n1"]),
                // Nothing listens on port 1: the connect error names the server.
                ("attuned", ["--run-dir", dir.file("run"), "--nats-setup", "--nats", "nats://user:s3cret@127.0.0.1:1,nats://tok3n@127.0.0.1:1",
                             "--node", "n1"]),
                ("attune", ["tail", "--nats", "nats://user:s3cret@127.0.0.1:1"]),
            ]
            for (i, (binary, arguments)) in runs.enumerated() {
                let child = try Child(try builtBinary(binary), arguments, dir: dir, tag: "secret\(i)")
                #expect(child.wait(timeout: 30) != nil)
                let output = child.stdout + child.stderr
                #expect(output.contains("***@127.0.0.1"), "\(arguments): \(output)")
                #expect(!output.contains("s3cret") && !output.contains("tok3n"), "\(arguments): \(output)")
            }
        }

        /// README, Fleet: `--nats-setup` "says whether it created the stream or found one that fits". A stream on
        /// `attune.>` took the records but also every control request (JetStream answered `attune.control` before any
        /// node), and a memory stream or one with a short duplicate window was said to fit without a word.
        @Test("--nats-setup refuses a stream on attune.>, notes memory storage and a short duplicate window, and exits 69 without JetStream")
        func setupChecksTheStream() throws {
            let dir = TempDir(prefix: "fleet-setup-check")
            let nats = try NatsServer(dir: dir)
            let connection = try nats.connect()
            func create(_ name: String, _ config: String) throws {
                let reply = try connection.request("$JS.API.STREAM.CREATE.\(name)", Array(config.utf8), timeout: 5)
                #expect(!String(decoding: reply.data, as: UTF8.self).contains("\"error\""), "\(String(decoding: reply.data, as: UTF8.self))")
            }
            func setup(_ stream: String) throws -> Child {
                let child = try Child(try builtBinary("attuned"), ["--nats", nats.url, "--nats-setup", "--set", "nats.stream=\(stream)"],
                                      dir: dir, tag: "setup-\(stream)")
                #expect(child.wait(timeout: 60) != nil)
                return child
            }
            try create("WIDE", #"{"name":"WIDE","subjects":["attune.>"],"storage":"file","duplicate_window":120000000000}"#)
            let wide = try setup("WIDE")
            #expect(wide.status == 78, "\(wide.stdout) \(wide.stderr)")
            #expect(wide.stderr.contains("takes attune.>, which captures the control subjects"), "\(wide.stderr)")
            _ = try connection.request("$JS.API.STREAM.DELETE.WIDE", [], timeout: 5)  // streams may not overlap
            try create("MEM", #"{"name":"MEM","subjects":["attune.*.*.*"],"storage":"memory","duplicate_window":2000000000}"#)
            let memory = try setup("MEM")
            #expect(memory.status == 0, "\(memory.stderr)")
            #expect(memory.stdout.contains("memory storage: a server restart loses every record"), "\(memory.stdout)")
            #expect(memory.stdout.contains("duplicate window is shorter than duplicate_window_s (120 s)"), "\(memory.stdout)")
            nats.kill()

            // A server without JetStream is a service that is not there (69), not a stream that does not fit (78).
            let port = try freePort()
            let plain = try Child("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", "\(port)"], dir: dir, tag: "plain-nats")
            defer { plain.signal(SIGKILL); _ = plain.wait(timeout: 10) }
            #expect(eventually(timeout: 20) { plain.stderr.contains("Server is ready") })
            let noJS = try Child(try builtBinary("attuned"), ["--nats", "nats://127.0.0.1:\(port)", "--nats-setup"], dir: dir, tag: "setup-nojs")
            #expect(noJS.wait(timeout: 60) == 69, "\(noJS.stderr)")
            #expect(noJS.stderr.contains("JetStream"), "\(noJS.stderr)")
        }

        @Test("subject tokens: node names are checked, call ids made safe")
        func tokens() {
            #expect(FleetSettings.tokenProblem("n1") == nil)
            #expect(FleetSettings.tokenProblem("a.b") != nil)
            #expect(FleetSettings.tokenProblem("a b") != nil)
            #expect(FleetSettings.tokenProblem("") != nil)
            #expect(FleetSettings.token("c.1 *>") == "c_1___")
            #expect(FleetSettings.token("Cuộc-gọi") == "Cuộc-gọi")
            #expect(FleetSettings.nodeProblem("n1") == nil)
            #expect(FleetSettings.nodeProblem("n1:a") != nil)
            #expect(FleetSettings.nodeProblem("n1.a") != nil)
        }
    }

    /// FleetNode in-process against a real nats-server that refuses records: how the publisher tells a refusal it
    /// cannot get past from one it can wait out, and what it counts, logs and publishes in each case.
    @Suite("FleetFaults") struct FleetFaultTests {
        /// README, Fleet (Publishing): a record the stream refuses for good (here larger than its `max_msg_size`,
        /// JetStream error 10054) is dropped, counted in `dropped`, logged once for its call with the reason, and
        /// reported in the call's `gap` record, as buffer-full drops are; the call's other records and every other
        /// call go on. Before, the batch holding it was sent again ten times a second for ever.
        @Test("a record the stream refuses for good is dropped, counted and reported in a gap record; the rest flows")
        func permanentRefusal() async throws {
            let dir = TempDir(prefix: "fleet-refused")
            let nats = try NatsServer(dir: dir)
            try createStream(nats, #""subjects":["attune.*.*.*"],"storage":"file","max_msg_size":300,"duplicate_window":120000000000"#)
            let log = LogCapture()
            let node = FleetNode(settings: FleetSettings(connection: nats.settings, node: "r1"), logger: log.logger)
            // Records 4 and 7 of p1 are too large for the stream; p2 is all small.
            for i in 1...10 {
                let type = i == 10 ? "call_end" : "event"
                node.publish(recordLine(type, call: "p1", i: i, pad: i == 4 || i == 7 ? 400 : 0), call: "p1", type: type)
                node.publish(recordLine(type, call: "p2", i: i), call: "p2", type: type)
            }
            node.start(handler: nil)

            #expect(try await offPool { eventually(timeout: 30) { node.stats.buffered == 0 } }, "\(node.stats)")
            let stats = node.stats
            #expect(stats.dropped == 2 && stats.gaps == 1 && stats.published == 8 + 1 + 10, "\(stats)")
            let stored = try await offPool { [settings = nats.settings] in try readStream(settings) }
            #expect(stored.count == stats.published)
            let p1 = stored.filter { $0.call == "p1" }
            // The refused seqs are holes; the gap record that counts them follows what was sent with them.
            #expect(p1.map(\.seq) == [1, 2, 3, 5, 6, 8, 9, 10, 11], "\(p1.map(\.seq))")
            #expect(p1.last?.line.contains(#""type":"gap","v":1,"what":"records","count":2,"call":"p1""#) == true, "\(p1.last?.line ?? "")")
            #expect(stored.filter { $0.call == "p2" }.map(\.seq) == Array(1...10))
            let refusals = log.lines(containing: "refuses records of this call for good")
            #expect(refusals.count == 1, "\(refusals)")
            #expect(refusals.first.map { $0.contains("call=p1") && $0.contains("10054") && $0.contains("js_PublishMsgAsync") } == true,
                    "\(refusals)")
            #expect(log.lines(containing: "gap record queued").count == 1)
            #expect(log.lines(containing: "sending the batch again").isEmpty)
            await node.shutdown(timeout: 2)
        }

        /// README, Fleet (Publishing): a node that does not create streams, whose stream is deleted while it
        /// publishes, says so once in an error naming the stream (not ten warnings a second), shows it in
        /// `stream_missing` while `connected` stays true, keeps the records buffered without dropping any, and
        /// publishes them once the stream is back.
        @Test("a deleted stream this node may not create: one error naming it, stream_missing, records kept and published once it is back")
        func streamDeletedNotCreated() async throws {
            let dir = TempDir(prefix: "fleet-deleted")
            let nats = try NatsServer(dir: dir)
            _ = try JetStream(nats.connect()).ensureStream(StreamSettings())
            let log = LogCapture()
            var settings = FleetSettings(connection: nats.settings, node: "d1")
            settings.createStream = false
            settings.heartbeatSeconds = 0.2
            let node = FleetNode(settings: settings, logger: log.logger)
            node.start(handler: nil)
            for i in 1...5 { node.publish(recordLine("event", call: "m1", i: i), call: "m1", type: "event") }
            #expect(try await offPool { eventually(timeout: 30) { node.stats.published == 5 } }, "\(node.stats)")

            let deleted = try nats.connect().request("$JS.API.STREAM.DELETE.ATTUNE", [], timeout: 10)
            #expect(String(decoding: deleted.data, as: UTF8.self).contains(#""success":true"#))
            for i in 6...20 {
                let type = i == 20 ? "call_end" : "event"
                node.publish(recordLine(type, call: "m1", i: i), call: "m1", type: type)
            }
            #expect(try await offPool { eventually(timeout: 30) { node.stats.streamMissing } }, "\(node.stats)")
            // Long enough for the old hot loop's dozens of warnings.
            try await Task.sleep(for: .seconds(4))
            let stats = node.stats
            #expect(stats.connected && stats.buffered == 15 && stats.dropped == 0 && stats.published == 5, "\(stats)")
            let errors = log.lines(containing: "does not exist")
            #expect(errors.count == 1 && errors[0].hasPrefix("error") && errors[0].contains("stream ATTUNE"), "\(errors)")
            #expect(log.lines(containing: "the batch goes again").count <= 1)
            // The fleet's operators watch heartbeats, not each node's stats.
            let beat = try await offPool { [server = nats.settings] in
                let view = try FleetView(connection: NatsConnection(server))
                try view.update(for: 0.6)
                return view.nodes["d1"]?.heartbeat
            }
            #expect(beat?["nats"]?["stream_missing"] == .bool(true), "\(String(describing: beat))")

            _ = try JetStream(nats.connect()).ensureStream(StreamSettings())
            #expect(try await offPool { eventually(timeout: 30) { node.stats.buffered == 0 } }, "\(node.stats)")
            #expect(!node.stats.streamMissing && node.stats.published == 20)
            let stored = try await offPool { [settings = nats.settings] in try readStream(settings) }
            #expect(stored.map(\.seq) == Array(6...20))
            #expect(log.lines(containing: "takes records again").count == 1)
            await node.shutdown(timeout: 2)
        }

        /// README, Fleet (Shutdown): records still buffered when the daemon stops while NATS is away are lost, and
        /// the warning names each call that lost some, with how many (the first 20 calls, then a count of the rest),
        /// not just a total.
        @Test("stopping while NATS is away names the calls whose records are lost, and how many")
        func lossAtShutdownNamed() async throws {
            let log = LogCapture()
            let node = FleetNode(settings: FleetSettings(connection: NatsConnectionSettings(urls: ["nats://127.0.0.1:\(try freePort())"]),
                                                         node: "z1"), logger: log.logger)
            node.start(handler: nil)
            // Call k has k + 1 records, the last its call_end: 325 in all.
            for k in 0..<25 {
                let call = "b\(k)"
                for i in 0...k { node.publish(recordLine(i == k ? "call_end" : "event", call: call, i: i), call: call, type: i == k ? "call_end" : "event") }
            }
            await node.shutdown(timeout: 1)
            let lost = log.lines(containing: "not published to NATS")
            #expect(lost.count == 1 && lost[0].hasPrefix("warning"), "\(lost)")
            let calls = (0..<20).map { "b\($0) (\($0 + 1))" }.joined(separator: ", ")
            #expect(lost.first.map { $0.contains("records=325") && $0.contains("calls=\(calls) ") && $0.contains("more_calls=5") } == true,
                    "\(lost)")
        }
    }
}
