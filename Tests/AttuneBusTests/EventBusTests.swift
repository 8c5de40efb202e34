@testable import AttuneBus
import AttuneEvents
import AttuneTestSupport
import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The event socket with real Unix-socket subscribers. Serialized: the fd and RSS figures are process-wide, and
/// the machine has two cores.
@Suite(.serialized)
struct EventBusTests {
    @Test func helloComesFirstAndIsAHelloRecord() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let client = try UnixClient(path: dir.file("events.sock"))
        let hello = try json(await client.line())
        #expect(hello["type"] == "hello")
        #expect(hello["v"] == 1)
        #expect(hello["schema"] == 1)
        #expect(hello["node"] == "n1")
        #expect(hello["emotions"] == ["customer"])
        // A subscriber vanishing mid-write costs an EPIPE, never the process.
        var action = sigaction()
        sigaction(SIGPIPE, nil, &action)
        #expect(unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == 1, "SIGPIPE is SIG_IGN")
        await bus.shutdown()
    }

    @Test func socketFileHasMode0660() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        var st = stat()
        #expect(stat(dir.file("events.sock"), &st) == 0)
        #expect(st.st_mode & 0o777 == 0o660)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        await bus.shutdown()
        #expect(access(dir.file("events.sock"), F_OK) != 0, "shutdown removes the socket file")
    }

    /// Three subscribers read while two threads publish: all three get the same bytes, nothing lost.
    @Test func threeSubscribersGetByteIdenticalStreams() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let path = dir.file("events.sock")
        let total = 6000
        let clients = (0..<3).map { _ in try! UnixClient(path: path) }
        for c in clients { _ = try await c.line() }  // hello
        let readers = Readers(clients, lines: total)
        try await publishPaced(bus, total: total, threads: 2, readers: readers)
        let streams = try await readers.streams()
        let everyRecordOnce = seqs(streams[0]).sorted() == Array(0..<total)
        #expect(everyRecordOnce, "records lost or duplicated")
        #expect(allIdentical(streams), "the three streams differ")
        let stats = await bus.stats()
        #expect(stats.droppedForSubscribers == 0)
        #expect(stats.published == total)
        await bus.shutdown()
    }

    /// A fourth subscriber never reads: its queue fills, records are dropped for it alone, and when it finally
    /// reads it gets an unbroken prefix, then a gap whose count is exactly what it missed, then live records.
    @Test func subscriberThatNeverReadsGetsGapOthersLoseNothing() async throws {
        let dir = TempDir()
        let bus = makeBus(dir) { c in
            c.queueRecords = 2000
            c.socketBufferBytes = 8192
        }
        try await bus.start()
        let path = dir.file("events.sock")
        let total = 10_000
        let slow = try UnixClient(path: path)
        let readers = (0..<3).map { _ in try! UnixClient(path: path) }
        for r in readers { _ = try await r.line() }
        #expect(await eventually { await bus.stats().subscribers == 4 })
        let stream = Readers(readers, lines: total)
        // Bursts far larger than the slow subscriber's queue plus its socket buffer (~2,000 + ~1,500 records).
        try await publishPaced(bus, total: total, burst: 2000, readers: stream)
        let streams = try await stream.streams()
        #expect(seqs(streams[0]).count == total, "a reading subscriber lost records")
        #expect(allIdentical(streams))

        // Now the slow one reads: hello, records 0..<k in order, then the gap.
        #expect(try json(await slow.line())["type"] == "hello")
        var next = 0
        var gapCount: Int?
        while let line = try await slow.line(timeout: 5) {
            let v = try json(line)
            if v["type"] == "gap" {
                #expect(v["what"] == "records")
                if case .number(let n)? = v["count"] { gapCount = Int(n) }
                break
            }
            #expect(v["seq"] == .number(Double(next)), "prefix before the gap must be unbroken")
            next += 1
        }
        let count = try #require(gapCount, "no gap record")
        #expect(next > 0)
        #expect(next + count == total, "records seen before the gap plus the gap count is everything published")
        let stats = await bus.stats()
        #expect(stats.droppedForSubscribers == count)

        // After the gap the stream goes on normally.
        for i in total..<(total + 10) {
            let (bytes, route) = record(i)
            bus.publish(bytes, route: route)
        }
        for i in total..<(total + 10) {
            #expect(try json(await slow.line())["seq"] == .number(Double(i)))
        }
        await bus.shutdown()
    }

    /// A subscriber that never reads still gets every call's `call_start`, `summary` and `call_end`: each past its
    /// full queue, after a `gap` for what it lost before it, so the stream stays in order and the counts add up.
    @Test func subscriberThatNeverReadsKeepsEveryCallsStartSummaryAndEnd() async throws {
        let (stream, lost) = try await neverReadingSubscriber(reserveRecords: 10_000)
        #expect(lost > 0, "the queue never filled, so nothing was tested")
        #expect(stream.lifecycle == Self.lifecycleSeqs, "lifecycle records lost")
        #expect(stream.gaps > 1, "a lifecycle record in the loss comes after a gap of its own")
    }

    /// Past the lifecycle reserve those records are dropped too, and counted like the rest.
    @Test func lifecycleReserveIsBoundedAndCounted() async throws {
        let (stream, lost) = try await neverReadingSubscriber(reserveRecords: 6)
        #expect(lost > 0)
        #expect(stream.gaps >= 2, "the reserve was not used")
        // What the reserve held: the lifecycle records after the first gap, and every gap but the final one.
        #expect(stream.keptAfterLoss + stream.gaps - 1 <= 6)
        #expect(stream.lifecycle.count < Self.lifecycleSeqs.count)
        #expect(Set(stream.lifecycle).isSubset(of: Self.lifecycleSeqs))
    }

    /// Seqs of the lifecycle records `neverReadingSubscriber` publishes: ten calls of 1,000 records each.
    static let lifecycleSeqs: [Int] = (0..<10).flatMap { (c: Int) -> [Int] in
        let first = c * 1000
        return [first, first + 998, first + 999]
    }

    /// Publishes ten calls (call_start, segments, summary, call_end; 10,000 records in batches of 50) to a
    /// subscriber that reads nothing until the end; then reads its stream and checks that seqs only grow and that
    /// the records it got plus its gaps' counts are everything. Returns the lifecycle seqs it got, its number of
    /// gaps, how many lifecycle records came after the first gap, and the bus's count of records it lost.
    private func neverReadingSubscriber(reserveRecords: Int) async throws
        -> (stream: (lifecycle: [Int], gaps: Int, keptAfterLoss: Int), lost: Int)
    {
        let dir = TempDir()
        let bus = makeBus(dir) { c in
            c.queueRecords = 2000
            c.socketBufferBytes = 8192
            c.reserveRecords = reserveRecords
        }
        try await bus.start()
        let slow = try UnixClient(path: dir.file("events.sock"))
        #expect(await eventually { await bus.stats().subscribers == 1 })
        let total = 10_000
        for batch in stride(from: 0, to: total, by: 50) {
            var lines: [UInt8] = []
            var ends: [(end: Int, route: RecordRoute)] = []
            for i in batch..<(batch + 50) {
                let type = switch i % 1000 { case 0: "call_start"; case 998: "summary"; case 999: "call_end"
                                              default: "segment" }
                let (bytes, route) = record(i, call: "c\(i / 1000)", type: type, padding: 100)
                lines += bytes
                ends.append((lines.count, route))
            }
            bus.publish(lines: lines, ends)
        }
        let lost = await bus.stats().droppedForSubscribers  // on the loop, so after every batch was fanned out
        #expect(try json(await slow.line())["type"] == "hello")
        var seen = 0, gapped = 0, gaps = 0, last = -1
        var lifecycle: [Int] = []
        var keptAfterLoss = 0
        while let line = try await slow.line(timeout: 2) {
            let v = try json(line)
            if v["type"] == "gap" {
                guard case .number(let count)? = v["count"] else { throw TestFailure("gap without a count: \(line)") }
                gapped += Int(count)
                gaps += 1
                continue
            }
            guard case .number(let n)? = v["seq"] else { throw TestFailure("record without a seq: \(line)") }
            let seq = Int(n)
            #expect(seq > last, "records out of order: \(seq) after \(last)")
            last = seq
            seen += 1
            if v["type"] != "segment" {
                lifecycle.append(seq)
                if gaps > 0 { keptAfterLoss += 1 }
            }
            if seq == total - 1 { break }
        }
        #expect(seen + gapped == total, "records seen plus the gaps' counts is everything published")
        #expect(gapped == lost)
        await bus.shutdown()
        return ((lifecycle, gaps, keptAfterLoss), lost)
    }

    /// A subscriber process killed with SIGKILL mid-stream: the others get everything, the daemon lives on.
    @Test func subscriberKilledMidStreamChangesNothingForTheRest() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let path = dir.file("events.sock")
        let total = 4000
        let readers = (0..<2).map { _ in try! UnixClient(path: path) }
        for r in readers { _ = try await r.line() }
        // A real subscriber in another process that reads a little and then is killed.
        let victim = Process()
        victim.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        victim.arguments = ["python3", "-c", """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.recv(100)
            print("connected", flush=True)
            time.sleep(60)
            """, path]
        let out = Pipe()
        victim.standardOutput = out
        try victim.run()
        _ = out.fileHandleForReading.availableData  // waits for "connected"
        #expect(await eventually { await bus.stats().subscribers == 3 })
        let stream = Readers(readers, lines: total)
        try await publishPaced(bus, total: total, padding: 200, readers: stream) { published in
            if published == 1000 { kill(victim.processIdentifier, SIGKILL) }
        }
        victim.waitUntilExit()
        let streams = try await stream.streams()
        let complete = seqs(streams[0]) == Array(0..<total)
        #expect(complete, "records lost or reordered")
        #expect(allIdentical(streams))
        #expect(await eventually { await bus.stats().subscribers == 2 }, "the killed subscriber is cleaned up")
        await bus.shutdown()
    }

    /// 1,000 subscribers connect, read hello and leave, 50 at a time: sockets and RSS come back to where they
    /// were (after a warm-up round, so allocator pools and NIO's caches are already grown).
    @Test func thousandSubscribersComingAndGoingLeaveDescriptorsAndMemoryFlat() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let path = dir.file("events.sock")
        func churn(_ n: Int) async throws {
            // 50 at a time, so connections overlap and leave in bulk, as `attune tail`s in a shell loop would.
            for batch in stride(from: 0, to: n, by: 50) {
                // Connect all 50 first, then read their hellos: a handful of round trips per batch, not 100.
                let open = try (batch..<(batch + 50)).map { _ in try UnixClient(path: path) }
                for (k, c) in open.enumerated() {
                    let i = batch + k
                    // Blocking is fine here: hello is written by the event loop, not by the test's pool.
                    _ = try c.readLine()
                    if i % 3 == 0 { try c.send("{\"subscribe\": {\"calls\": [\"c\(i)\"]}}\n") }
                    if i % 10 == 0 {
                        let (bytes, route) = record(i)
                        bus.publish(bytes, route: route)
                    }
                }
            }
            #expect(await eventually { await bus.stats().subscribers == 0 })
        }
        try await churn(200)
        let socketsBefore = socketCount(boundInside: dir.path)
        let fdsBefore = openDescriptorCount(), rssBefore = residentBytes()
        try await churn(1000)
        let socketsAfter = socketCount(boundInside: dir.path)
        let fdsAfter = openDescriptorCount(), rssAfter = residentBytes()
        print("churn 1000 subscribers: sockets \(socketsBefore) -> \(socketsAfter), fds \(fdsBefore) -> \(fdsAfter),"
            + " RSS \(rssBefore / 1024) KiB -> \(rssAfter / 1024) KiB")
        #expect(socketsBefore == 1, "only the listener is open between rounds")
        #expect(socketsAfter == socketsBefore)
        #expect(abs(rssAfter - rssBefore) < 8 << 20, "RSS grew by \((rssAfter - rssBefore) / 1024) KiB")
        #expect(await bus.stats().subscribersAccepted == 1200)
        await bus.shutdown()
    }

    @Test func garbageAndATenMegabyteLineGetOneErrorEachAndTheSubscriberStays() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let client = try UnixClient(path: dir.file("events.sock"))
        _ = try await client.line()
        try client.send("garbage\n")
        let e1 = try json(await client.line())
        #expect(e1["type"] == "error")
        guard case .string(let m1)? = e1["error"] else { Issue.record("no error text"); return }
        #expect(m1.contains("malformed JSON"))

        try client.send([UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20) + [UInt8(ascii: "\n")])
        let e2 = try json(await client.line(timeout: 10))
        #expect(e2["type"] == "error")
        guard case .string(let m2)? = e2["error"] else { Issue.record("no error text"); return }
        #expect(m2.contains("longer than"))

        try client.send([0xFF, 0xFE, UInt8(ascii: "\n")])
        guard case .string(let m3)? = try json(await client.line())["error"] else { Issue.record("no error"); return }
        #expect(m3.contains("invalid UTF-8"))

        try client.send("{\"subscribe\": {\"calls\": 3}}\n")
        guard case .string(let m4)? = try json(await client.line())["error"] else { Issue.record("no error"); return }
        #expect(m4.contains("calls"))

        // Still subscribed with the default filter: records keep coming.
        let (bytes, route) = record(7)
        bus.publish(bytes, route: route)
        #expect(try json(await client.line())["seq"] == 7)
        // And a good filter after all that is taken.
        try client.send("{\"subscribe\": {\"calls\": [\"c2\"]}}\n")
        let ack = try json(await client.line())
        #expect(ack["type"] == "subscribed")
        #expect(ack["calls"] == ["c2"])
        await bus.shutdown()
    }

    /// A misspelt kind would match no event ever, as silently as a misspelt type: both are refused, and every kind
    /// the engine has (AttuneEvents' `EventKind`) is taken.
    @Test func unknownKindsAndTypesAreRefusedEveryEventKindIsTaken() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let client = try UnixClient(path: dir.file("events.sock"))
        _ = try await client.line()
        for (line, expected) in [
            (#"{"subscribe": {"kinds": ["nope"]}}"#, #"subscribe: unknown kind "nope" (one of "#),
            (#"{"subscribe": {"kinds": ["frustration", "Urgency"]}}"#, #"unknown kind "Urgency""#),
            (#"{"subscribe": {"types": ["event"], "kinds": ["dead air"]}}"#, #"unknown kind "dead air""#),
            (#"{"subscribe": {"types": ["nope"]}}"#, #"subscribe: unknown type "nope" (one of "#),
        ] {
            try client.send(line + "\n")
            let reply = try json(await client.line())
            #expect(reply["type"] == "error", "\(line)")
            guard case .string(let message)? = reply["error"] else { Issue.record("no error text for \(line)"); continue }
            #expect(message.contains(expected) && message.hasSuffix("; filter unchanged"), "\(message)")
        }
        let kinds = EventKind.allCases.map(\.rawValue)
        try client.send(#"{"subscribe": {"kinds": [\#(kinds.map { "\"\($0)\"" }.joined(separator: ", "))]}}"# + "\n")
        let ack = try json(await client.line())
        #expect(ack["type"] == "subscribed", "\(ack)")
        #expect(ack["kinds"] == .array(kinds.sorted().map(JSONValue.string)))
        await bus.shutdown()
    }

    @Test func filtersByCallsKindsTypesAndFrames() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let path = dir.file("events.sock")
        let filters: [(String, String?)] = [
            ("default", nil),
            ("calls", #"{"subscribe": {"calls": ["c2"]}}"#),
            ("kinds", #"{"subscribe": {"kinds": ["frustration", "dead_air"]}}"#),
            ("types", #"{"subscribe": {"types": ["call_start", "call_end"]}}"#),
            ("frames", #"{"subscribe": {"frames": true, "calls": ["c1"]}}"#),
            ("framesOnly", #"{"subscribe": {"frames": true, "types": ["frame"]}}"#),
            ("empty lists", #"{"subscribe": {"calls": [], "kinds": null, "frames": false}}"#),
        ]
        var clients: [String: UnixClient] = [:]
        for (name, filter) in filters {
            let c = try UnixClient(path: path)
            _ = try await c.line()
            if let filter {
                try c.send(filter + "\n")
                #expect(try json(await c.line())["type"] == "subscribed", "\(name)")
            }
            clients[name] = c
        }
        // One of each: (seq, call, type, kind).
        let mix: [(String, String, String?)] = [
            ("c1", "call_start", nil), ("c2", "call_start", nil),
            ("c1", "frame", nil), ("c2", "frame", nil),
            ("c1", "segment", nil), ("c2", "segment", nil),
            ("c1", "event", "frustration"), ("c2", "event", "dead_air"), ("c2", "event", "urgency"),
            ("c1", "call_end", nil), ("c2", "call_end", nil),
        ]
        for (i, m) in mix.enumerated() {
            let (bytes, route) = record(i, call: m.0, type: m.1, kind: m.2)
            bus.publish(bytes, route: route)
        }
        // A final marker every filter lets through is not possible (filters differ), so stop with a shutdown:
        // everything published before it is delivered, then the connections close.
        await bus.shutdown()
        func seqs(_ name: String) async throws -> [Int] {
            var out: [Int] = []
            while let line = try await clients[name]!.line(timeout: 5) {
                if case .number(let n)? = try json(line)["seq"] { out.append(Int(n)) }
            }
            return out
        }
        #expect(try await seqs("default") == [0, 1, 4, 5, 6, 7, 8, 9, 10])
        #expect(try await seqs("calls") == [1, 5, 7, 8, 10])
        #expect(try await seqs("kinds") == [6, 7])
        #expect(try await seqs("types") == [0, 1, 9, 10])
        #expect(try await seqs("frames") == [0, 2, 4, 6, 9])
        #expect(try await seqs("framesOnly") == [2, 3])
        #expect(try await seqs("empty lists") == [0, 1, 4, 5, 6, 7, 8, 9, 10])
    }

    /// A subscriber whose filter takes everything gets each batch whole (no walk over its lines); the lines and their
    /// order must be exactly what a narrowing filter's walk sees, one line at a time or in a batch.
    @Test func takeEverythingFilterGetsBatchesWholeAndInOrder() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        try await bus.start()
        let path = dir.file("events.sock")
        var clients: [UnixClient] = []
        for filter in [#"{"subscribe": {"frames": true}}"#, #"{"subscribe": {"frames": true, "calls": ["c1"]}}"#] {
            let c = try UnixClient(path: path)
            _ = try await c.line()
            try c.send(filter + "\n")
            #expect(try json(await c.line())["type"] == "subscribed")
            clients.append(c)
        }
        let mix: [(String, String)] = [("c1", "call_start"), ("c2", "frame"), ("c1", "frame"), ("c2", "segment"), ("c1", "call_end")]
        // Round one line by line (seq 0-4), round two as one batch (seq 5-9).
        for (i, m) in mix.enumerated() {
            let (bytes, route) = record(i, call: m.0, type: m.1)
            bus.publish(bytes, route: route)
        }
        var lines: [UInt8] = []
        var ends: [(end: Int, route: RecordRoute)] = []
        for (i, m) in mix.enumerated() {
            let (bytes, route) = record(mix.count + i, call: m.0, type: m.1)
            lines += bytes   // each ends in its newline already
            ends.append((lines.count, route))
        }
        bus.publish(lines: lines, ends)
        await bus.shutdown()
        func seqs(_ c: UnixClient) async throws -> [Int] {
            var out: [Int] = []
            while let line = try await c.line(timeout: 5) {
                if case .number(let n)? = try json(line)["seq"] { out.append(Int(n)) }
            }
            return out
        }
        #expect(try await seqs(clients[0]) == Array(0..<10))
        #expect(try await seqs(clients[1]) == [0, 2, 4, 5, 7, 9])
    }

    /// When the event loop falls behind the publishers, the inbox bound drops records for everyone; each subscriber
    /// gets what was taken, then a gap with the count, then the stream goes on.
    @Test func inboxOverflowIsCountedForEverySubscriber() async throws {
        let dir = TempDir()
        let (probe, _) = record(0)
        let bus = makeBus(dir) { $0.inboxBytes = probe.count * 10 }
        try await bus.start()
        let client = try UnixClient(path: dir.file("events.sock"))
        _ = try await client.line()
        // Hold the bus's loop so nothing drains while 100 records are published.
        let release = NIOLockedValueBox(false)
        bus.loop.execute {
            while !release.withLockedValue({ $0 }) { usleep(1000) }
        }
        for i in 0..<100 {
            let (bytes, route) = record(i)
            bus.publish(bytes, route: route)
        }
        release.withLockedValue { $0 = true }
        for i in 0..<10 { #expect(try json(await client.line())["seq"] == .number(Double(i))) }
        let gap = try json(await client.line())
        #expect(gap["type"] == "gap" && gap["count"] == 90)
        let stats = await bus.stats()
        #expect(stats.droppedAtInbox == 90 && stats.published == 100)
        let (bytes, route) = record(100)
        bus.publish(bytes, route: route)
        #expect(try json(await client.line())["seq"] == 100)
        await bus.shutdown()
    }

    /// `run()` as a service: serving until its task is cancelled, then a graceful shutdown (records published
    /// before the cancellation are delivered, the socket file goes away).
    @Test func runServesUntilCancelledThenShutsDown() async throws {
        let dir = TempDir()
        let bus = makeBus(dir)
        let control = makeControl(dir)
        let path = dir.file("events.sock"), controlPath = dir.file("control.sock")
        let services = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await bus.run() }
                group.addTask { try await control.run() }
                try await group.waitForAll()
            }
        }
        #expect(await eventually { access(path, F_OK) == 0 && access(controlPath, F_OK) == 0 })
        let client = try UnixClient(path: path)
        #expect(try json(await client.line())["type"] == "hello")
        let (bytes, route) = record(1)
        bus.publish(bytes, route: route)
        services.cancel()
        try await services.value
        #expect(try json(await client.line())["seq"] == 1)
        #expect(try await client.eofOffPool())
        #expect(access(path, F_OK) != 0 && access(controlPath, F_OK) != 0, "socket files removed")
    }

    /// Shutdown delivers everything published before it to a subscriber that reads, then closes.
    @Test func shutdownFlushesQueuesThenCloses() async throws {
        let dir = TempDir()
        let bus = makeBus(dir) { $0.socketBufferBytes = 4096 }
        try await bus.start()
        let client = try UnixClient(path: dir.file("events.sock"))
        _ = try await client.line()
        let total = 3000
        for i in 0..<total {
            let (bytes, route) = record(i, padding: 100)
            bus.publish(bytes, route: route)
        }
        let box = UncheckedBox(client)
        let reader = onThread { try box.value.readBytes(lines: total + 1, timeout: 10) }
        await bus.shutdown(timeout: .seconds(5))
        let bytes = try await reader.value
        #expect(bytes.split(separator: UInt8(ascii: "\n")).count == total)
        #expect(try await client.eofOffPool())
        // Published after shutdown: ignored, no crash.
        let (late, route) = record(total)
        bus.publish(late, route: route)
    }
}

/// Hands a non-Sendable test client to the one thread that uses it from then on.
struct UncheckedBox<T>: @unchecked Sendable {
    // Safe: each box is created for one reader thread and the creating test does not touch the value until that
    // thread's task has finished (its `value` is awaited first).
    let value: T
    init(_ value: T) { self.value = value }
}
