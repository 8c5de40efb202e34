import AttuneBus
import AttuneEvents
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Everything a node needs to join the fleet (design.md "Fleet"): where NATS is, what to call things, how much to
/// buffer.
public struct FleetSettings: Sendable {
    public var connection: NatsConnectionSettings
    public var stream = StreamSettings()
    /// The node's name: the second token of its subjects, so it may not contain `.`, `*`, `>` or white space.
    public var node: String
    /// Publish `frame` records too (100 per second per channel); off by default.
    public var frames = false
    /// Records of one call held while NATS is away or slow; past it new records of the call are dropped, counted,
    /// and reported in a `gap` record once they can be published again. `call_end` and `gap` always get in.
    public var bufferRecords = 10_000
    /// Seconds between heartbeats on `PREFIX.nodes.<node>`.
    public var heartbeatSeconds = 5.0
    /// Seconds to wait for the acks of one batch before it is sent again, and for the stream's answer when a call
    /// new to this run asks where an earlier run left its seqs.
    public var ackTimeout = 2.0
    /// Records published before waiting for their acks.
    public var batchRecords = 512
    /// Create the stream on first connect when it does not exist.
    public var createStream = true
    /// The daemon's version, for heartbeats.
    public var version = ""

    public init(connection: NatsConnectionSettings, node: String) {
        self.connection = connection
        self.node = node
    }

    /// Why `name` cannot be a subject token, or nil when it can.
    public static func tokenProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if let c = name.unicodeScalars.first(where: { ".*>".unicodeScalars.contains($0) || $0.properties.isWhitespace || $0.value < 0x20 }) {
            return "contains '\(c.escaped(asASCII: true))', which a NATS subject token may not"
        }
        return nil
    }

    /// Why `name` cannot name a node, or nil when it can: a subject token without `:`, since `Nats-Msg-Id` is
    /// `<node>:<call>:<seq>` and call ids may hold `:` (node `n1:a` with call `b` and node `n1` with call `a:b`
    /// would share ids, and the stream would drop one call's records as duplicates).
    public static func nodeProblem(_ name: String) -> String? {
        tokenProblem(name) ?? (name.contains(":") ? "contains ':', which would make its message ids ambiguous" : nil)
    }

    /// A call id as a subject token. The ids the engine accepts (letters, digits, `- _ : @ + =`) are tokens as they
    /// are; anything else a token may not hold would become `_` (the record's `call` field and `Nats-Msg-Id` keep the
    /// id as it is).
    public static func token(_ call: String) -> String {
        var out = String.UnicodeScalarView()
        for c in call.unicodeScalars {
            out.append(".*>".unicodeScalars.contains(c) || c.properties.isWhitespace || c.value < 0x20 ? "_" : c)
        }
        return out.isEmpty ? "_" : String(out)
    }
}

/// Counters of the fleet link, for `stats`, metrics and heartbeats.
public struct FleetStats: Sendable, Equatable {
    /// Records the stream acknowledged.
    public var published = 0
    /// Records waiting in the per-call buffers.
    public var buffered = 0
    /// Records dropped: their call's buffer was full, or the stream refused them for good (too large, …).
    public var dropped = 0
    /// `gap` records published to report drops.
    public var gaps = 0
    /// Batches sent again because their acks did not all come.
    public var retries = 0
    /// Whether the connection is up now.
    public var connected = false
    /// The stream was not there at the last publish and could not be created again (this node does not create
    /// streams, or creating it failed): nothing is published until it is back; records wait in the buffers.
    public var streamMissing = false
}

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
    private let state: NIOLockedValueBox<State>
    private let stop = Atomic<Bool>(false)
    private let stopped = NIOLockedValueBox<Bool>(false)
    /// Unix time until which a stopping publisher goes on draining the buffers.
    private let drainDeadline = NIOLockedValueBox<Double>(0)
    private let link = NIOLockedValueBox<Link?>(nil)
    private let connected = Atomic<Bool>(false)
    /// Set by `stopControl`: the node takes no more control requests, and does not rejoin the start queue group.
    private let controlStopped = Atomic<Bool>(false)

    private struct Item {
        var seq: UInt64
        var type: String
        var bytes: [UInt8]
    }

    private struct CallBuffer {
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

    private struct State {
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
    private struct Link: @unchecked Sendable {
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

    private func run(handler: (any ControlHandler)?, status: @Sendable () -> [(String, JSONValue)]) {
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

    private func connect(handler: (any ControlHandler)?) throws(NatsError) -> Link {
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

    private func serve(_ sub: NatsSubscription, all: Bool, handler: any ControlHandler) {
        let t = Thread { [self] in serveControl(sub, all: all, handler: handler) }
        t.name = "attune-fleet-ctl"
        t.start()
    }

    /// Leaves the start queue group while this node has no room for another call, and joins it again once it has.
    /// NATS hands each queued request to any one member: a full member refused starts (69) that an idle node would
    /// have taken, and nothing sent them on. A request already handed over when the node fills is still refused.
    private func followRoom(_ connection: NatsConnection, _ handler: any ControlHandler) {
        guard !stop.load(ordering: .acquiring), !controlStopped.load(ordering: .acquiring) else { return }
        let room = handler.hasRoom
        let member = link.withLockedValue { $0?.queue != nil }
        if room == member { return }
        guard room else {
            // Drained, not dropped: a start already on its way to this node is answered (refused, the node is full)
            // rather than lost to its requester's timeout.
            let queue: NatsSubscription? = link.withLockedValue { l in
                defer { l?.queue = nil }
                return l?.queue
            }
            queue?.drain()
            logger.info("full: left the start queue group until a call ends", metadata: ["subject": "\(settings.stream.prefix).control"])
            return
        }
        do throws(NatsError) {
            let queue = try connection.subscribe("\(settings.stream.prefix).control", queue: "attune")
            try connection.flush(timeout: 5)
            link.withLockedValue { $0?.queue = queue }
            serve(queue, all: false, handler: handler)
            logger.info("room for calls again: rejoined the start queue group", metadata: ["subject": "\(settings.stream.prefix).control"])
        } catch {
            logger.warning("could not rejoin the start queue group; trying again", metadata: ["error": "\(error)"])
        }
    }

    /// Reads the stream's duplicate window, on which the seq decisions hang; a longer one than configured only makes
    /// a reused call id continue where counting from 1 would also have been safe.
    private func readDuplicateWindow(_ js: JetStream) {
        let configured = settings.stream.duplicateWindowSeconds
        do throws(NatsError) {
            let window = try js.duplicateWindow(settings.stream.name)
            if window > configured {
                logger.notice("the stream's duplicate window is longer than duplicate_window_s; reused call ids are judged by the stream's",
                              metadata: ["stream": "\(settings.stream.name)", "window_s": "\(window)", "duplicate_window_s": "\(configured)"])
            }
            state.withLockedValue { $0.duplicateWindow = max(configured, window) }
        } catch {
            logger.notice("could not read the stream's duplicate window; duplicate_window_s stands for it",
                          metadata: ["error": "\(error)"])
        }
    }

    /// What one round of the publisher came to; the run loop decides when the next starts.
    private enum Round {
        /// Nothing was waiting.
        case idle
        /// Every record sent was acknowledged, or dropped as refused for good.
        case published
        /// Some records go again after a backoff; why, for the log.
        case retry(String)
        /// The stream is gone and was not created again; why, for the log.
        case streamMissing(String)
        /// The stream was gone and has been created again: the buffered records go out at once.
        case streamCreated
    }

    /// Seconds before the next round after `failed` rounds failed in a row: 0.1 s doubling up to 5 s.
    static func backoff(_ failed: Int) -> Double { min(5, 0.1 * Double(1 << min(max(failed - 1, 0), 6))) }

    /// Sends one batch and waits for its acks.
    private func publishBatch(_ js: JetStream) -> Round {
        resolveSeqOffsets(js)
        // Only references are copied under the lock (the record thread waits on it); subjects and ids are built after.
        var picked: [(base: String, call: String, offset: UInt64, item: Item)] = []
        var taken: [(call: String, count: Int)] = []
        let node = settings.node
        let prefix = settings.stream.prefix
        let limit = settings.batchRecords
        state.withLockedValue { s in
            guard !s.order.isEmpty else { return }
            let perCall = max(16, limit / s.order.count)
            for i in 0..<s.order.count where picked.count < limit {
                let call = s.order[(s.cursor + i) % s.order.count]
                guard var b = s.calls[call], !b.items.isEmpty, let offset = b.seqOffset else { continue }
                let base = b.subjectBase ?? "\(prefix).\(node).\(FleetSettings.token(call))."
                if b.subjectBase == nil { b.subjectBase = base }
                let n = min(b.items.count, perCall, limit - picked.count)
                for k in 0..<n {
                    picked.append((base, call, offset, b.items[b.items.index(b.items.startIndex, offsetBy: k)]))
                }
                s.calls[call] = b
                taken.append((call, n))
            }
            s.cursor = (s.cursor + 1) % s.order.count
        }
        guard !picked.isEmpty else {
            finishEndedCalls()
            return .idle
        }
        var ids: [String] = []
        ids.reserveCapacity(picked.count)
        var sendFailure: NatsError?
        for m in picked {
            let subject = m.base + m.item.type
            let id = "\(node):\(m.call):\(m.item.seq + m.offset)"
            ids.append(id)
            // A typed-throws closure through withUnsafeBytes crashes Swift 6.3's IRGen; carry the error out instead.
            let failure: NatsError? = m.item.bytes.withUnsafeBytes { p in
                do throws(NatsError) { try js.publishAsync(subject: subject, msgID: id, data: p) } catch { return error }
                return nil
            }
            if let failure {
                sendFailure = failure
                logger.debug("publish failed", metadata: ["error": "\(failure)"])
                break
            }
        }
        let acks = js.waitForAcks(timeout: settings.ackTimeout)
        // A refusal about the message itself (too large for the stream, …) gets the same answer however often the
        // record is sent: it is dropped and reported like a buffer-full drop, or it would hold up its call (and
        // the batch) for ever. Anything else (no ack, a full disk, no stream) may pass later: the batch goes again.
        var refusedAt: [Int: PublishRefusal] = [:]
        var missing: PublishRefusal?
        var retryReason = sendFailure.map { "\($0)" } ?? acks.unanswered.map { "\($0)" }
        if !acks.refusals.isEmpty {
            let index = Dictionary(ids.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
            for r in acks.refusals {
                guard let i = index[r.msgID] else { continue }      // an answer to an earlier, abandoned batch
                if r.kind == .message { refusedAt[i] = r } else if retryReason == nil { retryReason = r.description }
                if r.kind == .streamMissing && missing == nil { missing = r }
            }
        }
        let complete = retryReason == nil
        settle(taken, picked.map(\.item.type), refusedAt: refusedAt, complete: complete)
        guard complete else {
            state.withLockedValue { $0.stats.retries += 1 }
            if let missing { return streamGone(js, missing) }
            return .retry(retryReason!)
        }
        state.withLockedValue { $0.stats.streamMissing = false }
        reportDrops()
        // Also under constant load, when batches are never empty: ended calls must not pile up in `order`.
        finishEndedCalls()
        return .published
    }

    /// After publishes found no stream: whether it is really gone (not a leader election in a cluster) and, when
    /// this node creates streams, creates it again, so the records buffered meanwhile go out. libnats reconnects to a
    /// nats-server restarted without its store as to any other, so only publishing finds the stream gone.
    private func streamGone(_ js: JetStream, _ refusal: PublishRefusal) -> Round {
        let name = settings.stream.name
        do throws(NatsError) {
            if try js.streamExists(name) {
                state.withLockedValue { $0.stats.streamMissing = false }
                return .retry("\(refusal)")
            }
        } catch {
            return .retry("\(refusal); \(error)")
        }
        var reason = "\(refusal); js_GetStreamInfo(\(name)): stream not found"
        if settings.createStream {
            do throws(NatsError) {
                let outcome = try js.ensureStream(settings.stream)
                logger.warning("JetStream stream \(name) was missing (deleted, or nats-server lost its store): created it again; the buffered records follow",
                               metadata: ["stream": "\(name)", "setup": "\(outcome)"])
                readDuplicateWindow(js)
                state.withLockedValue { $0.stats.streamMissing = false }
                return .streamCreated
            } catch {
                reason += "; creating it failed: \(error)"
            }
        } else {
            reason += "; this node does not create streams (attuned --nats-setup does)"
        }
        state.withLockedValue { $0.stats.streamMissing = true }
        return .streamMissing(reason)
    }

    /// Takes a sent batch out of the buffers: all of it when `complete`, else only the records refused for good
    /// (`refusedAt`, by position in the batch), which are counted as dropped and reported in the call's next `gap`
    /// record. `taken` is each call's share of the batch, in batch order; `types` each record's type.
    private func settle(_ taken: [(call: String, count: Int)], _ types: [String], refusedAt: [Int: PublishRefusal], complete: Bool) {
        if refusedAt.isEmpty && !complete { return }
        var firstRefusals: [(call: String, count: Int, reason: String)] = []
        state.withLockedValue { s in
            var start = 0
            for t in taken {
                defer { start += t.count }
                let refused = (start..<(start + t.count)).filter { refusedAt[$0] != nil }
                if refused.isEmpty {
                    guard complete else { continue }
                    s.calls[t.call]!.items.removeFirst(t.count)
                    s.stats.buffered -= t.count
                    s.stats.published += t.count
                    continue
                }
                // The batch is the first `count` records of the call's buffer (the record thread only appends).
                let sent = Array(s.calls[t.call]!.items.prefix(t.count))
                s.calls[t.call]!.items.removeFirst(t.count)
                if !complete {
                    for k in (0..<t.count).reversed() where refusedAt[start + k] == nil { s.calls[t.call]!.items.prepend(sent[k]) }
                }
                s.stats.buffered -= complete ? t.count : refused.count
                if complete { s.stats.published += t.count - refused.count }
                s.stats.dropped += refused.count
                // A refused gap record is counted but not reported by another gap, which could be refused in turn.
                let records = refused.filter { types[$0] != "gap" }.count
                s.calls[t.call]!.dropped += records
                s.calls[t.call]!.refused += records
                if !s.calls[t.call]!.refusalLogged {
                    s.calls[t.call]!.refusalLogged = true
                    firstRefusals.append((t.call, refused.count, refusedAt[refused[0]]!.description))
                }
            }
        }
        for r in firstRefusals {
            logger.warning("JetStream refuses records of this call for good: they are dropped, counted, and reported in a gap record",
                           metadata: ["call": "\(r.call)", "records": "\(r.count)", "reason": "\(r.reason)"])
        }
    }

    /// Decides the seq offset of every call new to this run, asking the stream for each, before the call's first
    /// publish. A lookup that fails or times out leaves that call, and the others waiting in this round, counting
    /// from 1 as before: the publisher must not stall one timeout per call while NATS is slow.
    private func resolveSeqOffsets(_ js: JetStream) {
        let calls: [String] = state.withLockedValue { s in
            defer { s.unresolved.removeAll() }
            return s.unresolved
        }
        guard !calls.isEmpty else { return }
        var offsets: [(call: String, offset: UInt64)] = []
        var failure: NatsError?
        var fromOne: [String] = []
        for call in calls {
            var offset: UInt64 = 0
            if failure == nil {
                do throws(NatsError) { offset = try lastStoredSeq(call, js) } catch { failure = error }
            }
            if failure != nil { fromOne.append(call) }
            offsets.append((call, offset))
        }
        if let failure {
            logger.notice("could not ask the stream where an earlier run left these call ids: they count seq from 1, so the stream drops their records if they ran on this node within the duplicate window",
                          metadata: ["calls": "\(fromOne.prefix(10).joined(separator: ","))\(fromOne.count > 10 ? ",…" : "")",
                                     "error": "\(failure)"])
        }
        state.withLockedValue { s in
            for (call, offset) in offsets { s.calls[call]?.seqOffset = offset }
        }
    }

    /// The seq of the last record of `call` this node stored in the stream within the duplicate window (a run
    /// before a restart), or 0 when there is none.
    private func lastStoredSeq(_ call: String, _ js: JetStream) throws(NatsError) -> UInt64 {
        let node = settings.node
        // One lookup over the call's four-token subjects, whatever their types: the server takes the wildcard.
        let subject = "\(settings.stream.prefix).\(node).\(FleetSettings.token(call)).*"
        guard let last = try js.lastMessage(stream: settings.stream.name, subject: subject, timeout: settings.ackTimeout),
              let id = last.msgID, let stored = last.timestampNanoseconds else { return 0 }
        // A stream that other tools write to as well may hold a record there without this node's id for the call:
        // only the call's own id says where it stopped.
        let own = "\(node):\(call):"
        guard id.hasPrefix(own), let seq = UInt64(id.dropFirst(own.count)) else { return 0 }
        // Continuing is always safe; counting from 1 only once the server has forgotten the ids. Its timer purges
        // them a little after the window, and its clock is not ours: a second more covers both.
        let age = Date().timeIntervalSince1970 - Double(stored) / 1e9
        guard age < state.withLockedValue({ $0.duplicateWindow }) + 1 else { return 0 }
        logger.info("call id stored by an earlier run within the duplicate window; its seqs continue",
                    metadata: ["call": "\(call)", "after": "\(seq)", "age_s": "\(Int(age.rounded()))"])
        return seq
    }

    /// Puts a `gap` record behind the records of each call that lost some, now that records flow again.
    private func reportDrops() {
        let reports: [(call: String, count: Int, refused: Int)] = state.withLockedValue { s in
            for call in s.order where (s.calls[call]?.dropped ?? 0) > 0 { Self.queueGap(call: call, &s) }
            defer { s.gapsToLog.removeAll() }
            return s.gapsToLog
        }
        for r in reports {
            logger.warning(r.refused == r.count ? "records dropped for NATS, refused by the stream; gap record queued"
                           : "records dropped for NATS while its buffer was full\(r.refused > 0 ? " or refused by the stream" : ""); gap record queued",
                           metadata: ["call": "\(r.call)", "records": "\(r.count)", "refused": "\(r.refused)"])
        }
    }

    /// Appends a `gap` record with the call's count of dropped records and resets the count.
    private static func queueGap(call: String, _ s: inout State) {
        let b = s.calls[call]!
        var line = JSONLine()
        line.begin()
        GapRecord.records(count: b.dropped, call: call).write(to: &line)
        line.end()
        s.calls[call]!.items.append(Item(seq: b.nextSeq, type: "gap", bytes: line.bytes))
        s.calls[call]!.nextSeq += 1
        s.calls[call]!.dropped = 0
        s.calls[call]!.refused = 0
        s.stats.buffered += 1
        s.stats.gaps += 1
        s.gapsToLog.append((call, b.dropped, b.refused))
    }

    /// Forgets calls whose `call_end` has been published, keeping their next sequence for the duplicate window.
    private func finishEndedCalls() {
        let now = Date().timeIntervalSince1970
        state.withLockedValue { s in
            let window = s.duplicateWindow
            let done = s.order.filter { c in s.calls[c].map { $0.ended && $0.items.isEmpty && $0.dropped == 0 } ?? true }
            guard !done.isEmpty || !s.endedSeqs.isEmpty else { return }
            for c in done {
                if let b = s.calls.removeValue(forKey: c) { s.endedSeqs[c] = (b.nextSeq + (b.seqOffset ?? 0), now) }
            }
            if !done.isEmpty {
                let gone = Set(done)
                s.order.removeAll { gone.contains($0) }
                s.cursor = 0
            }
            s.endedSeqs = s.endedSeqs.filter { now - $0.value.at < window }
        }
    }

    private func heartbeat(_ connection: NatsConnection, status: @Sendable () -> [(String, JSONValue)]) {
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

    // MARK: - Control over NATS

    /// Commands the queue group (one node answers) and `.all` (every node answers) take. `start` belongs to the
    /// queue group; `stop` and `asr` name a call only one node has, so they go to all and the others say so.
    static func allowed(_ command: ControlCommand, all: Bool) -> Bool {
        switch command {
        case .start: return !all
        case .list, .stats: return true
        case .stop, .asr: return all
        }
    }

    private func serveControl(_ sub: NatsSubscription, all: Bool, handler: any ControlHandler) {
        // Not a local peer: the control socket's SO_PEERCRED has no meaning here, the NATS account is the check.
        let peer = PeerCredentials(pid: 0, uid: UInt32.max, gid: UInt32.max)
        let node = settings.node
        // Once the subscription is out of the link, the start queue's is drained (see `followRoom`): what reached
        // it is still answered, then the thread ends.
        var draining = false
        while !stop.load(ordering: .acquiring) {
            if !draining {
                let still = link.withLockedValue { l in l.map { $0.queue === sub || $0.subscriptions.contains { $0 === sub } } ?? false }
                if !still {
                    guard !all else { return }
                    draining = true
                }
            }
            let message: NatsMessage?
            do { message = try sub.next(timeout: draining ? 0.5 : 0.2) } catch {
                if draining { return }
                usleep(100_000)
                continue
            }
            guard let message else {
                if draining { return }
                continue
            }
            guard message.reply != nil else { continue }
            var line = message.data[...]
            while let last = line.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { line = line.dropLast() }
            let command: ControlCommand
            do { command = try ControlCommand.parse(line: line) } catch {
                try? sub.respond(to: message, Self.reply(.failure(error.message), node: node))
                continue
            }
            guard Self.allowed(command, all: all) else {
                let subject = all ? "\(settings.stream.prefix).control" : "\(settings.stream.prefix).control.all"
                try? sub.respond(to: message, Self.reply(.failure("\(command.name) goes to \(subject) over NATS"), node: node))
                continue
            }
            // A stop or asr for a call another node has: only the owner answers, so a requester taking the first
            // reply (`nats req`) gets its answer, not "no call" from a node that was quicker (a stop's owner replies
            // only once the call has ended). No reply at all means no node has the call.
            if all, let call = command.call, !handler.owns(call: call) { continue }
            // High priority for the reason ControlConnectionHandler gives: a command must not queue behind
            // whatever holds the cooperative pool.
            Task(priority: .high) {
                let reply = await handler.handle(command, from: peer)
                try? sub.respond(to: message, Self.reply(reply, node: node))
            }
        }
    }

    /// The control socket's reply line with `"node"` after `"ok"`.
    static func reply(_ reply: ControlReply, node: String) -> [UInt8] {
        let object: JSONValue
        switch reply {
        case .ok(.object(let members)):
            object = .object([("ok", true), ("node", .string(node))] + members.filter { $0.0 != "ok" && $0.0 != "node" })
        case .ok(let other):
            object = .object([("ok", true), ("node", .string(node)), ("result", other)])
        case .failure(let message):
            object = .object([("ok", false), ("node", .string(node)), ("error", .string(message))])
        }
        var out: [UInt8] = []
        object.write(to: &out)
        out.append(UInt8(ascii: "\n"))
        return out
    }
}
