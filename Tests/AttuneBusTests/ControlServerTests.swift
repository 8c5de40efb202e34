import AttuneBus
import AttuneEvents
import AttuneText
import AttuneTestSupport
import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Records what the handler was given and answers like a tiny daemon would.
final class RecordingHandler: ControlHandler {
    let received = NIOLockedValueBox<[ControlCommand]>([])

    func handle(_ command: ControlCommand, from peer: PeerCredentials) async -> ControlReply {
        received.withLockedValue { $0.append(command) }
        switch command {
        case .start(let s):
            // Out-of-order completion would show if replies were not kept in command order.
            if s.call == "slow" { try? await Task.sleep(for: .milliseconds(100)) }
            return .ok(["call": .string(s.call)])
        case .stop(let call): return call == "nope" ? .failure("unknown call \"nope\"") : .ok()
        case .list: return .ok(["calls": [["call": "c42", "source": "file:x.wav"]]])
        case .stats: return .ok(["pid": .number(Double(peer.pid))])
        case .asr(_, let a): return .ok(["words": .number(Double(a.words.count))])
        }
    }
}

func makeControl(_ dir: TempDir, handler: some ControlHandler = RecordingHandler(),
                 configure: (inout ControlServerConfiguration) -> Void = { _ in }) -> ControlServer {
    var config = ControlServerConfiguration(socketPath: dir.file("control.sock"))
    configure(&config)
    return ControlServer(configuration: config, handler: handler)
}

@Suite(.serialized)
struct ControlServerTests {
    @Test func commandsReachTheHandlerTypedAndRepliesComeBackInOrder() async throws {
        let dir = TempDir()
        let handler = RecordingHandler()
        let control = makeControl(dir, handler: handler)
        try await control.start()
        var st = stat()
        #expect(stat(dir.file("control.sock"), &st) == 0 && st.st_mode & 0o777 == 0o600)
        let c = try UnixClient(path: dir.file("control.sock"))
        // Pipelined in one write: replies must come back one per line, in order, even when the first is slow.
        try c.send("""
            {"cmd": "start", "call": "slow", "source": "file:a.wav", "roles": ["agent", "customer"], "consent": false, "lang": "vi", "asr": "pocketsphinx"}
            {"cmd": "stop", "call": "nope"}\r
            {"cmd":"list"}

            {"cmd":"stats"}
            {"asr": {"call": "c42", "channel": 1, "start": 3.2, "end": 4.0, "text": "cancel it", "final": false, "words": [{"w": "cancel", "start": 3.2, "end": 3.5, "conf": 0.9}, {"w": "it", "start": 3.5, "end": 4.0}]}}

            """)
        #expect(try await c.line() == #"{"ok":true,"call":"slow"}"#)
        #expect(try await c.line() == #"{"ok":false,"error":"unknown call \"nope\""}"#)
        #expect(try await c.line() == #"{"ok":true,"calls":[{"call":"c42","source":"file:x.wav"}]}"#)
        #expect(try json(await c.line())["pid"] == .number(Double(getpid())))
        #expect(try await c.line() == #"{"ok":true,"words":2}"#)
        #expect(try await c.line(timeout: 0.2) == nil, "exactly one reply per command")
        let got = handler.received.withLockedValue { $0 }
        #expect(got == [
            .start(StartCall(call: "slow", source: "file:a.wav", roles: [.agent, .customer], consent: false,
                             lang: "vi", asr: "pocketsphinx")),
            .stop(call: "nope"), .list, .stats,
            .asr(call: "c42", utterance: TranscriptUtterance(
                channel: 1, start: 3.2, end: 4.0, text: "cancel it", final: false,
                words: [TranscriptWord(word: "cancel", start: 3.2, end: 3.5, confidence: 0.9),
                        TranscriptWord(word: "it", start: 3.5, end: 4.0)])),
        ])
        await control.shutdown()
    }

    /// Replies must not queue behind synchronous work holding the cooperative pool (in a test process, other
    /// tests waiting on their subprocesses): jobs at default priority hold every pool thread here while a client
    /// asks, and the reply must come while they still do.
    @Test func repliesComeWhileTheCooperativePoolIsHeld() async throws {
        let dir = TempDir()
        let control = makeControl(dir)
        try await control.start()
        let client = try UnixClient(path: dir.file("control.sock"))
        let width = ProcessInfo.processInfo.activeProcessorCount
        let holding = NIOLockedValueBox(0), released = NIOLockedValueBox(false)
        let holders = (0..<width + 2).map { _ in
            Task.detached(priority: .medium) {
                holding.withLockedValue { $0 += 1 }
                // Long enough to still hold when the last holder starts: in a full test run the pool is
                // shared with other tests, and the holders start as their jobs let go of it.
                let deadline = Date().addingTimeInterval(120)
                while !released.withLockedValue({ $0 }) && Date() < deadline { usleep(1000) }
            }
        }
        // A plain thread, not a task: anything on the pool would itself wait for the holders.
        let box = UncheckedBox(client)
        let (reply, seconds, held): (String?, Double, Bool) = try await withCheckedThrowingContinuation { done in
            Thread {
                let deadline = Date().addingTimeInterval(100)
                while holding.withLockedValue({ $0 }) < width && Date() < deadline { usleep(1000) }
                let held = holding.withLockedValue { $0 } >= width
                let sent = Date()
                done.resume(with: Result {
                    try box.value.send("{\"cmd\":\"list\"}\n")
                    let line = try box.value.readLine(timeout: 15)
                    let seconds = Date().timeIntervalSince(sent)
                    released.withLockedValue { $0 = true }
                    return (line, seconds, held)
                })
            }.start()
        }
        for holder in holders { await holder.value }
        #expect(held, "the holders never occupied all \(width) pool threads")
        #expect(reply == #"{"ok":true,"calls":[{"call":"c42","source":"file:x.wav"}]}"#)
        #expect(seconds < 2, "the reply waited \(seconds) s for the cooperative pool")
        await control.shutdown()
    }

    /// Every bad line gets one error reply naming what was wrong, and the next command still works.
    @Test(arguments: [
        ("{\"cmd\": \"start\"", "malformed JSON"),
        ("not json", "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{\"cmd\": \"dance\"}", "unknown command \"dance\""),
        ("{\"cmd\": 3}", "\"cmd\" must be a string"),
        ("{\"call\": \"c1\"}", "missing field \"cmd\""),
        ("{\"cmd\": \"start\", \"source\": \"file:a\"}", "start: missing field \"call\""),
        ("{\"cmd\": \"start\", \"call\": \"c1\"}", "start: missing field \"source\""),
        ("{\"cmd\": \"start\", \"call\": 42, \"source\": \"file:a\"}", "start: field \"call\" must be a string, not a number"),
        ("{\"cmd\": \"start\", \"call\": \"\", \"source\": \"file:a\"}", "start: field \"call\" must not be empty"),
        ("{\"cmd\": \"start\", \"call\": \"c1\", \"source\": \"file:a\", \"roles\": \"agent\"}", "field \"roles\" must be an array"),
        ("{\"cmd\": \"start\", \"call\": \"c1\", \"source\": \"file:a\", \"roles\": [\"boss\"]}", "unknown role \"boss\""),
        ("{\"cmd\": \"start\", \"call\": \"c1\", \"source\": \"file:a\", \"roles\": [1]}", "roles[0] must be a string"),
        ("{\"cmd\": \"start\", \"call\": \"c1\", \"source\": \"file:a\", \"consent\": \"no\"}", "field \"consent\" must be true or false"),
        ("{\"cmd\": \"start\", \"call\": \"c1\", \"source\": \"file:a\", \"lang\": 5}", "field \"lang\" must be a string"),
        ("{\"cmd\": \"start\", \"call\": \"c1\", \"source\": \"file:a\", \"consnet\": false}", "unknown field \"consnet\""),
        ("{\"cmd\": \"stop\"}", "stop: missing field \"call\""),
        ("{\"cmd\": \"stop\", \"call\": [\"c1\"]}", "stop: field \"call\" must be a string, not an array"),
        ("{\"cmd\": \"list\", \"all\": true}", "list: unknown field \"all\""),
        ("{\"asr\": 1}", "field \"asr\" must be an object"),
        ("{\"asr\": {\"call\": \"c1\", \"start\": 0, \"end\": 1, \"text\": \"x\"}}", "asr: missing field \"channel\""),
        ("{\"asr\": {\"call\": \"c1\", \"channel\": 1.5, \"start\": 0, \"end\": 1, \"text\": \"x\"}}", "\"channel\" must be an integer"),
        ("{\"asr\": {\"call\": \"c1\", \"channel\": 0, \"start\": -1, \"end\": 1, \"text\": \"x\"}}", "\"start\" must be at least 0"),
        ("{\"asr\": {\"call\": \"c1\", \"channel\": 0, \"start\": 2, \"end\": 1, \"text\": \"x\"}}", "\"end\" (1.0) is before \"start\""),
        ("{\"asr\": {\"call\": \"c1\", \"channel\": 0, \"start\": 0, \"end\": 1, \"text\": null}}", "\"text\" must be a string, not null"),
        ("{\"asr\": {\"call\": \"c1\", \"channel\": 0, \"start\": 0, \"end\": 1, \"text\": \"x\", \"words\": [{\"w\": \"x\"}]}}", "words[0]: missing field \"start\""),
        ("{\"asr\": {\"call\": \"c1\", \"channel\": 0, \"start\": 0, \"end\": 1, \"text\": \"x\", \"final\": 1}}", "\"final\" must be true or false"),
        // The rules a transcript file's lines are held to (Transcript.validate), so live text is refused as offline.
        ("{\"asr\": {\"call\": \"c1\", \"channel\": 0, \"start\": 1, \"end\": 2, \"text\": \"a\", \"words\": [{\"w\": \"a\", \"start\": 50, \"end\": 51}]}}",
         "asr: word 'a' (50.0–51.0 s) lies outside its utterance (1.0–2.0 s)"),
        ("{\"asr\": {}, \"cmd\": \"list\"}", "list: unknown field \"asr\""),
        ("{\"asr\": {}, \"call\": \"c1\"}", "no other top-level field"),
        ("{\"cmd\": \"list\", \"cmd\": \"stats\"}", "duplicate key \"cmd\""),
        ("{\"cmd\": \"stop\", \"call\": \"a\\u0001b\"}", "control character"),
    ])
    func badLineGetsOneClearErrorAndTheConnectionStaysUsable(line: String, expected: String) async throws {
        let dir = TempDir()
        let control = makeControl(dir)
        try await control.start()
        let c = try UnixClient(path: dir.file("control.sock"))
        try c.send(line + "\n")
        let reply = try json(await c.line())
        #expect(reply["ok"] == false)
        guard case .string(let message)? = reply["error"] else { Issue.record("no error in \(reply)"); return }
        #expect(message.contains(expected), "\(message)")
        try c.send("{\"cmd\": \"list\"}\n")
        #expect(try json(await c.line())["ok"] == true)
        await control.shutdown()
    }

    /// design.md: every command gets exactly one reply. A line with nothing on it is no command, and neither is one
    /// of blanks only (a terminal's stray Enter, `printf '  \n'`): both get no reply, alike, so a client counting its
    /// replies is never thrown off by one and not the other.
    @Test func blankLinesGetNoReplyWhateverBlanksTheyHold() async throws {
        let dir = TempDir()
        let handler = RecordingHandler()
        let control = makeControl(dir, handler: handler)
        try await control.start()
        let c = try UnixClient(path: dir.file("control.sock"))
        try c.send("\n   \n\t\r\n \t \n{\"cmd\":\"list\"}\n\n  \n")
        #expect(try json(await c.line())["calls"] != nil, "the first reply is the list's")
        #expect(try await c.line(timeout: 0.3) == nil, "exactly one reply, to the one command")
        // An unterminated last line of blanks at the end of the input is no command either: the server just closes.
        try c.send("  \t")
        shutdown(c.fd, Int32(SHUT_WR))
        #expect(try await c.line(timeout: 5) == nil)
        #expect(c.eof)
        #expect(handler.received.withLockedValue { $0 } == [.list])
        await control.shutdown()
    }

    @Test func hugeLineAndInvalidUTF8GetErrorsAndTheConnectionStaysUsable() async throws {
        let dir = TempDir()
        let control = makeControl(dir)
        try await control.start()
        let c = try UnixClient(path: dir.file("control.sock"))
        // 2 MiB in one line (a valid-looking start whose source is huge), then a normal command.
        let huge = "{\"cmd\": \"start\", \"call\": \"c1\", \"source\": \"" + String(repeating: "x", count: 2 << 20) + "\"}\n"
        try c.send(huge + "{\"cmd\": \"list\"}\n")
        #expect(try await c.line(timeout: 10) == #"{"ok":false,"error":"line longer than 1048576 bytes"}"#)
        #expect(try json(await c.line())["ok"] == true)
        try c.send([UInt8(ascii: "{"), 0xC3, 0x28, UInt8(ascii: "}"), UInt8(ascii: "\n")])
        #expect(try await c.line() == #"{"ok":false,"error":"invalid UTF-8"}"#)
        // Exactly 1 MiB of content (without the newline) is still taken.
        let padding = (1 << 20) - "{\"cmd\": \"stop\", \"call\": \"\"}".utf8.count
        let limitLine = "{\"cmd\": \"stop\", \"call\": \"" + String(repeating: "y", count: padding) + "\"}\n"
        try c.send(limitLine)
        guard case .string(let m)? = try json(await c.line(timeout: 10))["error"] else { Issue.record("no error"); return }
        #expect(m.contains("longer than 256 bytes"), "parsed, then refused for the field, not the line: \(m)")
        try c.send("{\"cmd\": \"stats\"}\n")
        #expect(try json(await c.line())["ok"] == true)
        await control.shutdown()
    }

    @Test func peerOutsideThePolicyIsRefusedWithOneLineAndClosed() async throws {
        let dir = TempDir()
        let handler = RecordingHandler()
        let control = makeControl(dir, handler: handler) { $0.policy = PeerPolicy(uids: [12345]) }
        try await control.start()
        let c = try UnixClient(path: dir.file("control.sock"))
        try? c.send("{\"cmd\": \"list\"}\n")
        shutdown(c.fd, Int32(SHUT_WR))  // so the server can close at once instead of after its one-second grace
        let reply = try json(await c.line())
        #expect(reply["ok"] == false)
        guard case .string(let m)? = reply["error"] else { Issue.record("no error"); return }
        #expect(m.contains("permission denied") && m.contains("uid \(getuid())"), "\(m)")
        #expect(try await c.eofOffPool())
        #expect(handler.received.withLockedValue { $0.isEmpty }, "a refused peer's command never reaches the handler")
        await control.shutdown()
    }

    /// The default policy against a real stranger: a python3 client running as `nobody` (via `setpriv`) on a
    /// socket whose file mode would let it in gets one refusal line naming its uid, then EOF.
    @Test(.enabled(if: getuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0 && access("/usr/bin/python3", X_OK) == 0,
                   "needs root, setpriv and /usr/bin/python3"))
    func anotherUserIsRefusedByTheDefaultPolicy() async throws {
        let dir = TempDir()
        chmod(dir.path, 0o755)
        let handler = RecordingHandler()
        let control = makeControl(dir, handler: handler) { $0.mode = 0o666 }
        try await control.start()
        let (lines, stderr) = try pythonClient(dir.file("control.sock"), sending: "{\"cmd\": \"list\"}\n",
                                               asUser: 65534)
        #expect(lines.count == 1, "client stderr: \(stderr)")
        let reply = try json(lines.first)
        #expect(reply["ok"] == false)
        guard case .string(let m)? = reply["error"] else { Issue.record("no error"); return }
        #expect(m.contains("permission denied") && m.contains("uid 65534"), "\(m)")
        #expect(handler.received.withLockedValue { $0.isEmpty })
        await control.shutdown()
    }

    @Test func groupInThePolicyLetsThePeerIn() async throws {
        let dir = TempDir()
        let control = makeControl(dir) { $0.policy = PeerPolicy(uids: [12345], gids: [UInt32(getgid())]) }
        try await control.start()
        let c = try UnixClient(path: dir.file("control.sock"))
        try c.send("{\"cmd\": \"list\"}\n")
        #expect(try json(await c.line())["ok"] == true)
        await control.shutdown()
    }

    /// `echo '{"cmd":"list"}' | socat - UNIX-CONNECT:…`: a real client in another process that sends one
    /// unterminated line and shuts its sending side still gets its reply.
    @Test func subprocessClientGetsItsReplyAfterHalfClose() async throws {
        let dir = TempDir()
        let control = makeControl(dir)
        try await control.start()
        let (lines, stderr) = try pythonClient(dir.file("control.sock"),
                                               sending: "{\"cmd\": \"stats\"}\n{\"cmd\": \"list\"}", halfClose: true)
        #expect(lines.count == 2, "client stderr: \(stderr)")
        #expect(try json(lines.first)["ok"] == true)
        #expect(lines.last == #"{"ok":true,"calls":[{"call":"c42","source":"file:x.wav"}]}"#)
        await control.shutdown()
    }
}

@Suite(.serialized)
struct SocketFileTests {
    @Test func staleSocketFromACrashedRunIsReplaced() async throws {
        let dir = TempDir()
        let path = dir.file("events.sock")
        try makeStaleSocket(path)
        #expect(access(path, F_OK) == 0)
        let bus = makeBus(dir)
        try await bus.start()
        let c = try UnixClient(path: path)
        #expect(try json(await c.line())["type"] == "hello")
        await bus.shutdown()
    }

    @Test func liveSocketIsNeverStolen() async throws {
        let dir = TempDir()
        let first = makeBus(dir)
        try await first.start()
        let second = makeBus(dir)
        do {
            try await second.start()
            Issue.record("second bus took a live socket")
        } catch let error as BusError {
            guard case let .socketHeld(path, pid, uid, _) = error else { Issue.record("\(error)"); return }
            #expect(path == dir.file("events.sock"))
            #expect(pid == getpid())
            #expect(uid == getuid())
            #expect(error.exitCode == 69)
            #expect(error.description.contains("held by pid \(getpid())"), "\(error)")
        }
        // The first one still serves.
        let c = try UnixClient(path: dir.file("events.sock"))
        #expect(try json(await c.line())["type"] == "hello")
        // The same for the control socket.
        let control1 = makeControl(dir)
        try await control1.start()
        await #expect(throws: BusError.self) { try await makeControl(dir).start() }
        let cc = try UnixClient(path: dir.file("control.sock"))
        try cc.send("{\"cmd\": \"list\"}\n")
        #expect(try json(await cc.line())["ok"] == true)
        await control1.shutdown()
        await second.shutdown()
        await first.shutdown()
    }

    @Test func aRegularFileAtTheSocketPathIsLeftAlone() async throws {
        let dir = TempDir()
        let path = dir.file("events.sock")
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep".utf8)))
        await #expect(throws: BusError.notASocket(path: path)) { try await makeBus(dir).start() }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep")
    }

    @Test func defaultRunDirectory() {
        #expect(RunDirectory.defaultPath() == (geteuid() == 0 ? "/run/attune" : RunDirectory.defaultPath()))
        let dir = TempDir()
        #expect(throws: Never.self) { try RunDirectory.create(dir.file("a/b/attune")) }
        var st = stat()
        #expect(stat(dir.file("a/b/attune"), &st) == 0 && st.st_mode & S_IFMT == S_IFDIR)
    }
}

/// A python3 client in its own process: connects to `path`, sends `text`, optionally shuts its sending side, and
/// reads to EOF; run as `asUser` (uid and gid, no groups) through `setpriv` when given. Returns its output lines and
/// its stderr.
func pythonClient(_ path: String, sending text: String, halfClose: Bool = false, asUser: UInt32? = nil)
    throws -> (lines: [String], stderr: String)
{
    let script = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall(sys.argv[2].encode())
        if sys.argv[3] == "1": s.shutdown(socket.SHUT_WR)
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        sys.stdout.write(data.decode())
        """
    let p = Process()
    let arguments = ["-c", script, path, text, halfClose ? "1" : "0"]
    if let uid = asUser {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3"] + arguments
    } else {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + arguments
    }
    let out = Pipe(), errors = Pipe()
    p.standardOutput = out
    p.standardError = errors
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init), stderr)
}
