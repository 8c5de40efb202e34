import AttuneEvents
import Logging
import NIOCore

/// One subscriber connection: its filter, its bounded queue and its count of dropped records.
final class SubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let fanOut: FanOut
    private let logger: Logger
    private var context: ChannelHandlerContext?
    var index = -1
    var filter = SubscriptionFilter.default
    private var framer: LineFramer
    /// Runs of records the socket has not taken yet because NIO's buffer is above its watermark, with how many
    /// records each holds and whether they sit in the lifecycle reserve rather than the queue proper.
    private var queue = CircularBuffer<(buffer: ByteBuffer, records: Int, reserved: Bool)>(initialCapacity: 16)
    private var queuedBytes = 0
    private var queuedRecords = 0
    private var reservedBytes = 0
    private var reservedRecords = 0
    /// Records dropped since the subscriber fell behind; once the queue drains, a `gap` says how many.
    private var missed = 0
    private var needsFlush = false
    private var closing = false
    private var closePromise: EventLoopPromise<Void>?
    private let maximumBytes: Int
    private let maximumRecords: Int
    private let reserveBytes: Int
    private let reserveRecords: Int

    init(fanOut: FanOut, configuration: EventBusConfiguration, logger: Logger) {
        self.fanOut = fanOut
        self.logger = logger
        self.framer = LineFramer(maximumLength: configuration.maximumLineLength)
        self.maximumBytes = configuration.queueBytes
        self.maximumRecords = configuration.queueRecords
        self.reserveBytes = configuration.reserveBytes
        self.reserveRecords = configuration.reserveRecords
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        if fanOut.closing {
            context.close(promise: nil)
            return
        }
        fanOut.add(self)
        var hello = context.channel.allocator.buffer(capacity: fanOut.hello.count)
        hello.writeBytes(fanOut.hello)
        send(hello)
        flushIfNeeded()
        logger.debug("subscriber connected", metadata: ["subscribers": "\(fanOut.subscribers.count)"])
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fanOut.remove(self)
        queue.removeAll()
        queuedBytes = 0
        queuedRecords = 0
        reservedBytes = 0
        reservedRecords = 0
        self.context = nil
        closePromise?.succeed()
        closePromise = nil
        logger.debug("subscriber left", metadata: ["subscribers": "\(fanOut.subscribers.count)"])
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        // Collected first: handling an event touches `self` while `feed` is still mutating `framer`.
        var events: [LineFramer.Event] = []
        framer.feed(buffer) { events.append($0) }
        for event in events {
            switch event {
            case .line(let bytes):
                do {
                    filter = try SubscriptionFilter.parse(line: bytes)
                    sendLine(filter.acknowledgement())
                } catch {
                    sendError(error.message + "; filter unchanged")
                }
            case .tooLong:
                sendError("line longer than \(framer.maximumLength) bytes; skipped, filter unchanged")
            }
        }
        flushIfNeeded()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The subscriber closed its sending side; it may still read, so keep the connection.
        if let event = event as? ChannelEvent, event == .inputClosed { return }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset or broken pipe from a subscriber that went away; close and let channelInactive clean up.
        logger.debug("subscriber error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func sendError(_ message: String) {
        let line: JSONValue = ["type": "error", "v": 1, "error": .string(message)]
        var bytes: [UInt8] = []
        line.write(to: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        logger.debug("subscriber sent a bad line", metadata: ["error": "\(message)"])
        sendLine(bytes)
    }

    private func sendLine(_ bytes: [UInt8]) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        send(buffer)
    }

    /// Whether `records` records of `bytes` bytes would be written or queued now, none dropped.
    func takes(bytes: Int, records: Int) -> Bool {
        guard let context, missed == 0 else { return false }
        if queue.isEmpty && context.channel.isWritable { return true }
        return queueHasRoom(bytes: bytes, records: records)
    }

    /// Whether the queue proper (not the lifecycle reserve) has room for `records` records of `bytes` bytes.
    private func queueHasRoom(bytes: Int, records: Int) -> Bool {
        queuedBytes + bytes <= maximumBytes && queuedRecords + records <= maximumRecords
    }

    /// Queues or writes `records` consecutive records (one line unless a batch's run); drops them (counted) when
    /// the subscriber is behind. A `lifecycle` record (one line, see `RecordRoute.isLifecycle`) that would be
    /// dropped goes to the reserve instead.
    func send(_ buffer: ByteBuffer, records: Int = 1, lifecycle: Bool = false) {
        guard let context else { return }
        if missed > 0 {
            if queue.isEmpty && context.channel.isWritable {
                writeGap(context: context)
            } else if lifecycle {
                reserve(buffer, context: context)
                return
            } else {
                // Still behind: keep dropping until the queue has drained, so the gap sits where the loss began.
                lose(records)
                return
            }
        }
        if queue.isEmpty && context.channel.isWritable {
            context.write(wrapOutboundOut(buffer), promise: nil)
            if context.channel.isWritable {
                markNeedsFlush()
            } else {
                // NIO's buffer is at its watermark: hand it to the kernel now rather than at the end of the batch,
                // or a big batch would overflow the queue of a subscriber that reads perfectly well.
                needsFlush = false
                context.flush()
            }
            return
        }
        guard queueHasRoom(bytes: buffer.readableBytes, records: records) else {
            if lifecycle { reserve(buffer, context: context) } else { lose(records) }
            return
        }
        queue.append((buffer, records, false))
        queuedBytes += buffer.readableBytes
        queuedRecords += records
    }

    /// Queues a lifecycle record past the full queue, after a `gap` for the records lost before it, so the stream
    /// still reads in order: what was queued, the gap, this record. Dropped and counted once the reserve is full.
    private func reserve(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        let gap = missed > 0 ? gapLine(allocator: context.channel.allocator) : nil
        let bytes = buffer.readableBytes + (gap?.readableBytes ?? 0)
        let records = gap == nil ? 1 : 2
        guard reservedBytes + bytes <= reserveBytes, reservedRecords + records <= reserveRecords else {
            lose(1)
            return
        }
        if let gap {
            missed = 0
            queue.append((gap, 1, true))
        }
        queue.append((buffer, 1, true))
        reservedBytes += bytes
        reservedRecords += records
    }

    /// Counts `n` records this subscriber will never see.
    func lose(_ n: Int) {
        guard context != nil else { return }
        missed += n
        fanOut.droppedForSubscribers += n
    }

    private func markNeedsFlush() {
        if !needsFlush {
            needsFlush = true
            fanOut.markDirty(self)
        }
    }

    func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    /// Moves queued records into the socket while it takes them; then reports a loss, then finishes a shutdown.
    private func drain() {
        guard let context else { return }
        while context.channel.isWritable, let (buffer, records, reserved) = queue.popFirst() {
            if reserved {
                reservedBytes -= buffer.readableBytes
                reservedRecords -= records
            } else {
                queuedBytes -= buffer.readableBytes
                queuedRecords -= records
            }
            context.write(wrapOutboundOut(buffer), promise: nil)
            needsFlush = true
        }
        if queue.isEmpty && missed > 0 && context.channel.isWritable {
            writeGap(context: context)
        }
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        finishClosingIfDrained()
    }

    /// Writes the `gap` now if nothing is queued before it, rather than waiting for the next record.
    func reportLossIfIdle() {
        guard let context, missed > 0, queue.isEmpty, context.channel.isWritable else { return }
        writeGap(context: context)
    }

    /// Tells the subscriber how many records it lost, and stops dropping.
    private func writeGap(context: ChannelHandlerContext) {
        let buffer = gapLine(allocator: context.channel.allocator)
        missed = 0
        context.write(wrapOutboundOut(buffer), promise: nil)
        markNeedsFlush()
    }

    /// The `gap` record for the records missed so far.
    private func gapLine(allocator: ByteBufferAllocator) -> ByteBuffer {
        var line = JSONLine()
        line.begin()
        GapRecord.records(count: missed).write(to: &line)
        line.end()
        var buffer = allocator.buffer(capacity: line.bytes.count)
        buffer.writeBytes(line.bytes)
        return buffer
    }

    /// Starts a graceful close: the future completes when the subscriber has everything (or has gone).
    func closeWhenDrained() -> EventLoopFuture<Void>? {
        guard let context else { return nil }
        closing = true
        let promise = context.eventLoop.makePromise(of: Void.self)
        closePromise = promise
        drain()
        return promise.futureResult
    }

    private func finishClosingIfDrained() {
        guard closing, let context, queue.isEmpty, missed == 0 else { return }
        closing = false
        // Writes complete in order, so this empty write's promise fires once everything before it is written.
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: done)
        done.futureResult.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
    }

    func closeNow() {
        context?.close(promise: nil)
    }
}
