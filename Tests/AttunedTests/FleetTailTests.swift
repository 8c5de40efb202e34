import AttuneFleet
import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A stream of made-up records, published straight to JetStream as a node would (subject, `Nats-Msg-Id`, one NDJSON
/// line each), so that `attune tail --nats` can be checked against exactly what the stream holds.
final class FakeFleetStream {
    let dir: TempDir
    let nats: NatsServer
    let js: JetStream
    /// Every record published, in stream order.
    private(set) var lines: [String] = []
    private var seq: [String: Int] = [:]

    /// A NATS server of its own, in a temporary directory named after `prefix`, with the stream made.
    init(prefix: String) throws {
        dir = TempDir(prefix: prefix)
        nats = try NatsServer(dir: dir)
        js = try JetStream(try nats.connect())
        _ = try js.ensureStream(StreamSettings())
    }

    /// Publishes one record of `call` (node n1) with `type` and the given extra JSON fields.
    func publish(call: String, type: String, _ fields: String = "") throws {
        let n = (seq[call] ?? 0) + 1
        seq[call] = n
        let line = #"{"type":"\#(type)","v":1"# + (type == "gap" ? #","what":"records","count":3"# : "")
            + #","call":"\#(call)","n":\#(n)"# + fields + "}"
        try js.publish(subject: "attune.n1.\(call).\(type)", msgID: "n1:\(call):\(n)", data: Array((line + "\n").utf8))
        lines.append(line)
    }

    /// `count` segments, round robin over `calls`.
    func segments(_ count: Int, calls: [String] = ["a", "b", "c"]) throws {
        for i in 0..<count { try publish(call: calls[i % calls.count], type: "segment") }
    }
}

/// The stdout lines of a finished `attune` child.
func outputLines(_ child: Child) -> [String] { child.stdout.split(separator: "\n").map(String.init) }

extension DaemonSuite {
    @Suite("Fleet tail") struct FleetTailTests {
        /// README, Fleet: `--durable NAME` makes a consumer the server remembers, and "the next run with the same NAME
        /// goes on where this one stopped". Run 1 ends at --count; run 2, started at once, prints record N+1 first
        /// and finishes within seconds (a record delivered to run 1 but never printed used to sit unacked for the
        /// consumer's 30 s ack wait); the three runs together print every record once, in stream order.
        @Test("--durable: the next run after --count resumes at once, in order, nothing lost or twice")
        func durableResumesAfterCount() throws {
            let stream = try FakeFleetStream(prefix: "tail-durable")
            let (dir, nats) = (stream.dir, stream.nats)
            try stream.segments(3000)
            var printed: [String] = []
            for run in 1...3 {
                let started = Date()
                let tail = try Child(try builtBinary("attune"), ["tail", "--nats", nats.url, "--durable", "d1", "--count", "1000"],
                                     dir: dir, tag: "durable-\(run)")
                #expect(tail.wait(timeout: 20) == 0, "run \(run): \(tail.stderr)")
                let took = Date().timeIntervalSince(started)
                #expect(took < 5, "run \(run) took \(took) s")
                let lines = outputLines(tail)
                #expect(lines.first == stream.lines[printed.count], "run \(run) began with \(lines.first ?? "nothing")")
                printed += lines
            }
            #expect(printed == stream.lines)
        }

        /// The same when a run is interrupted with SIGINT (Ctrl-C) in the middle of the backlog: it exits as a
        /// signalled process would, and the next run prints the record after the last one run 1 printed within
        /// a couple of seconds.
        @Test("--durable: the next run after SIGINT resumes at once, in order, nothing lost or twice")
        func durableResumesAfterInterrupt() throws {
            let stream = try FakeFleetStream(prefix: "tail-durable-int")
            let (dir, nats) = (stream.dir, stream.nats)
            try stream.segments(20_000)
            let first = try Child(try builtBinary("attune"), ["tail", "--nats", nats.url, "--durable", "d2"],
                                  dir: dir, tag: "durable-int-1")
            #expect(eventually(timeout: 20) { !first.stdout.isEmpty }, "run 1 printed nothing: \(first.stderr)")
            first.signal(SIGINT)
            #expect(first.wait(timeout: 10) == 128 + SIGINT, "\(first.stderr)")
            // A whole number of lines: nothing half written.
            #expect(first.stdout.hasSuffix("\n"))
            let before = outputLines(first)
            try stream.segments(500)
            let started = Date()
            let second = try Child(try builtBinary("attune"), ["tail", "--nats", nats.url, "--durable", "d2",
                                                               "--count", "\(stream.lines.count - before.count)"],
                                   dir: dir, tag: "durable-int-2")
            // The records run 1 held come back at once, not after the consumer's ack wait.
            #expect(eventually(timeout: 20) { !second.stdout.isEmpty })
            let waited = Date().timeIntervalSince(started)
            #expect(waited < 2, "run 2 printed its first record after \(waited) s")
            #expect(second.wait(timeout: 60) == 0, "run 2 printed \(outputLines(second).count) of \(stream.lines.count - before.count): \(second.stderr)")
            let after = outputLines(second)
            #expect(after.first == stream.lines[before.count], "run 2 began with \(after.first ?? "nothing")")
            #expect(before + after == stream.lines)
        }

        /// README, Fleet: "The same --call, --kind, --type and --frames filters apply" to `tail --nats`: gap records
        /// of other calls, or with --type that leaves gap out, are not printed (the daemon's socket filters them
        /// the same way; only a subscriber's own overflow notice, which has no call, gets past a filter).
        @Test("tail --nats filters gap records by --call and --type")
        func gapRecordsFiltered() throws {
            let stream = try FakeFleetStream(prefix: "tail-gaps")
            let (dir, nats) = (stream.dir, stream.nats)
            for call in ["a", "b", "c"] { try stream.publish(call: call, type: "call_start") }
            try stream.segments(6)
            for call in ["a", "b", "c"] { try stream.publish(call: call, type: "gap") }
            try stream.segments(6)
            for call in ["a", "b", "c"] { try stream.publish(call: call, type: "call_end") }
            func tail(_ tag: String, _ filters: [String]) throws -> [String] {
                let child = try Child(try builtBinary("attune"), ["tail", "--nats", nats.url] + filters, dir: dir, tag: tag)
                #expect(child.wait(timeout: 20) == 0, "\(filters): \(child.stderr)")
                return outputLines(child)
            }
            func expected(calls: Set<String>, types: Set<String>) -> [String] {
                stream.lines.filter { line in
                    calls.contains { line.contains(#""call":"\#($0)""#) } && types.contains { line.hasPrefix(#"{"type":"\#($0)""#) }
                }
            }
            let all: Set = ["call_start", "segment", "gap", "call_end"]
            #expect(try tail("a", ["--call", "a"]) == expected(calls: ["a"], types: all))
            #expect(try tail("ab", ["--call", "a", "--call", "b", "--type", "segment", "--type", "call_end"])
                    == expected(calls: ["a", "b"], types: ["segment", "call_end"]))
            #expect(try tail("types", ["--type", "segment", "--type", "call_end", "--count", "15"])
                    == expected(calls: ["a", "b", "c"], types: ["segment", "call_end"]))
            #expect(try tail("gaps-b", ["--call", "b", "--type", "gap", "--type", "call_end"])
                    == expected(calls: ["b"], types: ["gap", "call_end"]))
        }
    }
}
