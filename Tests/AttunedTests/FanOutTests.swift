import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DaemonSuite {
    @Suite("Fan-out") struct FanOutTests {
        /// Three readers, one subscriber that never reads and one `socat` killed mid-stream, all on one call with
        /// frames: the readers get byte-identical, complete streams; the stalled one gets a `gap` counting exactly
        /// what it lost once it reads; the kill changes nothing for the rest.
        @Test("three identical streams, a stalled subscriber gets a gap, a killed one disturbs nobody")
        func fanOut() throws {
            let dir = TempDir(prefix: "attuned-fanout")
            // A queue of 2,000 records: the stalled subscriber (kernel buffer plus queue) overflows within the
            // call's ~6,000 frames, while the readers, drained continuously, never come near it.
            let config = dir.file("attune.toml")
            try "[events]\nqueue_records = 2000\n".write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try Daemon(["--config", config], dir: dir)
            let filter = #"{"subscribe":{"frames":true}}"#
            let readers = try (0..<3).map { _ in try daemon.subscribe(filter) }
            let stalled = try daemon.subscribe(filter)
            let victim = try Child("/usr/bin/env", ["socat", "-u", "UNIX-CONNECT:\(daemon.events)", "-"], dir: dir, tag: "socat")
            #expect(eventually(timeout: 30) { victim.stdout.contains(#""type":"hello""#) }, "socat never got hello: \(victim.stderr)")

            // Six times real time (5 s): the readers, a debug build polling from a busy test process, get seconds of
            // slack before their queues could overflow, while the stalled subscriber still overflows.
            try daemon.start("fan", "file:\(sampleCall)?speed=6")
            // Kill the socat subscriber once it has a segment, i.e. mid-stream (the call lasts seconds).
            #expect(try UnixClient.pump(readers, timeout: 120) { victim.stdout.contains(#""type":"segment""#) },
                    "socat got no segment")
            victim.signal(SIGKILL)
            // The readers are drained while the kill is reaped, so they never wait on it.
            #expect(try UnixClient.pump(readers, timeout: 10) { victim.poll() != nil })
            #expect(victim.poll() == 128 + SIGKILL)

            // A reader that lost records has lost the end of the call too: stop at its gap rather than wait it out.
            let ended = try UnixClient.pump(readers, timeout: 240) {
                readers.allSatisfy { $0.hasReceived(lineContaining: #""type":"call_end""#) }
                    || readers.contains { $0.hasReceived(lineContaining: #""type":"gap""#) }
            }
            #expect(ended, "the readers got neither call_end nor a gap within 240 s")
            #expect(readers.allSatisfy { $0.hasReceived(lineContaining: #""type":"call_end""#) }, "not every reader got call_end")
            let stream = readers[0].received
            #expect(readers[1].received == stream)
            #expect(readers[2].received == stream)
            let lines = readers[0].receivedLines
            #expect(!lines.contains { $0.contains(#""type":"gap""#) }, "a reader lost records")
            #expect(lines.filter { $0.hasPrefix(#"{"type":"frame""#) }.count > 5000)
            #expect(lines.filter { $0.hasPrefix(#"{"type":"summary""#) }.count == 2)
            #expect(lines.last?.contains(#""reason":"eof""#) == true)

            // The stalled subscriber now reads: it gets what fitted in its socket and queue, then one gap saying how
            // many records it missed; with them it accounts for every record the readers got.
            let records = lines.count - 2  // after hello and subscribed
            let gotGap = try UnixClient.pump([stalled], timeout: 60) {
                stalled.hasReceived(lineContaining: #""what":"records""#)
            }
            #expect(gotGap, "the stalled subscriber got no gap")
            // Its stream after the gap may hold nothing more (the call had ended); take what is in flight.
            _ = try UnixClient.pump([stalled], timeout: 1) { false }
            let stalledLines = Array(stalled.receivedLines.dropFirst(2))
            let gaps = try stalledLines.filter { $0.contains(#""type":"gap""#) }.map { try jsonObject($0) }
            #expect(gaps.count == 1)
            let missed = gaps.first?["count"] as? Int ?? 0
            #expect(missed > 0)
            #expect(stalledLines.count - 1 + missed == records)
            // What it did get is exactly the readers' stream up to where the loss began.
            let before = stalledLines.prefix { !$0.contains(#""type":"gap""#) }
            #expect(Array(lines.dropFirst(2).prefix(before.count)) == Array(before))
            #expect(daemon.terminate() == 0)
        }
    }
}
