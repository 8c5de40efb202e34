import NIOCore

/// The subscribers and their counters; lives on the bus's event loop only.
final class FanOut {
    let configuration: EventBusConfiguration
    let hello: [UInt8]
    var subscribers: [SubscriberHandler] = []
    /// Subscribers with writes to flush at the end of the current batch.
    private var dirty: [SubscriberHandler] = []
    var accepted = 0
    var droppedForSubscribers = 0
    var droppedAtInbox = 0
    var closing = false

    init(configuration: EventBusConfiguration, hello: [UInt8]) {
        self.configuration = configuration
        self.hello = hello
    }

    func add(_ subscriber: SubscriberHandler) {
        subscriber.index = subscribers.count
        subscribers.append(subscriber)
        accepted += 1
    }

    func remove(_ subscriber: SubscriberHandler) {
        let i = subscriber.index
        guard i >= 0, i < subscribers.count, subscribers[i] === subscriber else { return }
        // Swap-remove keeps removal O(1) with thousands of subscribers coming and going.
        let last = subscribers.removeLast()
        if i < subscribers.count {
            subscribers[i] = last
            last.index = i
        }
        subscriber.index = -1
    }

    func markDirty(_ subscriber: SubscriberHandler) {
        dirty.append(subscriber)
    }

    func deliver(_ batch: (batches: [EventBus.Published], dropped: Int)) {
        for published in batch.batches {
            for s in subscribers { send(published, to: s) }
        }
        if batch.dropped > 0 {
            // The loop fell behind the publishers. The inbox took records until it was full, so the lost ones came
            // after the batch's. Nobody knows which subscribers wanted them, so all hear about the loss (the counts
            // may overstate for narrow filters).
            droppedAtInbox += batch.dropped
            for s in subscribers {
                s.lose(batch.dropped)
                s.reportLossIfIdle()
            }
        }
        flushDirty()
    }

    /// Sends `subscriber` the lines of `published` its filter matches, each run of consecutive matching lines as
    /// one slice of the shared buffer (no copy). Lifecycle records go on their own, so a subscriber that is behind
    /// can keep them while it loses the run around them.
    private func send(_ published: EventBus.Published, to subscriber: SubscriberHandler) {
        // A subscriber that takes everything (a recorder, a load test) and has room gets the batch as it is:
        // walking its lines would copy each route (and retain its strings) to learn nothing.
        if subscriber.filter.matchesEverything, let last = published.lines.last,
           subscriber.takes(bytes: last.end, records: published.lines.count) {
            subscriber.send(published.buffer.getSlice(at: published.buffer.readerIndex, length: last.end)!,
                            records: published.lines.count)
            return
        }
        let base = published.buffer.readerIndex
        var runStart = 0, runLines = 0, start = 0
        func sendRun() {
            guard runLines > 0 else { return }
            subscriber.send(published.buffer.getSlice(at: base + runStart, length: start - runStart)!, records: runLines)
            runLines = 0
        }
        for (end, route) in published.lines {
            if !subscriber.filter.matches(route) {
                sendRun()
            } else if route.isLifecycle {
                sendRun()
                subscriber.send(published.buffer.getSlice(at: base + start, length: end - start)!, lifecycle: true)
            } else {
                if runLines == 0 { runStart = start }
                runLines += 1
            }
            start = end
        }
        sendRun()
    }

    func flushDirty() {
        // Swapped out first, so a subscriber marked dirty while flushing is kept for the next round.
        var flushing: [SubscriberHandler] = []
        swap(&flushing, &dirty)
        for s in flushing { s.flushIfNeeded() }
        flushing.removeAll(keepingCapacity: true)
        if dirty.isEmpty { swap(&flushing, &dirty) }
    }

    func closeAllWhenDrained() -> [EventLoopFuture<Void>] {
        closing = true
        let futures = subscribers.compactMap { $0.closeWhenDrained() }
        flushDirty()
        return futures
    }

    func closeAllNow() {
        for s in subscribers { s.closeNow() }
    }
}
