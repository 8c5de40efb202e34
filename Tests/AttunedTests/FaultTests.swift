import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A bad line on the control socket, the words its error must contain, and what it is.
struct BadControlLine: CustomTestStringConvertible, Sendable {
    var label: String
    var bytes: [UInt8]
    var errorContains: String
    var testDescription: String { label }
}

extension DaemonSuite {
    @Suite("Faults") struct FaultTests {
        static let badLines: [BadControlLine] = [
            BadControlLine(label: "malformed JSON", bytes: Array(#"{"cmd": "list""#.utf8), errorContains: "JSON"),
            BadControlLine(label: "unknown command", bytes: Array(#"{"cmd":"explode"}"#.utf8), errorContains: "explode"),
            BadControlLine(label: "line over 1 MiB", bytes: Array(#"{"cmd":"list","x":""#.utf8) + [UInt8](repeating: 0x61, count: 1 << 21) + Array(#""}"#.utf8),
                           errorContains: "1048576"),
            BadControlLine(label: "invalid UTF-8", bytes: Array(#"{"cmd":"stop","call":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8),
                           errorContains: "UTF-8"),
            BadControlLine(label: "stop an unknown call", bytes: Array(#"{"cmd":"stop","call":"nosuch"}"#.utf8), errorContains: "nosuch"),
            BadControlLine(label: "text for an unknown call",
                           bytes: Array(#"{"asr":{"call":"nosuch","channel":0,"start":1,"end":2,"text":"cancel it"}}"#.utf8),
                           errorContains: "nosuch"),
            BadControlLine(label: "text with its end before its start",
                           bytes: Array(#"{"asr":{"call":"bg","channel":0,"start":5,"end":2,"text":"cancel it"}}"#.utf8),
                           errorContains: "end"),
            BadControlLine(label: "duplicate call id", bytes: Array(#"{"cmd":"start","call":"bg","source":"file:\#(sampleCall)"}"#.utf8),
                           errorContains: "bg"),
            BadControlLine(label: "unknown source scheme", bytes: Array(#"{"cmd":"start","call":"c2","source":"rtsp://pbx/1"}"#.utf8),
                           errorContains: "unknown scheme 'rtsp'"),
        ]

        /// Each bad line gets exactly one `{"ok":false,"error":...}` reply naming what was wrong; the same
        /// connection then answers a good command, and a call running all along is still running, ungapped.
        @Test("a bad control line gets a clear error; the connection and the running call are unaffected",
              arguments: badLines)
        func badControlLine(_ bad: BadControlLine) throws {
            let daemon = try Daemon()
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["bg"]}}"#)
            try daemon.start("bg", "file:\(sampleCall)")
            let client = try UnixClient(path: daemon.control)
            try client.send(bad.bytes + [0x0A])
            let reply = try jsonObject(try client.readLine(timeout: 30) ?? "")
            #expect(reply["ok"] as? Bool == false)
            let error = reply["error"] as? String ?? ""
            #expect(error.contains(bad.errorContains), "\(error)")
            #expect(error.count < 1000, "the error quotes too much: \(error.count) characters")
            try client.send(#"{"cmd":"list"}"# + "\n")
            let list = try jsonObject(try client.readLine(timeout: 30) ?? "")
            #expect(list["ok"] as? Bool == true)
            #expect(try daemon.calls() == ["bg"])
            _ = try UnixClient.pump([subscriber], timeout: 0.5) { false }
            #expect(subscriber.receivedLines.contains { $0.contains(#""type":"call_start""#) })
            #expect(!subscriber.receivedLines.contains { $0.contains(#""type":"gap""#) || $0.contains(#""type":"call_end""#) })
            #expect(daemon.terminate() == 0)
        }

        /// Shrinks a file while a paced replay reads it: that call ends with `call_end` reason `error` and a
        /// message naming the file, while two calls running alongside it publish exactly what `analyze` prints.
        @Test("a file truncated mid-replay ends its call with an error; other calls are undisturbed")
        func truncatedMidReplay() throws {
            let dir = TempDir(prefix: "attuned-trunc")
            let victim = dir.file("victim.wav")
            try FileManager.default.copyItem(atPath: sampleCall, toPath: victim)
            let other = dir.file("other.wav")
            try wavData(rate: 16_000, channels: 1, samples: voiceLikeSamples(rate: 16_000, seconds: 2))
                .write(to: URL(fileURLWithPath: other))
            // All three paced (a speed=max replay would hog its worker and starve a real-time call pinned to the
            // same one: see `maxReplayDoesNotStarvePacedCalls`), and rings of 10 s as a cushion for a loaded machine.
            let daemon = try Daemon(["--ring-seconds", "10"], dir: dir)
            let subscriber = try daemon.subscribe(#"{"subscribe":{"frames":true}}"#)
            try daemon.start("victim", "file:\(victim)")
            try daemon.start("other", "file:\(other)?speed=2")
            try daemon.start("call-8k-mulaw", "file:\(sampleCall)?speed=4")
            // A second into the real-time replay of a 30 s file, cut it to 5 s of audio.
            #expect(try UnixClient.pump([subscriber], timeout: 60) { subscriber.hasReceived(lineContaining: #""call":"victim","channel":1,"role":"unknown","t":1.000"#) })
            #expect(truncate(victim, 44 + 8000 * 2 * 5) == 0)
            let ended = try UnixClient.pump([subscriber], timeout: 240) {
                ["victim", "other", "call-8k-mulaw"].allSatisfy {
                    subscriber.hasReceived(lineContaining: #"{"type":"call_end","v":1,"call":"\#($0)""#)
                }
            }
            #expect(ended)
            let lines = subscriber.receivedLines
            let end = try jsonObject(lines.first { $0.contains(#""type":"call_end","v":1,"call":"victim""#) } ?? "{}")
            #expect(end["reason"] as? String == "error")
            let message = end["message"] as? String ?? ""
            #expect(message.contains("victim.wav") && message.contains("truncated"), "\(message)")
            // The operator's log says so too (a call ending by itself was seen only by subscribers before).
            let logged = daemon.loggedLines("call ended").filter { $0.contains("call=victim") }
            #expect(logged.count == 1 && logged.first?.contains("warning") == true && logged.first?.contains("reason=error") == true,
                    "\(daemon.process.stderr.suffix(2000))")
            // The victim still got its summaries: what it analysed is flushed, not thrown away.
            #expect(lines.filter { $0.hasPrefix(#"{"type":"summary","v":1,"call":"victim""#) }.count == 2)

            for (call, file) in [("other", other), ("call-8k-mulaw", sampleCall)] {
                let live = lines.filter { $0.contains(#""call":"\#(call)""#) }
                #expect(live.last?.contains(#""reason":"eof""#) == true, "\(call): \(live.last ?? "")")
                let offline = try runAttune(["analyze", file, "--frames"], dir: dir)
                let expected = offline.stdout.split(separator: "\n").map(String.init)
                let types: Set = ["frame", "segment", "summary"]
                #expect(records(live, types: types) == records(expected, types: types), "\(call) differs from analyze")
            }
            #expect(!lines.contains { $0.contains(#""type":"gap""#) }, "\(lines.filter { $0.contains(#""type":"gap""#) })")
            #expect(daemon.terminate() == 0)
        }
    }
}

extension DaemonSuite.FaultTests {
    /// A subscriber that writes garbage, then a 10 MB line, gets an error line for each and keeps its stream;
    /// a well-behaved subscriber alongside gets the whole call, ungapped, and the daemon keeps answering.
    @Test("a subscriber sending garbage and a 10 MB line gets errors; nobody else notices")
    func subscriberGarbage() throws {
        let daemon = try Daemon()
        let good = try daemon.subscribe()
        let rude = try daemon.subscribe()
        try rude.send("this is not json\n")
        #expect(try rude.readLine(timeout: 30)?.contains(#""type":"error""#) == true)
        try rude.send([UInt8](repeating: 0x7B, count: 10 << 20) + [0x0A])
        #expect(try rude.readLine(timeout: 60)?.contains(#""type":"error""#) == true)
        try daemon.start("g", "file:\(sampleCall)?speed=max")
        let ended = try UnixClient.pump([good, rude], timeout: 240) {
            good.hasReceived(lineContaining: #""type":"call_end""#) && rude.hasReceived(lineContaining: #""type":"call_end""#)
        }
        #expect(ended)
        // After its errors the rude subscriber gets the same records as the good one.
        #expect(Array(rude.receivedLines.drop { !$0.contains("call_start") }) == Array(good.receivedLines.dropFirst()))
        #expect(good.receivedLines.filter { $0.contains(#""type":"summary""#) }.count == 2)
        #expect(!good.receivedLines.contains { $0.contains(#""type":"gap""#) || $0.contains(#""type":"error""#) })
        #expect(try daemon.command(#"{"cmd":"list"}"#)["ok"] as? Bool == true)
        #expect(daemon.terminate() == 0)
    }

    /// Subscribers that vanish while the daemon is writing to them (unread data in their sockets, so the daemon's
    /// next write fails with EPIPE/ECONNRESET): the daemon must neither die of SIGPIPE nor disturb the reader.
    @Test("subscribers disconnecting mid-write do not kill the daemon (SIGPIPE)")
    func sigpipe() throws {
        let daemon = try Daemon()
        let reader = try daemon.subscribe(#"{"subscribe":{"frames":true}}"#)
        var quitters = try (0..<5).map { _ in try daemon.subscribe(#"{"subscribe":{"frames":true}}"#) }
        try daemon.start("p", "file:\(sampleCall)?speed=max")
        #expect(try UnixClient.pump([reader], timeout: 60) { reader.receivedLines.count > 500 })
        // Close with records still unread and more on the way.
        quitters.removeAll()
        let ended = try UnixClient.pump([reader], timeout: 240) { reader.hasReceived(lineContaining: #""type":"call_end""#) }
        #expect(ended)
        #expect(daemon.process.poll() == nil, "attuned died: \(daemon.process.stderr)")
        #expect(!reader.receivedLines.contains { $0.contains(#""type":"gap""#) })
        #expect(reader.receivedLines.last?.contains(#""reason":"eof""#) == true)
        #expect(try daemon.command(#"{"cmd":"stats"}"#)["ok"] as? Bool == true)
        #expect(daemon.terminate() == 0)
    }

    /// SIGTERM with several calls at real-time pace and a subscriber reading: every call gets both channels'
    /// summaries and `call_end` reason `shutdown`, in that order and after all its other records, before the
    /// socket closes; nothing is lost on the way; the daemon exits 0.
    @Test("SIGTERM during load: every call's summaries and call_end reach the subscriber, exit 0")
    func sigtermDuringLoad() throws {
        // Rings of 10 s: on a loaded machine a debug build's workers may fall seconds behind four real-time calls,
        // and dropped samples (a legitimate `gap`) are not what this test is about.
        let daemon = try Daemon(["--ring-seconds", "10"])
        let reader = try daemon.subscribe(#"{"subscribe":{"frames":true}}"#)
        let calls = (1...4).map { "load\($0)" }
        for c in calls { try daemon.start(c, "file:\(sampleCall)") }
        // Every call is producing frames before the signal.
        #expect(try UnixClient.pump([reader], timeout: 60) {
            calls.allSatisfy { reader.hasReceived(lineContaining: #""type":"frame","v":1,"call":"\#($0)","channel":1,"role":"unknown","t":0.500"#) }
        })
        daemon.process.signal(SIGTERM)
        #expect(try UnixClient.pump([reader], timeout: 60) { reader.eof }, "the event socket did not close: \(daemon.process.stderr)")
        #expect(daemon.process.wait(timeout: 30) == 0, "\(daemon.process.stderr)")
        let lines = reader.receivedLines
        #expect(!lines.contains { $0.contains(#""type":"gap""#) }, "\(lines.filter { $0.contains(#""type":"gap""#) })")
        for c in calls {
            let mine = lines.filter { $0.contains(#""call":"\#(c)""#) }
            #expect(mine.count > 100, "\(c): \(mine.count) records")
            #expect(try mine.suffix(3).map { try jsonObject($0)["type"] as? String } == ["summary", "summary", "call_end"], "\(c)")
            #expect(mine.last?.contains(#""reason":"shutdown""#) == true, "\(c): \(mine.last ?? "")")
            // The shutdown flushed what was pending: frames are contiguous up to the end, 10 ms apart.
            let times = try mine.filter { $0.hasPrefix(#"{"type":"frame""#) && $0.contains(#""channel":0"#) }
                .map { try jsonObject($0)["t"] as? Double ?? -1 }
            #expect(times.first == 0 && zip(times, times.dropFirst()).allSatisfy { abs($1 - $0 - 0.01) < 1e-6 }, "\(c)")
        }
    }
}

extension DaemonSuite.FaultTests {
    /// A `speed=max` replay and a real-time call on the same worker: the real-time call must not lose audio
    /// while the replay runs. Today it does: `CallSession.pull` keeps reading a ring until it is empty, and a
    /// `speed=max` capture refills its ring as fast as the worker empties it, so the worker never gets round to
    /// the other calls pinned to it until the replay ends (their rings overflow: `gap` with `what: samples`).
    @Test("a speed=max replay does not starve a real-time call on the same worker")
    func maxReplayDoesNotStarvePacedCalls() throws {
        let daemon = try Daemon(["--workers", "1"])
        let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["paced"]}}"#)
        try daemon.start("paced", "file:\(sampleCall)")
        try daemon.start("max", "file:\(sampleCall)?speed=max")
        // The max replay lasts several seconds of wall time in a debug build: far beyond the paced call's 2 s ring.
        #expect(eventually(timeout: 240) { (try? daemon.calls()) == ["paced"] })
        _ = try UnixClient.pump([subscriber], timeout: 0.5) { false }
        let gaps = published(subscriber).filter { $0.contains(#""type":"gap""#) }
        // CallSession.pull takes at most a budget of audio per call per pass, so the max replay cannot hold
        // the worker while the paced call's ring overflows.
        #expect(gaps.isEmpty, "\(gaps)")
        #expect(daemon.terminate() == 0)
    }
}
