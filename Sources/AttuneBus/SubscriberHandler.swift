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
    /// records each holds.
    private var queue = CircularBuffer<(buffer: ByteBuffer, records: Int)>(initialCapacity: 16)
    private var queuedBytes = 0
    private var queuedRecords = 0
    /// Records dropped since the subscriber fell behind; once the queue drains, a `gap` says how many.
    private var missed = 0
    private var needsFlush = false
    private var closing = false
    private var closePromise: EventLoopPromise<Void>?
    private let maximumBytes: Int
    private let maximumRecords: Int

    init(fanOut: FanOut, configuration: EventBusConfiguration, logger: Logger) {
        self.fanOut = fanOut
        self.logger = logger
        self.framer = LineFramer(maximumLength: configuration.maximumLineLength)
        self.maximumBytes = configuration.queueBytes
        self.maximumRecords = configuration.queueRecords
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

    /// Queues or writes `records` consecutive records (one line unless a batch's run); drops them (counted) when
    /// the subscriber is behind.
    func send(_ buffer: ByteBuffer, records: Int = 1) {
        guard let context else { return }
        if missed > 0 {
            if queue.isEmpty && context.channel.isWritable {
                writeGap(context: context)
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
        guard queuedBytes + buffer.readableBytes <= maximumBytes, queuedRecords + records <= maximumRecords else {
            lose(records)
            return
        }
        queue.append((buffer, records))
        queuedBytes += buffer.readableBytes
        queuedRecords += records
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
        while context.channel.isWritable, let (buffer, records) = queue.popFirst() {
            queuedBytes -= buffer.readableBytes
            queuedRecords -= records
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
        var line = JSONLine()
        line.begin()
        GapRecord.records(count: missed).write(to: &line)
        line.end()
        missed = 0
        var buffer = context.channel.allocator.buffer(capacity: line.bytes.count)
        buffer.writeBytes(line.bytes)
        context.write(wrapOutboundOut(buffer), promise: nil)
        markNeedsFlush()
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
