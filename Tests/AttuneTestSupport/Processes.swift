import CAllocCounter
import Foundation

#if canImport(Glibc)
import Glibc
#endif

public struct DaemonTestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The package root (an older name of ``packageRoot`` the daemon tests use).
public let repoRoot = packageRoot

/// The bundled two-channel 8 kHz μ-law call.
public let sampleCall = repoRoot + "/Samples/call-8k-mulaw.wav"

/// A child's exit as a shell reports it: the status, or 128 + the signal that killed it.
public func exitCode(_ status: Int32) -> Int32 { status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F) }

/// A child process spawned with posix_spawn (so its pid is ours to signal and reap), stdout and stderr to files.
/// It is SIGKILLed and reaped when the value goes away, so a failing test leaves nothing running.
public final class Child {
    public let pid: pid_t
    public let stdoutPath: String
    public let stderrPath: String
    public private(set) var status: Int32?

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: String = "/dev/null",
         dir: TempDir, tag: String) throws {
        stdoutPath = dir.file("\(tag).out")
        stderrPath = dir.file("\(tag).err")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else is inherited: the test runner's own pipes and sockets lack close-on-exec, and a daemon
        // holding them would keep `swift test` waiting on them if the test process died without reaping it.
        attune_test_spawn_close_from(&actions, 3)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        // Signals as a shell would hand them over: none blocked, SIGINT and SIGTERM at their defaults (the test
        // runner's threads may block or ignore them, and a child inherits both).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid = pid_t()
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw DaemonTestFailure("posix_spawn \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            var s: Int32 = 0
            while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
        }
    }

    /// Reaps the child if it has exited; its exit code (or 128 + signal), or nil while it runs.
    public func poll() -> Int32? {
        if let status { return status }
        var s: Int32 = 0
        if waitpid(pid, &s, WNOHANG) == pid { status = exitCode(s) }
        return status
    }

    /// Waits up to `timeout` seconds for the child to exit; its exit code, or nil if it is still running.
    public func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let s = poll() { return s }
            usleep(10_000)
        }
        return poll()
    }

    public func signal(_ sig: Int32) { if status == nil { kill(pid, sig) } }

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}

/// A running `attuned` in its own temporary run directory.
public final class Daemon {
    public let dir: TempDir
    public let runDir: String
    public let process: Child
    public var events: String { runDir + "/events.sock" }
    public var control: String { runDir + "/control.sock" }

    /// Starts `attuned --run-dir DIR --log-level LEVEL ARGUMENTS` and waits until its control socket accepts a
    /// `list` (the control socket comes up after the event socket, so by then both exist). Startup `--source`
    /// calls are started just after the control socket, so that a device whose open blocks (a FIFO infile nobody
    /// writes yet) holds up neither socket: a test that needs them listed waits for them. A nil `logLevel`
    /// passes no flag, leaving the level to the config file (and to SIGHUP). `stdin` is the file (or FIFO) the
    /// daemon reads as standard input, for `stdin:` sources.
    public init(_ arguments: [String] = [], environment: [String: String] = [:], dir: TempDir = TempDir(prefix: "attuned"),
         runDir: String? = nil, logLevel: String? = "notice", stdin: String = "/dev/null") throws {
        self.dir = dir
        self.runDir = runDir ?? dir.file("run")
        process = try Child(try builtBinary("attuned"), ["--run-dir", self.runDir] + (logLevel.map { ["--log-level", $0] } ?? []) + arguments,
                            environment: environment, stdin: stdin, dir: dir, tag: "attuned")
        let deadline = Date().addingTimeInterval(60)
        while true {
            if let code = process.poll() {
                throw DaemonTestFailure("attuned exited \(code) at startup: \(process.stderr)")
            }
            if (try? command(#"{"cmd":"list"}"#))?["ok"] as? Bool == true { break }
            guard Date() < deadline else { throw DaemonTestFailure("attuned did not come up in 60 s: \(process.stderr)") }
            usleep(20_000)
        }
    }

    public var pid: pid_t { process.pid }

    /// Sends one control line and returns its one reply, parsed.
    @discardableResult
    public func command(_ line: String, timeout: Double = 30) throws -> [String: Any] {
        let client: UnixClient
        do { client = try UnixClient(path: control) } catch { throw DaemonTestFailure("\(error)" + exitDiagnosis) }
        try client.send(line + "\n")
        guard let reply = try client.readLine(timeout: timeout) else {
            throw DaemonTestFailure("no reply to \(line.prefix(200)) within \(timeout) s" + exitDiagnosis)
        }
        return try jsonObject(reply)
    }

    /// `start` a call and require an ok reply.
    public func start(_ call: String, _ source: String) throws {
        let reply = try command(#"{"cmd":"start","call":"\#(call)","source":"\#(source)"}"#)
        guard reply["ok"] as? Bool == true else { throw DaemonTestFailure("start \(call) \(source): \(reply)") }
    }

    /// The ids of the calls the daemon lists.
    public func calls() throws -> [String] {
        let reply = try command(#"{"cmd":"list"}"#)
        return (reply["calls"] as? [[String: Any]] ?? []).compactMap { $0["call"] as? String }
    }

    /// A subscriber that has sent `filter` (if any) and seen its `hello` and `subscribed` lines, so every record
    /// published after this returns reaches it. Until the filter takes hold the bus sends everything but frames
    /// (a startup call's `call_start` can come between `hello` and the acknowledgement); those lines are skipped
    /// and forgotten, so `received` holds `hello`, `subscribed` and then only the filtered stream.
    public func subscribe(_ filter: String? = nil) throws -> UnixClient {
        let client = try UnixClient(path: events)
        guard let hello = try client.readLine(timeout: 30), hello.contains(#""type":"hello""#) else {
            throw DaemonTestFailure("no hello from \(events)" + exitDiagnosis)
        }
        if let filter {
            try client.send(filter + "\n")
            let deadline = Date().addingTimeInterval(30)
            var skipped: [String] = []
            while true {
                guard let line = try client.readLine(timeout: deadline.timeIntervalSinceNow) else {
                    throw DaemonTestFailure("no subscribed reply to \(filter) within 30 s; before it: \(skipped)" + exitDiagnosis)
                }
                if line.hasPrefix(#"{"type":"subscribed""#) {
                    client.replaceReadLines(with: [hello, line])
                    break
                }
                guard !line.hasPrefix(#"{"type":"error""#) else {
                    throw DaemonTestFailure("subscribe \(filter) refused: \(line)")
                }
                skipped.append(line)
            }
        }
        return client
    }

    /// Waits up to `timeout` seconds until the daemon's stderr holds `count` lines containing `text`; true if it does.
    public func logged(_ text: String, count: Int = 1, timeout: Double = 30) -> Bool {
        eventually(timeout: timeout) { loggedLines(text).count >= count }
    }

    /// The lines of the daemon's stderr so far that contain `text`.
    public func loggedLines(_ text: String) -> [String] {
        process.stderr.split(separator: "\n").map(String.init).filter { $0.contains(text) }
    }

    /// SIGTERM and wait for the exit code. Any other exit than 0 prints the end of the daemon's stderr, so a failed
    /// run shows why (a sanitizer report, a crash) after its temporary directory is gone.
    public func terminate(timeout: Double = 30) -> Int32? {
        process.signal(SIGTERM)
        let code = process.wait(timeout: timeout)
        if code != 0 {
            print("attuned (pid \(pid)) exited \(code.map(String.init) ?? "not at all") after SIGTERM; its stderr:\n" + stderrExcerpt)
        }
        return code
    }

    /// The daemon's stderr for a failure message: a sanitizer report from its start, else the last lines.
    public var stderrExcerpt: String {
        let stderr = process.stderr
        return stderr.range(of: "WARNING: ThreadSanitizer").map { String(stderr[$0.lowerBound...].prefix(30_000)) }
            ?? String(stderr.suffix(8_000))
    }

    /// What to add to a failure that may be the daemon's: nothing while it runs, its exit code and stderr once it
    /// has exited (a crash or a sanitizer halt shows up as a socket that stopped answering).
    public var exitDiagnosis: String {
        guard let code = process.poll() else { return "" }
        return " (attuned has exited \(code); its stderr:\n\(stderrExcerpt))"
    }

    /// Resident set size (kB), open descriptors and threads of the daemon, from /proc.
    public func resources() throws -> (rssKB: Int, fds: Int, threads: Int) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? -1
        }
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        return (field("VmRSS"), fds, field("Threads"))
    }
}

public func jsonObject(_ line: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw DaemonTestFailure("not a JSON object: \(line.prefix(300))")
    }
    return object
}

/// Polls `condition` every 20 ms for up to `timeout` seconds.
public func eventually(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}


/// A WAV of a gliding two-tone "voice" with pauses, so pitch, energy, VAD and segments all have work to do.
public func voiceLikeSamples(rate: Int, seconds: Double, channels: Int = 1) -> [Float] {
    let n = Int(Double(rate) * seconds)
    var out = [Float](repeating: 0, count: n * channels)
    for i in 0..<n {
        let t = Double(i) / Double(rate)
        // 0.6 s voiced, 0.3 s silent, repeating; f0 glides 110→220 Hz inside each burst.
        let phase = t.truncatingRemainder(dividingBy: 0.9)
        guard phase < 0.6 else { continue }
        let f0 = 110 + 110 * phase / 0.6
        let envelope = sin(Double.pi * phase / 0.6)
        for c in 0..<channels {
            let f = f0 * (1 + 0.5 * Double(c))
            var x = 0.0
            for h in 1...6 { x += sin(2 * Double.pi * f * Double(h) * t) / Double(h) }
            out[i * channels + c] = Float(0.25 * envelope * x)
        }
    }
    return out
}
