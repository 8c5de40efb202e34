import Foundation
import AttuneAudio
import AttuneBus
import AttuneEngine
import AttuneEvents
import AttuneText
import CALSA
import AttuneRecognizer
import AttuneFleet
import Logging
import Synchronization

/// What the control socket's commands do to the engine; one reply each.
struct DaemonControl: ControlHandler {
    let engine: LiveEngine
    let bus: EventBus
    let fleet: FleetNode?
    let logger: Logger
    /// The config file's `asr`, for starts that name no recogniser.
    var defaultASR: String? = nil
    /// How long a `stop` waits for the call to end before it replies (see `handle`).
    static let stopWait: Duration = .seconds(5)
    /// How long a `start` may take before it is refused and abandoned (`start_timeout_s`).
    let startTimeout: Double
    /// Starts whose source open has not returned yet, the abandoned among them.
    let opens = SourceOpens()
    /// False for commands from the fleet's queue group (``overFleet``): sources tied to this machine are started on
    /// its own control socket.
    var takesMachineBoundSources = true

    func owns(call id: String) -> Bool { engine.info(call: id) != nil }
    var hasRoom: Bool { engine.hasRoom }

    /// This handler for commands that come over NATS. The queue group hands a `start` to whichever node takes it,
    /// so an `alsa:` device or `stdin:` there would be an arbitrary machine's (README, Fleet): those are refused.
    var overFleet: DaemonControl {
        var fleet = self
        fleet.takesMachineBoundSources = false
        return fleet
    }

    /// Why `source` cannot be started over the fleet: an ALSA device or standard input belongs to one machine. Nil
    /// for any other source, and for a URI that does not parse (the engine's own error says what is wrong with it).
    static func machineBoundRefusal(_ source: String) -> String? {
        guard let uri = try? SourceURI(parsing: source) else { return nil }
        switch uri.kind {
        case .alsa, .stdin:
            return "source '\(source)' is tied to one machine (alsa: and stdin: sources are): start it on that machine's "
                + "own control socket (control.sock), not through the NATS queue group"
        case .file:
            return nil
        }
    }

    func handle(_ command: ControlCommand, from peer: PeerCredentials) async -> ControlReply {
        switch command {
        case .start(let s):
            if let asr = s.asr, !DaemonConfig.recognizers.contains(asr) {
                return .failure("asr '\(asr)' is not a built-in recogniser (\(DaemonConfig.recognizers.sorted().joined(separator: ", "))); "
                                + "send text with {\"asr\": {...}} lines instead")
            }
            if let lang = s.lang, !["en", "vi"].contains(lang) {
                return .failure("lang '\(lang)' is not supported (en, vi)")
            }
            if !takesMachineBoundSources, let refusal = Self.machineBoundRefusal(s.source) {
                logger.notice("start refused", metadata: ["call": "\(s.call)", "error": "\(refusal)"])
                return .failure(refusal)
            }
            let request = LiveCallRequest(call: s.call, source: s.source, roles: s.roles, consent: s.consent,
                                          language: s.lang.flatMap(Language.init(rawValue:)) ?? .en,
                                          asr: Self.recognizer(s.asr ?? defaultASR))
            if let refusal = opens.admit(engine) {
                logger.warning("start refused", metadata: ["call": "\(s.call)", "error": "\(refusal)"])
                return .failure(refusal)
            }
            let engine = self.engine
            let opens = self.opens
            // Opening a source can block for as long as the device likes (an ALSA `file` PCM on a FIFO nobody
            // writes), and loading a recogniser takes about a second: on the cooperative pool (two threads here)
            // two such starts would stall every other command and the event socket's `stats`.
            // A device whose open never returns must not leave the client waiting for ever either: past the
            // timeout the start is refused, and if the open does return later, the call is torn down unseen.
            let deadline = StartDeadline()
            let timeout = startTimeout
            let started: Result<LiveCallInfo, LiveEngineError> = await onOwnThread(
                named: "attune-start", timeout: timeout,
                onTimeout: {
                    guard deadline.expire() else { return nil }
                    opens.abandoned()
                    return .failure(LiveEngineError("the source did not open within \(timeout) s (start_timeout_s); the start "
                                                    + "is abandoned and the call will not run", exitCode: 69))
                }) {
                defer { opens.returned(abandoned: deadline.expired) }
                do throws(LiveEngineError) { return .success(try engine.start(request, commit: deadline.commit)) } catch {
                    if deadline.expired { logger.notice("abandoned start ended", metadata: ["call": "\(s.call)", "error": "\(error.message)"]) }
                    return .failure(error)
                }
            }
            switch started {
            case .success(let info):
                logger.info("call started", metadata: ["call": "\(s.call)", "source": "\(info.source)", "peer": "\(peer)"])
                return .ok(Self.json(info))
            case .failure(let error):
                logger.notice("start refused", metadata: ["call": "\(s.call)", "error": "\(error.message)"])
                return .failure(error.message)
            }
        case .stop(let call):
            do {
                try engine.stop(call: call)
            } catch {
                return .failure(error.message)
            }
            // The reply waits until the call has ended (its last records and call_end are out), so a client that
            // stops and then starts the same id is not told it is still running. A call that has not ended within
            // `stopWait` is still stopped (its capture is), and the reply says so rather than blocking the connection.
            let deadline = ContinuousClock.now + Self.stopWait
            while engine.info(call: call) != nil && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(5))
            }
            let ended = engine.info(call: call) == nil
            logger.info("call stopped", metadata: ["call": "\(call)", "peer": "\(peer)", "ended": "\(ended)"])
            return .ok(["call": .string(call), "ended": .bool(ended)])
        case .list:
            return .ok(["calls": .array(engine.list().map { Self.json($0) })])
        case .stats:
            let e = engine.stats()
            let b = await bus.stats()
            var fields: JSONValue = [
                "calls_active": .number(Double(e.callsActive)), "calls_started": .number(Double(e.callsStarted)),
                "calls_ended": .number(Double(e.callsEnded)), "workers": .number(Double(e.workers)),
                "frames_analysed": .number(Double(e.framesAnalysed)), "samples_dropped": .number(Double(e.droppedFrames)),
                "xruns": .number(Double(e.xruns)), "records_published": .number(Double(e.recordsPublished)),
                "subscribers": .number(Double(b.subscribers)), "subscriber_records_dropped": .number(Double(b.droppedForSubscribers)),
                "starts_hung": .number(Double(opens.hung)),
            ]
            if let f = fleet?.stats, case .object(var members) = fields {
                members.append(("nats", [
                    "connected": .bool(f.connected), "published": .number(Double(f.published)),
                    "buffered": .number(Double(f.buffered)), "dropped": .number(Double(f.dropped)),
                    "gaps": .number(Double(f.gaps)), "retries": .number(Double(f.retries)),
                    "stream_missing": .bool(f.streamMissing),
                ]))
                fields = .object(members)
            }
            return .ok(fields)
        case .asr(let call, let utterance):
            do {
                // A client feeding text to a call without consent learns that it is not kept rather than guessing.
                let kept = try engine.addTranscript(call: call, utterance)
                return .ok(["call": .string(call), "kept": .bool(kept)])
            } catch {
                return .failure(error.message)
            }
        }
    }

    /// The recogniser settings for a checked name (only pocketsphinx today), or nil for none.
    static func recognizer(_ name: String?) -> SpeechRecognizerConfiguration? {
        name == nil ? nil : SpeechRecognizerConfiguration.fromEnvironment()
    }

    static func json(_ i: LiveCallInfo) -> JSONValue {
        .object([
            ("call", .string(i.call)), ("source", .string(i.source)), ("roles", .array(i.roles.map { .string($0.rawValue) })),
            ("sample_rate", .number(Double(i.sampleRate))), ("channels", .number(Double(i.channels))),
            ("worker", .number(Double(i.worker))), ("uptime_s", .number(rounded(i.uptimeSeconds))),
            ("analysed_s", .number(rounded(i.analysedSeconds))), ("lag_s", .number(rounded(i.lagSeconds))),
            ("dropped_samples", .number(Double(i.droppedFrames))), ("xruns", .number(Double(i.xruns))),
            ("consent", .bool(i.consent)), ("asr_utterances", .number(Double(i.asrUtterances))),
            ("asr_lost_samples", .number(Double(i.asrLostSamples))),
        ])
    }

    private static func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}

/// Runs `body` on a thread of its own and returns its result, for blocking work that must not hold one of the
/// cooperative pool's threads however long it takes. With a `timeout`, `onTimeout` is asked once that many seconds
/// have passed: a value it returns is the result at once (the thread runs on, and what it returns is dropped), nil
/// keeps waiting for `body`.
func onOwnThread<T: Sendable>(named name: String, timeout: Double? = nil, onTimeout: @escaping @Sendable () -> T? = { nil },
                              _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let once = ResumeOnce(continuation)
        let thread = Thread {
            // Named from inside: Foundation's `Thread.name` set before `start` does not reach the kernel on Linux.
            _ = attune_set_thread_name(name)
            once.resume(body())
        }
        thread.start()
        if let timeout {
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                if let value = onTimeout() { once.resume(value) }
            }
        }
    }
}

/// A continuation resumed by whichever of two sides comes first; the other's value is dropped.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>
    init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = Mutex(continuation) }
    func resume(_ value: T) {
        continuation.withLock { c in
            c?.resume(returning: value)
            c = nil
        }
    }
}

/// The starts whose source open has not returned yet, each on a thread of its own that stays while the open
/// blocks, past the start's timeout too (an abandoned start, see `StartDeadline`): a dispatcher retrying a dead tap
/// every 10 s made 8,600 such threads a day, and 60 starts at once made 60. Past a few abandoned ones, or more
/// opening at once than calls may yet run, a start is refused before it opens anything.
final class SourceOpens: Sendable {
    private let opening = Atomic<Int>(0)
    private let abandonedCount = Atomic<Int>(0)
    /// Abandoned starts past this many refuse new ones.
    static let limit = 8

    /// Abandoned starts still blocked in their open (`stats`: `starts_hung`).
    var hung: Int { abandonedCount.load(ordering: .relaxed) }

    /// Counts a start in before its open, or says why it may not open: too many abandoned opens, or more opening
    /// than `engine` has room for. A full daemon is the engine's to refuse (its message says so): one start always
    /// gets that far.
    func admit(_ engine: LiveEngine) -> String? {
        let hung = self.hung
        let opening = self.opening.add(1, ordering: .relaxed).newValue
        if hung < Self.limit && opening <= max(1, engine.maximumCalls - engine.callCount) { return nil }
        self.opening.subtract(1, ordering: .relaxed)
        return hung >= Self.limit
            ? "\(hung) earlier starts are still waiting for sources that did not open (a hung device?); no more are tried until one returns"
            : "\(opening - 1) starts are opening their sources beside \(engine.callCount) running calls; max_calls is \(engine.maximumCalls)"
    }

    /// The start's timeout fired while its open was still blocked.
    func abandoned() { abandonedCount.add(1, ordering: .relaxed) }

    /// The open of an admitted start returned (`abandoned`: after its timeout had fired).
    func returned(abandoned: Bool) {
        opening.subtract(1, ordering: .relaxed)
        if abandoned { abandonedCount.subtract(1, ordering: .relaxed) }
    }
}

/// Who wins between a start that finishes and the client's timeout, decided once: the engine commits the call
/// only if the timeout has not fired, and the timeout refuses the start only if the call was not committed, so a
/// client is never told "abandoned" about a call that runs, nor "ok" about one torn down.
final class StartDeadline: Sendable {
    private enum State { case pending, committed, expired }
    private let state = Mutex(State.pending)
    /// The engine's question before the call joins the table: true if the timeout has not fired.
    @Sendable func commit() -> Bool { decide(.committed) }
    /// Whether the timeout fired before the start committed.
    var expired: Bool { state.withLock { $0 == .expired } }
    /// The timeout's question: true if the start has not committed, which it now never will.
    func expire() -> Bool { decide(.expired) }

    /// Moves from pending to `outcome`; false if the other side decided first.
    private func decide(_ outcome: State) -> Bool {
        state.withLock { s in
            guard s == .pending else { return false }
            s = outcome
            return true
        }
    }
}
