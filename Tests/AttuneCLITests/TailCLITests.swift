import AttuneBus
import AttuneEvents
import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `attune tail` against the real EventBus, run as a subprocess.
@Suite struct TailCLITests {
    /// Its F0 rounds to a multiple of ten: the pretty view once showed 100.29 as "f0 1 Hz".
    static let segment = #"{"type":"segment","v":1,"call":"c1","channel":1,"role":"customer","start":1.25,"end":2.5,"syllables":7,"rate_sps":5.6,"f0_median_hz":100.29,"f0_range_st":3.1,"energy_db":-21.4,"words":["hủy","đi"]}"#
    static let event = #"{"type":"event","v":1,"id":"e1","call":"c1","channel":1,"role":"customer","kind":"frustration","state":"start","t":2.5,"start":2.0,"end":null,"confidence":0.82,"intensity":0.6,"arousal":0.7,"valence":-0.5,"evidence":{"f0_st":3.1},"explanation":"Louder and \"faster\" than their baseline","suggestion":"Acknowledge","needs_human":false}"#
    static let callEnd = #"{"type":"call_end","v":1,"call":"c1","reason":"stopped","t":9.0}"#

    @Test func pipedOutputIsThePublishedLinesByteForByte() async throws {
        let daemon = try await TestDaemon()
        let tail = try AttuneChild(["tail", daemon.eventsPath, "--count", "3"])
        try await daemon.waitForSubscribers(1)
        daemon.publish(Self.segment, type: "segment", call: "c1")
        daemon.publish(Self.event, type: "event", call: "c1", kind: "frustration")
        daemon.publish(Self.callEnd, type: "call_end", call: "c1")
        // Past --count: must not be printed.
        daemon.publish(Self.segment, type: "segment", call: "c1")
        let result = try await tail.finish()
        await daemon.shutdown()
        #expect(result.status == 0, "\(result.stderr)")
        // No hello (not asked for), no re-encoding: exactly the bytes published, in order.
        #expect(result.stdout == Self.segment + "\n" + Self.event + "\n" + Self.callEnd + "\n")
        #expect(result.stderr.isEmpty)
    }

    @Test func helloIsPrintedOnlyWhenAskedFor() async throws {
        let daemon = try await TestDaemon()
        let tail = try AttuneChild(["tail", daemon.eventsPath, "--count", "1", "--hello"])
        try await daemon.waitForSubscribers(1)
        daemon.publish(Self.callEnd, type: "call_end", call: "c1")
        let result = try await tail.finish()
        await daemon.shutdown()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutLines.count == 2)
        #expect(result.stdoutLines.first?.hasPrefix(#"{"type":"hello","v":1,"version":"0.0-test""#) == true)
        #expect(result.stdoutLines.last == Self.callEnd)
    }

    @Test func filterFlagsReachTheDaemonAndOnlyMatchingRecordsArrive() async throws {
        let daemon = try await TestDaemon()
        let tail = try AttuneChild(["tail", daemon.eventsPath, "--call", "c1", "--type", "segment", "--type", "call_end",
                                    "--count", "2"])
        try await daemon.waitForSubscribers(1)
        let other = Self.segment.replacingOccurrences(of: #""call":"c1""#, with: #""call":"c2""#)
        daemon.publish(other, type: "segment", call: "c2")
        daemon.publish(Self.event, type: "event", call: "c1", kind: "frustration")
        daemon.publish(Self.segment, type: "segment", call: "c1")
        daemon.publish(#"{"type":"call_end","v":1,"call":"c2","reason":"eof","t":1.0}"#, type: "call_end", call: "c2")
        daemon.publish(Self.callEnd, type: "call_end", call: "c1")
        let result = try await tail.finish()
        await daemon.shutdown()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == Self.segment + "\n" + Self.callEnd + "\n")
    }

    @Test func theSubscribeLineCarriesEveryFlagAndRecordsBeforeItsAcknowledgementAreFilteredToo() async throws {
        let dir = TempDir(prefix: "attune-cli")
        let sent = Handoff<String>()
        let wanted = #"{"type":"event","v":1,"call":"c1","kind":"urgency","t":1.0}"#
        let listener = try BareListener(path: dir.file("events.sock")) { c in
            c.send(#"{"type":"hello","v":1,"version":"x","schema":1,"node":"n","emotions":["customer"]}"# + "\n")
            // Published before the daemon read the filter: chosen by the default filter, so tail must drop it.
            c.send(#"{"type":"segment","v":1,"call":"c2","start":0,"end":1}"# + "\n")
            sent.set(c.readLine() ?? "<nothing>")
            c.send(#"{"type":"event","v":1,"call":"c1","kind":"frustration","t":0.5}"# + "\n")
            c.send(#"{"type":"subscribed","v":1,"calls":["c1"],"kinds":["frustration","urgency"],"types":null,"frames":true}"# + "\n")
            c.send(wanted + "\n")
            c.waitForClose()
        }
        let result = try await runAttuneAsync(["tail", listener.path, "--call", "c1", "--kind", "frustration",
                                               "--kind", "urgency", "--kind", "frustration", "--frames", "--count", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(sent.current == #"{"subscribe":{"calls":["c1"],"kinds":["frustration","urgency"],"frames":true}}"#)
        // The c2 segment is gone, the `subscribed` acknowledgement is not printed.
        #expect(result.stdout == #"{"type":"event","v":1,"call":"c1","kind":"frustration","t":0.5}"# + "\n" + wanted + "\n")
    }

    @Test func aFilterTheDaemonRefusesIsAUsageError() async throws {
        let dir = TempDir(prefix: "attune-cli")
        let listener = try BareListener(path: dir.file("events.sock")) { c in
            c.send(#"{"type":"hello","v":1}"# + "\n")
            _ = c.readLine()
            c.send(#"{"type":"error","v":1,"error":"subscribe: calls[0] must be 1…256 bytes\u001b[31m; filter unchanged"}"# + "\n")
            c.waitForClose()
        }
        let result = try await runAttuneAsync(["tail", listener.path, "--call", "c1"])
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderrLines == [
            "attune tail: \(listener.path): the daemon refused the filter: subscribe: calls[0] must be 1…256 bytes\\x1b[31m; filter unchanged",
        ])
    }

    @Test func endsWithZeroWhenTheDaemonClosesTheSocket() async throws {
        let daemon = try await TestDaemon()
        let tail = try AttuneChild(["tail", daemon.eventsPath])
        try await daemon.waitForSubscribers(1)
        daemon.publish(Self.segment, type: "segment", call: "c1")
        daemon.publish(Self.event, type: "event", call: "c1", kind: "frustration")
        // Shutdown delivers what was published, then closes every subscriber: a clean EOF.
        await daemon.shutdown()
        let result = try await tail.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == Self.segment + "\n" + Self.event + "\n")
        #expect(result.stderr.isEmpty)
    }

    @Test func endsOnceEveryNamedCallHasEnded() async throws {
        let daemon = try await TestDaemon()
        let tail = try AttuneChild(["tail", daemon.eventsPath, "--call", "c1", "--call", "c3"])
        try await daemon.waitForSubscribers(1)
        daemon.publish(Self.callEnd, type: "call_end", call: "c1")
        let c3End = #"{"type":"call_end","v":1,"call":"c3","reason":"eof","t":2.0}"#
        daemon.publish(c3End, type: "call_end", call: "c3")
        let result = try await tail.finish()
        await daemon.shutdown()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == Self.callEnd + "\n" + c3End + "\n")
    }

    @Test func aConnectionCutInTheMiddleOfARecordIsAnIOError() async throws {
        let dir = TempDir(prefix: "attune-cli")
        let listener = try BareListener(path: dir.file("events.sock")) { c in
            c.send(#"{"type":"hello","v":1}"# + "\n" + #"{"type":"segment","v":1,"call":"c1"}"# + "\n" + #"{"type":"seg"#)
        }
        let result = try await runAttuneAsync(["tail", listener.path])
        #expect(result.status == 74)
        #expect(result.stdout == #"{"type":"segment","v":1,"call":"c1"}"# + "\n")
        #expect(result.stderrLines == ["attune tail: \(listener.path): the daemon closed the connection in the middle of a record (12 bytes without a newline)"])
    }

    @Test func aMissingSocketIs69NamingThePathTheErrnoAndTheDaemon() async throws {
        let dir = TempDir(prefix: "attune-cli")
        let result = try await runAttuneAsync(["tail", dir.file("nope.sock")])
        #expect(result.status == 69)
        #expect(result.stdout.isEmpty)
        #expect(result.stderrLines.count == 1)
        let line = result.stderrLines.first ?? ""
        #expect(line.hasPrefix("attune tail: \(dir.file("nope.sock")): cannot connect: No such file or directory (errno 2)"))
        #expect(line.contains("attuned --run-dir"))
    }

    /// A path that exists but is no socket used to get the hint for a socket a stopped daemon left behind.
    @Test func aPathThatIsNotASocketIs69SayingSo() async throws {
        let dir = TempDir(prefix: "attune-cli")
        let file = dir.file("events.log")
        try "not a socket\n".write(toFile: file, atomically: true, encoding: .utf8)
        for (path, what) in [(file, "a regular file"), (dir.path, "a directory")] {
            let result = try await runAttuneAsync(["tail", path])
            #expect(result.status == 69)
            #expect(result.stdout.isEmpty)
            #expect(result.stderrLines == ["attune tail: \(path): cannot connect: it is not a socket but \(what); "
                                           + "give the events.sock in attuned's run directory"], "\(result.stderr)")
        }
    }

    /// `--kind` used to go to the daemon unchecked, so a typo waited for ever for events that never come.
    @Test func anUnknownEventKindIsAUsageErrorListingTheKinds() async throws {
        let result = try await runAttuneAsync(["tail", "--kind", "frustration", "--kind", "frustation"])
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("--kind: unknown event kind 'frustation' (one of "), "\(result.stderr)")
        for kind in EventKind.allCases { #expect(result.stderr.contains(kind.rawValue), "\(kind) not listed: \(result.stderr)") }
    }

    @Test func theDefaultSocketIsInATTUNE_RUN_DIR() async throws {
        let daemon = try await TestDaemon()
        let tail = try AttuneChild(["tail", "--count", "1"], environment: ["ATTUNE_RUN_DIR": daemon.dir.path])
        try await daemon.waitForSubscribers(1)
        daemon.publish(Self.callEnd, type: "call_end", call: "c1")
        let result = try await tail.finish()
        await daemon.shutdown()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == Self.callEnd + "\n")

        let missing = try await runAttuneAsync(["tail"], environment: ["ATTUNE_RUN_DIR": daemon.dir.path + "/gone"])
        #expect(missing.status == 69)
        #expect(missing.stderr.contains(daemon.dir.path + "/gone/events.sock: cannot connect"))
    }

    @Test(arguments: [
        (["tail", "--type", "segmnet"], "unknown record type 'segmnet'"),
        (["tail", "--count", "0"], "--count must be at least 1"),
        (["tail", "--call", ""], "--call must be 1…256 bytes"),
        // An id no daemon would run: tail waited for it for ever.
        (["tail", "--call", "a.b"], "--call: call id 'a.b' may hold only letters, digits and - _ : @ + ="),
        (["tail", "--color", "sometimes"], "sometimes"),
        (["tail", "--json", "--pretty"], "--json and --pretty exclude each other"),
        (["tail", "--bogus"], "--bogus"),
    ])
    func badFlagsAreUsageErrors(arguments: [String], message: String) async throws {
        let result = try await runAttuneAsync(arguments)
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func prettyViewIsOneLinePerRecordColouredOnlyWhenAsked() async throws {
        let daemon = try await TestDaemon()
        let hostile = #"{"type":"call_end","v":1,"call":"c\u001b]0;pwned\u0007","reason":"error","message":"line\nbreak","t":61.5}"#
        let plain = try AttuneChild(["tail", daemon.eventsPath, "--pretty", "--count", "3"])
        let coloured = try AttuneChild(["tail", daemon.eventsPath, "--pretty", "--color", "always", "--count", "1"])
        try await daemon.waitForSubscribers(2)
        daemon.publish(Self.event, type: "event", call: "c1", kind: "frustration")
        daemon.publish(Self.segment, type: "segment", call: "c1")
        daemon.publish(hostile, type: "call_end", call: "c\u{1b}]0;pwned\u{07}")
        let p = try await plain.finish()
        let c = try await coloured.finish()
        await daemon.shutdown()
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdoutLines == [
            "            hello  attuned 0.0-test  node test-node  schema 1  emotions on customer",
            "  0:02.500  c1  1/customer  frustration start  conf 0.82  int 0.6  ar 0.7  val -0.5  f0_st=3.1  — Louder and \"faster\" than their baseline  → Acknowledge",
            "  0:01.250  c1  1/customer  segment  1.25–2.5 s  7 syl  5.6 syl/s  f0 100 Hz  ±3.1 st  -21.4 dB  \"hủy đi\"",
            "  1:01.500  c\\x1b]0;pwned\\x07  call_end  error  line\\nbreak",
        ])
        #expect(!p.stdout.contains("\u{1b}"))
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.stdout.contains("\u{1b}[1;31mfrustration\u{1b}[0m"))
    }

    /// A terminal from util-linux `script` (the Glibc module has no posix_openpt to make one here).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func onATerminalTheViewIsPrettyAndColouredUnlessNO_COLOR() async throws {
        let daemon = try await TestDaemon()
        let command = "exec '\(try attuneBinary())' tail '\(daemon.eventsPath)' --count 1"
        let coloured = try AttuneChild(["-qec", command, "/dev/null"], environment: ["TERM": "xterm", "NO_COLOR": nil],
                                       executable: "/usr/bin/script")
        let plain = try AttuneChild(["-qec", command, "/dev/null"], environment: ["TERM": "xterm", "NO_COLOR": "1"],
                                    executable: "/usr/bin/script")
        try await daemon.waitForSubscribers(2)
        daemon.publish(Self.event, type: "event", call: "c1", kind: "frustration")
        let c = try await coloured.finish()
        let p = try await plain.finish()
        await daemon.shutdown()
        #expect(c.status == 0, "\(c.stdout)")
        #expect(c.stdout.contains("\u{1b}[1;31mfrustration\u{1b}[0m start"))
        #expect(!c.stdout.contains(#""type":"event""#))
        #expect(p.status == 0, "\(p.stdout)")
        #expect(p.stdout.contains("  c1  1/customer  frustration start  conf 0.82"))
        #expect(!p.stdout.contains("\u{1b}"))
    }

    @Test func aReaderThatGoesAwayEndsTailQuietly() async throws {
        let daemon = try await TestDaemon()
        let tail = try AttuneChild(["tail", daemon.eventsPath], stdoutPipe: true)
        try await daemon.waitForSubscribers(1)
        daemon.publish(Self.segment, type: "segment", call: "c1")
        // `attune tail | head -1`: read one line, close the pipe, keep publishing.
        var got: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !got.contains(UInt8(ascii: "\n")) {
            let n = read(tail.stdoutReader!, &chunk, chunk.count)
            guard n > 0 else { break }
            got += chunk[0..<n]
        }
        tail.closeStdout()
        #expect(String(decoding: got, as: UTF8.self) == Self.segment + "\n")
        // The next write after the close fails with EPIPE; a few more in case one is still in flight.
        for _ in 0..<10 {
            daemon.publish(Self.segment, type: "segment", call: "c1")
            try await Task.sleep(for: .milliseconds(10))
        }
        let result = try await tail.finish()
        await daemon.shutdown()
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
    }
}
