import AttuneBus
import AttuneEvents
import AttuneTestSupport
import AttuneText
import Foundation
import Testing

/// `attune ctl` against the real ControlServer, run as a subprocess: the typed command the handler got, the reply
/// printed, and the exit code.
@Suite struct CtlCLITests {
    static func reply(_ command: ControlCommand) -> ControlReply {
        switch command {
        case .start(let s): return .ok(["call": .string(s.call)])
        case .stop(let call):
            return call == "nope" ? .failure("unknown call \"nope\"\nno such call is running") : .ok()
        case .list:
            return .ok(["calls": [
                ["call": "c42", "source": "file:x.wav", "roles": ["agent", "customer"], "seconds": 12.5],
                ["call": "c43", "source": "alsa:hw:1,0"],
            ]])
        case .stats: return .ok(["calls": 2, "bus": ["subscribers": 1, "published": 10]])
        case .asr: return .ok()
        }
    }

    func daemon() async throws -> TestDaemon { try await TestDaemon(reply: Self.reply) }

    /// Runs `attune ctl arguments` against `d`. The servers answer from Swift tasks, which other suites' blocking
    /// subprocess waits can hold up for tens of seconds on a loaded 2-core machine, so the reply timeout is long.
    func ctl(_ arguments: [String], _ d: TestDaemon, in directory: String? = nil) async throws -> RunResult {
        try await runAttuneAsync(["ctl"] + arguments + ["--socket", d.controlPath, "--timeout", "600"], directory: directory)
    }

    /// The daemon resolves a relative path against its own working directory (`/` under systemd), which the shell
    /// user cannot see: `ctl start` sends the path made absolute from the shell's, `%` and `?` of that directory
    /// escaped as the URI syntax needs. Absolute paths and other schemes go as typed.
    @Test func startSendsARelativeFilePathAbsoluteFromTheShellsDirectory() async throws {
        let d = try await daemon()
        let base = TempDir(prefix: "attune-ctl-cwd")
        let odd = base.file("100% sure?")
        try FileManager.default.createDirectory(atPath: odd, withIntermediateDirectories: true)
        let relative = try await ctl(["start", "c1", "file:calls/a.wav?speed=max"], d, in: odd)
        let absolute = try await ctl(["start", "c2", "file:/srv/b.wav"], d, in: odd)
        let device = try await ctl(["start", "c3", "alsa:hw:1,0"], d, in: odd)
        await d.shutdown()
        #expect(relative.status == 0 && absolute.status == 0 && device.status == 0, "\(relative.stderr)")
        let escaped = base.file("100%25 sure%3F")
        #expect(d.handler.received == [
            .start(StartCall(call: "c1", source: "file:\(escaped)/calls/a.wav?speed=max")),
            .start(StartCall(call: "c2", source: "file:/srv/b.wav")),
            .start(StartCall(call: "c3", source: "alsa:hw:1,0")),
        ])
    }

    @Test func startSendsTheTypedCommandWithEveryOptionEscaped() async throws {
        let d = try await daemon()
        // Every character a call id may hold; the JSON escaping is put to work by the source's quote and backslash.
        let call = "c-1_:@+=Z9"
        let source = "file:/tmp/a \"b\"\\é.wav?speed=max"
        let result = try await ctl(["start", call, source, "--roles", "agent,customer",
                                               "--no-consent", "--lang", "vi", "--asr", "pocketsphinx"], d)
        let plain = try await ctl(["start", "c2", "alsa:hw:1,0"], d)
        await d.shutdown()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == #"{"ok":true,"call":"c-1_:@+=Z9"}"# + "\n")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(d.handler.received == [
            .start(StartCall(call: call, source: source, roles: [.agent, .customer], consent: false,
                             lang: "vi", asr: "pocketsphinx")),
            .start(StartCall(call: "c2", source: "alsa:hw:1,0")),
        ])
    }

    @Test func aRefusalIs65WithTheErrorOnOneStderrLine() async throws {
        let d = try await daemon()
        let result = try await ctl(["stop", "nope"], d)
        let ok = try await ctl(["stop", "c42"], d)
        await d.shutdown()
        #expect(result.status == 65)
        #expect(result.stdout.isEmpty)
        #expect(result.stderrLines == [
            "attune ctl stop nope: \(d.controlPath): unknown call \"nope\"\\nno such call is running",
        ])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == #"{"ok":true}"# + "\n")
        #expect(d.handler.received == [.stop(call: "nope"), .stop(call: "c42")])
    }

    @Test func listIsTheRawReplyOnAPipeAndATableWhenPretty() async throws {
        let d = try await daemon()
        let raw = try await ctl(["list"], d)
        let json = try await ctl(["list", "--json"], d)
        let pretty = try await ctl(["list", "--pretty"], d)
        await d.shutdown()
        let line = #"{"ok":true,"calls":[{"call":"c42","source":"file:x.wav","roles":["agent","customer"],"seconds":12.5},{"call":"c43","source":"alsa:hw:1,0"}]}"#
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(raw.stdout == line + "\n")
        #expect(json.stdout == line + "\n")
        #expect(pretty.status == 0, "\(pretty.stderr)")
        #expect(pretty.stdoutLines == [
            "ok",
            "CALL  SOURCE       ROLES           SECONDS",
            "c42   file:x.wav   agent,customer  12.5",
            "c43   alsa:hw:1,0  -               -",
        ])
        #expect(d.handler.received == [.list, .list, .list])
    }

    @Test func statsPrettyFlattensNestedCounters() async throws {
        let d = try await daemon()
        let pretty = try await ctl(["stats", "--pretty"], d)
        await d.shutdown()
        #expect(pretty.status == 0, "\(pretty.stderr)")
        #expect(pretty.stdoutLines == ["ok calls=2", "bus.subscribers: 1", "bus.published: 10"])
        #expect(d.handler.received == [.stats])
    }

    @Test func asrSendsTheUtteranceWithItsTextEscaped() async throws {
        let d = try await daemon()
        let final = try await ctl(["asr", "c1", "--channel", "1", "--start", "3.25", "--end", "4",
                                   "cancel \"it\"\nnow"], d)
        let partial = try await runAttuneAsync(["ctl", "asr", "c1", "--channel", "0", "--start", "0", "--end", "0.5",
                                                "--partial", "--timeout", "600", "--socket", d.controlPath, "--", "-ish"])
        await d.shutdown()
        #expect(final.status == 0, "\(final.stderr)")
        #expect(partial.status == 0, "\(partial.stderr)")
        #expect(d.handler.received == [
            .asr(call: "c1", utterance: TranscriptUtterance(channel: 1, start: 3.25, end: 4, text: "cancel \"it\"\nnow", final: true)),
            .asr(call: "c1", utterance: TranscriptUtterance(channel: 0, start: 0, end: 0.5, text: "-ish", final: false)),
        ])
    }

    @Test func sendPassesTheRawLineAndPrintsTheRawReplyEvenARefusal() async throws {
        let d = try await daemon()
        let ok = try await ctl(["send", #"{"cmd": "stats"}"#, "--pretty"], d)
        let bad = try await ctl(["send", #"{"cmd": "bogus"}"#], d)
        await d.shutdown()
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == #"{"ok":true,"calls":2,"bus":{"subscribers":1,"published":10}}"# + "\n")
        #expect(bad.status == 65)
        #expect(bad.stdout == #"{"ok":false,"error":"unknown command \"bogus\" (start, stop, list, stats or an asr message)"}"# + "\n")
        #expect(bad.stderrLines == [
            #"attune ctl send: \#(d.controlPath): unknown command "bogus" (start, stop, list, stats or an asr message)"#,
        ])
        #expect(d.handler.received == [.stats])
    }

    @Test func theDefaultSocketIsInATTUNE_RUN_DIRAndAMissingOneIs69() async throws {
        let d = try await daemon()
        let found = try await runAttuneAsync(["ctl", "list", "--timeout", "600"], environment: ["ATTUNE_RUN_DIR": d.dir.path])
        await d.shutdown()
        #expect(found.status == 0, "\(found.stderr)")
        #expect(d.handler.received == [.list])
        // After shutdown the socket file is gone.
        let missing = try await runAttuneAsync(["ctl", "stop", "c1"], environment: ["ATTUNE_RUN_DIR": d.dir.path])
        #expect(missing.status == 69)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderrLines.count == 1)
        #expect(missing.stderr.hasPrefix(
            "attune ctl stop c1: \(d.controlPath): cannot connect: No such file or directory (errno 2); is attuned running?"))
    }

    @Test func aDaemonThatDoesNotAnswerIs69AfterTheTimeout() async throws {
        let dir = TempDir(prefix: "attune-cli")
        let listener = try BareListener(path: dir.file("control.sock")) { c in c.waitForClose() }
        // The listener holds the connection open for 20 s: without the timeout, ctl would get EOF then (74).
        // Wall time is not asserted: other suites' blocking subprocess waits can starve this test's executor.
        let result = try await runAttuneAsync(["ctl", "list", "--socket", listener.path, "--timeout", "0.3"])
        #expect(result.status == 69)
        #expect(result.stderrLines == ["attune ctl list: \(listener.path): no reply within 0.3 s; is attuned stuck?"])
    }

    @Test(arguments: [
        ("", "the daemon closed the connection before replying"),
        ("{\"ok\":tr", "the daemon closed the connection before replying (8 bytes of a partial line)"),
        ("yes\u{1b}[2J\n", "the reply is not {\"ok\": …}: yes\\x1b[2J"),
        ("{\"ok\":\"yes\"}\n", "the reply is not {\"ok\": …}: {\"ok\":\"yes\"}"),
    ])
    func aReplyThatIsNotOneIsAnIOError(reply: String, message: String) async throws {
        let dir = TempDir(prefix: "attune-cli")
        let listener = try BareListener(path: dir.file("control.sock")) { c in
            _ = c.readLine()
            c.send(reply)
        }
        let result = try await runAttuneAsync(["ctl", "stats", "--socket", listener.path])
        #expect(result.status == 74)
        #expect(result.stdout.isEmpty)
        #expect(result.stderrLines == ["attune ctl stats: \(listener.path): \(message)"])
    }

    @Test(arguments: [
        (["ctl", "start", "c1", "file:x.wav", "--roles", "agent,boss"], "unknown role 'boss'"),
        (["ctl", "start", "c1", "file:x.wav", "--lang", "fr"], "--lang must be en or vi"),
        (["ctl", "start", "", "file:x.wav"], "call id must be 1-128 bytes long"),
        // The daemon's own rule, not a looser one of ctl's that left the refusal to the daemon (65).
        (["ctl", "start", "a.b", "file:x.wav"], "call id 'a.b' may hold only letters, digits and - _ : @ + ="),
        (["ctl", "stop", String(repeating: "L", count: 200)], "call id must be 1-128 bytes long"),
        (["ctl", "stop"], "Missing expected argument '<call>'"),
        (["ctl", "asr", "c1", "--channel", "0", "--start", "2", "--end", "1", "hi"], "--end (1.0) is before --start (2.0)"),
        (["ctl", "asr", "c1", "--channel", "256", "--start", "0", "--end", "1", "hi"], "--channel must be 0…255"),
        (["ctl", "asr", "c1", "--channel", "0", "--start", "nan", "--end", "1", "hi"], "--start must be a number of seconds"),
        (["ctl", "send", "{\"cmd\":\n\"list\"}"], "JSON must be one line"),
        (["ctl", "list", "--timeout", "0"], "--timeout must be more than 0"),
        (["ctl", "frobnicate"], "frobnicate"),
    ])
    func badFlagsAreUsageErrorsBeforeAnyConnection(arguments: [String], message: String) async throws {
        // No socket at all: a usage error must be found before connecting (else this would be 69).
        let dir = TempDir(prefix: "attune-cli")
        let result = try await runAttuneAsync(arguments, environment: ["ATTUNE_RUN_DIR": dir.path])
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
