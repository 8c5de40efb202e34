import AttuneBus
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// A node's link to the fleet: publishes every record of every call to JetStream, answers control requests from
/// the queue group, and sends heartbeats.
///
/// `publish` is called on the engine's record thread: it appends the line to the call's bounded buffer under a
/// short lock and returns; it never waits for NATS. One publisher thread of its own connects (retrying with
/// backoff while NATS is unreachable or refuses the credentials), sends batches asynchronously, waits for their
/// acks, and only then removes them from the buffers; a batch whose acks do not all arrive is sent again, and
/// `Nats-Msg-Id: <node>:<call>:<seq>` lets the stream drop the copies it already holds. Since a call's records
/// leave its buffer in order on one connection, the stream holds each call's records in order.
///
/// A call id this node used before a restart and starts again within the duplicate window must not count from 1
/// again: its ids would be the stream's duplicates. So before a call's first publish in this run the publisher
/// thread asks the stream for the call's last record and, when that is this node's and this call's and within the
/// window, publishes the call's seqs after it.
public final class FleetNode: Sendable {
    public let settings: FleetSettings
    let logger: Logger
    let state: NIOLockedValueBox<State>
    let stop = Atomic<Bool>(false)
    let stopped = NIOLockedValueBox<Bool>(false)
    /// Unix time until which a stopping publisher goes on draining the buffers.
    let drainDeadline = NIOLockedValueBox<Double>(0)
    let link = NIOLockedValueBox<Link?>(nil)
    let connected = Atomic<Bool>(false)
    /// Set by `stopControl`: the node takes no more control requests, and does not rejoin the start queue group.
    let controlStopped = Atomic<Bool>(false)

    struct Item {
        var seq: UInt64
        var type: String
        var bytes: [UInt8]
    }

    struct CallBuffer {
        var items = CircularBuffer<Item>(initialCapacity: 64)
        var nextSeq: UInt64 = 1
        /// Added to every seq of the call in its `Nats-Msg-Id`: the last seq an earlier run of this node left in
        /// the stream for this call id within the duplicate window, else 0. Decided by the publisher thread before
        /// the call's first publish (nil until then), so the record thread numbers records without asking NATS.
        var seqOffset: UInt64?
        /// Records lost since the last `gap` record: the buffer was full, or the stream refused them for good.
        var dropped = 0
        /// Of `dropped`, those the stream refused.
        var refused = 0
        /// Whether a refusal of this call's records has been logged (once per call, with the reason).
        var refusalLogged = false
        var ended = false
        var subjectBase: String?
    }

    struct State {
        var calls: [String: CallBuffer] = [:]
        var order: [String] = []
        var cursor = 0
        /// Sequences of calls that ended recently, so a call id started again within the duplicate window goes on
        /// counting instead of repeating message ids the stream would discard as duplicates.
        var endedSeqs: [String: (next: UInt64, at: Double)] = [:]
        /// Calls new to this run whose seq offset the publisher thread has still to decide.
        var unresolved: [String] = []
        var stats = FleetStats()
        /// How long the stream remembers message ids: `duplicate_window_s`, or the stream's own window when that is
        /// longer (a stream made by another node or tool). Read on each connect.
        var duplicateWindow: Double
        /// Gap records queued and not yet logged (the publisher thread logs; the record thread must not wait on it).
        var gapsToLog: [(call: String, count: Int, refused: Int)] = []
    }

    /// The connection and what hangs on it, made by the publisher thread once it connects.
    struct Link: @unchecked Sendable {
        var connection: NatsConnection
        var jetStream: JetStream
        var subscriptions: [NatsSubscription]
        /// The membership of the start queue group (`attune.control`), nil while this node has no room for a call.
        var queue: NatsSubscription?
    }

    public init(settings: FleetSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        self.state = NIOLockedValueBox(State(duplicateWindow: settings.stream.duplicateWindowSeconds))
    }

    /// Starts the publisher thread; returns at once (connecting happens there). Records handed to `publish` before
    /// this wait in the buffers.
    /// - Parameters:
    ///   - handler: answers commands from `PREFIX.control` (queue group) and `PREFIX.control.all`; nil takes none.
    ///   - status: fields the heartbeat carries besides node, version and load (e.g. `calls`, `workers`).
    public func start(handler: (any ControlHandler)?, status: @escaping @Sendable () -> [(String, JSONValue)] = { [] }) {
        let thread = Thread { [self] in
            run(handler: handler, status: status)
            stopped.withLockedValue { $0 = true }
        }
        thread.name = "attune-fleet"
        thread.start()
    }

    /// Hands one record over. Any thread; never blocks on NATS.
    public func publish(_ line: [UInt8], call: String?, type: String) {
        guard let call else { return }                  // hello and other node-less lines stay on the socket
        if type == "frame" && !settings.frames { return }
        let bound = settings.bufferRecords
        state.withLockedValue { s in
            if s.calls[call] == nil {
                var b = CallBuffer()
                if let ended = s.endedSeqs.removeValue(forKey: call) {
                    b.nextSeq = ended.next
                    b.seqOffset = 0
                } else {
                    s.unresolved.append(call)
                }
                s.calls[call] = b
                s.order.append(call)
            }
            if type == "call_end" {
                s.calls[call]!.ended = true
                // The count of what was lost goes before call_end, where a consumer that stops at call_end sees it.
                if s.calls[call]!.dropped > 0 { Self.queueGap(call: call, &s) }
            }
            let seq = s.calls[call]!.nextSeq
            s.calls[call]!.nextSeq += 1
            if s.calls[call]!.items.count >= bound && type != "call_end" {
                s.calls[call]!.dropped += 1
                s.stats.dropped += 1
            } else {
                s.calls[call]!.items.append(Item(seq: seq, type: type, bytes: line))
                s.stats.buffered += 1
            }
        }
    }

    /// Counters now.
    public var stats: FleetStats {
        var s = state.withLockedValue { $0.stats }
        s.connected = connected.load(ordering: .relaxed)
        return s
    }

    /// Stops taking commands at once, then publishes what is buffered for up to `timeout` seconds (while
    /// connected), then closes the connection.
    public func shutdown(timeout: Double) async {
        stopControl()
        drainDeadline.withLockedValue { $0 = Date().timeIntervalSince1970 + timeout }
        stop.store(true, ordering: .releasing)
        let deadline = Date().addingTimeInterval(timeout + settings.ackTimeout + 1)
        while !stopped.withLockedValue({ $0 }) && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Unsubscribes from the control subjects, so no new call lands here while the daemon shuts down.
    public func stopControl() {
        controlStopped.store(true, ordering: .releasing)
        let queue: NatsSubscription? = link.withLockedValue { l in
            defer { l?.subscriptions.removeAll(); l?.queue = nil }
            return l?.queue
        }
        queue?.drain()
    }

    // MARK: - The publisher thread

    func run(handler: (any ControlHandler)?, status: @Sendable () -> [(String, JSONValue)]) {
        var current: Link?
        var attempts = 0
        var nextAttempt = 0.0
        var wasConnected = false
        var lastHeartbeat = 0.0
        // Rounds that failed in a row and when the next may start: a stream that refuses everything (gone, full) is
        // asked again with backoff, and said so in the log now and then, not ten times a second.
        var failedRounds = 0
        var retryAt = 0.0
        var lastRetryLog = -Double.infinity
        var lastMissingLog = -Double.infinity
        while true {
            let now = Date().timeIntervalSince1970
            if stop.load(ordering: .acquiring) {
                let (buffered, missing) = state.withLockedValue { ($0.stats.buffered, $0.stats.streamMissing) }
                let deadline = drainDeadline.withLockedValue { $0 }
                if current == nil || buffered == 0 || now > deadline || !current!.connection.isConnected || missing { break }
            }
            guard let l = current else {
                if now < nextAttempt {
                    usleep(20_000)
                    continue
                }
                do {
                    current = try connect(handler: handler)
                    if attempts > 0 {
                        logger.notice("connected to NATS after \(attempts) failed attempt\(attempts == 1 ? "" : "s")",
                                      metadata: ["url": "\(current!.connection.connectedURL)"])
                    }
                    attempts = 0
                } catch {
                    attempts += 1
                    // Every attempt while few, then every 10th: a long outage must not flood the log.
                    if attempts <= 3 || attempts % 10 == 0 {
                        logger.error("NATS unavailable: records are buffered (bounded) and the event socket goes on; retrying",
                                     metadata: ["error": "\(error)", "attempt": "\(attempts)"])
                    }
                    nextAttempt = now + min(10, 0.25 * Double(1 << min(attempts, 8)))
                }
                continue
            }
            let up = l.connection.isConnected
            connected.store(up, ordering: .relaxed)
            if !up {
                if wasConnected {
                    logger.warning("NATS connection lost: buffering records while libnats reconnects")
                    wasConnected = false
                }
                usleep(20_000)
                continue
            }
            if !wasConnected {
                wasConnected = true
                retryAt = 0
                logger.info("publishing to NATS", metadata: ["url": "\(l.connection.connectedURL)", "stream": "\(settings.stream.name)"])
            }
            if now - lastHeartbeat >= settings.heartbeatSeconds {
                lastHeartbeat = now
                heartbeat(l.connection, status: status)
            }
            if let handler { followRoom(l.connection, handler) }
            if now < retryAt {
                usleep(20_000)
                continue
            }
            switch publishBatch(l.jetStream) {
            case .idle:
                usleep(2_000)
            case .published, .streamCreated:
                if lastRetryLog > -Double.infinity || lastMissingLog > -Double.infinity {
                    logger.notice("JetStream takes records again", metadata: ["failed_rounds": "\(failedRounds)"])
                }
                failedRounds = 0
                lastRetryLog = -Double.infinity
                lastMissingLog = -Double.infinity
            case .retry(let reason):
                failedRounds += 1
                let wait = Self.backoff(failedRounds)
                retryAt = now + wait
                if now - lastRetryLog >= 30 {
                    lastRetryLog = now
                    logger.warning("JetStream did not take every record; the batch goes again after a backoff",
                                   metadata: ["reason": "\(reason)", "failed_rounds": "\(failedRounds)", "wait_s": "\(wait)"])
                }
            case .streamMissing(let reason):
                failedRounds += 1
                retryAt = now + Self.backoff(failedRounds)
                if now - lastMissingLog >= 60 {
                    lastMissingLog = now
                    logger.error("JetStream stream \(settings.stream.name) does not exist: nothing is published, records wait in the buffers (bounded) until it is back",
                                 metadata: ["stream": "\(settings.stream.name)", "reason": "\(reason)",
                                            "buffered": "\(state.withLockedValue { $0.stats.buffered })"])
                }
            }
        }
        connected.store(false, ordering: .relaxed)
        link.withLockedValue { $0 = nil }
        // Nothing is kept on disk (design.md, Privacy): what is still buffered is lost, and the operator is told
        // which calls lost what, so they can be replayed from their recordings.
        let (left, calls): (Int, [(call: String, records: Int)]) = state.withLockedValue { s in
            (s.stats.buffered, s.order.compactMap { c in s.calls[c].flatMap { $0.items.isEmpty ? nil : (c, $0.items.count) } })
        }
        if left > 0 {
            let named = Self.lostCallsShown
            var metadata: Logger.Metadata = [
                "records": "\(left)",
                "calls": "\(calls.prefix(named).map { "\($0.call) (\($0.records))" }.joined(separator: ", "))",
            ]
            if calls.count > named { metadata["more_calls"] = "\(calls.count - named)" }
            logger.warning("stopped with records not published to NATS: they are lost (nothing is kept on disk)", metadata: metadata)
        }
    }

    /// Calls the shutdown warning names with their count of lost records; the rest are counted.
    static let lostCallsShown = 20

    func connect(handler: (any ControlHandler)?) throws(NatsError) -> Link {
        var cs = settings.connection
        cs.name = cs.name ?? "attuned \(settings.node)"
        let connection = try NatsConnection(cs)
        let js = try JetStream(connection, maximumPending: settings.batchRecords * 2)
        if settings.createStream {
            let outcome = try js.ensureStream(settings.stream)
            logger.info("NATS stream", metadata: ["setup": "\(outcome)"])
        }
        readDuplicateWindow(js)
        var all: NatsSubscription?
        var queue: NatsSubscription?
        if let handler, !controlStopped.load(ordering: .acquiring) {
            let prefix = settings.stream.prefix
            if handler.hasRoom { queue = try connection.subscribe("\(prefix).control", queue: "attune") }
            all = try connection.subscribe("\(prefix).control.all")
            // libnats sends SUB without waiting: until the server has it, a request to this node finds "no
            // responders". Once the flush returns the node answers, so `connected` never says so too early.
            try connection.flush(timeout: 5)
        }
        let made = Link(connection: connection, jetStream: js, subscriptions: all.map { [$0] } ?? [], queue: queue)
        // Published before the responders start: each runs while its subscription is in the link.
        link.withLockedValue { $0 = made }
        if let handler {
            if let queue { serve(queue, all: false, handler: handler) }
            if let all { serve(all, all: true, handler: handler) }
        }
        return made
    }

    /// Publishes one heartbeat on `PREFIX.nodes.<node>`: who this node is, its load, the daemon's `status` fields
    /// and the publisher's counters. Best effort: a heartbeat that cannot go is only logged at debug level.
    func heartbeat(_ connection: NatsConnection, status: @Sendable () -> [(String, JSONValue)]) {
        var load = [Double](repeating: 0, count: 3)
        _ = getloadavg(&load, 3)
        let st = stats
        var fields: [(String, JSONValue)] = [
            ("type", "heartbeat"), ("v", 1), ("node", .string(settings.node)), ("version", .string(settings.version)),
            ("t", .number((Date().timeIntervalSince1970 * 1000).rounded() / 1000)),
            ("interval_s", .number(settings.heartbeatSeconds)),
            ("load", .array(load.map { .number(($0 * 100).rounded() / 100) })),
        ]
        fields += status()
        fields.append(("nats", .object([
            ("published", .number(Double(st.published))), ("buffered", .number(Double(st.buffered))),
            ("dropped", .number(Double(st.dropped))), ("gaps", .number(Double(st.gaps))),
            ("stream_missing", .bool(st.streamMissing)),
        ])))
        var out: [UInt8] = []
        JSONValue.object(fields).write(to: &out)
        out.append(UInt8(ascii: "\n"))
        do { try connection.publish("\(settings.stream.prefix).nodes.\(settings.node)", out) } catch {
            logger.debug("heartbeat not sent", metadata: ["error": "\(error)"])
        }
    }
}
