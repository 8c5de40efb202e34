#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AttuneEvents
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Settings of the event socket (`events.sock`).
public struct EventBusConfiguration: Sendable {
    /// Where the socket file goes, e.g. `RunDirectory.defaultPath() + "/events.sock"`.
    public var socketPath: String
    /// The socket file's mode; design.md says 0660 (owner and group may subscribe).
    public var mode: mode_t = 0o660
    /// The socket file's group, or nil to keep the daemon's.
    public var group: gid_t?
    /// The first line every subscriber gets.
    public var hello: HelloRecord
    /// A subscriber's queue of records not yet taken by its socket is bounded by bytes and by records, whichever
    /// comes first; beyond it records are dropped for that subscriber and reported in a `gap`.
    public var queueBytes = 1 << 20
    public var queueRecords = 10_000
    /// Room beyond that queue for the lifecycle records (`call_start`, `summary`, `call_end`) of a subscriber that
    /// fell behind, each after a `gap` for what it lost before it: so a client tracking calls still learns of every
    /// call's start and end. A few records per call, so the reserve holds thousands of calls; past it, those are
    /// dropped and counted like the rest.
    public var reserveBytes = 1 << 20
    public var reserveRecords = 10_000
    /// Bytes the kernel-bound side of each subscriber may hold before its queue starts (NIO's write watermark).
    public var socketBufferBytes = 64 * 1024
    /// Records handed over by `publish` and not yet fanned out (the one hand-off between the engine's threads and
    /// the bus's event loop). Past it, records are dropped for every subscriber and counted in their gaps.
    public var inboxBytes = 64 << 20
    /// Longest line a subscriber may send (its subscribe filter); longer lines get an error line and are skipped.
    public var maximumLineLength = 64 * 1024

    public init(socketPath: String, hello: HelloRecord) {
        self.socketPath = socketPath
        self.hello = hello
    }
}

/// Counters of the event socket, for the control socket's `stats` and metrics.
public struct EventBusStats: Sendable, Equatable {
    /// Subscribers connected now.
    public var subscribers: Int
    /// Subscribers accepted since start.
    public var subscribersAccepted: Int
    /// Records handed to `publish` since start.
    public var published: Int
    /// Records that subscribers did not get, summed over subscribers: what their `gap` records report, so it
    /// includes records lost at the inbox once per subscriber connected then.
    public var droppedForSubscribers: Int
    /// Records dropped before fan-out because the event loop fell behind the publishers.
    public var droppedAtInbox: Int
}

/// The event socket: publishes NDJSON records to any number of Unix-socket subscribers.
///
/// Engine threads call `publish` from anywhere; it appends the encoded lines (one, or a batch) to an inbox under a
/// lock and wakes the bus's event loop at most once per round, so a batch costs one lock, one buffer copy and no
/// JSON work per subscriber. The event loop fans the lines out to the subscribers whose filter matches — slices of
/// the same reference-counted `ByteBuffer` to all of them, never re-encoded, a run of matching lines in one write.
/// Each subscriber has its own bounded queue; one
/// that stops reading loses records (counted) instead of holding anyone up, and gets a `gap` record with the
/// count once it has drained its queue.
///
/// ```swift
/// let bus = EventBus(configuration: .init(socketPath: runDir + "/events.sock",
///                                         hello: HelloRecord(version: "0.4.0", node: "node-1")))
/// try await bus.start()                                    // throws BusError.socketHeld → exit 69
/// var line = JSONLine()
/// record.write(to: &line)
/// bus.publish(line.bytes, route: RecordRoute(type: "segment", call: "c42"))   // any thread
/// await bus.shutdown()                                      // stop accepting, drain (bounded), close
/// ```
public final class EventBus: Sendable {
    public let configuration: EventBusConfiguration
    let logger: Logger
    /// The one event loop all subscribers live on, so fan-out state needs no locks.
    let loop: EventLoop
    private let inbox: NIOLockedValueBox<Inbox>
    let fanOut: NIOLoopBoundBox<FanOut>
    private let lifecycle: NIOLockedValueBox<Lifecycle>
    private let allocator = ByteBufferAllocator()

    /// Lines published together: one buffer, each line's end offset in it and its route.
    struct Published {
        var buffer: ByteBuffer
        var lines: [(end: Int, route: RecordRoute)]
    }

    private struct Inbox {
        var batches: [Published] = []
        var bytes = 0
        var drainScheduled = false
        var dropped = 0
        var published = 0
        var closed = false
    }

    private enum Lifecycle {
        case idle
        case running(Channel, SocketFile)
        case stopped
    }

    /// - Parameters:
    ///   - group: where the bus's event loop comes from; it takes one loop of it.
    ///   - logger: one line per subscriber connecting, misbehaving or leaving (at debug), and per start/stop.
    public init(configuration: EventBusConfiguration,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "attune.bus")) {
        self.configuration = configuration
        self.logger = logger
        let loop = group.next()
        self.loop = loop
        self.inbox = NIOLockedValueBox(Inbox())
        var hello = JSONLine()
        hello.begin()
        configuration.hello.write(to: &hello)
        hello.end()
        let helloBytes = hello.bytes
        self.fanOut = NIOLoopBoundBox.makeBoxSendingValue(FanOut(configuration: configuration, hello: helloBytes),
                                                          eventLoop: loop)
        self.lifecycle = NIOLockedValueBox(.idle)
    }

    /// Binds the socket (replacing a stale file, never a live daemon's) and starts accepting subscribers.
    /// A bus starts once; after `shutdown` make a new one.
    ///
    /// - Throws: `BusError` (`.socketHeld` when another daemon listens there).
    public func start() async throws {
        let idle = lifecycle.withLockedValue { if case .idle = $0 { return true } else { return false } }
        precondition(idle, "EventBus.start called twice, or after shutdown")
        // A subscriber that vanishes mid-write must cost an EPIPE, never the process. NIO ignores SIGPIPE on Linux
        // when it creates its first socket; saying so here keeps that from resting on NIO's internals.
        signal(SIGPIPE, SIG_IGN)
        let fanOut = self.fanOut
        let configuration = self.configuration
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .loggingFailedAccepts(configuration.socketPath, logger: logger)
            // A subscriber that sends its filter and shuts down its sending side (`echo … | socat`) still reads.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(
                ChannelOptions.writeBufferWaterMark,
                value: .init(low: configuration.socketBufferBytes / 2, high: configuration.socketBufferBytes)
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = SubscriberHandler(fanOut: fanOut.value, configuration: configuration, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let (channel, file) = try await SocketFile.bind(
            bootstrap, path: configuration.socketPath, mode: configuration.mode, group: configuration.group
        )
        lifecycle.withLockedValue { $0 = .running(channel, file) }
        logger.info("listening for subscribers", metadata: ["socket": "\(configuration.socketPath)"])
    }

    /// Runs the bus as a service: starts it, serves until the calling task is cancelled, then shuts down
    /// gracefully. This is the shape of swift-service-lifecycle's `Service.run()`, so the daemon can hand the bus
    /// to a service group (which cancels on SIGTERM) with a one-line conformance.
    public func run(shutdownTimeout: TimeAmount = .seconds(2)) async throws {
        try await start()
        await waitForCancellation()
        await shutdown(timeout: shutdownTimeout)
    }

    /// Hands one encoded NDJSON line to every matching subscriber; callable from any thread, never blocks on a
    /// subscriber. A missing final newline is added. After `shutdown` begins, records are ignored.
    public func publish(_ line: [UInt8], route: RecordRoute) {
        var buffer = allocator.buffer(capacity: line.count + 1)
        buffer.writeBytes(line)
        if line.last != UInt8(ascii: "\n") { buffer.writeInteger(UInt8(ascii: "\n")) }
        publish(buffer, route: route)
    }

    /// Publishes a line already in a `ByteBuffer` (shared, not copied). It must end with a newline.
    public func publish(_ buffer: ByteBuffer, route: RecordRoute) {
        enqueue(Published(buffer: buffer, lines: [(buffer.readableBytes, route)]))
    }

    /// Publishes several lines at once: `lines` back to back, each ending in a newline, `ends` giving where each
    /// ends in `lines` (exclusive) and its route. One copy and one lock for the lot, and a subscriber that wants a
    /// run of consecutive lines gets them in one write: the record thread's path at hundreds of calls.
    public func publish(lines: [UInt8], _ ends: [(end: Int, route: RecordRoute)]) {
        guard !ends.isEmpty else { return }
        var buffer = allocator.buffer(capacity: lines.count)
        buffer.writeBytes(lines)
        enqueue(Published(buffer: buffer, lines: ends))
    }

    /// Encodes `record` and publishes it. Convenient for rare records (`call_start`, `call_end`, `gap`); the hot
    /// path should reuse its own `JSONLine` and call `publish(_:route:)`.
    public func publish(_ record: some NDJSONRecord, route: RecordRoute) {
        var line = JSONLine()
        line.begin()
        record.write(to: &line)
        line.end()
        publish(line.bytes, route: route)
    }

    private func enqueue(_ published: Published) {
        let limit = configuration.inboxBytes
        let size = published.buffer.readableBytes
        let wake: Bool = inbox.withLockedValue { inbox in
            guard !inbox.closed else { return false }
            inbox.published += published.lines.count
            guard inbox.bytes + size <= limit else {
                inbox.dropped += published.lines.count
                return false
            }
            inbox.batches.append(published)
            inbox.bytes += size
            if inbox.drainScheduled { return false }
            inbox.drainScheduled = true
            return true
        }
        if wake {
            let fanOut = self.fanOut
            loop.execute { [self] in fanOut.value.deliver(self.takeInbox()) }
        }
    }

    /// Swaps the inbox out under the lock; called on the loop.
    private func takeInbox() -> (batches: [Published], dropped: Int) {
        inbox.withLockedValue { inbox in
            let taken = (inbox.batches, inbox.dropped)
            inbox.batches = []
            inbox.batches.reserveCapacity(taken.0.count)
            inbox.bytes = 0
            inbox.dropped = 0
            inbox.drainScheduled = false
            return taken
        }
    }

    /// The bus's counters now.
    public func stats() async -> EventBusStats {
        let published = inbox.withLockedValue { $0.published }
        let fanOut = self.fanOut
        return (try? await loop.submit {
            let f = fanOut.value
            return EventBusStats(subscribers: f.subscribers.count, subscribersAccepted: f.accepted,
                                 published: published, droppedForSubscribers: f.droppedForSubscribers,
                                 droppedAtInbox: f.droppedAtInbox)
        }.get()) ?? EventBusStats(subscribers: 0, subscribersAccepted: 0, published: published,
                                  droppedForSubscribers: 0, droppedAtInbox: 0)
    }

    /// Stops accepting subscribers, removes the socket file, delivers what was published before the call and
    /// lets every subscriber drain its queue (a `gap` included) for up to `timeout`, then closes them all.
    /// Records published after this begins are ignored. Safe to call more than once.
    public func shutdown(timeout: TimeAmount = .seconds(2)) async {
        let running: (Channel, SocketFile)? = lifecycle.withLockedValue { state in
            defer { state = .stopped }
            if case .running(let channel, let file) = state { return (channel, file) }
            return nil
        }
        inbox.withLockedValue { $0.closed = true }
        guard let (server, file) = running else { return }
        try? await server.close()
        file.remove()
        let fanOut = self.fanOut
        let closeFutures = try? await loop.submit { [self] in
            let f = fanOut.value
            f.deliver(self.takeInbox())
            return f.closeAllWhenDrained()
        }.get()
        guard let closeFutures else { return }
        let deadline = loop.scheduleTask(in: timeout) {
            fanOut.value.closeAllNow()
        }
        _ = try? await EventLoopFuture.andAllComplete(closeFutures, on: loop).get()
        deadline.cancel()
        logger.info("event socket closed", metadata: ["socket": "\(configuration.socketPath)"])
    }
}

/// Returns when the calling task is cancelled.
func waitForCancellation() async {
    while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(3600))
    }
}
