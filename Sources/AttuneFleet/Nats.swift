import CNats
#if canImport(Glibc)
import Glibc
#endif

/// A libnats call that failed: the call's name, its `natsStatus` text and libnats' own explanation (the last
/// error of the calling thread, which names the cause more precisely, e.g. "Authorization Violation").
public struct NatsError: Error, CustomStringConvertible, Sendable {
    /// The C function that failed, e.g. `natsConnection_Connect`.
    public var call: String
    /// `natsStatus` as a number, for callers that branch on it (`NATS_TIMEOUT`, `NATS_NOT_FOUND`, …).
    public var status: Int32
    /// `natsStatus_GetText` of the status.
    public var text: String
    /// `nats_GetLastError`, or the JetStream error code's meaning; empty when libnats said nothing more.
    public var cause: String
    /// JetStream's own error code (e.g. 10059, stream not found), 0 when none.
    public var jsCode: Int32

    init(_ call: String, _ s: natsStatus, jsCode: jsErrCode = jsErrCode(rawValue: 0)) {
        self.call = call
        self.status = Int32(s.rawValue)
        self.text = String(cString: natsStatus_GetText(s))
        var last = NATS_OK
        var detail = nats_GetLastError(&last).map { String(cString: $0) } ?? ""
        // libnats prefixes its source position, "(conn.c:1905): Authorization Violation"; the reason is what matters.
        if detail.hasPrefix("("), let end = detail.range(of: "): ") { detail = String(detail[end.upperBound...]) }
        self.cause = detail == text ? "" : detail
        self.jsCode = Int32(jsCode.rawValue)
    }

    /// The server is not there to serve the request (69, EX_UNAVAILABLE, rather than a configuration's fault): no
    /// connection, no answer in time, or no responder, as when the server runs without JetStream (`-js`).
    public var unavailable: Bool {
        call.hasPrefix("natsConnection_Connect") || noResponders || status == Int32(NATS_TIMEOUT.rawValue)
    }

    /// No one answered a request: for the JetStream API, a server without JetStream.
    public var noResponders: Bool { status == Int32(NATS_NO_RESPONDERS.rawValue) }

    public init(call: String, message: String) {
        self.call = call; self.status = -1; self.text = message; self.cause = ""; self.jsCode = 0
    }

    public var description: String {
        var d = "\(call): \(text)"
        if !cause.isEmpty { d += " (\(cause))" }
        if jsCode != 0 { d += " [JetStream error \(jsCode)]" }
        return d
    }

    public var isTimeout: Bool { status == Int32(NATS_TIMEOUT.rawValue) }
}

@inline(__always)
func check(_ call: @autoclosure () -> String, _ s: natsStatus) throws(NatsError) {
    if s != NATS_OK { throw NatsError(call(), s) }
}

/// Where and how to connect: server URLs (several for a cluster), and at most one of token or credentials file,
/// plus TLS files. `nats://TOKEN@host:4222` also carries a token.
public struct NatsConnectionSettings: Sendable, Equatable {
    public var urls: [String]
    public var token: String?
    /// A `.creds` file (user JWT and NKey seed), as `nsc` writes it.
    public var credentialsFile: String?
    /// PEM files for TLS: the CA that signed the server's certificate, and this client's certificate and key
    /// (both or neither). Any of them turns TLS on.
    public var tlsCA: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Client name the server shows in its connection list (`nats server report connections`).
    public var name: String?
    /// Longest wait between reconnect attempts; the delay doubles from 100 ms up to it.
    public var maximumReconnectWait = 5.0
    /// How long one connect attempt may take.
    public var connectTimeout = 2.0

    public init(urls: [String]) { self.urls = urls }

    /// The URLs as logs and error messages may show them: see ``redacted(_:)``.
    public var redactedURLs: String { urls.map(Self.redacted).joined(separator: ",") }

    /// Why libnats could never connect to `url`, or nil when it may: a scheme other than `nats://` or `tls://`, no
    /// host, or a port outside 1…65535. Checked with the configuration (`--check-config`), since at run time a bad
    /// URL only shows as a connect that fails for ever. Whether the host answers is only known by connecting.
    public static func urlProblem(_ url: String) -> String? {
        var rest = Substring(url)
        if let scheme = url.range(of: "://") {
            guard ["nats", "tls"].contains(url[..<scheme.lowerBound].lowercased()) else {
                return "has scheme '\(url[..<scheme.lowerBound])'; NATS URLs are nats://HOST:PORT or tls://HOST:PORT"
            }
            rest = url[scheme.upperBound...]
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostPort = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
        // An IPv6 literal keeps its colons inside brackets.
        let portColon = hostPort.lastIndex(of: ":").flatMap { c in hostPort[c...].contains("]") ? nil : c }
        let host = portColon.map { hostPort[..<$0] } ?? hostPort
        guard !host.isEmpty else { return "has no host" }
        if let portColon {
            let port = hostPort[hostPort.index(after: portColon)...]
            guard let n = Int(port), (1...65535).contains(n) else { return "has port '\(port)', not 1-65535" }
        }
        return nil
    }

    /// `url` with its user information (`user:password@` or a `TOKEN@`) replaced by `***@`, so a secret in a
    /// configured URL never reaches a log, a terminal or an error line.
    public static func redacted(_ url: String) -> String {
        let authority = url.range(of: "://").map { $0.upperBound } ?? url.startIndex
        let rest = url[authority...]
        let hostEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<hostEnd].lastIndex(of: "@") else { return url }
        return String(url[..<authority]) + "***" + String(url[at...])
    }
}

/// A `natsOptions` handle built from settings; freed in deinit. libnats copies it into each connection.
final class NatsOptions {
    let handle: OpaquePointer

    init(_ settings: NatsConnectionSettings) throws(NatsError) {
        var opts: OpaquePointer?
        try check("natsOptions_Create", natsOptions_Create(&opts))
        handle = opts!
        var cStrings = settings.urls.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let servers = cStrings.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { p in
                natsOptions_SetServers(handle, p, Int32(buffer.count))
            }
        }
        try check("natsOptions_SetServers(\(settings.redactedURLs))", servers)
        if let token = settings.token { try check("natsOptions_SetToken", natsOptions_SetToken(handle, token)) }
        if let creds = settings.credentialsFile {
            try check("natsOptions_SetUserCredentialsFromFiles(\(creds))",
                      natsOptions_SetUserCredentialsFromFiles(handle, creds, nil))
        }
        if settings.tlsCA != nil || settings.tlsCertificate != nil {
            try check("natsOptions_SetSecure", natsOptions_SetSecure(handle, true))
        }
        if let ca = settings.tlsCA {
            try check("natsOptions_LoadCATrustedCertificates(\(ca))", natsOptions_LoadCATrustedCertificates(handle, ca))
        }
        if let cert = settings.tlsCertificate, let key = settings.tlsKey {
            try check("natsOptions_LoadCertificatesChain(\(cert), \(key))", natsOptions_LoadCertificatesChain(handle, cert, key))
        }
        if let name = settings.name { try check("natsOptions_SetName", natsOptions_SetName(handle, name)) }
        try check("natsOptions_SetTimeout", natsOptions_SetTimeout(handle, Int64(settings.connectTimeout * 1000)))
        // Reconnect for ever: a NATS outage must not end publishing, only pause it (records wait in our buffers).
        try check("natsOptions_SetMaxReconnect", natsOptions_SetMaxReconnect(handle, -1))
        let cap = Int64(settings.maximumReconnectWait * 1000)
        try check("natsOptions_SetCustomReconnectDelay",
                  natsOptions_SetCustomReconnectDelay(handle, reconnectDelay, UnsafeMutableRawPointer(bitPattern: Int(cap))))
        // Records wait in the publisher's per-call buffers, which count what they drop; libnats' own reconnect
        // buffer would hide messages from that count, so it gets only enough for heartbeats and replies.
        try check("natsOptions_SetReconnectBufSize", natsOptions_SetReconnectBufSize(handle, 256 * 1024))
        // A dead server is noticed within ~2 s instead of libnats' default 4 minutes.
        try check("natsOptions_SetPingInterval", natsOptions_SetPingInterval(handle, 1000))
        try check("natsOptions_SetMaxPingsOut", natsOptions_SetMaxPingsOut(handle, 2))
    }

    deinit { natsOptions_Destroy(handle) }
}

/// Exponential backoff between reconnect attempts: 100 ms doubling up to the cap carried in `closure`.
private let reconnectDelay: natsCustomReconnectDelayHandler = { _, attempts, closure in
    let cap = Int64(Int(bitPattern: closure))
    let shift = Int64(min(max(attempts - 1, 0), 16))
    return min(cap, 100 << shift)
}

/// One `natsConnection`; closed and freed in deinit. libnats is thread-safe, so the connection is shared by the
/// publisher thread, the control responders and the heartbeat.
public final class NatsConnection: @unchecked Sendable {
    let handle: OpaquePointer

    /// Connects once (no retry at this level: the caller decides whether and how often to try again).
    public init(_ settings: NatsConnectionSettings) throws(NatsError) {
        let options = try NatsOptions(settings)
        var nc: OpaquePointer?
        try check("natsConnection_Connect(\(settings.redactedURLs))", natsConnection_Connect(&nc, options.handle))
        handle = nc!
    }

    deinit {
        natsConnection_Close(handle)
        natsConnection_Destroy(handle)
    }

    /// Whether the connection is up now (not reconnecting, not closed).
    public var isConnected: Bool { natsConnection_Status(handle) == NATS_CONN_STATUS_CONNECTED }

    /// The server this connection is attached to now, e.g. `nats://127.0.0.1:4222`.
    public var connectedURL: String {
        var buffer = [CChar](repeating: 0, count: 512)
        guard natsConnection_GetConnectedUrl(handle, &buffer, buffer.count) == NATS_OK else { return "" }
        // libnats hands back the URL as configured, credentials and all; this is for logs.
        return NatsConnectionSettings.redacted(
            String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// Core NATS publish (no JetStream ack): heartbeats and control replies.
    public func publish(_ subject: String, _ data: [UInt8]) throws(NatsError) {
        let s = data.withUnsafeBytes { natsConnection_Publish(handle, subject, $0.baseAddress, Int32($0.count)) }
        try check("natsConnection_Publish(\(subject))", s)
    }

    /// Sends a request and waits for the first reply.
    public func request(_ subject: String, _ data: [UInt8], timeout: Double) throws(NatsError) -> NatsMessage {
        var reply: OpaquePointer?
        let s = data.withUnsafeBytes {
            natsConnection_Request(&reply, handle, subject, $0.baseAddress, Int32($0.count), Int64(timeout * 1000))
        }
        try check("natsConnection_Request(\(subject))", s)
        defer { natsMsg_Destroy(reply) }
        return NatsMessage(reply!)
    }

    /// Sends a request that many may answer (`PREFIX.control.all`) and gathers the replies that come within
    /// `timeout` seconds.
    public func gather(_ subject: String, _ data: [UInt8], timeout: Double) throws(NatsError) -> [NatsMessage] {
        var inbox: UnsafeMutablePointer<CChar>?
        try check("natsInbox_Create", natsInbox_Create(&inbox))
        let name = String(cString: inbox!)
        natsInbox_Destroy(inbox)
        let replies = try subscribe(name)
        let s = data.withUnsafeBytes { natsConnection_PublishRequest(handle, subject, name, $0.baseAddress, Int32($0.count)) }
        try check("natsConnection_PublishRequest(\(subject))", s)
        var out: [NatsMessage] = []
        let deadline = timeout + Double(clock_gettime_seconds())
        while true {
            let left = deadline - Double(clock_gettime_seconds())
            guard left > 0, let m = try replies.next(timeout: left) else { return out }
            out.append(m)
        }
    }

    /// Subscribes synchronously (messages wait in libnats until `next`); `queue` makes it a queue subscription.
    public func subscribe(_ subject: String, queue: String? = nil) throws(NatsError) -> NatsSubscription {
        var sub: OpaquePointer?
        if let queue {
            try check("natsConnection_QueueSubscribeSync(\(subject), \(queue))",
                      natsConnection_QueueSubscribeSync(&sub, handle, subject, queue))
        } else {
            try check("natsConnection_SubscribeSync(\(subject))", natsConnection_SubscribeSync(&sub, handle, subject))
        }
        return NatsSubscription(sub!, connection: self)
    }

    /// Waits until the server has seen everything published so far.
    public func flush(timeout: Double) throws(NatsError) {
        try check("natsConnection_FlushTimeout", natsConnection_FlushTimeout(handle, Int64(timeout * 1000)))
    }
}

func clock_gettime_seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A message taken out of libnats (copied, so the `natsMsg` is freed at once).
public struct NatsMessage: Sendable {
    public var subject: String
    public var reply: String?
    public var data: [UInt8]
    /// `Nats-Msg-Id`, when the message has one.
    public var msgID: String?
    /// JetStream's metadata, for messages delivered by a JetStream consumer or fetched from the stream.
    public var streamSequence: UInt64?
    public var timestampNanoseconds: Int64?
    /// Messages the consumer still has to deliver after this one (JetStream only).
    public var pending: UInt64?

    init(_ msg: OpaquePointer) {
        subject = String(cString: natsMsg_GetSubject(msg))
        reply = natsMsg_GetReply(msg).map { String(cString: $0) }
        let n = Int(natsMsg_GetDataLength(msg))
        if n > 0, let p = natsMsg_GetData(msg) {
            data = p.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) }
        } else {
            data = []
        }
        var id: UnsafePointer<CChar>?
        if natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK, let id { msgID = String(cString: id) }
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        if natsMsg_GetMetaData(&meta, msg) == NATS_OK, let meta {
            streamSequence = meta.pointee.Sequence.Stream
            timestampNanoseconds = meta.pointee.Timestamp
            pending = meta.pointee.NumPending
            jsMsgMetaData_Destroy(meta)
        } else if natsMsg_GetSequence(msg) > 0 {
            // A message fetched by `JetStream.lastMessage` is the server's answer to a request, not a consumer's
            // delivery: no metadata in its reply subject, but libnats keeps the sequence and time the answer gave.
            streamSequence = natsMsg_GetSequence(msg)
            timestampNanoseconds = natsMsg_GetTime(msg)
        }
    }
}

/// One `natsSubscription`; unsubscribed and freed in deinit. It keeps its connection alive.
public final class NatsSubscription: @unchecked Sendable {
    let handle: OpaquePointer
    let connection: NatsConnection
    /// The JetStream context a consumer subscription came from (kept alive with it).
    let jetStream: JetStream?
    /// A durable consumer outlives this process: unsubscribing would make libnats delete it.
    let keepsConsumer: Bool

    init(_ handle: OpaquePointer, connection: NatsConnection, jetStream: JetStream? = nil, keepsConsumer: Bool = false) {
        self.handle = handle; self.connection = connection; self.jetStream = jetStream; self.keepsConsumer = keepsConsumer
    }

    deinit {
        if keepsConsumer {
            // Acks and naks are published without waiting; make sure the server has them before the connection goes.
            natsConnection_FlushTimeout(connection.handle, 2000)
        } else {
            natsSubscription_Unsubscribe(handle)
        }
        natsSubscription_Destroy(handle)
    }

    /// The next message, or nil when none came within `timeout` seconds.
    public func next(timeout: Double) throws(NatsError) -> NatsMessage? {
        var msg: OpaquePointer?
        let s = natsSubscription_NextMsg(&msg, handle, Int64(max(1, timeout * 1000)))
        if s == NATS_TIMEOUT {
            return nil
        }
        try check("natsSubscription_NextMsg", s)
        defer { natsMsg_Destroy(msg) }
        return NatsMessage(msg!)
    }

    /// Stops interest at the server while the messages already on their way are still read by `next` (which then
    /// fails once they are all taken): leaving a queue group without losing a request it was handed.
    public func drain() {
        natsSubscription_Drain(handle)
    }

    /// Answers a request message on its reply subject.
    public func respond(to message: NatsMessage, _ data: [UInt8]) throws(NatsError) {
        guard let reply = message.reply else { return }
        try connection.publish(reply, data)
    }
}
