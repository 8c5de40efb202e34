import AttuneEvents
import AttuneBus
import Foundation

// The human view of what the daemon sends: one line per record for `attune tail`, and replies, tables and
// key/value lists for `attune ctl`. Every string that came from the daemon goes through `escapedForTerminal`, so
// a call id or an explanation can neither split a line nor send escape sequences to the terminal.

/// ANSI styling that is a no-op when colours are off.
struct Painter {
    var enabled: Bool

    func paint(_ text: String, _ sgr: String) -> String {
        enabled && !text.isEmpty ? "\u{1b}[\(sgr)m\(text)\u{1b}[0m" : text
    }

    func dim(_ text: String) -> String { paint(text, "2") }
    func bold(_ text: String) -> String { paint(text, "1") }
    func red(_ text: String) -> String { paint(text, "31") }
    func green(_ text: String) -> String { paint(text, "32") }
    func yellow(_ text: String) -> String { paint(text, "33") }
    func cyan(_ text: String) -> String { paint(text, "36") }
}

/// A JSON value as a short piece of text: strings escaped and unquoted, numbers with at most `decimals`
/// decimals (trailing zeros dropped), arrays comma-joined, objects as compact JSON, null as `-`.
func displayText(_ value: JSONValue?, decimals: Int = 3) -> String {
    guard let value else { return "-" }
    switch value {
    case .null: return "-"
    case .bool(let b): return b ? "yes" : "no"
    case .string(let s): return escapedForTerminal(s)
    case .number(let d): return formatNumber(d, decimals: decimals)
    case .array(let items): return items.map { displayText($0, decimals: decimals) }.joined(separator: ",")
    case .object: return escapedForTerminal(value.jsonText)
    }
}

/// `d` with up to `decimals` decimals, trailing zeros (and a bare point) removed: 4.0 → "4", 182.25 → "182.25".
func formatNumber(_ d: Double, decimals: Int) -> String {
    guard d.isFinite else { return "-" }
    if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
    var s = String(format: "%.\(decimals)f", d)
    // Only a fraction's trailing zeros go: with no decimals, 100.29 is "100", not "1".
    if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s == "-0" ? "0" : s
}

/// Seconds from the start of a call as `m:ss.sss` (`h:mm:ss.sss` past an hour), the way a call's timeline reads.
func formatCallTime(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "-" }
    let millis = Int((seconds * 1000).rounded())
    let h = millis / 3_600_000, m = millis / 60_000 % 60, s = millis / 1000 % 60, ms = millis % 1000
    func pad(_ n: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(n).count)) + String(n) }
    return h > 0 ? "\(h):\(pad(m, 2)):\(pad(s, 2)).\(pad(ms, 3))" : "\(m):\(pad(s, 2)).\(pad(ms, 3))"
}

extension JSONValue {
    /// The number at `key`, if it is one.
    func number(_ key: String) -> Double? {
        if case .number(let d)? = self[key] { return d }
        return nil
    }

    /// The string at `key`, if it is one.
    func string(_ key: String) -> String? {
        if case .string(let s)? = self[key] { return s }
        return nil
    }
}

/// One record as one line of the human view:
/// `TIME  CALL  CHANNEL/ROLE  TYPE  key fields`, e.g.
/// `0:12.340  c42  1/customer  segment   12.34–13.80 s  7 syl  4.8 syl/s  f0 182 Hz ±3.1 st  -21.4 dB  "cancel it"`.
/// Events stand out: their kind in bold colour, `needs human` in red. A line that is not a JSON object is shown
/// escaped after a `?`.
func prettyRecord(_ line: ArraySlice<UInt8>, painter p: Painter) -> String {
    let body = line.last == UInt8(ascii: "\n") ? line.dropLast() : line
    guard let text = String(validating: body, as: UTF8.self),
          let record = try? JSONValue.parse(text.utf8), case .object = record
    else {
        return p.red("?") + " " + escapedForTerminal(PathArgument.printable(Array(body)))
    }
    let type = record.string("type") ?? "?"
    let time = (record.number("t") ?? record.number("start")).map(formatCallTime) ?? ""
    var columns = [p.dim(pad(time, 10, right: true))]
    if let call = record["call"], call != .null { columns.append(p.cyan(displayText(call))) }
    if let channel = record.number("channel") {
        let role = record.string("role").map { "/" + escapedForTerminal($0) } ?? ""
        columns.append(formatNumber(channel, decimals: 0) + role)
    }
    var fields: [String] = []
    func add(_ key: String, _ label: (String) -> String, decimals: Int = 3) {
        if let v = record[key], v != .null { fields.append(label(displayText(v, decimals: decimals))) }
    }
    switch type {
    case "event":
        let kind = record.string("kind").map(escapedForTerminal) ?? "?"
        let state = record.string("state").map(escapedForTerminal) ?? ""
        columns.append(p.paint(kind, eventColour(kind)) + " " + state)
        if let s = record.number("start"), let e = record.number("end") {
            fields.append(formatNumber(s, decimals: 2) + "–" + formatNumber(e, decimals: 2) + " s")
        }
        add("confidence", { "conf \($0)" }, decimals: 2)
        add("intensity", { "int \($0)" }, decimals: 2)
        add("arousal", { "ar \($0)" }, decimals: 2)
        add("valence", { "val \($0)" }, decimals: 2)
        if case .object(let evidence)? = record["evidence"], !evidence.isEmpty {
            fields.append(evidence.map { "\(escapedForTerminal($0.0))=\(displayText($0.1, decimals: 2))" }.joined(separator: " "))
        }
        if record["needs_human"] == .bool(true) { fields.append(p.red("needs human")) }
        add("explanation", { "— \($0)" })
        add("suggestion", { p.dim("→ \($0)") })
    case "segment":
        columns.append(p.bold(type))
        if let s = record.number("start"), let e = record.number("end") {
            fields.append(formatNumber(s, decimals: 2) + "–" + formatNumber(e, decimals: 2) + " s")
        }
        add("syllables", { "\($0) syl" })
        add("rate_sps", { "\($0) syl/s" }, decimals: 1)
        add("f0_median_hz", { "f0 \($0) Hz" }, decimals: 0)
        add("f0_range_st", { "±\($0) st" }, decimals: 1)
        add("energy_db", { "\($0) dB" }, decimals: 1)
        if case .array(let words)? = record["words"], !words.isEmpty {
            let text = words.map { w in w.string("w").map(escapedForTerminal) ?? displayText(w) }.joined(separator: " ")
            fields.append("\"\(text)\"")
        }
    case "frame":
        columns.append(p.dim(type))
        add("f0_hz", { "f0 \($0) Hz" }, decimals: 1)
        add("voicing", { "voicing \($0)" }, decimals: 2)
        add("energy_db", { "\($0) dB" }, decimals: 1)
        add("balance_db", { "balance \($0) dB" }, decimals: 1)
        add("hnr_db", { "hnr \($0) dB" }, decimals: 1)
        if record["speech"] == .bool(true) { fields.append("speech") }
    case "call_start":
        columns.append(p.green(type))
        add("source", { $0 })
        add("roles", { "roles \($0)" })
        add("sample_rate", { "\($0) Hz" })
        add("channels", { "\($0) ch" })
    case "call_end":
        let reason = record.string("reason") ?? ""
        let failed = reason == "error" || reason == "device_lost"
        columns.append(failed ? p.red(type) : p.green(type))
        add("reason", { failed ? p.red($0) : $0 })
        add("message", { $0 })
    case "gap":
        columns.append(p.yellow(type))
        if record.string("what") == "records" {
            add("count", { p.yellow("\($0) records lost (this subscriber fell behind)") })
        } else {
            add("what", { "\($0) lost" })
            if let s = record.number("start"), let e = record.number("end") {
                fields.append(formatNumber(s, decimals: 3) + "–" + formatNumber(e, decimals: 3) + " s")
            }
            add("count", { $0 })
        }
    case "hello":
        columns.append(p.dim(type))
        add("version", { "attuned \($0)" })
        add("node", { "node \($0)" })
        add("schema", { "schema \($0)" })
        add("emotions", { "emotions on \($0)" })
    case "error":
        columns.append(p.red(type))
        add("error", { p.red($0) })
    default:
        // A record this CLI does not know yet: its other fields, as they come.
        columns.append(p.bold(escapedForTerminal(type)))
        let shown: Set<String> = ["type", "v", "call", "channel", "role", "t"]
        if case .object(let members) = record {
            for (key, value) in members where !shown.contains(key) {
                fields.append("\(escapedForTerminal(key))=\(displayText(value))")
            }
        }
    }
    return (columns + fields).joined(separator: "  ")
}

/// The colour of an event kind: red for trouble, yellow for doubt, green for contentment, blue for the
/// conversation's own events.
private func eventColour(_ kind: String) -> String {
    switch kind {
    case "frustration", "urgency", "disengagement": return "1;31"
    case "hesitation", "incongruence": return "1;33"
    case "satisfaction": return "1;32"
    default: return "1;34"
    }
}

/// `text` padded with spaces to `width` characters.
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}

/// A control reply in the human view: `ok` (or `ok` and its scalar fields), then any list of objects as a table
/// (`attune ctl list`) and any nested object as indented `key: value` lines (`attune ctl stats`).
func prettyReply(_ reply: JSONValue, painter p: Painter) -> String {
    guard case .object(let members) = reply else { return escapedForTerminal(reply.jsonText) }
    var head = [p.green("ok")]
    var blocks: [String] = []
    for (key, value) in members where key != "ok" {
        switch value {
        case .array(let items) where items.contains(where: { if case .object = $0 { return true }; return false }):
            blocks.append(table(items, painter: p))
        case .array(let items) where items.isEmpty:
            blocks.append(p.dim("no \(escapedForTerminal(key))"))
        case .object:
            blocks.append(keyValueLines(value, prefix: escapedForTerminal(key)).joined(separator: "\n"))
        default:
            head.append("\(escapedForTerminal(key))=\(displayText(value))")
        }
    }
    return ([head.joined(separator: " ")] + blocks).joined(separator: "\n")
}

/// Rows of objects as a table: one column per key, in the order keys first appear, header in bold.
func table(_ rows: [JSONValue], painter p: Painter) -> String {
    var keys: [String] = []
    for case .object(let members) in rows {
        for (key, _) in members where !keys.contains(key) { keys.append(key) }
    }
    let cells = rows.map { row in keys.map { displayText(row[$0]) } }
    let header = keys.map { escapedForTerminal($0).uppercased() }
    let widths = keys.indices.map { i in ([header[i]] + cells.map { $0[i] }).map(\.count).max() ?? 0 }
    func render(_ row: [String]) -> String {
        zip(row, widths).map { pad($0, $1) }.joined(separator: "  ").trimmingTrailingSpaces()
    }
    return ([p.bold(render(header))] + cells.map(render)).joined(separator: "\n")
}

/// `value` as `prefix.key: value` lines, nested objects flattened with dots.
func keyValueLines(_ value: JSONValue, prefix: String) -> [String] {
    guard case .object(let members) = value else { return ["\(prefix): \(displayText(value))"] }
    if members.isEmpty { return ["\(prefix): {}"] }
    return members.flatMap { keyValueLines($0.1, prefix: prefix + "." + escapedForTerminal($0.0)) }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
