import AttuneBus
import AttuneEvents
import AttuneFleet
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// `attune tail --nats`: reading the fleet's stream, ordered or through a durable consumer.
extension Tail {
    /// Records fetched from a durable consumer at a time (its `MaxAckPending` is larger).
    static let durableBatch = 512

    /// Reads the stream until the filters are satisfied (or for ever).
    func runNats(_ url: String, output: PipeOutput) {
        let start: JetStream.Start = onlyNew ? .new : since.flatMap { Tail.time($0) }.map { .time($0) } ?? .all
        // Before the connection exists, so that libnats' threads inherit the blocked signals.
        let signals = durable == nil ? nil : StopSignals()
        let name = NatsConnectionSettings.redacted(url)
        let jetStream: JetStream
        do {
            jetStream = try JetStream(try NatsConnection(NatsConnectionSettings(urls: url.split(separator: ",").map(String.init))))
        } catch {
            fail(69, "attune tail: \(error)")
        }
        // The stream carries no hello or subscribed lines, so the printer's filter stays "unacknowledged" and
        // applies to every record here, which is what the single-subject server-side filter cannot do.
        var printer = RecordPrinter(output: output, style: style.style,
                                    filter: SubscriptionFilter(calls: Set(calls), kinds: Set(kinds), types: Set(types), frames: frames),
                                    count: count, endingCalls: Set(calls), printHello: false, socket: name)
        var seen = SeenRecords()
        if let durable, let signals {
            let consumer: DurableConsumer
            do {
                consumer = try jetStream.durableConsumer(stream: stream, subject: natsSubject, start: start, name: durable)
            } catch {
                fail(69, "attune tail: \(error)")
            }
            if let notice = consumer.notice { standardError.write("attune tail: \(notice)\n"); standardError.flush() }
            do throws(NatsError) {
                try readDurable(consumer, printer: &printer, seen: &seen, output: output, signals: signals)
            } catch {
                output.flush()
                fail(74, "attune tail: \(name): \(error)")
            }
            return
        }
        let subscription: NatsSubscription
        do {
            subscription = try jetStream.subscribe(stream: stream, subject: natsSubject, start: start)
        } catch {
            fail(69, "attune tail: \(error)")
        }
        while true {
            let message: NatsMessage?
            do { message = try subscription.next(timeout: 1) } catch {
                output.flush()
                fail(74, "attune tail: \(name): \(error)")
            }
            guard let message else {
                output.flush()
                continue
            }
            if seen.isNew(message), printer.take(Tail.line(message)) == .done {
                output.flush()
                return
            }
            if message.pending == 0 { output.flush() }
        }
    }

    /// `--durable`: fetches records in batches, prints a batch, and acks each record once what it printed is
    /// written (a record the filters leave out or already printed is acked too). Not AckAll: nats-server 2.9
    /// hands out an AckAll consumer's records several times slower once some were given back. Whatever was fetched and not
    /// written when the run ends (--count or a call's end reached, SIGINT/SIGTERM, stdout closed) is given back
    /// with a nak, so the next run with the same name gets it first and at once.
    private func readDurable(_ consumer: DurableConsumer, printer: inout RecordPrinter, seen: inout SeenRecords,
                             output: PipeOutput, signals: StopSignals) throws(NatsError) {
        var waiting = BacklogWait(consumer.backlog)
        var inHand: [NatsMessage] = []
        /// Acks the first `written` records in hand and gives back the rest.
        func settle(written: Int) throws(NatsError) {
            for message in inHand.prefix(written) { try consumer.ack(message) }
            for message in inHand.dropFirst(written) { try consumer.nak(message) }
            inHand.removeAll()
            try consumer.flush()
        }
        while true {
            if let signal = signals.caught {
                try settle(written: 0)
                signals.die(of: signal)
            }
            inHand += try consumer.fetch(limit: Tail.durableBatch, timeout: 0.5)
            // Records a killed run held come again only once the ack wait has passed; later ones are held back
            // until then, so that each call's records still come out in stream order.
            if !waiting.isOver(after: &inHand) { continue }
            if inHand.isEmpty { continue }
            var ends: [Int] = []
            var done = false
            for message in inHand {
                if signals.caught != nil { break }
                if seen.isNew(message), printer.take(Tail.line(message)) == .done { done = true }
                ends.append(output.buffered)
                if done { break }
            }
            if let written = output.flushUntilClosed() {
                try settle(written: ends.prefix { $0 <= written }.count)
                Glibc.exit(0)
            }
            try settle(written: ends.count)
            if done { return }
        }
    }

    /// A stored record as a line with its newline.
    static func line(_ message: NatsMessage) -> ArraySlice<UInt8> {
        message.data.last == UInt8(ascii: "\n") ? message.data[...] : (message.data + [UInt8(ascii: "\n")])[...]
    }
}

/// Records already printed, so that one the server hands out again is not printed twice.
struct SeenRecords {
    private var lastSeq: [Substring: UInt64] = [:]

    /// False for a record already seen: one that comes again with a sequence already seen for its `node:call`.
    /// The stream's own sequence decides where there is one: a call id reused once the duplicate window has
    /// passed counts its `Nats-Msg-Id` seq from 1 again, and by that alone a long tail would hide the whole new
    /// call.
    mutating func isNew(_ message: NatsMessage) -> Bool {
        guard let id = message.msgID, let colon = id.lastIndex(of: ":"),
              let seq = message.streamSequence ?? UInt64(id[id.index(after: colon)...]) else { return true }
        let key = id[..<colon]
        if let last = lastSeq[key], seq <= last { return false }
        lastSeq[key] = seq
        return true
    }
}

/// A durable consumer's records that a run killed outright (SIGKILL) had fetched and neither acked nor given back:
/// the server hands them out again only once its ack wait has passed, and newer records at once. Until those old
/// ones are back (or the ack wait is over) everything fetched is held, then put in stream order.
struct BacklogWait {
    private var expected: Int
    private let upTo: UInt64
    private let deadline: Double
    private var back = Set<UInt64>()

    init(_ backlog: DurableConsumer.Backlog, now: Date = Date()) {
        expected = backlog.unacked
        upTo = backlog.deliveredUpTo
        // The server's clock against ours: never longer than one ack wait from now, plus time for its timer.
        let expiry = Double(backlog.lastDelivery) / 1e9 + backlog.ackWait - now.timeIntervalSince1970
        deadline = ProcessInfo.processInfo.systemUptime + min(max(expiry, 0), backlog.ackWait) + 2
    }

    /// Whether `inHand` may be printed now, put in stream order when it was held; once true it stays true.
    mutating func isOver(after inHand: inout [NatsMessage]) -> Bool {
        guard expected > 0 else { return true }
        for message in inHand { if let seq = message.streamSequence, seq <= upTo { back.insert(seq) } }
        guard back.count >= expected || ProcessInfo.processInfo.systemUptime >= deadline else { return false }
        expected = 0
        inHand.sort { ($0.streamSequence ?? 0) < ($1.streamSequence ?? 0) }
        return true
    }
}

/// SIGINT and SIGTERM for a run that must settle with the server before it goes: blocked in every thread made
/// after this (so create it first), and taken by a thread of its own that notes the signal; the run checks
/// `caught` and ends with `die(of:)`. A run that does not get there within 3 s (stuck writing to a full pipe)
/// dies of the signal anyway.
final class StopSignals: Sendable {
    private let signal = Atomic<Int32>(0)

    init() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        Thread { [self, set] in
            var set = set
            var caught: Int32 = 0
            guard sigwait(&set, &caught) == 0 else { return }
            self.signal.store(caught, ordering: .releasing)
            sleep(3)
            StopSignals.die(of: caught)
        }.start()
    }

    /// The signal caught, if any.
    var caught: Int32? {
        let s = signal.load(ordering: .acquiring)
        return s == 0 ? nil : s
    }

    /// Ends the process as `signal` would have, so a shell sees 128 + its number.
    func die(of signal: Int32) -> Never { StopSignals.die(of: signal) }

    private static func die(of signal: Int32) -> Never {
        Glibc.signal(signal, SIG_DFL)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(signal)
        exit(128 + signal)
    }
}
