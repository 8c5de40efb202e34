import ArgumentParser
import AttuneBus
import AttuneEngine
import AttuneEvents
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Ctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a command to a running attuned over its control socket.",
        discussion: """
            The socket is --socket PATH, else $ATTUNE_RUN_DIR/control.sock, else /run/attune/control.sock as root \
            and $XDG_RUNTIME_DIR/attune/control.sock otherwise. Each command is one JSON line and gets exactly \
            one reply line: on a terminal it is shown readably (`list` as a table), on a pipe or with --json \
            exactly as the daemon sent it. A refused command's error goes to stderr.
            Exit codes: 0 the daemon said ok, 65 it refused the command, 64 usage, 69 the socket cannot be \
            connected or the daemon does not reply within --timeout, 74 I/O error or a reply that is not one.
            """,
        subcommands: [CtlStart.self, CtlStop.self, CtlList.self, CtlStats.self, CtlASR.self, CtlSend.self, CtlNodes.self]
    )
}

/// The options every `attune ctl` command takes.
struct ControlOptions: ParsableArguments {
    @Option(help: "The control socket (default: the run directory's control.sock).")
    var socket: String?

    @Option(help: "Seconds to wait for the reply.")
    var timeout: Double = 30

    @OptionGroup var style: StyleOptions

    func validate() throws {
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            throw ValidationError("--timeout must be more than 0 and at most 86400 seconds, not \(timeout)")
        }
    }

    /// Sends `command` and ends the program by its reply: prints it and exits 0 for `{"ok": true}`, 65 with the
    /// error on stderr for `{"ok": false}`.
    ///
    /// - Parameters:
    ///   - what: the command as messages name it, e.g. `stop c42`.
    ///   - raw: print the reply line exactly as received even on a terminal, also when it is a refusal
    ///     (`attune ctl send`).
    func exchange(_ command: JSONValue, what: String, raw: Bool = false) -> Never {
        var line: [UInt8] = []
        command.write(to: &line)
        line.append(UInt8(ascii: "\n"))
        exchange(line: line, what: what, raw: raw)
    }

    /// As `exchange(_:what:raw:)`, for a line already encoded (with its newline).
    func exchange(line: [UInt8], what: String, raw: Bool) -> Never {
        let output = PipeOutput()
        let path = DaemonSocketPath(explicit: socket, file: "control.sock")
        let prefix = "attune ctl \(what)"
        do throws(DaemonSocketError) {
            let connection = try DaemonConnection(path)
            try connection.setReceiveTimeout(seconds: timeout)
            try connection.send(line)
            var buffer = LineBuffer()
            var reply: ArraySlice<UInt8>?
            while reply == nil {
                guard try connection.receive(into: &buffer) else {
                    throw DaemonSocketError(code: 74, message: "\(path.name): the daemon closed the connection "
                        + "before replying" + (buffer.pending > 0 ? " (\(buffer.pending) bytes of a partial line)" : ""))
                }
                reply = buffer.nextLine()
            }
            let bytes = reply!
            guard let text = String(validating: bytes.dropLast(), as: UTF8.self),
                  let value = try? JSONValue.parse(text.utf8), case .bool(let ok)? = value["ok"]
            else {
                throw DaemonSocketError(code: 74, message: "\(path.name): the reply is not {\"ok\": …}: "
                    + PathArgument.printable(Array(bytes.dropLast().prefix(200))))
            }
            let style = self.style.style
            if ok {
                if style.pretty && !raw {
                    output.write(prettyReply(value, painter: Painter(enabled: style.color)) + "\n")
                } else {
                    output.write(bytes)
                }
                output.flush()
                Glibc.exit(0)
            }
            if raw {
                output.write(bytes)
                output.flush()
            }
            let why = value.string("error") ?? "refused (no error given)"
            fail(65, "\(prefix): \(path.name): \(why)")
        } catch {
            output.flush()
            fail(error.code, "\(prefix): \(error.message)")
        }
    }
}

/// A call id or other short name as control.sock accepts it (non-empty, at most 256 bytes, no control
/// characters), checked before connecting so a bad one is a usage error.
func checkName(_ value: String, _ what: String) throws {
    guard !value.isEmpty else { throw ValidationError("\(what) must not be empty") }
    guard value.utf8.count <= ControlCommand.maximumNameLength else {
        throw ValidationError("\(what) is longer than \(ControlCommand.maximumNameLength) bytes")
    }
    if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
        throw ValidationError("\(what) '\(value)' contains a control character")
    }
}

/// A call id as the daemon accepts it (LiveEngine's rule), checked before connecting so a bad one is a usage error
/// here rather than a refusal (65) from the daemon.
func checkCall(_ call: String) throws {
    do { try LiveEngine.checkCallID(call) } catch { throw ValidationError("CALL: \(error.message)") }
}

struct CtlStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start analysing a call from a source.",
        discussion: """
            SOURCE is alsa:DEVICE (alsa:hw:1,0), file:PATH (paced; file:PATH?speed=N or ?speed=max) or \
            stdin:s16le:RATE:CHANNELS. A relative file: path is sent absolute, from this shell's directory. The \
            daemon replies once the call is running or says why it is not.
            """
    )

    @Argument(help: "The call id, e.g. c42.")
    var call: String

    @Argument(help: "Source URI: alsa:DEVICE, file:PATH or stdin:s16le:RATE:CHANNELS.")
    var source: String

    @Option(help: "Roles of the channels in order, e.g. agent,customer (each agent, customer or unknown).")
    var roles: String?

    @Flag(name: .customLong("no-consent"), help: "The caller did not consent: publish only call_start and call_end.")
    var noConsent = false

    @Option(help: "Language of explanations and lexicons: en or vi (default: the daemon's).")
    var lang: String?

    @Option(help: "Speech recogniser to run on the call, e.g. pocketsphinx (default: none).")
    var asr: String?

    @OptionGroup var options: ControlOptions

    func validate() throws {
        try checkCall(call)
        try checkName(source, "SOURCE")
        _ = try parsedRoles()
        if let lang, !["en", "vi"].contains(lang) {
            throw ValidationError("--lang must be en or vi, not '\(lang)'")
        }
        if let asr { try checkName(asr, "--asr") }
    }

    /// SOURCE as sent: a `file:` path that is relative names a file relative to this shell, not to the daemon
    /// (whose working directory is `/` under systemd), so it goes absolute, the directory's `%` and `?` escaped as
    /// the URI syntax needs. Everything else goes as typed.
    var sentSource: String {
        guard source.hasPrefix("file:"), !source.dropFirst(5).hasPrefix("/") else { return source }
        let directory = FileManager.default.currentDirectoryPath
            .replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "?", with: "%3F")
        return "file:" + directory + (directory.hasSuffix("/") ? "" : "/") + source.dropFirst(5)
    }

    /// `agent,customer` → roles; an unknown or empty entry is a usage error.
    func parsedRoles() throws -> [Role]? {
        guard let roles else { return nil }
        return try roles.split(separator: ",", omittingEmptySubsequences: false).map { name in
            guard let role = Role(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--roles: unknown role '\(name)' in '\(roles)' (use agent, customer or unknown, comma-separated)")
            }
            return role
        }
    }

    func run() throws {
        var command: [(String, JSONValue)] = [("cmd", "start"), ("call", .string(call)), ("source", .string(sentSource))]
        if let roles = try parsedRoles() { command.append(("roles", .array(roles.map { .string($0.rawValue) }))) }
        // Only a refusal is sent: the daemon's default is consent, and an absent field keeps the line minimal.
        if noConsent { command.append(("consent", false)) }
        if let lang { command.append(("lang", .string(lang))) }
        if let asr { command.append(("asr", .string(asr))) }
        options.exchange(.object(command), what: "start \(call)")
    }
}

struct CtlStop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a call (it ends with call_end, reason stopped).")

    @Argument(help: "The call id.")
    var call: String

    @OptionGroup var options: ControlOptions

    func validate() throws { try checkCall(call) }

    func run() throws {
        options.exchange(["cmd": "stop", "call": .string(call)], what: "stop \(call)")
    }
}

struct CtlList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the running calls (a table on a terminal).")

    @OptionGroup var options: ControlOptions

    func run() throws { options.exchange(["cmd": "list"], what: "list") }
}

struct CtlStats: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Show the daemon's counters.")

    @OptionGroup var options: ControlOptions

    func run() throws { options.exchange(["cmd": "stats"], what: "stats") }
}

struct CtlASR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asr",
        abstract: "Give a call recognised text for a stretch of one channel.",
        discussion: "Times are seconds from the start of the call's audio. The text is final unless --partial."
    )

    @Argument(help: "The call id.")
    var call: String

    @Option(help: "The 0-based audio channel the text was spoken on.")
    var channel: Int

    @Option(help: "Start of the stretch, in seconds.")
    var start: Double

    @Option(help: "End of the stretch, in seconds (not before --start).")
    var end: Double

    @Argument(help: "The recognised text (write -- before it if it starts with -).")
    var text: String

    @Flag(help: "The text is a partial result that a later one replaces.")
    var partial = false

    @OptionGroup var options: ControlOptions

    func validate() throws {
        try checkCall(call)
        guard (0...255).contains(channel) else { throw ValidationError("--channel must be 0…255, not \(channel)") }
        for (flag, value) in [("--start", start), ("--end", end)] where !(value.isFinite && value >= 0) {
            throw ValidationError("\(flag) must be a number of seconds ≥ 0, not \(value)")
        }
        guard end >= start else { throw ValidationError("--end (\(end)) is before --start (\(start))") }
    }

    func run() throws {
        let asr: JSONValue = [
            "call": .string(call), "channel": .number(Double(channel)), "start": .number(start), "end": .number(end),
            "text": .string(text), "final": .bool(!partial),
        ]
        options.exchange(["asr": asr], what: "asr \(call)")
    }
}

struct CtlSend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send one raw JSON line and print the raw reply.",
        discussion: """
            For commands this CLI has no verb for yet, and for testing a daemon: the line goes out as given \
            (a newline is added), the reply line comes back exactly as sent, also when the daemon refuses it.
            """
    )

    @Argument(help: "The command, e.g. '{\"cmd\": \"list\"}'.")
    var json: String

    @OptionGroup var options: ControlOptions

    func validate() throws {
        guard !json.isEmpty else { throw ValidationError("JSON must not be empty") }
        // The protocol is one command per line; a line break would make it two.
        guard !json.contains("\n") else { throw ValidationError("JSON must be one line (it contains a line break)") }
    }

    func run() throws {
        options.exchange(line: Array(json.utf8) + [UInt8(ascii: "\n")], what: "send", raw: true)
    }
}
