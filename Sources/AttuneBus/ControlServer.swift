#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The one reply line a control command gets.
public enum ControlReply: Sendable, Equatable {
    /// `{"ok": true, ...}`: the members of `fields` (a JSON object; anything else goes under `"result"`) follow `ok`.
    case ok(JSONValue = .object([]))
    /// `{"ok": false, "error": "..."}`: the message names what was wrong.
    case failure(String)

    /// The reply as one NDJSON line.
    public var line: [UInt8] {
        let object: JSONValue
        switch self {
        case .ok(.object(let members)):
            object = .object([("ok", .bool(true))] + members.filter { $0.0 != "ok" })
        case .ok(let other):
            object = .object([("ok", .bool(true)), ("result", other)])
        case .failure(let message):
            object = .object([("ok", .bool(false)), ("error", .string(message))])
        }
        var out: [UInt8] = []
        object.write(to: &out)
        out.append(UInt8(ascii: "\n"))
        return out
    }
}

/// What the daemon does with control commands. The bus has parsed and checked them; the handler decides what a
/// call is. It is called for one command of a connection at a time, in order; commands of different
/// connections may run concurrently.
public protocol ControlHandler: Sendable {
    func handle(_ command: ControlCommand, from peer: PeerCredentials) async -> ControlReply
    /// Whether the call `id` runs here: a command about a call sent to every node (NATS `attune.control.all`) is
    /// answered only by the node that has it.
    func owns(call id: String) -> Bool
    /// Whether a `start` could be taken now: a node without room leaves the NATS start queue group, so another
    /// node takes the start.
    var hasRoom: Bool { get }
}

extension ControlHandler {
    /// Handlers that serve one daemon's socket only own every call they are asked about.
    public func owns(call id: String) -> Bool { true }
    /// Without a limit of their own, handlers always have room.
    public var hasRoom: Bool { true }
}

/// A `ControlHandler` made of a closure.
public struct ControlHandlerClosure: ControlHandler {
    let body: @Sendable (ControlCommand, PeerCredentials) async -> ControlReply
    public init(_ body: @escaping @Sendable (ControlCommand, PeerCredentials) async -> ControlReply) {
        self.body = body
    }
    public func handle(_ command: ControlCommand, from peer: PeerCredentials) async -> ControlReply {
        await body(command, peer)
    }
}

/// Who may use the control socket, checked with `SO_PEERCRED` on every connection (on top of the file mode).
public struct PeerPolicy: Sendable, Equatable {
    /// User ids let in.
    public var uids: Set<UInt32>
    /// Group ids let in: a peer whose primary or supplementary group (from `/proc/PID/status`) is one of them.
    public var gids: Set<UInt32>

    public init(uids: Set<UInt32>, gids: Set<UInt32> = []) {
        self.uids = uids; self.gids = gids
    }

    /// Root, the daemon's own uid, and members of `group` if given.
    public static func standard(group: UInt32? = nil) -> PeerPolicy {
        PeerPolicy(uids: [0, UInt32(geteuid())], gids: group.map { [$0] } ?? [])
    }

    /// Whether `peer` is let in.
    public func allows(_ peer: PeerCredentials) -> Bool {
        if uids.contains(peer.uid) { return true }
        guard !gids.isEmpty else { return false }
        if gids.contains(peer.gid) { return true }
        return PeerPolicy.supplementaryGroups(pid: peer.pid).contains(where: gids.contains)
    }

    /// The `Groups:` line of `/proc/PID/status`; empty when it cannot be read.
    static func supplementaryGroups(pid: Int32) -> [UInt32] {
        let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) else { return [] }
        return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
    }
}

/// Settings of the control socket (`control.sock`).
public struct ControlServerConfiguration: Sendable {
    public var socketPath: String
    /// design.md: 0600 by default (only the daemon's user); widen to 0660 together with a group in `policy`.
    public var mode: mode_t = 0o600
    /// The socket file's group, or nil to keep the daemon's.
    public var group: gid_t?
    public var policy: PeerPolicy = .standard()
    /// Longest command line; longer ones get an error reply and are skipped.
    public var maximumLineLength = 1 << 20
    /// Commands of one connection in flight at once; past it the server stops reading that connection until
    /// replies go out, so a client pipelining without reading cannot make the daemon buffer without bound.
    public var maximumPipelined = 16

    public init(socketPath: String) {
        self.socketPath = socketPath
    }
}

/// The control socket: one command per line in, exactly one reply line out, in order.
///
/// ```swift
/// let control = ControlServer(configuration: .init(socketPath: runDir + "/control.sock"),
///                             handler: ControlHandlerClosure { command, peer in
///     switch command {
///     case .list: return .ok(["calls": .array([])])
///     case .stop(let call): return .failure("unknown call \"\(call)\"")
///     default: return .ok()
///     }
/// })
/// try await control.start()
/// …
/// await control.shutdown()
/// ```
public final class ControlServer: Sendable {
    public let configuration: ControlServerConfiguration
    let handler: any ControlHandler
    let logger: Logger
    let group: any EventLoopGroup
    private let state: NIOLockedValueBox<State>

    private struct State {
        var server: (Channel, SocketFile)?
        var connections: [ObjectIdentifier: Channel] = [:]
        var stopped = false
    }

    public init(configuration: ControlServerConfiguration, handler: some ControlHandler,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "attune.control")) {
        self.configuration = configuration
        self.handler = handler
        self.group = group
        self.logger = logger
        self.state = NIOLockedValueBox(State())
    }

    /// Binds the socket (replacing a stale file, never a live daemon's) and starts taking commands.
    ///
    /// - Throws: `BusError` (`.socketHeld` when another daemon listens there).
    public func start() async throws {
        let configuration = self.configuration
        let handler = self.handler
        let logger = self.logger
        let state = self.state
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .loggingFailedAccepts(configuration.socketPath, logger: logger)
            // Reads are asked for one batch at a time (see `maximumPipelined`).
            .childChannelOption(ChannelOptions.autoRead, value: false)
            // `echo '{"cmd":"list"}' | socat - UNIX-CONNECT:…` closes its side before the reply comes.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                let id = ObjectIdentifier(channel)
                let registered = state.withLockedValue { s -> Bool in
                    guard !s.stopped else { return false }
                    s.connections[id] = channel
                    return true
                }
                guard registered else { return channel.close() }
                channel.closeFuture.whenComplete { _ in
                    state.withLockedValue { _ = $0.connections.removeValue(forKey: id) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ControlConnectionHandler(configuration: configuration, handler: handler, logger: logger)
                    )
                }
            }
        let bound = try await SocketFile.bind(
            bootstrap, path: configuration.socketPath, mode: configuration.mode, group: configuration.group
        )
        state.withLockedValue { $0.server = bound }
        logger.info("listening for commands", metadata: ["socket": "\(configuration.socketPath)"])
    }

    /// Runs the server as a service: starts it, serves until the calling task is cancelled, then shuts down
    /// gracefully (see `EventBus.run`).
    public func run(shutdownTimeout: TimeAmount = .seconds(2)) async throws {
        try await start()
        await waitForCancellation()
        await shutdown(timeout: shutdownTimeout)
    }

    /// Stops accepting, removes the socket file, gives connections up to `timeout` to get their replies out,
    /// then closes them. Safe to call more than once.
    public func shutdown(timeout: TimeAmount = .seconds(2)) async {
        let (server, connections) = state.withLockedValue { s in
            s.stopped = true
            defer { s.server = nil }
            return (s.server, Array(s.connections.values))
        }
        guard let (channel, file) = server else { return }
        try? await channel.close()
        file.remove()
        for connection in connections {
            connection.pipeline.fireUserInboundEventTriggered(ControlConnectionHandler.Finish())
        }
        let deadline = group.next().scheduleTask(in: timeout) {
            for connection in connections { connection.close(promise: nil) }
        }
        for connection in connections { try? await connection.closeFuture.get() }
        deadline.cancel()
        logger.info("control socket closed", metadata: ["socket": "\(configuration.socketPath)"])
    }
}

/// One control connection: checks the peer, frames lines, runs commands one at a time and writes their replies.
final class ControlConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Sent through the pipeline at shutdown: answer what is in flight, then close.
    struct Finish {}

    private let configuration: ControlServerConfiguration
    private let handler: any ControlHandler
    private let logger: Logger
    private var framer: LineFramer
    private var peer: PeerCredentials?
    /// Commands parsed and not yet answered, oldest first; only the first one runs.
    private var pending = CircularBuffer<Result<ControlCommand, ProtocolError>>()
    private var running = false
    private var readRequested = false
    private var inputClosed = false
    private var finishing = false
    /// The peer was turned away; its input is read and discarded until it closes.
    private var refused = false

    init(configuration: ControlServerConfiguration, handler: any ControlHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.framer = LineFramer(maximumLength: configuration.maximumLineLength)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard let provider = context.channel as? SocketOptionProvider else {
            refuse(context: context, "cannot read the peer's credentials")
            return
        }
        let future: EventLoopFuture<LinuxUcred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
        )
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (this, context) = loopBound.value
            switch result {
            case .success(let cred):
                let peer = PeerCredentials(cred)
                guard this.configuration.policy.allows(peer) else {
                    this.logger.notice("control connection refused", metadata: ["peer": "\(peer)"])
                    this.refuse(context: context, "permission denied: \(peer) may not use this socket "
                        + "(allowed: root, the daemon's user or its configured group)")
                    return
                }
                this.peer = peer
                context.read()
            case .failure(let error):
                this.refuse(context: context, "cannot read the peer's credentials: \(error)")
            }
        }
    }

    private func refuse(context: ChannelHandlerContext, _ message: String) {
        var buffer = context.channel.allocator.buffer(capacity: 128)
        buffer.writeBytes(ControlReply.failure(message).line)
        refused = true
        // Closing with the client's command still unread would make the kernel reset the connection, and the
        // client could get ECONNRESET instead of the line. So: send the line, shut our side, discard what the
        // client sends until it closes, and close after a second at the latest.
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.close(mode: .output, promise: nil)
        context.read()
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    func read(context: ChannelHandlerContext) {
        if refused {
            context.read()
            return
        }
        // Reads wait for the credential check, and stop while the client is `maximumPipelined` commands ahead.
        guard peer != nil, pending.count < configuration.maximumPipelined else {
            readRequested = true
            return
        }
        readRequested = false
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        var events: [LineFramer.Event] = []
        framer.feed(unwrapInboundIn(data)) { events.append($0) }
        for event in events {
            switch event {
            case .line(let bytes):
                do {
                    pending.append(.success(try ControlCommand.parse(line: bytes)))
                } catch {
                    pending.append(.failure(error))
                }
            case .tooLong:
                pending.append(.failure(ProtocolError("line longer than \(configuration.maximumLineLength) bytes")))
            }
        }
        runNext(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        // Through our own gate: `context.read()` would go straight to the socket.
        read(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if refused {
                context.close(promise: nil)
                return
            }
            // An unterminated last line still counts as a command.
            var events: [LineFramer.Event] = []
            framer.feed(ByteBuffer(bytes: [UInt8(ascii: "\n")])) { events.append($0) }
            if case .line(let bytes)? = events.first {
                do { pending.append(.success(try ControlCommand.parse(line: bytes))) }
                catch { pending.append(.failure(error)) }
            }
            inputClosed = true
            runNext(context: context)
            return
        }
        if event is Finish {
            finishing = true
            runNext(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("control connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Answers the oldest pending command; replies go out strictly in the order the commands came in.
    private func runNext(context: ChannelHandlerContext) {
        guard !running, let peer else { return }
        guard let next = pending.popFirst() else {
            if inputClosed || finishing { context.close(promise: nil) }
            return
        }
        running = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        switch next {
        case .failure(let error):
            logger.debug("bad control line", metadata: ["error": "\(error.logMessage)"])
            finish(.failure(error.message), loopBound: loopBound)
        case .success(let command):
            let promise = context.eventLoop.makePromise(of: ControlReply.self)
            let handler = self.handler
            // High priority: a control command is somebody waiting at a prompt (or an ASR feed keeping pace with
            // speech), and a Task started from an event-loop thread otherwise queues behind every job already
            // waiting on the cooperative pool; when long synchronous work holds that pool's threads, replies
            // stall for as long as it does. Each QoS level has threads of its own.
            Task(priority: .high) { promise.succeed(await handler.handle(command, from: peer)) }
            // The callback runs on the connection's loop; it captures only the loop-bound box.
            promise.futureResult.whenSuccess { reply in
                loopBound.value.0.finish(reply, loopBound: loopBound)
            }
        }
    }

    func finish(_ reply: ControlReply, loopBound: NIOLoopBound<(ControlConnectionHandler, ChannelHandlerContext)>) {
        let (this, context) = loopBound.value
        var buffer = context.channel.allocator.buffer(capacity: 64)
        buffer.writeBytes(reply.line)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        this.running = false
        if this.readRequested { this.read(context: context) }
        this.runNext(context: context)
    }
}
