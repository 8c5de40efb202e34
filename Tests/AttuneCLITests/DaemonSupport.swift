import AttuneBus
import AttuneEvents
import AttuneTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Support for the `attune tail` / `attune ctl` tests: the real AttuneBus servers in-process, a bare socket for
// protocol corners no well-behaved daemon produces, and `attune` as a subprocess the test can wait for while it
// keeps publishing.

/// A control handler that records every command it gets and answers from `reply`.
final class RecordingControl: ControlHandler {
    private let commands = Mutex<[ControlCommand]>([])
    private let reply: @Sendable (ControlCommand) -> ControlReply

    init(reply: @escaping @Sendable (ControlCommand) -> ControlReply = { _ in .ok() }) {
        self.reply = reply
    }

    var received: [ControlCommand] { commands.withLock { $0 } }

    func handle(_ command: ControlCommand, from peer: PeerCredentials) async -> ControlReply {
        commands.withLock { $0.append(command) }
        return reply(command)
    }
}

/// The daemon's two sockets, as `attuned` will run them, in a temporary run directory.
final class TestDaemon {
    let dir = TempDir(prefix: "attune-cli")
    let bus: EventBus
    let control: ControlServer
    let handler: RecordingControl
    var eventsPath: String { dir.file("events.sock") }
    var controlPath: String { dir.file("control.sock") }

    init(reply: @escaping @Sendable (ControlCommand) -> ControlReply = { _ in .ok() }) async throws {
        bus = EventBus(configuration: .init(socketPath: dir.file("events.sock"),
                                            hello: HelloRecord(version: "0.0-test", node: "test-node")))
        handler = RecordingControl(reply: reply)
        control = ControlServer(configuration: .init(socketPath: dir.file("control.sock")), handler: handler)
        try await bus.start()
        try await control.start()
    }

    func shutdown() async {
        await bus.shutdown()
        await control.shutdown()
    }

    /// Waits until `n` subscribers are connected, so what is published next reaches them. The generous default
    /// covers a loaded machine where other suites' blocking waits hold the executor's few threads.
    func waitForSubscribers(_ n: Int, timeout: Double = 300) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while await bus.stats().subscribers < n {
            guard Date() < deadline else { throw CLIFailure("no \(n) subscriber(s) after \(timeout) s") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Publishes `line` (without its newline) under `route`.
    func publish(_ line: String, type: String, call: String?, kind: String? = nil) {
        bus.publish(Array(line.utf8), route: RecordRoute(type: type, call: call, kind: kind))
    }
}

/// `attune` running as a child, stdout and stderr going to files (or stdout to a pipe the test reads).
final class AttuneChild {
    let pid: pid_t
    private let dir = TempDir(prefix: "attune-child")
    /// The read end of stdout when started with `stdoutPipe`, until `closeStdout`.
    private(set) var stdoutReader: CInt?

    /// Starts `attune arguments` (or `executable arguments`) with `environment` added to (or, with a nil value,
    /// removed from) this process's, in `directory` (this process's when nil).
    init(_ arguments: [String], environment: [String: String?] = [:], stdoutPipe: Bool = false,
         executable: String? = nil, directory: String? = nil) throws {
        ignoreBrokenPipes
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pipeEnds: [CInt] = [-1, -1]
        if stdoutPipe {
            // pipe2 is not in the Glibc module; close-on-exec right after (dup2 onto 1 clears it for the child).
            guard pipe(&pipeEnds) == 0 else { throw CLIFailure("pipe: errno \(errno)") }
            for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, dir.file("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        posix_spawn_file_actions_addopen(&actions, 2, dir.file("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        var binary = try executable ?? attuneBinary()
        var arguments = arguments
        if let directory {
            // posix_spawn_file_actions_addchdir_np is not in the Glibc module; coreutils' env changes directory.
            arguments = ["-C", directory, binary] + arguments
            binary = "/usr/bin/env"
        }
        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, binary, &actions, nil, argv, envp)
        if stdoutPipe { close(pipeEnds[1]) }
        guard rc == 0 else { throw CLIFailure("posix_spawn \(binary): \(String(cString: strerror(rc)))") }
        self.pid = pid
        stdoutReader = stdoutPipe ? pipeEnds[0] : nil
        stdoutPiped = stdoutPipe
    }

    private let stdoutPiped: Bool

    deinit {
        // A test that failed before waiting must not leave a tail running.
        if waited == nil { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) }
        if let stdoutReader { close(stdoutReader) }
    }

    private var waited: RunResult?

    /// Closes the read end of the stdout pipe, as `head` does when it has read enough.
    func closeStdout() {
        if let stdoutReader { close(stdoutReader) }
        stdoutReader = nil
    }

    /// Waits for the child to exit (killing it after `timeout` seconds, which fails the test; generous, as a loaded
    /// machine can hold the servers' tasks up for a long while) and returns its
    /// status (128 + signal for a death by signal) and output.
    func finish(timeout: Double = 300) async throws -> RunResult {
        if let waited { return waited }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { break }
            if rc < 0 && errno != EINTR { throw CLIFailure("waitpid: errno \(errno)") }
            if Date() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                waited = RunResult(status: -1, stdout: "", stderr: "")
                throw CLIFailure("attune did not exit within \(timeout) s")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let out = !stdoutPiped ? try String(contentsOfFile: dir.file("stdout"), encoding: .utf8) : ""
        let result = RunResult(status: code, stdout: out, stderr: try String(contentsOfFile: dir.file("stderr"), encoding: .utf8))
        waited = result
        return result
    }
}

/// Runs `attune arguments` to its end without blocking the test's executor (the servers' replies come from
/// tasks that need it).
func runAttuneAsync(_ arguments: [String], environment: [String: String?] = [:], directory: String? = nil) async throws -> RunResult {
    try await AttuneChild(arguments, environment: environment, directory: directory).finish()
}

/// A bare listening Unix socket whose one connection a test script drives byte by byte, for what the real
/// servers never do (a daemon that does not reply, replies garbage, or refuses a filter).
final class BareListener: @unchecked Sendable {
    let path: String
    private let fd: CInt
    private let thread: Thread

    /// Listens at `path` and runs `script` on a thread with the first accepted connection, then closes it.
    init(path: String, script: @escaping @Sendable (BareConnection) -> Void) throws {
        self.path = path
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, rc == 0, listen(fd, 4) == 0 else { throw CLIFailure("listen \(path): errno \(errno)") }
        self.fd = fd
        thread = Thread {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            let connection = BareConnection(fd: client)
            script(connection)
            close(client)
        }
        thread.start()
    }

    deinit {
        shutdown(fd, CInt(SHUT_RDWR))
        close(fd)
    }
}

/// The accepted side of a `BareListener`.
final class BareConnection: @unchecked Sendable {
    let fd: CInt
    private var buffer: [UInt8] = []

    init(fd: CInt) { self.fd = fd }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            offset += n
        }
    }

    /// The next line the client sent (without its newline), or nil at EOF or after 20 s.
    func readLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                defer { buffer.removeSubrange(...nl) }
                return String(decoding: buffer[..<nl], as: UTF8.self)
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 20_000) > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Blocks until the client closes its side (or 20 s pass).
    func waitForClose() {
        while readLine() != nil {}
    }
}

/// A value the bare listener's thread hands to the test.
final class Handoff<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    func set(_ v: Value) { value.withLock { $0 = v } }
    var current: Value? { value.withLock { $0 } }
}
