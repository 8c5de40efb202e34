import CNats
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One asynchronous publish the server refused, as libnats' error handler saw it.
struct PublishRefusal: Sendable, CustomStringConvertible {
    /// The refused message's `Nats-Msg-Id` (empty if it had none).
    var msgID: String
    /// The `natsStatus` of the ack: `NATS_NO_RESPONDERS` when nothing took the subject, `NATS_ERR` for a JetStream
    /// API error.
    var status: Int32
    /// JetStream's error code (e.g. 10054), 0 when the answer carried none.
    var jsCode: Int32
    /// The server's description, e.g. "message size exceeds maximum allowed".
    var text: String

    /// How the publisher treats a refusal.
    enum Kind: Equatable {
        /// Nothing took the subject, or the stream is not found: the stream may be gone (the caller checks).
        case streamMissing
        /// About this message (too large, headers too large, …): sending it again gets the same answer.
        case message
        /// About the stream or the server at the moment (disk full, no leader, …), or no code to judge by: the
        /// same message may be stored later.
        case transient
    }

    /// JetStream codes that describe the stream or the server, not the message: a full disk or an account over its
    /// limits refuses every message alike, and dropping them all would lose the call rather than one record.
    static let streamWide: Set<Int32> = [
        10002, 10008, 10009, 10023, 10028, 10039, 10047, 10053, 10076, 10077, 10109, 10118, 10120,
    ]

    var kind: Kind {
        if status == Int32(NATS_NO_RESPONDERS.rawValue) || jsCode == Int32(JSStreamNotFoundErr.rawValue) { return .streamMissing }
        if jsCode != 0 && !Self.streamWide.contains(jsCode) { return .message }
        return .transient
    }

    var description: String {
        "js_PublishMsgAsync ack: \(text)" + (jsCode != 0 ? " [JetStream error \(jsCode)]" : "")
    }
}

/// The asynchronous publishes the server refused since the publisher last looked. libnats calls its handler on its
/// own threads, so they wait under a lock until the publisher thread takes them after `js_PublishAsyncComplete`.
final class PublishFailures: Sendable {
    let refusals = Mutex<[PublishRefusal]>([])
}

private let publishFailed: jsPubAckErrHandler = { _, pae, closure in
    guard let closure, let pae else { return }
    let failures = Unmanaged<PublishFailures>.fromOpaque(closure).takeUnretainedValue()
    // The message is libnats' until the handler returns: its id is copied out now.
    var id: UnsafePointer<CChar>?
    var msgID = ""
    if let msg = pae.pointee.Msg, natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK, let id { msgID = String(cString: id) }
    let text = pae.pointee.ErrText.map { String(cString: $0) } ?? String(cString: natsStatus_GetText(pae.pointee.Err))
    let refusal = PublishRefusal(msgID: msgID, status: Int32(pae.pointee.Err.rawValue),
                                 jsCode: Int32(pae.pointee.ErrCode.rawValue), text: text)
    failures.refusals.withLock { $0.append(refusal) }
}

/// The limits and subjects of the records stream (design.md "Fleet").
public struct StreamSettings: Sendable, Equatable {
    public var name = "ATTUNE"
    /// Records go to `PREFIX.<node>.<call>.<type>`: four tokens. The stream takes exactly those, so
    /// `PREFIX.control` requests and `PREFIX.nodes.*` heartbeats (two and three tokens) are never stored (a stream
    /// that captured a request subject would answer it with a publish ack).
    public var prefix = "attune"
    public var maximumAgeSeconds = 86_400.0
    public var maximumBytes: Int64 = 1 << 30
    /// Window in which a repeated `Nats-Msg-Id` is recognised and not stored twice: it must outlast any outage
    /// the publisher's buffers ride out, since a batch unconfirmed before the outage is sent again after it.
    public var duplicateWindowSeconds = 120.0

    public init() {}

    public var subjects: String { "\(prefix).*.*.*" }
}

/// What `ensureStream` did.
public enum StreamSetupOutcome: Sendable, CustomStringConvertible {
    case created(String)
    case existed(String)
    case updated(String)

    public var description: String {
        switch self {
        case .created(let d), .existed(let d), .updated(let d): return d
        }
    }
}

/// One JetStream context (`jsCtx`) over a connection; freed in deinit.
public final class JetStream: @unchecked Sendable {
    let handle: OpaquePointer
    public let connection: NatsConnection
    let failures = PublishFailures()

    /// - Parameter maximumPending: asynchronous publishes in flight before `publishAsync` stalls.
    public init(_ connection: NatsConnection, maximumPending: Int = 4096) throws(NatsError) {
        self.connection = connection
        var opts = jsOptions()
        try check("jsOptions_Init", jsOptions_Init(&opts))
        opts.PublishAsync.MaxPending = Int64(maximumPending)
        opts.PublishAsync.ErrHandler = publishFailed
        // The context never outlives `failures` (both are ours and go together in deinit).
        opts.PublishAsync.ErrHandlerClosure = Unmanaged.passUnretained(failures).toOpaque()
        var js: OpaquePointer?
        try check("natsConnection_JetStream", natsConnection_JetStream(&js, connection.handle, &opts))
        handle = js!
    }

    deinit { jsCtx_Destroy(handle) }

    /// A message for `subject` with a `Nats-Msg-Id` header; the caller publishes or destroys it.
    private static func message(subject: String, msgID: String, data: UnsafeRawBufferPointer) throws(NatsError) -> OpaquePointer? {
        var msg: OpaquePointer?
        try check("natsMsg_Create(\(subject))",
                  natsMsg_Create(&msg, subject, nil, data.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(data.count)))
        let h = natsMsgHeader_Set(msg, "Nats-Msg-Id", msgID)
        guard h == NATS_OK else {
            natsMsg_Destroy(msg)
            throw NatsError("natsMsgHeader_Set(Nats-Msg-Id)", h)
        }
        return msg
    }

    /// Publishes with a `Nats-Msg-Id` header and waits for the stream's ack (for tests and tools; the daemon
    /// publishes asynchronously).
    public func publish(subject: String, msgID: String, data: [UInt8]) throws(NatsError) {
        let msg = try data.withUnsafeBytes { bytes in Result { () throws(NatsError) in try Self.message(subject: subject, msgID: msgID, data: bytes) } }.get()
        defer { natsMsg_Destroy(msg) }
        var ack: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(rawValue: 0)
        let s = js_PublishMsg(&ack, handle, msg, nil, &code)
        jsPubAck_Destroy(ack)
        if s != NATS_OK { throw NatsError("js_PublishMsg(\(subject))", s, jsCode: code) }
    }

    /// Publishes asynchronously with a `Nats-Msg-Id` header; the ack comes later (see `waitForAcks`).
    func publishAsync(subject: String, msgID: String, data: UnsafeRawBufferPointer) throws(NatsError) {
        var msg = try Self.message(subject: subject, msgID: msgID, data: data)
        // On success libnats owns the message (and sets `msg` to NULL); on failure it is still ours.
        let s = js_PublishMsgAsync(handle, &msg, nil)
        if s != NATS_OK {
            natsMsg_Destroy(msg)
            throw NatsError("js_PublishMsgAsync(\(subject))", s)
        }
    }

    /// What became of the asynchronous publishes since the last wait.
    struct Acks {
        /// The publishes the server answered with an error.
        var refusals: [PublishRefusal]
        /// Set when some publishes got no answer within the wait (timeout, connection lost); they were forgotten.
        var unanswered: NatsError?
    }

    /// Waits up to `timeout` seconds for every asynchronous publish to be answered. Publishes still unanswered then
    /// are forgotten (the caller sends them again; `Nats-Msg-Id` keeps the stream free of the copies).
    func waitForAcks(timeout: Double) -> Acks {
        var opts = jsPubOptions()
        jsPubOptions_Init(&opts)
        opts.MaxWait = Int64(timeout * 1000)
        let s = js_PublishAsyncComplete(handle, &opts)
        var unanswered: NatsError?
        if s != NATS_OK {
            unanswered = NatsError("js_PublishAsyncComplete", s)
            // Taking them out of the pending list frees their slots; a late ack for one is simply ignored.
            var pending = natsMsgList()
            if js_PublishAsyncGetPendingList(&pending, handle) == NATS_OK { natsMsgList_Destroy(&pending) }
        }
        // Taken after the pending list is emptied: no refusal of this round comes later.
        let refusals = failures.refusals.withLock { r in
            defer { r.removeAll() }
            return r
        }
        return Acks(refusals: refusals, unanswered: unanswered)
    }

    /// Whether the stream exists now; throws when the server does not say (no answer, no permission).
    func streamExists(_ stream: String) throws(NatsError) -> Bool {
        do throws(NatsError) {
            try streamInfo(stream) { _ in }
            return true
        } catch {
            if Self.isStreamNotFound(status: error.status, jsCode: error.jsCode) { return false }
            throw error
        }
    }

    /// A stream-info request's answer that the stream is not there: JetStream's own code, or libnats' status.
    static func isStreamNotFound(status: Int32, jsCode: Int32) -> Bool {
        jsCode == Int32(JSStreamNotFoundErr.rawValue) || status == Int32(NATS_NOT_FOUND.rawValue)
    }

    /// Creates the stream, or checks that an existing one takes our subjects and deduplicates.
    public func ensureStream(_ settings: StreamSettings) throws(NatsError) -> StreamSetupOutcome {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        let s = js_GetStreamInfo(&info, handle, settings.name, nil, &code)
        if s == NATS_OK, let info {
            defer { jsStreamInfo_Destroy(info) }
            let c = info.pointee.Config!.pointee
            let subjects = (0..<Int(c.SubjectsLen)).map { String(cString: c.Subjects[$0]!) }
            let limits = Self.describe(subjects: subjects, age: c.MaxAge, bytes: c.MaxBytes, dup: c.Duplicates)
                + (c.Storage == js_MemoryStorage ? ", memory storage" : ", file storage")
            func refuse(_ why: String) -> NatsError { NatsError(call: "js_GetStreamInfo(\(settings.name))", message: why) }
            // `attune.>` would take the records, but also the control requests and heartbeats: JetStream would
            // answer every request on attune.control before any node, and store the asr text they carry.
            if let wide = subjects.first(where: { $0 == ">" || $0 == "\(settings.prefix).>" }) {
                throw refuse("stream \(settings.name) takes \(wide), which captures the control subjects \(settings.prefix).control* "
                             + "and heartbeats too (JetStream would answer control requests before any node); give it \(settings.subjects)")
            }
            guard subjects.contains(settings.subjects) else {
                throw refuse("stream \(settings.name) exists but does not take \(settings.subjects) (\(limits))")
            }
            guard c.Duplicates > 0 else {
                throw refuse("stream \(settings.name) has no duplicate window, so a retried publish would be stored twice")
            }
            // Fits, with what the operator should know: each is a choice a stream's owner may make on purpose.
            var notes: [String] = []
            if c.Duplicates < Int64(settings.duplicateWindowSeconds * 1e9) {
                notes.append("its duplicate window is shorter than duplicate_window_s (\(Int(settings.duplicateWindowSeconds)) s): "
                             + "a batch resent after it would be stored twice")
            }
            if c.Storage == js_MemoryStorage { notes.append("memory storage: a server restart loses every record") }
            if c.MaxMsgSize > 0 && c.MaxMsgSize < 1 << 20 {
                notes.append("max message size \(c.MaxMsgSize) bytes: longer records are refused and lost")
            }
            let state = info.pointee.State
            return .existed("stream \(settings.name) exists and fits: \(limits); holds \(state.Msgs) messages, \(state.Bytes) bytes"
                            + notes.map { "; note: \($0)" }.joined())
        }
        guard Self.isStreamNotFound(status: Int32(s.rawValue), jsCode: Int32(code.rawValue)) else {
            throw NatsError("js_GetStreamInfo(\(settings.name))", s, jsCode: code)
        }
        var cfg = jsStreamConfig()
        try check("jsStreamConfig_Init", jsStreamConfig_Init(&cfg))
        let name = strdup(settings.name)
        let subject = strdup(settings.subjects)
        defer { free(name); free(subject) }
        var subjects: [UnsafePointer<CChar>?] = [UnsafePointer(subject)]
        cfg.Name = UnsafePointer(name)
        cfg.Storage = js_FileStorage
        cfg.Retention = js_LimitsPolicy
        cfg.Discard = js_DiscardOld
        cfg.MaxAge = Int64(settings.maximumAgeSeconds * 1e9)
        cfg.MaxBytes = settings.maximumBytes
        cfg.Duplicates = Int64(settings.duplicateWindowSeconds * 1e9)
        var created: UnsafeMutablePointer<jsStreamInfo>?
        let a = subjects.withUnsafeMutableBufferPointer { p in
            cfg.Subjects = p.baseAddress
            cfg.SubjectsLen = 1
            return js_AddStream(&created, handle, &cfg, nil, &code)
        }
        if a != NATS_OK { throw NatsError("js_AddStream(\(settings.name))", a, jsCode: code) }
        jsStreamInfo_Destroy(created)
        return .created("created stream \(settings.name): "
            + Self.describe(subjects: [settings.subjects], age: cfg.MaxAge, bytes: cfg.MaxBytes, dup: cfg.Duplicates) + ", file storage")
    }

    static func describe(subjects: [String], age: Int64, bytes: Int64, dup: Int64) -> String {
        func seconds(_ ns: Int64) -> String { ns <= 0 ? "unlimited" : "\(ns / 1_000_000_000) s" }
        return "subjects \(subjects.joined(separator: ",")), max age \(seconds(age)), max bytes "
            + (bytes <= 0 ? "unlimited" : "\(bytes)") + ", duplicate window \(seconds(dup))"
    }

    /// Where a consumer starts reading.
    public enum Start: Sendable, Equatable {
        /// The whole stream.
        case all
        /// Only records stored from now on.
        case new
        /// Records stored at or after this Unix time (seconds).
        case time(Double)
    }

    /// An ordered, ephemeral push consumer on `subject` (wildcards allowed): the server delivers in stream order
    /// with no acks, and libnats recreates it if a message goes missing. `durableConsumer` is the one that
    /// survives this process.
    public func subscribe(stream: String, subject: String, start: Start) throws(NatsError) -> NatsSubscription {
        var so = jsSubOptions()
        try check("jsSubOptions_Init", jsSubOptions_Init(&so))
        let streamName = strdup(stream)
        defer { free(streamName) }
        so.Stream = UnsafePointer(streamName)
        Self.apply(start, to: &so.Config)
        so.Ordered = true
        var sub: OpaquePointer?
        var code = jsErrCode(rawValue: 0)
        let s = js_SubscribeSync(&sub, handle, subject, nil, &so, &code)
        if s != NATS_OK { throw NatsError("js_SubscribeSync(\(subject))", s, jsCode: code) }
        return NatsSubscription(sub!, connection: connection, jetStream: self)
    }

    /// The durable pull consumer `name` on `subject`, made if missing (starting at `start`); an existing one
    /// goes on where it was and `start` is not used. A push consumer of that name (older attune versions made
    /// those, one record in flight at a time) is remade as a pull consumer from its first unacked record.
    public func durableConsumer(stream: String, subject: String, start: Start, name: String) throws(NatsError) -> DurableConsumer {
        var backlog = DurableConsumer.Backlog()
        var notice: String?
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(rawValue: 0)
        let looked = js_GetConsumerInfo(&info, handle, stream, name, nil, &code)
        if looked == NATS_OK, let info {
            defer { jsConsumerInfo_Destroy(info) }
            let config = info.pointee.Config!.pointee
            if let deliver = config.DeliverSubject, deliver.pointee != 0 {
                let next = info.pointee.AckFloor.Stream + 1
                try check("js_DeleteConsumer(\(name))", js_DeleteConsumer(handle, stream, name, nil, &code))
                try addPullConsumer(stream: stream, subject: subject, name: name, start: .all, sequence: next)
                notice = "consumer \(name) was a push consumer (an older attune); remade as a pull consumer from stream sequence \(next)"
            } else {
                backlog.unacked = Int(info.pointee.NumAckPending)
                backlog.deliveredUpTo = info.pointee.Delivered.Stream
                backlog.lastDelivery = info.pointee.Delivered.Last
                if config.AckWait > 0 { backlog.ackWait = Double(config.AckWait) / 1e9 }
            }
        } else if code == JSConsumerNotFoundErr || looked == NATS_NOT_FOUND {
            try addPullConsumer(stream: stream, subject: subject, name: name, start: start)
        } else {
            throw NatsError("js_GetConsumerInfo(\(stream), \(name))", looked, jsCode: code)
        }
        var so = jsSubOptions()
        try check("jsSubOptions_Init", jsSubOptions_Init(&so))
        let streamName = strdup(stream), consumerName = strdup(name)
        defer { free(streamName); free(consumerName) }
        so.Stream = UnsafePointer(streamName)
        so.Consumer = UnsafePointer(consumerName)
        so.ManualAck = true
        var sub: OpaquePointer?
        let s = js_PullSubscribe(&sub, handle, subject, name, nil, &so, &code)
        if s != NATS_OK { throw NatsError("js_PullSubscribe(\(subject), \(name))", s, jsCode: code) }
        return DurableConsumer(NatsSubscription(sub!, connection: connection, jetStream: self, keepsConsumer: true),
                               backlog: backlog, notice: notice)
    }

    private func addPullConsumer(stream: String, subject: String, name: String, start: Start, sequence: UInt64 = 0) throws(NatsError) {
        var cfg = jsConsumerConfig()
        try check("jsConsumerConfig_Init", jsConsumerConfig_Init(&cfg))
        let durable = strdup(name), filter = strdup(subject)
        defer { free(durable); free(filter) }
        cfg.Durable = UnsafePointer(durable)
        cfg.FilterSubject = UnsafePointer(filter)
        cfg.AckPolicy = js_AckExplicit
        cfg.AckWait = Int64(DurableConsumer.ackWait * 1e9)
        cfg.MaxAckPending = Int64(DurableConsumer.maximumInFlight)
        if sequence > 0 {
            cfg.DeliverPolicy = js_DeliverByStartSequence
            cfg.OptStartSeq = sequence
        } else {
            Self.apply(start, to: &cfg)
        }
        var created: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(rawValue: 0)
        let s = js_AddConsumer(&created, handle, stream, &cfg, nil, &code)
        jsConsumerInfo_Destroy(created)
        if s != NATS_OK { throw NatsError("js_AddConsumer(\(stream), \(name))", s, jsCode: code) }
    }

    private static func apply(_ start: Start, to cfg: inout jsConsumerConfig) {
        switch start {
        case .all: cfg.DeliverPolicy = js_DeliverAll
        case .new: cfg.DeliverPolicy = js_DeliverNew
        case .time(let t):
            cfg.DeliverPolicy = js_DeliverByStartTime
            cfg.OptStartTime = Int64(t * 1e9)
        }
    }

    /// The last message `stream` holds on `subject` (wildcards allowed), or nil when it holds none there. Waits at
    /// most `timeout` seconds for the server's answer.
    func lastMessage(stream: String, subject: String, timeout: Double) throws(NatsError) -> NatsMessage? {
        var opts = jsOptions()
        try check("jsOptions_Init", jsOptions_Init(&opts))
        opts.Wait = Int64(max(1, timeout * 1000))
        var msg: OpaquePointer?
        var code = jsErrCode(rawValue: 0)
        let s = js_GetLastMsg(&msg, handle, stream, subject, &opts, &code)
        if code == JSNoMessageFoundErr { return nil }
        if s != NATS_OK { throw NatsError("js_GetLastMsg(\(stream), \(subject))", s, jsCode: code) }
        defer { natsMsg_Destroy(msg) }
        return NatsMessage(msg!)
    }

    /// The stream's duplicate window in seconds (0 when it has none).
    func duplicateWindow(_ stream: String) throws(NatsError) -> Double {
        try streamInfo(stream) { Double($0.Config!.pointee.Duplicates) / 1e9 }
    }

    /// Messages now in the stream (for tests and the benchmark).
    public func streamMessageCount(_ stream: String) throws(NatsError) -> UInt64 {
        try streamInfo(stream) { $0.State.Msgs }
    }

    private func streamInfo<T>(_ stream: String, _ read: (jsStreamInfo) -> T) throws(NatsError) -> T {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        let s = js_GetStreamInfo(&info, handle, stream, nil, &code)
        if s != NATS_OK { throw NatsError("js_GetStreamInfo(\(stream))", s, jsCode: code) }
        defer { jsStreamInfo_Destroy(info) }
        return read(info!.pointee)
    }
}

/// A durable pull consumer (`attune tail --durable NAME`): the server remembers which records were acknowledged,
/// so the next run with the same name goes on from there. Records come only when asked for (`fetch`), so all that
/// the server has handed out is in the caller's hands, and on exit it gives back (`nak`) what it did not print: the
/// next run gets those first, at once, instead of after the ack wait.
public final class DurableConsumer: @unchecked Sendable {
    /// Records handed out and neither acked nor given back before the server hands them out again: what a run
    /// killed outright (SIGKILL) holds up its successor for, at most.
    public static let ackWait = 5.0
    /// Records handed out and not yet acked, at most: a run asks for fewer at a time.
    public static let maximumInFlight = 1024

    /// What the consumer looked like when this run bound to it: a run before this one that ended without
    /// acking or giving back what it held (killed) leaves `unacked` records, all at or below `deliveredUpTo`
    /// (stream sequence), which the server hands out again once `ackWait` has passed since `lastDelivery`.
    public struct Backlog: Sendable {
        public var unacked = 0
        public var deliveredUpTo: UInt64 = 0
        /// Unix time in nanoseconds of the last delivery, 0 when none.
        public var lastDelivery: Int64 = 0
        public var ackWait = DurableConsumer.ackWait
    }

    public let backlog: Backlog
    /// Said once on bind when the consumer was remade (an older attune made push consumers).
    public let notice: String?
    let subscription: NatsSubscription

    init(_ subscription: NatsSubscription, backlog: Backlog, notice: String?) {
        self.subscription = subscription; self.backlog = backlog; self.notice = notice
    }

    /// Up to `limit` records in stream order (redeliveries first): at once what is there, else the first to come
    /// within `timeout` seconds; empty when none came.
    public func fetch(limit: Int, timeout: Double) throws(NatsError) -> [NatsMessage] {
        var list = natsMsgList()
        var request = jsFetchRequest()
        jsFetchRequest_Init(&request)
        request.Batch = Int32(limit)
        request.NoWait = true
        request.Expires = Int64(max(timeout, 0.5) * 1e9)
        var s = natsSubscription_FetchRequest(&list, subscription.handle, &request)
        if list.Count == 0 && (s == NATS_OK || s == NATS_NOT_FOUND || s == NATS_TIMEOUT) {
            // Nothing there: wait for one record (a larger batch would wait for the whole batch or the timeout).
            natsMsgList_Destroy(&list)
            s = natsSubscription_Fetch(&list, subscription.handle, 1, Int64(max(1, timeout * 1000)), nil)
        }
        defer { natsMsgList_Destroy(&list) }
        if list.Count == 0 && (s == NATS_NOT_FOUND || s == NATS_TIMEOUT) { return [] }
        try check("natsSubscription_Fetch", s)
        return (0..<Int(list.Count)).map { NatsMessage(list.Msgs[$0]!) }
    }

    /// Done with `message`: the server never hands it out again.
    public func ack(_ message: NatsMessage) throws(NatsError) { try reply(message, "+ACK") }

    /// Not printed: the server hands it out again at once, to the next fetch (of this run or the next).
    public func nak(_ message: NatsMessage) throws(NatsError) { try reply(message, "-NAK") }

    private func reply(_ message: NatsMessage, _ verb: String) throws(NatsError) {
        guard let subject = message.reply else { return }
        try subscription.connection.publish(subject, Array(verb.utf8))
    }

    /// Waits until the server has every ack and nak sent so far.
    public func flush(timeout: Double = 2) throws(NatsError) { try subscription.connection.flush(timeout: timeout) }
}
