import ArgumentParser
import AttuneBus
import AttuneEngine
import AttuneEvents
import AttuneFleet
import Foundation
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
        // A call id the daemon could never run would be waited for for ever.
        for call in calls {
            do { try LiveEngine.checkCallID(call) } catch { throw ValidationError("--call: \(error.message)") }
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
