import AttuneAudio
import AttuneBus
import AttuneEngine
import AttuneText
import AttuneEvents
import AttuneFleet
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Why the daemon could not run: the message for stderr and the sysexits code.
struct DaemonFailure: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32
}

/// The running daemon as one swift-service-lifecycle service: it brings the parts up in order (sockets, engine,
/// startup calls, metrics), waits for SIGTERM/SIGINT, and takes them down in reverse: capture stops first, every
/// call flushes its frames, segments and summary and gets `call_end`, subscribers drain (bounded), sockets close.
/// SIGHUP re-reads the config file and applies what can change while running (the log level).
final class Daemon: Service, Sendable {
    let config: DaemonConfig
    let configPath: String?
    /// The `--set` (and dedicated) flags, applied again over the file on SIGHUP: flags win over a reloaded file too.
    let overrides: [String]
    /// The level `--log-level` gave, if any: flags win over the file, on SIGHUP as at start.
    let logLevelFlag: Logger.Level?
    let logger: Logger
    static let version = "0.2.0"

    init(config: DaemonConfig, configPath: String?, overrides: [String], logLevelFlag: Logger.Level?, logger: Logger) {
        self.overrides = overrides
        self.config = config
        self.configPath = configPath
        self.logLevelFlag = logLevelFlag
        self.logger = logger
    }

    func run() async throws {
        // Trapped before any socket is up: SIGHUP's default action ends the process, and a `systemctl reload` (or
        // a test) that sends it as soon as the control socket answers must find it handled, not die of it.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let runDir = config.runDir
        do { try RunDirectory.create(runDir) } catch {
            throw DaemonFailure(description: "attuned: run directory \(error)", exitCode: error.exitCode)
        }
        // Before any socket: of two daemons started at once on this directory, exactly one gets past here.
        let lock: RunDirectoryLock
        do { lock = try RunDirectoryLock(directory: runDir) } catch {
            throw DaemonFailure(description: "attuned: \(error)", exitCode: error.exitCode)
        }
        var eventsConfig = EventBusConfiguration(
            socketPath: config.eventsSocket,
            hello: HelloRecord(version: Self.version, node: config.node, emotions: config.emotionRoles))
        eventsConfig.mode = config.eventsMode
        eventsConfig.group = config.eventsGroup
        eventsConfig.queueRecords = config.queueRecords
        eventsConfig.queueBytes = config.queueBytes
        let bus = EventBus(configuration: eventsConfig, logger: logger)
        do { try await bus.start() } catch let error as BusError {
            throw DaemonFailure(description: "attuned: \(error)", exitCode: error.exitCode)
        }

        var engineConfig = LiveEngineConfiguration(workers: config.workers)
        engineConfig.ringSeconds = config.ringSeconds
        engineConfig.maximumCalls = config.maxCalls
        engineConfig.capture = CaptureOptions(pacedBlockMilliseconds: config.pacedBlockMilliseconds)
        engineConfig.emotionRoles = Set(config.emotionRoles)
        do { engineConfig.textAnalyzer = try TextAnalyzer.bundled() } catch {
            await bus.shutdown()
            throw DaemonFailure(description: "attuned: lexicons: \(error)", exitCode: 78)
        }
        let fleet: FleetNode?
        do {
            fleet = try config.fleet.map { FleetNode(settings: try $0.settings(node: config.node, version: Self.version), logger: logger) }
        } catch {
            await bus.shutdown()
            throw DaemonFailure(description: "attuned: \(error)", exitCode: 78)
        }
        let engine = LiveEngine(configuration: engineConfig, sink: BusSink(bus: bus, fleet: fleet, logger: logger))

        var controlConfig = ControlServerConfiguration(socketPath: config.controlSocket)
        controlConfig.mode = config.controlMode
        controlConfig.group = config.controlGroup
        controlConfig.policy = .standard(group: config.controlGroup)
        let handler = DaemonControl(engine: engine, bus: bus, fleet: fleet, logger: logger, defaultASR: config.asr,
                                    startTimeout: config.startTimeoutSeconds)
        let control = ControlServer(configuration: controlConfig, handler: handler, logger: logger)
        do { try await control.start() } catch let error as BusError {
            engine.shutdown(timeout: 1)
            await bus.shutdown()
            throw DaemonFailure(description: "attuned: \(error)", exitCode: error.exitCode)
        }
        let openFiles = OpenFilesLimit.raise()
        logger.info("attuned started", metadata: [
            "version": "\(Self.version)", "node": "\(config.node)", "run_dir": "\(runDir)", "workers": "\(config.workers)",
            "emotion_roles": "\(config.emotionRoles.map(\.rawValue).joined(separator: ","))", "open_files": "\(openFiles)",
        ])
        if openFiles < OpenFilesLimit.comfortable {
            // About three descriptors a call and one a subscriber: a shell's usual 1024 runs out near 330 calls.
            logger.warning("the open-files limit allows only about \(openFiles / 3) calls; raise it (LimitNOFILE, ulimit -Hn)",
                           metadata: ["open_files": "\(openFiles)"])
        }
        if config.emotionsBeyondCustomer {
            // design.md, Privacy: inferring employees' emotions is prohibited in the EU; anything beyond the
            // customer channel is the operator's explicit choice, and it is logged.
            logger.warning("emotion events enabled beyond the customer channel by configuration",
                           metadata: ["emotion_roles": "\(config.emotionRoles.map(\.rawValue))"])
        }

        if let fleet {
            // design.md, Privacy: nothing is stored by attuned; a JetStream stream is storage the operator chose.
            logger.notice("every record, words and events included, is also kept in the NATS stream, on the server's disk, until its max age",
                          metadata: ["stream": "\(fleet.settings.stream.name)",
                                     "max_age_s": "\(Int(fleet.settings.stream.maximumAgeSeconds))"])
        }

        // The socket is up first and stays up whatever NATS does: the fleet link connects (and retries) on its own
        // thread, and only logs while it cannot.
        let workers = config.workers
        fleet?.start(handler: handler.overFleet) {
            [("calls", .number(Double(engine.callCount))), ("workers", .number(Double(workers)))]
        }

        /// Takes down what is up when start-up fails after the sockets are open.
        func abandon(_ failure: DaemonFailure) async -> DaemonFailure {
            fleet?.stopControl()
            engine.shutdown(timeout: 5)
            await fleet?.shutdown(timeout: 1)
            await control.shutdown()
            await bus.shutdown()
            return failure
        }

        for s in config.sources {
            do {
                let info = try engine.start(LiveCallRequest(call: s.call, source: s.uri, roles: s.roles,
                                                            asr: DaemonControl.recognizer(s.asr ?? config.asr)))
                logger.info("call started", metadata: ["call": "\(s.call)", "source": "\(info.source)"])
            } catch {
                // What the engine calls a usage error (roles that do not fit the source) is, in a startup source,
                // the configuration's (78); a device or file that fails to open keeps its own code (69, 66).
                throw await abandon(DaemonFailure(description: "attuned: \(s.origin): \(error.message)",
                                                  exitCode: error.exitCode == 64 ? 78 : error.exitCode))
            }
        }

        let metrics = DaemonMetrics(nats: fleet != nil)
        var metricsChannel: Channel?
        if let m = config.metrics {
            do { metricsChannel = try await metrics.serve(host: m.host, port: m.port, logger: logger) } catch {
                throw await abandon(DaemonFailure(description: "attuned: metrics \(m.host):\(m.port): \(error)", exitCode: 69))
            }
        }

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    await metrics.sample(engine: engine, bus: bus, fleet: fleet)
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            group.addTask { [self] in
                for await _ in hangups { reload() }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }

        logger.info("shutting down: stopping capture and flushing calls", metadata: ["calls": "\(engine.callCount)"])
        fleet?.stopControl()
        let flushed = engine.shutdown(timeout: 10)
        if !flushed { logger.warning("some calls did not finish flushing in time") }
        // After the engine: its last records (call_end with reason shutdown) go out to NATS too, bounded.
        await fleet?.shutdown(timeout: 5)
        await control.shutdown()
        await bus.shutdown(timeout: .seconds(3))
        try? await metricsChannel?.close()
        logger.info("attuned stopped")
        // Held until the sockets are gone, so a successor never binds while this daemon still serves.
        withExtendedLifetime(lock) {}
    }

    /// SIGHUP: re-read the config file and apply the log level, unless `--log-level` set it; everything else needs
    /// a restart (logged). A file that no longer loads changes nothing: the error is logged and the daemon goes on
    /// with what it has.
    private func reload() {
        guard let configPath else {
            logger.notice("SIGHUP: no config file to reload")
            return
        }
        var fresh = DaemonConfig()
        do {
            try fresh.load(file: configPath)
            try fresh.apply(settings: overrides)
        } catch {
            logger.error("SIGHUP: config not reloaded; settings unchanged", metadata: ["error": "\(error)"])
            return
        }
        if let logLevelFlag {
            logger.notice("SIGHUP: config re-read; the log level stays as --log-level set it; other settings take effect on restart",
                          metadata: ["log_level": "\(logLevelFlag)", "file_log_level": "\(fresh.logLevel)"])
            return
        }
        DaemonLogLevel.current.store(fresh.logLevel.index, ordering: .relaxed)
        logger.notice("SIGHUP: reloaded log level; other settings take effect on restart",
                      metadata: ["log_level": "\(fresh.logLevel)"])
    }
}

/// The log level every handler reads, so SIGHUP can change it while the daemon runs.
enum DaemonLogLevel {
    static let current = Atomic<Int>(Logger.Level.info.index)
}

extension Logger.Level {
    var index: Int { Logger.Level.allCases.firstIndex(of: self)! }
}

/// swift-log's stderr handler, one line per event (journald-friendly), with the daemon's reloadable level.
struct DaemonLogHandler: LogHandler {
    var inner: StreamLogHandler
    init(label: String) { inner = StreamLogHandler.standardError(label: label) }

    var logLevel: Logger.Level {
        get { Logger.Level.allCases[DaemonLogLevel.current.load(ordering: .relaxed)] }
        set { DaemonLogLevel.current.store(newValue.index, ordering: .relaxed) }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }
    func log(event: LogEvent) {
        var forwarded = inner
        forwarded.logLevel = .trace
        forwarded.log(event: event)
    }
}
