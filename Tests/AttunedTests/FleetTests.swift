import AttuneBus
import AttuneFleet
import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Checks one call's stored records against what a socket subscriber of its node saw: the same lines, in order,
/// with `Nats-Msg-Id` sequences 1, 2, 3…; returns a description of the first difference, or nil.
func sameAsSocket(_ stored: [StoredRecord], _ socket: [String], node: String, call: String) -> String? {
    if stored.map(\.line) != socket {
        let i = zip(stored, socket).enumerated().first { $0.element.0.line != $0.element.1 }?.offset
        return "call \(call): stream has \(stored.count) records, socket \(socket.count)"
            + (i.map { "; first difference at \($0): \(stored[$0].line.prefix(120)) vs \(socket[$0].prefix(120))" } ?? "")
    }
    if stored.map(\.seq) != (1...UInt64(max(1, stored.count))).prefix(stored.count).map({ $0 }) {
        return "call \(call): sequences \(stored.map(\.seq).prefix(20))… are not 1, 2, 3…"
    }
    if let bad = stored.first(where: { $0.node != node || !$0.subject.hasPrefix("attune.\(node).\(call).") }) {
        return "call \(call): record on \(bad.subject) from \(bad.node)"
    }
    return nil
}

/// The `"nats"` object of a node's `stats` reply.
func natsStats(_ node: Daemon) throws -> [String: Any] {
    try node.command(#"{"cmd":"stats"}"#)["nats"] as? [String: Any] ?? [:]
}

/// Whether every node has published everything it holds.
func drained(_ nodes: [Daemon]) throws -> Bool {
    for node in nodes where try natsStats(node)["buffered"] as? Int != 0 { return false }
    return true
}

extension DaemonSuite {
    @Suite("Fleet") struct FleetTests {
        /// Three nodes, 60 calls started through the `attune.control` queue group: the calls spread over all three,
        /// and the stream holds every record of every call exactly once, in order, byte for byte what the node's
        /// socket subscriber got. `list` on `attune.control.all` is answered by each node; `--nats-setup` says what
        /// it did.
        @Test("60 calls over three nodes arrive once and in order, identical to the sockets")
        func sixtyCalls() throws {
            let dir = TempDir(prefix: "fleet-60")
            let nats = try NatsServer(dir: dir)
            let setup = try Child(try builtBinary("attuned"), ["--nats", nats.url, "--nats-setup", "--node", "setup"],
                                  dir: dir, tag: "setup1")
            #expect(setup.wait(timeout: 60) == 0, "\(setup.stderr)")
            #expect(setup.stdout.contains("created stream ATTUNE"), "\(setup.stdout)")
            let again = try Child(try builtBinary("attuned"), ["--nats", nats.url, "--nats-setup"], dir: dir, tag: "setup2")
            #expect(again.wait(timeout: 60) == 0)
            #expect(again.stdout.contains("stream ATTUNE exists and fits"), "\(again.stdout)")

            let wav = try shortCall(dir, seconds: 1.5)
            let config = dir.file("fleet.toml")
            // Subscriber queues far larger than the default 1 MB: three daemons replaying at full speed beside
            // nats-server can starve this one reading thread of a two-core machine long enough to fill 1 MB, and the
            // drops and gaps that follow are FanOutTests' subject, not this test's (a CI dry run once lost the ends of
            // four calls on one socket that way, while the stream had them all).
            try "[nats]\nframes = true\nheartbeat_s = 0.5\n[events]\nqueue_records = 100000\nqueue_bytes = 67108864\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
            let names = ["n1", "n2", "n3"]
            let nodes = try names.map { name in
                try Daemon(["--config", config, "--nats", nats.url, "--node", name, "--workers", "1"],
                           dir: TempDir(prefix: "fleet-\(name)"))
            }
            let subscribers = try nodes.map { try $0.subscribe(#"{"subscribe":{"frames":true}}"#) }

            let connection = try nats.connect()
            let view = try FleetView(connection: connection)
            #expect(try eventually(timeout: 30) { try view.update(for: 0.2); return view.alive() == names },
                    "heartbeats: \(view.alive())")

            var nodeOf: [String: String] = [:]
            for i in 0..<60 {
                let call = "f\(i)"
                let reply: NatsMessage
                do {
                    reply = try connection.request("attune.control",
                        Array(#"{"cmd":"start","call":"\#(call)","source":"file:\#(wav)?speed=max"}"#.utf8), timeout: 20)
                } catch {
                    throw DaemonTestFailure("start \(call): \(error); nodes said: " + nodes.map { $0.process.stderr.suffix(1500) }.joined(separator: "\n---\n"))
                }
                let object = try jsonObject(String(decoding: reply.data, as: UTF8.self))
                #expect(object["ok"] as? Bool == true, "start \(call): \(object)")
                nodeOf[call] = object["node"] as? String
            }
            let spread = Dictionary(grouping: nodeOf.keys, by: { nodeOf[$0]! }).mapValues(\.count)
            #expect(Set(spread.keys) == Set(names), "calls per node: \(spread)")

            // Each received line is looked at once for a call's end ("node/call"), not once per call: the reader must
            // keep up with three nodes at full speed.
            var endedCalls = Set<String>()
            var scanned = [Int](repeating: 0, count: subscribers.count)
            let endPrefix = #"{"type":"call_end","v":1,"call":""#
            let ended = try UnixClient.pump(subscribers, timeout: 300) {
                for (i, subscriber) in subscribers.enumerated() {
                    let lines = subscriber.receivedLines
                    for line in lines[scanned[i]...] where line.hasPrefix(endPrefix) {
                        endedCalls.insert(names[i] + "/" + line.dropFirst(endPrefix.count).prefix { $0 != "\"" })
                    }
                    scanned[i] = lines.count
                }
                return nodeOf.allSatisfy { call, node in endedCalls.contains(node + "/" + call) }
            }
            let gaps = subscribers.map { $0.receivedLines.filter { $0.hasPrefix(#"{"type":"gap""#) }.count }
            #expect(ended, "not every call ended on its node's socket: \(nodeOf.filter { !endedCalls.contains($1 + "/" + $0) }.keys.sorted()) did not; gap records per socket \(gaps)")

            // list on .all: one reply per node, naming it.
            let replies = try connection.gather("attune.control.all", Array(#"{"cmd":"list"}"#.utf8), timeout: 2)
            let replyNodes = try replies.map { try jsonObject(String(decoding: $0.data, as: UTF8.self))["node"] as? String ?? "" }
            #expect(replyNodes.sorted() == names)
            // start on .all is refused: it would start the call on every node.
            let refused = try connection.gather("attune.control.all",
                Array(#"{"cmd":"start","call":"x","source":"file:\#(wav)"}"#.utf8), timeout: 1)
            #expect(refused.count == 3 && refused.allSatisfy { String(decoding: $0.data, as: UTF8.self).contains(#""ok":false"#) })

            // Wait until every node has nothing left to publish, then compare the stream with the sockets.
            #expect(try eventually(timeout: 60) {
                try drained(nodes)
            })
            let stored = try readStream(nats)
            let byCall = Dictionary(grouping: stored, by: \.call)
            #expect(Set(byCall.keys) == Set(nodeOf.keys))
            var total = 0
            for (call, node) in nodeOf.sorted(by: { $0.key < $1.key }) {
                let socket = socketRecords(subscribers[names.firstIndex(of: node)!])[call] ?? []
                total += socket.count
                if let problem = sameAsSocket(byCall[call] ?? [], socket, node: node, call: call) {
                    Issue.record("\(problem)")
                }
            }
            #expect(stored.count == total)
            #expect(total > 60 * 300, "frames were published (\(total) records)")

            // attune tail --nats: one call, exactly as its node's socket had it (frames too), ending at its call_end;
            // and every call's call_end from all three nodes.
            let tail = try Child(try builtBinary("attune"), ["tail", "--nats", nats.url, "--call", "f7", "--frames"],
                                 dir: dir, tag: "tail-f7")
            #expect(tail.wait(timeout: 60) == 0, "\(tail.stderr)")
            let f7 = socketRecords(subscribers[names.firstIndex(of: nodeOf["f7"]!)!])["f7"] ?? []
            #expect(tail.stdout.split(separator: "\n").map(String.init) == f7)
            let ends = try Child(try builtBinary("attune"), ["tail", "--nats", nats.url, "--type", "call_end", "--count", "60"],
                                 dir: dir, tag: "tail-ends")
            #expect(ends.wait(timeout: 60) == 0, "\(ends.stderr)")
            #expect(Set(ends.stdout.split(separator: "\n").compactMap { callOf(String($0)) }) == Set(nodeOf.keys))
            for node in nodes { #expect(node.terminate() == 0) }
        }

        /// nats-server SIGKILLed mid-call and restarted on the same port and store: a node with room in its buffers
        /// loses nothing and stores nothing twice; a node with a tiny buffer drops, counts, and publishes a `gap`
        /// with the count once NATS is back; the sockets never notice.
        @Test("NATS killed and restarted: nothing lost within the bound, no duplicates, drops published")
        func natsRestart() throws {
            let (dir, nats, wav) = try fleetSetup("fleet-restart", callSeconds: 6)
            let roomy = try configFile(dir, "roomy.toml", "[nats]\nframes = true\nheartbeat_s = 0.5\n")
            let tight = try configFile(dir, "tight.toml", "[nats]\nframes = true\nheartbeat_s = 0.5\nbuffer_records = 50\n")
            let a = try Daemon(["--config", roomy, "--nats", nats.url, "--node", "roomy", "--workers", "1"], dir: TempDir(prefix: "fleet-roomy"))
            let b = try Daemon(["--config", tight, "--nats", nats.url, "--node", "tight", "--workers", "1"], dir: TempDir(prefix: "fleet-tight"))
            let subA = try a.subscribe(#"{"subscribe":{"frames":true}}"#)
            let subB = try b.subscribe(#"{"subscribe":{"frames":true}}"#)
            #expect(try eventually(timeout: 30) {
                try natsStats(a)["connected"] as? Bool == true && natsStats(b)["connected"] as? Bool == true
            })
            // Paced at 2x: the calls last 3 s, the outage covers about 1.5 s of them.
            try a.start("ra", "file:\(wav)?speed=2")
            try b.start("tb", "file:\(wav)?speed=2")
            _ = try UnixClient.pump([subA, subB], timeout: 0.8) { false }
            nats.kill()
            _ = try UnixClient.pump([subA, subB], timeout: 1.5) { false }
            try nats.start()
            let ended = try UnixClient.pump([subA, subB], timeout: 120) {
                subA.hasReceived(lineContaining: #""type":"call_end""#) && subB.hasReceived(lineContaining: #""type":"call_end""#)
            }
            #expect(ended)
            #expect(try eventually(timeout: 60) {
                try drained([a, b])
            })
            let stats = [try natsStats(a), try natsStats(b)]
            let stored = try readStream(nats)
            let ids = stored.map { "\($0.node):\($0.call):\($0.seq)" }
            #expect(Set(ids).count == ids.count, "duplicates in the stream")

            // Roomy: everything, once, in order.
            let socketA = socketRecords(subA)["ra"] ?? []
            if let problem = sameAsSocket(stored.filter { $0.call == "ra" }, socketA, node: "roomy", call: "ra") {
                Issue.record("\(problem)")
            }
            #expect(stats[0]["dropped"] as? Int == 0, "\(stats[0])")
            #expect((stats[0]["retries"] as? Int ?? 0) >= 0)

            // Tight: what is stored is the socket's stream with holes, each hole counted by a gap record.
            let socketB = socketRecords(subB)["tb"] ?? []
            let storedB = stored.filter { $0.call == "tb" }
            var gapsBefore = 0
            var counted = 0
            for r in storedB {
                if r.line.contains(#""type":"gap","v":1,"what":"records""#) {
                    gapsBefore += 1
                    counted += (try jsonObject(r.line)["count"] as? Int) ?? 0
                    continue
                }
                let index = Int(r.seq) - 1 - gapsBefore
                #expect(index < socketB.count && socketB[index] == r.line, "tb seq \(r.seq) is not the socket's record \(index)")
            }
            let dropped = stats[1]["dropped"] as? Int ?? -1
            #expect(dropped > 0, "the tight node dropped nothing: \(stats[1])")
            #expect(counted == dropped, "gap records count \(counted), stats say \(dropped)")
            #expect(storedB.count - gapsBefore + dropped == socketB.count)
            #expect(storedB.last?.line.contains(#""type":"call_end""#) == true)
            #expect(a.process.stderr.contains("NATS connection lost"), "\(a.process.stderr.suffix(2000))")
            // design.md, Privacy: the stream is storage; the operator hears so at start.
            #expect(a.process.stderr.contains("is also kept in the NATS stream"), "\(a.process.stderr.prefix(2000))")
            #expect(b.process.stderr.contains("gap record queued"))
            for node in [a, b] { #expect(node.terminate() == 0) }
        }

        /// README, Fleet (Start-up): nats-server restarted without its store (a container without a volume) comes
        /// back without the stream. libnats reconnects as to any server; the first publish finds no stream, the
        /// daemon creates it again and publishes the records of the meantime from its buffers, saying so once. Before,
        /// every publish was refused for ever ("no responders") while stats said connected with nothing dropped.
        @Test("nats-server restarted without its store: the stream is created again and the buffered records published")
        func streamLostWithStore() throws {
            let (dir, nats, wav) = try fleetSetup("fleet-nostore", callSeconds: 1)
            let config = try configFile(dir, "fleet.toml", "[metrics]\nlisten = \"127.0.0.1:0\"\n")
            let node = try Daemon(["--config", config, "--nats", nats.url, "--node", "s1", "--workers", "1"],
                                  dir: TempDir(prefix: "fleet-s1"), logLevel: "info")
            let sub = try node.subscribe()
            func run(_ call: String) throws {
                try node.start(call, "file:\(wav)?speed=max")
                #expect(try UnixClient.pump([sub], timeout: 60) { sub.hasReceived(lineContaining: #""type":"call_end","v":1,"call":"\#(call)""#) })
            }
            try run("c1")
            // Every c1 record the socket got is acknowledged by the first store: the fleet gets each record just
            // after the socket, so an empty buffer alone could still miss c1's last ones (they would then go to the
            // new stream, as they should, but this test counts on c1 being gone with the old store).
            let c1Records = socketRecords(sub)["c1"]?.count ?? 0
            #expect(try eventually(timeout: 30) { try drained([node]) && natsStats(node)["published"] as? Int == c1Records })

            nats.kill()
            try FileManager.default.removeItem(atPath: nats.store)
            try nats.start()
            try run("c2")
            #expect(try eventually(timeout: 30) { try drained([node]) }, "\(node.process.stderr.suffix(3000))")
            let stats = try natsStats(node)
            #expect(stats["connected"] as? Bool == true && stats["stream_missing"] as? Bool == false && stats["dropped"] as? Int == 0,
                    "\(stats)")
            // c1 went with the old store; c2, published while the stream was missing, is all there.
            let stored = try readStream(nats)
            #expect(Set(stored.map(\.call)) == ["c2"])
            if let problem = sameAsSocket(stored, socketRecords(sub)["c2"] ?? [], node: "s1", call: "c2") { Issue.record("\(problem)") }
            #expect(node.loggedLines("created it again").count == 1, "\(node.process.stderr.suffix(3000))")
            #expect(node.loggedLines("the batch goes again").count <= 1)
            let port = try MetricsTests.metricsPort(node)
            #expect(try eventually(timeout: 10) { metric("attune_nats_stream_missing", in: try httpGet(port: port, "/metrics").body) == 0 })
            #expect(node.terminate() == 0)
        }

        /// README, Fleet (Control): a `stop` on `attune.control.all` is answered by the node that has the call only.
        /// The owner replies once the call has ended, so the other nodes' "no call" used to come first: a requester
        /// taking the first reply (`nats req`) was told the call existed nowhere while it was being stopped.
        @Test("stop on attune.control.all: only the node with the call answers; no node has it, no answer")
        func stopOnAll() throws {
            let setup = try fleetSetup("fleet-stop-all", callSeconds: 20)
            let (nats, wav) = (setup.nats, setup.wav)
            let nodes = try ["a1", "a2", "a3"].map { name in
                try Daemon(["--nats", nats.url, "--node", name, "--workers", "1"], dir: TempDir(prefix: "fleet-\(name)"))
            }
            let connection = try nats.connect()
            #expect(eventually(timeout: 30) {
                ((try? connection.gather("attune.control.all", Array(#"{"cmd":"list"}"#.utf8), timeout: 0.5)) ?? []).count == 3
            })
            try nodes[1].start("s1", "file:\(wav)")
            let reply = try connection.request("attune.control.all", Array(#"{"cmd":"stop","call":"s1"}"#.utf8), timeout: 10)
            let object = try jsonObject(String(decoding: reply.data, as: UTF8.self))
            #expect(object["ok"] as? Bool == true && object["node"] as? String == "a2" && object["ended"] as? Bool == true, "\(object)")
            #expect(try nodes[1].calls().isEmpty)
            let nobody = try connection.gather("attune.control.all", Array(#"{"cmd":"stop","call":"nope"}"#.utf8), timeout: 1)
            #expect(nobody.isEmpty, "\(nobody.map { String(decoding: $0.data, as: UTF8.self) })")
            for node in nodes { #expect(node.terminate() == 0) }
        }

        /// README, Fleet (Control): a start on `attune.control` goes to whichever node of the queue group takes it.
        /// A full node (`--max-calls`) stayed in the group and refused half the starts while another node idled.
        @Test("a full node leaves the start queue group, so another takes every start, and rejoins when a call ends")
        func fullNodeLeavesQueue() throws {
            let setup = try fleetSetup("fleet-full", callSeconds: 30)
            let (nats, wav) = (setup.nats, setup.wav)
            let full = try Daemon(["--nats", nats.url, "--node", "f1", "--workers", "1", "--max-calls", "1"],
                                  dir: TempDir(prefix: "fleet-f1"), logLevel: "info")
            let idle = try Daemon(["--nats", nats.url, "--node", "f2", "--workers", "1"], dir: TempDir(prefix: "fleet-f2"))
            let connection = try nats.connect()
            #expect(eventually(timeout: 30) {
                ((try? connection.gather("attune.control.all", Array(#"{"cmd":"list"}"#.utf8), timeout: 0.5)) ?? []).count == 2
            })
            try full.start("held", "file:\(wav)")
            #expect(eventually(timeout: 10) { full.process.stderr.contains("full: left the start queue group") }, "\(full.process.stderr)")
            var takers: [String] = []
            for i in 0..<12 {
                let start = #"{"cmd":"start","call":"q\#(i)","source":"file:\#(wav)?speed=max"}"#
                let reply = try jsonObject(String(decoding: try connection.request("attune.control", Array(start.utf8), timeout: 10).data, as: UTF8.self))
                #expect(reply["ok"] as? Bool == true, "\(reply)")
                takers.append(reply["node"] as? String ?? "")
            }
            #expect(takers == Array(repeating: "f2", count: 12))
            try full.command(#"{"cmd":"stop","call":"held"}"#)
            #expect(eventually(timeout: 10) { full.process.stderr.contains("rejoined the start queue group") }, "\(full.process.stderr)")
            for node in [full, idle] { #expect(node.terminate() == 0) }
        }

        /// README, Fleet (the restart paragraph): a call id a node used before a restart and starts again within the
        /// duplicate window continues its seqs after the last one the stream holds, so none of its message ids
        /// repeats one the stream would drop as a duplicate; once the window has passed it counts from 1 again.
        @Test("a call id reused after a daemon restart: within the duplicate window its seqs continue, after it they restart")
        func callReusedAfterRestart() throws {
            let dir = TempDir(prefix: "fleet-reuse")
            let wav = try shortCall(dir, seconds: 1)
            // c1 to its end on a new daemon (node r1, the same run directory each time): what its socket subscriber
            // got, returned once everything is published.
            func runC1(_ nats: NatsServer, _ config: String, _ run: Int) throws -> [String] {
                let node = try Daemon(["--config", config, "--nats", nats.url, "--node", "r1", "--workers", "1"],
                                      dir: TempDir(prefix: "fleet-reuse-\(run)"), runDir: dir.file("run"))
                let sub = try node.subscribe()
                try node.start("c1", "file:\(wav)?speed=max")
                #expect(try UnixClient.pump([sub], timeout: 60) { sub.hasReceived(lineContaining: #""type":"call_end""#) })
                #expect(try eventually(timeout: 30) {
                    try natsStats(node)["connected"] as? Bool == true && drained([node])
                }, "run \(run): \(node.process.stderr.suffix(2000))")
                #expect(node.terminate() == 0)
                return socketRecords(sub)["c1"] ?? []
            }
            func callEnds(_ records: [StoredRecord]) -> Int { records.filter { $0.line.contains(#""type":"call_end""#) }.count }

            // Within the window (120 s): the second run's records follow the first's, seqs 1, 2, 3… over both.
            let nats = try NatsServer(dir: TempDir(prefix: "fleet-reuse-nats"))
            let config = try configFile(dir, "fleet.toml", "[nats]\n")
            let first = try runC1(nats, config, 1)
            let second = try runC1(nats, config, 2)
            let stored = try readStream(nats).filter { $0.call == "c1" }
            #expect(callEnds(stored) == 2, "the stream holds \(callEnds(stored)) call_end records of c1, not one per run; seqs \(stored.map(\.seq).prefix(40))")
            if let problem = sameAsSocket(stored, first + second, node: "r1", call: "c1") { Issue.record("\(problem)") }

            // After the window (1 s here): the stream has forgotten the ids, so the call counts from 1 again.
            let shortNats = try NatsServer(dir: TempDir(prefix: "fleet-reuse-nats-short"))
            let short = try configFile(dir, "short.toml", "[nats]\nduplicate_window_s = 1\n")
            let before = try runC1(shortNats, short, 3)
            usleep(2_500_000)
            let after = try runC1(shortNats, short, 4)
            let again = try readStream(shortNats).filter { $0.call == "c1" }
            #expect(callEnds(again) == 2, "seqs \(again.map(\.seq).prefix(40))")
            #expect(again.map(\.line) == before + after)
            let fromOne: (Int) -> [UInt64] = { n in (0..<UInt64(n)).map { $0 + 1 } }
            #expect(again.map(\.seq) == fromOne(before.count) + fromOne(after.count))
            // `attune tail` shows both calls, though the second's ids repeat the first's.
            let tail = try Child(try builtBinary("attune"), ["tail", "--nats", shortNats.url, "--type", "call_end",
                                                             "--count", "2"], dir: dir, tag: "reuse-tail")
            #expect(tail.wait(timeout: 30) == 0, "tail saw \(tail.stdout.split(separator: "\n").count) call_end of 2; \(tail.stderr)")

            // A daemon configured with a 1 s window against the first stream, which remembers ids for 120 s: the
            // stream's own window decides, so the third run's seqs still continue and none is dropped.
            let third = try runC1(nats, short, 5)
            let all = try readStream(nats).filter { $0.call == "c1" }
            #expect(callEnds(all) == 3, "the stream holds \(callEnds(all)) call_end records of c1; seqs \(all.map(\.seq).suffix(40))")
            if let problem = sameAsSocket(all, first + second + third, node: "r1", call: "c1") { Issue.record("\(problem)") }
        }

        /// One of three nodes SIGKILLed mid-call: the heartbeat view shows it missing within three intervals, its
        /// calls have no call_end in the stream, and the other nodes' calls are complete and untouched.
        @Test("a node killed with SIGKILL goes missing; the others' calls are untouched")
        func nodeKilled() throws {
            let (dir, nats, wav) = try fleetSetup("fleet-kill", callSeconds: 4)
            let config = try configFile(dir, "fleet.toml", "[nats]\nheartbeat_s = 0.3\n")
            let names = ["k1", "k2", "k3"]
            let nodes = try names.map { name in
                try Daemon(["--config", config, "--nats", nats.url, "--node", name, "--workers", "1"], dir: TempDir(prefix: "fleet-\(name)"))
            }
            let subs = try nodes.map { try $0.subscribe() }
            let view = try FleetView(connection: try nats.connect())
            #expect(try eventually(timeout: 30) { try view.update(for: 0.2); return view.alive() == names })
            for (i, node) in nodes.enumerated() {
                for j in 0..<2 { try node.start("\(names[i])c\(j)", "file:\(wav)?speed=2") }
            }
            _ = try UnixClient.pump(subs, timeout: 1) { false }
            nodes[1].process.signal(SIGKILL)
            let killedAt = Date()
            #expect(nodes[1].process.wait(timeout: 10) == 128 + SIGKILL)
            #expect(try eventually(timeout: 10) { try view.update(for: 0.1); return view.missing() == ["k2"] })
            let noticed = Date().timeIntervalSince(killedAt)
            #expect(noticed < 3 * 0.3 + 1.5, "noticed after \(noticed) s")
            #expect(view.alive() == ["k1", "k3"])
            // The operator's view from the shell: only the nodes that still beat.
            let ctl = try Child(try builtBinary("attune"), ["ctl", "nodes", "--nats", nats.url, "--listen", "1", "--json"],
                                dir: dir, tag: "ctl-nodes")
            #expect(ctl.wait(timeout: 30) == 0, "\(ctl.stderr)")
            let listed = try ctl.stdout.split(separator: "\n").map { try jsonObject(String($0))["node"] as? String ?? "" }
            #expect(listed == ["k1", "k3"], "\(ctl.stdout)")

            let live = [subs[0], subs[2]]
            #expect(try UnixClient.pump(live, timeout: 120) {
                live.allSatisfy { s in (0..<2).allSatisfy { _ in s.receivedLines.filter { $0.contains(#""type":"call_end""#) }.count == 2 } }
            })
            #expect(try eventually(timeout: 60) {
                try drained([nodes[0], nodes[2]])
            })
            let stored = try readStream(nats)
            for i in [0, 2] {
                let socket = socketRecords(subs[i])
                for j in 0..<2 {
                    let call = "\(names[i])c\(j)"
                    if let problem = sameAsSocket(stored.filter { $0.call == call }, socket[call] ?? [], node: names[i], call: call) {
                        Issue.record("\(problem)")
                    }
                }
            }
            let fromKilled = stored.filter { $0.node == "k2" }
            #expect(!fromKilled.isEmpty, "k2 published nothing before it was killed")
            #expect(!fromKilled.contains { $0.line.contains(#""type":"call_end""#) })
            // What k2 did publish is a prefix of what its socket saw, call by call.
            let socket2 = socketRecords(subs[1])
            for (call, records) in Dictionary(grouping: fromKilled, by: \.call) {
                #expect(Array((socket2[call] ?? []).prefix(records.count)) == records.map(\.line), "k2 \(call)")
            }
            for i in [0, 2] { #expect(nodes[i].terminate() == 0) }
        }

        /// README, Fleet: sources tied to a machine (an `alsa:` tap, the daemon's own standard input) are started on
        /// that machine's control socket. The queue group hands a start to whichever node takes it, so such a start
        /// over NATS would land on an arbitrary machine's device or stdin: it is refused naming the rule.
        @Test("the attune.control queue group refuses alsa: and stdin: sources; the node's own control socket takes them")
        func machineBoundSourcesStayLocal() throws {
            let (dir, nats, wav) = try fleetSetup("fleet-local", callSeconds: 1.5)
            let node = try Daemon(["--nats", nats.url, "--node", "n1", "--workers", "1"], dir: dir)
            let connection = try nats.connect()
            #expect(eventually(timeout: 30) {
                ((try? connection.gather("attune.control.all", Array(#"{"cmd":"list"}"#.utf8), timeout: 0.5)) ?? []).count == 1
            }, "the node never answered on attune.control.all: \(node.process.stderr.suffix(2000))")
            func startOverNATS(_ call: String, _ source: String) throws -> [String: Any] {
                let reply = try connection.request("attune.control",
                    Array(#"{"cmd":"start","call":"\#(call)","source":"\#(source)"}"#.utf8), timeout: 20)
                return try jsonObject(String(decoding: reply.data, as: UTF8.self))
            }
            for source in ["alsa:hw:0,0", "ALSA:tap?channels=2", "stdin:s16le:8000:2"] {
                let reply = try startOverNATS("m1", source)
                #expect(reply["ok"] as? Bool == false, "\(source): \(reply)")
                #expect(reply["node"] as? String == "n1")
                let error = reply["error"] as? String ?? ""
                #expect(error.contains("tied to one machine") && error.contains("own control socket"), "\(source): \(error)")
            }
            #expect(try node.calls() == [])
            // A file is not tied to the machine (a recording on shared storage): taken over NATS.
            let file = try startOverNATS("f1", "file:\(wav)?speed=max")
            #expect(file["ok"] as? Bool == true, "\(file)")
            // The node's own control socket takes a machine-bound source.
            let local = try node.command(#"{"cmd":"start","call":"s1","source":"stdin:s16le:8000:1"}"#)
            #expect(local["ok"] as? Bool == true, "\(local)")
            #expect(node.terminate() == 0)
        }

        /// A wrong token and an unreachable URL at start-up: a clear error naming the cause in the log, and the
        /// daemon serves its sockets all the same; with the right token the same daemon publishes.
        @Test("wrong token or unreachable NATS at start-up: clear error, the socket still serves")
        func startupErrors() throws {
            let dir = TempDir(prefix: "fleet-auth")
            let nats = try NatsServer(dir: dir, token: "s3cret")
            let wav = try shortCall(dir, seconds: 1)
            let wrong = try configFile(dir, "wrong.toml", "[nats]\ntoken = \"wrong\"\n")
            let unreachable = "nats://127.0.0.1:\(try freePort())"
            for (tag, args, cause) in [("wrong", ["--config", wrong, "--nats", nats.url], "Authorization Violation"),
                                       ("down", ["--nats", unreachable], "No server available")] {
                let node = try Daemon(args + ["--node", tag], dir: TempDir(prefix: "fleet-\(tag)"))
                #expect(eventually(timeout: 20) { node.process.stderr.contains("NATS unavailable") },
                        "\(tag): \(node.process.stderr)")
                #expect(node.process.stderr.contains("natsConnection_Connect"), "\(tag): \(node.process.stderr)")
                #expect(node.process.stderr.contains(cause), "\(tag): \(node.process.stderr)")
                let sub = try node.subscribe()
                try node.start("\(tag)1", "file:\(wav)?speed=max")
                #expect(try UnixClient.pump([sub], timeout: 60) { sub.hasReceived(lineContaining: #""type":"call_end""#) },
                        "\(tag): the socket did not serve the call")
                let stats: [String: Any]? = try natsStats(node)
                #expect(stats?["connected"] as? Bool == false)
                #expect((stats?["buffered"] as? Int ?? 0) > 0, "records wait for NATS: \(stats ?? [:])")
                #expect(node.terminate() == 0)
            }
            let right = try configFile(dir, "right.toml", "[nats]\ntoken = \"s3cret\"\n")
            let node = try Daemon(["--config", right, "--nats", nats.url, "--node", "good"], dir: TempDir(prefix: "fleet-good"))
            try node.start("good1", "file:\(wav)?speed=max")
            #expect(eventually(timeout: 30) { (try? readStream(nats))?.contains { $0.line.contains(#""type":"call_end""#) } == true })
            #expect(node.terminate() == 0)
        }
    }
}
