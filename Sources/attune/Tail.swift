import ArgumentParser
import AttuneBus
import AttuneEvents
import AttuneFleet
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the records a running attuned publishes on its event socket.",
        discussion: """
            SOCKET defaults to $ATTUNE_RUN_DIR/events.sock, else /run/attune/events.sock as root and \
            $XDG_RUNTIME_DIR/attune/events.sock otherwise. On a pipe (`attune tail | jq`) every record is printed \
            byte for byte as the daemon sent it; on a terminal each record is one line: call time, call, \
            channel/role, type and its key fields, events in colour (NO_COLOR, --color, --json, --pretty).
            Filters go to the daemon, which sends only what passes all of them: --call, --kind and --type each \
            keep records whose call, event kind or type is one of those given (a --kind keeps only events; a kind or \
            type no record has is refused); \
            frame records come only with --frames. The daemon's hello line is shown in the human view, and on a pipe \
            only with --hello; it never counts towards --count.
            tail ends with 0 when the daemon closes the socket, after --count records, or once every call named \
            by --call has ended (its call_end arrived: so not with a --kind or --type that leaves call_end out).
            With --nats URL tail reads the fleet's JetStream stream instead of one daemon's socket: the same records \
            of every node, each call's in order (a record seen twice, by Nats-Msg-Id, is printed once). It starts at \
            the beginning of the stream, or with --new at records stored from now on, or with --since at a time \
            (Unix seconds, ISO 8601 like 2026-12-01T10:00:00Z, or an age like 90s, 15m, 2h). --durable NAME makes a \
            consumer the server remembers: the next run with the same NAME goes on where this one stopped, at once \
            (what it had fetched and not printed when it ended, by --count, a call's end, SIGINT, SIGTERM or a closed \
            stdout, is given back to the server; one killed outright holds the next run up for at most 5 s), with \
            nothing lost or printed twice; --new and --since choose where a new NAME starts. One run per NAME at a \
            time. The same \
            --call, --kind, --type and --frames filters apply. A token goes in the URL (nats://TOKEN@host:4222).
            Exit codes: 0 ok, 64 usage (also a filter the daemon refuses), 69 socket cannot be connected (also a path \
            that is not a socket) or NATS, \
            74 read error or a connection cut in the middle of a record.
            """
    )

    @Argument(help: "The event socket (default: the run directory's events.sock).")
    var socket: String?

    @Option(name: .customLong("call"), help: "Only records of this call (repeatable).")
    var calls: [String] = []

    @Option(name: .customLong("kind"), help: "Only events of this kind, e.g. frustration (repeatable).")
    var kinds: [String] = []

    @Option(name: .customLong("type"), help: "Only records of this type, e.g. segment, event (repeatable).")
    var types: [String] = []

    @Flag(help: "Also frame records (one per channel every 10 ms).")
    var frames = false

    @Option(help: "Exit after this many records.")
    var count: Int?

    @Flag(help: "Also print the daemon's hello line (who is talking, which channels get emotions).")
    var hello = false

    @Option(help: "Read the fleet's NATS JetStream stream at URL instead of a socket.")
    var nats: String?

    @Option(help: "With --nats: start at this time (Unix seconds, ISO 8601, or an age like 15m) instead of the stream's start.")
    var since: String?

    @Flag(name: .customLong("new"), help: "With --nats: only records stored from now on.")
    var onlyNew = false

    @Option(help: "With --nats: a durable consumer of this name (the next run resumes where this one stopped).")
    var durable: String?

    @Option(help: "With --nats: the stream name (default ATTUNE).")
    var stream = "ATTUNE"

    @Option(help: "With --nats: the subject prefix (default attune).")
    var prefix = "attune"

    @OptionGroup var style: StyleOptions

    func validate() throws {
        if nats != nil && socket != nil { throw ValidationError("SOCKET and --nats exclude each other") }
        if nats == nil && (since != nil || onlyNew || durable != nil) {
            throw ValidationError("--since, --new and --durable go with --nats")
        }
        if since != nil && onlyNew { throw ValidationError("--since and --new exclude each other") }
        if let since, Tail.time(since) == nil {
            throw ValidationError("--since '\(since)': expected Unix seconds, ISO 8601 (2026-12-01T10:00:00Z) or an age (90s, 15m, 2h, 1d)")
        }
        if let durable, let problem = FleetSettings.tokenProblem(durable) { throw ValidationError("--durable '\(durable)' \(problem)") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1, not \(count)") }
        for (flag, names) in [("--call", calls), ("--kind", kinds), ("--type", types)] {
            for name in names where name.isEmpty || name.utf8.count > ControlCommand.maximumNameLength {
                throw ValidationError("\(flag) must be 1…\(ControlCommand.maximumNameLength) bytes: '\(name)'")
            }
        }
        // The daemon refuses an unknown type or kind too (the same vocabularies), but a typo is better caught before
        // connecting.
        for (flag, names, known, what) in [("--type", types, SubscriptionFilter.knownTypes, "record type"),
                                           ("--kind", kinds, SubscriptionFilter.knownKinds, "event kind")] {
            if let unknown = names.first(where: { !known.contains($0) }) {
                throw ValidationError("\(flag): unknown \(what) '\(unknown)' (one of " + known.sorted().joined(separator: ", ") + ")")
            }
        }
    }

    /// The filter the flags ask for, or nil when they ask for nothing (the daemon's default: all but frames).
    var filter: SubscriptionFilter? {
        guard !calls.isEmpty || !kinds.isEmpty || !types.isEmpty || frames else { return nil }
        return SubscriptionFilter(calls: Set(calls), kinds: Set(kinds), types: Set(types), frames: frames)
    }

    /// `{"subscribe": {...}}` for `filter`, with only the fields given, lists in the order typed (duplicates
    /// removed).
    static func subscribeLine(calls: [String], kinds: [String], types: [String], frames: Bool) -> [UInt8] {
        var fields: [(String, JSONValue)] = []
        func list(_ key: String, _ names: [String]) {
            var seen = Set<String>()
            let unique = names.filter { seen.insert($0).inserted }
            if !unique.isEmpty { fields.append((key, .array(unique.map(JSONValue.string)))) }
        }
        list("calls", calls)
        list("kinds", kinds)
        list("types", types)
        if frames { fields.append(("frames", true)) }
        var line: [UInt8] = []
        JSONValue.object([("subscribe", .object(fields))]).write(to: &line)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// `--since` as Unix seconds.
    static func time(_ text: String, now: Date = Date()) -> Double? {
        if let t = Double(text) { return t }
        if let last = text.last, let unit = ["s": 1.0, "m": 60, "h": 3600, "d": 86_400][String(last)],
           let n = Double(text.dropLast()), n >= 0 {
            return now.timeIntervalSince1970 - n * unit
        }
        return ISO8601DateFormatter().date(from: text)?.timeIntervalSince1970
    }

    /// The narrowest subject that still holds every record the filters keep (JetStream filters on one subject).
    var natsSubject: String {
        let call = calls.count == 1 && FleetSettings.tokenProblem(calls[0]) == nil ? calls[0] : "*"
        let type = types.count == 1 ? types[0] : (kinds.isEmpty ? "*" : "event")
        return "\(prefix).*.\(call).\(type)"
    }

    func run() throws {
        let output = PipeOutput()
        if let nats {
            runNats(nats, output: output)
            return
        }
        let path = DaemonSocketPath(explicit: socket, file: "events.sock")
        do throws(DaemonSocketError) {
            let connection = try DaemonConnection(path)
            var printer = RecordPrinter(output: output, style: style.style, filter: filter, count: count,
                                        endingCalls: Set(calls), printHello: hello, socket: path.name)
            if filter != nil {
                try connection.send(Tail.subscribeLine(calls: calls, kinds: kinds, types: types, frames: frames))
            }
            var buffer = LineBuffer()
            while try connection.receive(into: &buffer) {
                while let line = buffer.nextLine() {
                    if printer.take(line) == .done {
                        output.flush()
                        return
                    }
                }
                output.flush()
            }
            output.flush()
            if buffer.pending > 0 {
                fail(74, "attune tail: \(path.name): the daemon closed the connection in the middle of a record "
                    + "(\(buffer.pending) bytes without a newline)")
            }
        } catch {
            output.flush()
            fail(error.code, "attune tail: \(error.message)")
        }
    }
}

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

/// What `attune tail` does with each line from the event socket: prints records (raw or pretty), swallows the
/// protocol's own lines, counts, and decides when it is done.
struct RecordPrinter {
    enum Outcome { case more, done }

    let output: PipeOutput
    let style: OutputStyle
    let painter: Painter
    /// The filter sent, until the daemon acknowledges it; nil once acknowledged (or when none was sent).
    ///
    /// The daemon applies a filter from the moment it reads the line, so records published between the hello and
    /// the `subscribed` acknowledgement were chosen by its default filter; they are filtered here instead, so that
    /// `--call c1` never shows a record of c2.
    private var unacknowledged: SubscriptionFilter?
    private var remaining: Int?
    /// Calls named by `--call` that have not sent their `call_end` yet; when the last one does, tail is done.
    private var endingCalls: Set<String>
    private let printHello: Bool
    private let socket: String

    init(output: PipeOutput, style: OutputStyle, filter: SubscriptionFilter?, count: Int?, endingCalls: Set<String>,
         printHello: Bool, socket: String) {
        self.output = output
        self.style = style
        self.painter = Painter(enabled: style.color)
        self.unacknowledged = filter
        self.remaining = count
        self.endingCalls = endingCalls
        self.printHello = printHello
        self.socket = socket
    }

    /// Handles one line (with its newline).
    mutating func take(_ line: ArraySlice<UInt8>) -> Outcome {
        // Only `type` and the routing fields are needed; a line that is not JSON is still printed as it came.
        let record = String(validating: line.dropLast(), as: UTF8.self).flatMap { try? JSONValue.parse($0.utf8) }
        let type = record?.string("type")
        switch type {
        case "hello":
            // In the human view it shows at once that tail is connected, and to whom, while no call runs.
            if printHello || style.pretty { print(line) }
            return .more
        case "subscribed" where unacknowledged != nil:
            unacknowledged = nil
            return .more
        case "error" where unacknowledged != nil:
            let why = record?.string("error") ?? "refused"
            output.flush()
            fail(64, "attune tail: \(socket): the daemon refused the filter: \(why)")
        default:
            break
        }
        // A gap is filtered like any record by its type and call, as the daemon does; only a subscriber's own
        // notice of records dropped for it has no call and gets past the filter. (The stream holds only calls'
        // gaps, so tail --nats filters them all.)
        if let filter = unacknowledged, let record, type != "gap" || record.string("call") != nil {
            let route = RecordRoute(type: type ?? "", call: record.string("call"), kind: record.string("kind"))
            if !filter.matches(route) { return .more }
        }
        print(line)
        if let left = remaining {
            remaining = left - 1
            if left == 1 { return .done }
        }
        if type == "call_end", let call = record?.string("call"), endingCalls.remove(call) != nil, endingCalls.isEmpty {
            return .done
        }
        return .more
    }

    private func print(_ line: ArraySlice<UInt8>) {
        if style.pretty {
            output.write(prettyRecord(line, painter: painter) + "\n")
        } else {
            output.write(line)
        }
    }
}
