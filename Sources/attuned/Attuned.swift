import ArgumentParser
import AttuneBus
import AttuneEvents
import AttuneFleet
import CALSA
import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

@main
struct Attuned: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attuned",
        abstract: "The Attune daemon: analyses live calls and publishes their records on a Unix socket.",
        discussion: """
            Captures call audio (alsa:DEVICE, file:PATH[?speed=N|max], stdin:ENC:RATE:CHANNELS), analyses each \
            channel and publishes NDJSON records to every subscriber of RUN_DIR/events.sock; takes start, stop, \
            list, stats and asr commands on RUN_DIR/control.sock (see `attune ctl`, `attune tail`).
            Every setting of the config file is also a flag; flags win.
            With --nats URL (or [nats] in the config) every record also goes to NATS JetStream as \
            PREFIX.<node>.<call>.<type>, and the node takes start commands from the PREFIX.control queue group; \
            a NATS that is down or refuses the credentials is logged and retried, the sockets serve regardless. \
            --nats-setup creates or checks the stream, says what it did, and exits (0, 69 NATS unreachable, \
            78 a stream that does not fit).
            Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT), 64 usage, 65 a --source file that is not audio, \
            66 a --source file that is missing, 69 a run directory or socket held by a live daemon or a --source \
            device that cannot be opened, 74 I/O error, 78 bad configuration.
            """,
        version: Daemon.version
    )

    @Option(help: "Configuration file (TOML).")
    var config: String?

    @Flag(help: "Validate the configuration, print what would run, and exit (0 ok, 78 bad).")
    var checkConfig = false

    @Option(help: "Directory for events.sock and control.sock (default: /run/attune as root, else $XDG_RUNTIME_DIR/attune).")
    var runDir: String?

    @Option(name: .customLong("source"), help: "Start a call at launch: CALL=URI, e.g. c1=alsa:tap or c1=file:call.wav. Repeatable.")
    var sources: [String] = []

    @Option(help: "DSP worker threads (default: one per core).")
    var workers: Int?

    @Option(help: "Node name in hello records and fleet subjects (default: the short host name, up to its first dot).")
    var node: String?

    @Option(help: "Serve Prometheus metrics on HOST:PORT, e.g. 127.0.0.1:9464 (port 0: a free one, logged). Loopback only unless the config file's [metrics] says allow_remote = true.")
    var metrics: String?

    @Option(help: "Publish to NATS JetStream at URL (comma-separated for a cluster), e.g. nats://127.0.0.1:4222.")
    var nats: String?

    @Flag(help: "Create or check the NATS stream (limits by age and size, duplicate window), say what was done, and exit.")
    var natsSetup = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    /// glibc gives threads their own malloc arenas, up to 8 per core. The daemon sets a call up on a thread of its
    /// own (so a device whose open blocks cannot stall the control socket) and captures on one thread per call, so
    /// over thousands of calls the arenas multiply and RSS settles higher, fragmented across them (`Tools/soak.py`,
    /// 10,000 calls: still climbing from 61 to 69 MiB between the 1,000th and the 2,000th call with glibc's default,
    /// flat at 52 MiB from the first thousand with four arenas). Nothing on the per-block path allocates, so the
    /// arenas buy no speed. MALLOC_ARENA_MAX in the environment still wins.
    static func limitMallocArenas() {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        _ = attune_limit_malloc_arenas(4)
        #endif
    }

    @Option(help: "Seconds of audio each call's rings hold before samples are dropped (0.1-60).")
    var ringSeconds: Double?

    @Option(help: "Most calls running at once; further starts are refused (1-100000).")
    var maxCalls: Int?

    @Option(help: "Wall-clock milliseconds per block of a paced file: replay (1-1000).")
    var pacedBlockMs: Int?

    @Option(help: "Built-in recogniser for calls that name none: pocketsphinx.")
    var asr: String?

    @Option(help: "Roles whose channels get emotion events, comma-separated (default: customer; anything more is logged as the operator's choice).")
    var emotionRoles: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Any setting of the config file, over the file: KEY=VALUE with KEY dotted for tables (events.queue_records=20000, nats.stream=CALLS, privacy.emotion_roles=[\"customer\"]). Repeatable; VALUE is TOML, or a string when it is not. Not for secrets (the command line is visible to every user) or metrics.allow_remote (file only).",
        valueName: "KEY=VALUE"))
    var sets: [String] = []

    /// The `--set` flags, then the dedicated flags that are spelt as settings, in that order (so those win); all go
    /// through the file's checks (ranges, types), so no flag repeats them.
    var overrides: [String] {
        var out = sets
        if let workers { out.append("workers=\(workers)") }
        if let ringSeconds { out.append("ring_seconds=\(ringSeconds)") }
        if let maxCalls { out.append("max_calls=\(maxCalls)") }
        if let pacedBlockMs { out.append("paced_block_ms=\(pacedBlockMs)") }
        if let asr { out.append("asr=\(asr)") }
        if let emotionRoles {
            let roles = emotionRoles.split(separator: ",").map { "\"\($0.trimmingCharacters(in: .whitespaces))\"" }
            out.append("privacy.emotion_roles=[\(roles.joined(separator: ", "))]")
        }
        return out
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        Self.limitMallocArenas()
        var settings = DaemonConfig()
        var logLevelFlag: Logger.Level?
        do {
            if let config { try settings.load(file: config) }
            try settings.apply(settings: overrides)
            if let runDir { (settings.runDir, settings.runDirOrigin) = (runDir, "--run-dir") }
            if let node { settings.node = node }
            if let metrics {
                settings.metrics = try DaemonConfig.listen(metrics, "--metrics", allowRemote: settings.metricsAllowRemote)
            }
            if let logLevel {
                let level = try DaemonConfig.level(logLevel, "--log-level")
                (logLevelFlag, settings.logLevel) = (level, level)
            }
            for s in sources { settings.sources.append(try DaemonConfig.source(flag: s)) }
            if let nats {
                var n = settings.nats ?? NatsConfig()
                n.urls = nats.split(separator: ",").map(String.init)
                settings.nats = n
            }
            if natsSetup && settings.fleet == nil { throw ConfigError("--nats-setup needs --nats URL or [nats] url in the config") }
            if let n = settings.fleet { _ = try n.settings(node: settings.node, version: Daemon.version) }
            if !natsSetup {
                try settings.checkRunDir()
                try settings.checkSources()
            }
        } catch {
            Self.fail(78, "attuned: \(error)")
        }
        if checkConfig {
            let sources = "\(settings.sources.count) startup source\(settings.sources.count == 1 ? "" : "s")"
            let roles = settings.emotionRoles.map(\.rawValue).joined(separator: ",")
            let beyond = settings.emotionsBeyondCustomer ? " (beyond the customer channel)" : ""
            let emotions = (roles.isEmpty ? "no channel" : roles) + beyond
            let metrics = settings.metrics.map { "\($0.host):\($0.port)" } ?? "off"
            let nats = settings.fleet.map { n in
                "\(n.urls.map(NatsConnectionSettings.redacted).joined(separator: ",")) stream \(n.stream) prefix \(n.prefix)"
            } ?? "off"
            print("attuned: configuration ok: run_dir \(settings.runDir), node \(settings.node), \(settings.workers) workers, "
                  + "\(sources), emotion events on \(emotions), metrics \(metrics), nats \(nats)")
            return
        }
        if natsSetup, let n = settings.fleet {
            do {
                let fleet = try n.settings(node: settings.node, version: Daemon.version)
                let connection = try NatsConnection(fleet.connection)
                let outcome = try JetStream(connection).ensureStream(fleet.stream)
                print("attuned: \(outcome)")
                return
            } catch let error as NatsError {
                let hint = error.noResponders ? " (is JetStream enabled on the server, nats-server -js?)" : ""
                Self.fail(error.unavailable ? 69 : 78, "attuned: --nats-setup: \(error)\(hint)")
            }
        }
        DaemonLogLevel.current.store(settings.logLevel.index, ordering: .relaxed)
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0) }
        let logger = Logger(label: "attuned")
        let daemon = Daemon(config: settings, configPath: config, overrides: overrides, logLevelFlag: logLevelFlag, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch let failure as DaemonFailure {
            Self.fail(failure.exitCode, failure.description)
        } catch {
            Self.fail(70, "attuned: \(error)")
        }
    }

    /// Prints `message` as one line (a flag's value or a file name with a line break or escape sequence in it
    /// is escaped, never printed raw) and exits with `code`.
    static func fail(_ code: Int32, _ message: String) -> Never {
        FileHandle.standardError.write(Data((escapedForTerminal(message) + "\n").utf8))
        Glibc.exit(code)
    }
}
