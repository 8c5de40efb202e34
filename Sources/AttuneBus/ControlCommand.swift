import AttuneEvents
import AttuneText

/// A command read from `control.sock`, parsed and checked field by field; the daemon's handler acts on it.
public enum ControlCommand: Sendable, Equatable {
    /// `{"cmd": "start", "call": "c42", "source": "alsa:hw:1,0", "roles": [...], "consent": false, "lang": "vi", "asr": "pocketsphinx"}`
    case start(StartCall)
    /// `{"cmd": "stop", "call": "c42"}`
    case stop(call: String)
    /// `{"cmd": "list"}`
    case list
    /// `{"cmd": "stats"}`
    case stats
    /// `{"asr": {"call": "c42", "channel": 1, "start": 3.2, "end": 4.0, "text": "...", "final": true, "words": [...]}}`:
    /// recognised text for a stretch of one channel, in AttuneText's own type so the daemon stores it as is.
    case asr(call: String, utterance: TranscriptUtterance)

    /// The call a `stop` or `asr` is about; nil for the others (a `start` names a call it creates, not one that runs).
    public var call: String? {
        switch self {
        case .stop(let call), .asr(let call, _): return call
        case .start, .list, .stats: return nil
        }
    }

    /// The command's name as replies and logs spell it.
    public var name: String {
        switch self {
        case .start: return "start"
        case .stop: return "stop"
        case .list: return "list"
        case .stats: return "stats"
        case .asr: return "asr"
        }
    }
}

/// The fields of a `start` command. The bus checks their JSON types and shapes; what a source URI means and
/// whether the call id is already taken is the daemon's to judge.
public struct StartCall: Sendable, Equatable {
    public var call: String
    /// A source URI (`alsa:DEVICE`, `file:PATH`, `stdin:s16le:RATE:CHANNELS`), unparsed.
    public var source: String
    /// One role per channel, or nil to use the daemon's default.
    public var roles: [Role]?
    /// False: publish nothing but `call_start` and `call_end` for this call (design.md, Privacy). Default true.
    public var consent: Bool
    /// Language of explanations and lexicons, e.g. `"en"`, `"vi"`; nil for the daemon's default.
    public var lang: String?
    /// A speech recogniser to run on the call, e.g. `"pocketsphinx"`; nil for none.
    public var asr: String?

    public init(call: String, source: String, roles: [Role]? = nil, consent: Bool = true, lang: String? = nil,
                asr: String? = nil) {
        self.call = call; self.source = source; self.roles = roles; self.consent = consent
        self.lang = lang; self.asr = asr
    }
}

/// Why a client line was refused; `message` is what goes into the `error` of the reply.
public struct ProtocolError: Error, Equatable, CustomStringConvertible {
    /// What the sender is told; it may quote what they sent.
    public var message: String
    /// What a log may say: the message, unless it may quote a caller's words (design.md, Privacy).
    public var logMessage: String
    public init(_ message: String, logMessage: String? = nil) {
        self.message = message
        self.logMessage = logMessage ?? message
    }
    public var description: String { message }
}

extension ControlCommand {
    /// The longest call id, source URI or other short string field a command may carry, in UTF-8 bytes.
    public static let maximumNameLength = 256

    /// Parses one control line (without its newline).
    ///
    /// Unknown fields are refused rather than ignored, so a misspelt `"consnet": false` is an error and not a
    /// silently consenting call.
    public static func parse(line: some Collection<UInt8>) throws(ProtocolError) -> ControlCommand {
        try parse(JSONValue.parseLine(line))
    }

    /// Checks a parsed control line.
    public static func parse(_ value: JSONValue) throws(ProtocolError) -> ControlCommand {
        guard case .object(let members) = value else {
            throw ProtocolError("a command must be a JSON object, not \(value.typeName)")
        }
        // `{"asr": {...}}` is ASR text; a `start` command has an `"asr"` field too, but also a `"cmd"`.
        if value["cmd"] == nil, let asr = value["asr"] {
            guard members.count == 1 else {
                throw ProtocolError("an asr message has no other top-level field than \"asr\"; found "
                    + members.filter { $0.0 != "asr" }.map { "\"\($0.0)\"" }.joined(separator: ", "))
            }
            do {
                let (call, utterance) = try parseASR(asr)
                return .asr(call: call, utterance: utterance)
            } catch {
                // The reply goes to the sender, who has the text anyway; the log keeps no word of it.
                throw ProtocolError(error.message, logMessage: "an asr message was refused (its text is not logged)")
            }
        }
        guard let cmdValue = value["cmd"] else {
            throw ProtocolError("missing field \"cmd\" (or an \"asr\" message)")
        }
        guard case .string(let cmd) = cmdValue else {
            throw ProtocolError("field \"cmd\" must be a string, not \(cmdValue.typeName)")
        }
        let fields = Fields(members, context: cmd)
        switch cmd {
        case "start":
            try fields.allowOnly(["cmd", "call", "source", "roles", "consent", "lang", "asr"], context: "start")
            let call = try fields.name("call")
            let source = try fields.name("source")
            var roles: [Role]?
            if let list = try fields.optionalStrings("roles") {
                guard !list.isEmpty else { throw ProtocolError("field \"roles\" must not be empty") }
                roles = try list.map { (r: String) throws(ProtocolError) -> Role in
                    guard let role = Role(rawValue: r) else {
                        throw ProtocolError("field \"roles\": unknown role \"\(r)\" (customer, agent or unknown)")
                    }
                    return role
                }
            }
            let consent = try fields.optionalBool("consent") ?? true
            let lang = try fields.optionalName("lang")
            let asr = try fields.optionalName("asr")
            return .start(StartCall(call: call, source: source, roles: roles, consent: consent, lang: lang, asr: asr))
        case "stop":
            try fields.allowOnly(["cmd", "call"], context: "stop")
            return .stop(call: try fields.name("call"))
        case "list":
            try fields.allowOnly(["cmd"], context: "list")
            return .list
        case "stats":
            try fields.allowOnly(["cmd"], context: "stats")
            return .stats
        default:
            throw ProtocolError("unknown command \"\(cmd.prefix(64))\" (start, stop, list, stats or an asr message)")
        }
    }

    static func parseASR(_ value: JSONValue) throws(ProtocolError) -> (String, TranscriptUtterance) {
        guard case .object(let members) = value else {
            throw ProtocolError("field \"asr\" must be an object, not \(value.typeName)")
        }
        let fields = Fields(members, context: "asr")
        try fields.allowOnly(["call", "channel", "start", "end", "text", "final", "words"], context: "asr")
        let call = try fields.name("call")
        let channel = try fields.integer("channel", range: 0...255)
        let start = try fields.number("start", minimum: 0)
        let end = try fields.number("end", minimum: 0)
        guard end >= start else { throw ProtocolError("asr: \"end\" (\(end)) is before \"start\" (\(start))") }
        let text = try fields.string("text")
        let final = try fields.optionalBool("final") ?? true
        var words: [TranscriptWord] = []
        if let list = fields["words"] {
            guard case .array(let items) = list else {
                throw ProtocolError("asr: field \"words\" must be an array, not \(list.typeName)")
            }
            for (i, item) in items.enumerated() {
                guard case .object(let wm) = item else {
                    throw ProtocolError("asr: words[\(i)] must be an object, not \(item.typeName)")
                }
                let wf = Fields(wm, context: "asr: words[\(i)]")
                try wf.allowOnly(["w", "start", "end", "conf"], context: "asr: words[\(i)]")
                let w = try wf.string("w")
                let ws = try wf.number("start", minimum: 0)
                let we = try wf.number("end", minimum: 0)
                guard we >= ws else { throw ProtocolError("asr: words[\(i)]: \"end\" is before \"start\"") }
                var conf: Double?
                if let c = wf["conf"], c != .null {
                    conf = try wf.number("conf", minimum: 0)
                    guard conf! <= 1 else { throw ProtocolError("asr: words[\(i)]: field \"conf\" must be 0…1") }
                }
                words.append(TranscriptWord(word: w, start: ws, end: we, confidence: conf))
            }
        }
        let utterance = TranscriptUtterance(channel: channel, start: start, end: end, text: text, final: final, words: words)
        do {
            try Transcript.validate(utterance, path: "asr")
        } catch {
            throw ProtocolError("asr: \(error.reason)")
        }
        return (call, utterance)
    }
}

extension JSONValue {
    /// A client's line as JSON, or the error reply's text: "invalid UTF-8" or "malformed JSON: … at byte N".
    static func parseLine(_ line: some Collection<UInt8>) throws(ProtocolError) -> JSONValue {
        guard let text = String(validating: line, as: UTF8.self) else {
            throw ProtocolError("invalid UTF-8")
        }
        do {
            return try JSONValue.parse(text.utf8)
        } catch {
            throw ProtocolError("malformed JSON: \(error)")
        }
    }
}

/// Field access with error messages that name the field, its context and what was wrong.
struct Fields {
    let members: [(String, JSONValue)]
    let context: String

    init(_ members: [(String, JSONValue)], context: String) {
        self.members = members
        self.context = context
    }

    subscript(key: String) -> JSONValue? { members.first(where: { $0.0 == key })?.1 }

    private func error(_ text: String) -> ProtocolError { ProtocolError("\(context): \(text)") }

    func allowOnly(_ keys: Set<String>, context: String) throws(ProtocolError) {
        if let unknown = members.first(where: { !keys.contains($0.0) }) {
            throw ProtocolError("\(context): unknown field \"\(unknown.0.prefix(64))\"")
        }
    }

    func required(_ key: String) throws(ProtocolError) -> JSONValue {
        guard let v = self[key] else { throw error("missing field \"\(key)\"") }
        return v
    }

    func string(_ key: String) throws(ProtocolError) -> String {
        let v = try required(key)
        guard case .string(let s) = v else { throw error("field \"\(key)\" must be a string, not \(v.typeName)") }
        return s
    }

    /// A non-empty identifier-like string: no control characters, at most `maximumNameLength` bytes.
    func name(_ key: String) throws(ProtocolError) -> String {
        let s = try string(key)
        guard !s.isEmpty else { throw error("field \"\(key)\" must not be empty") }
        guard s.utf8.count <= ControlCommand.maximumNameLength else {
            throw error("field \"\(key)\" is longer than \(ControlCommand.maximumNameLength) bytes")
        }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw error("field \"\(key)\" contains a control character")
        }
        return s
    }

    func optionalName(_ key: String) throws(ProtocolError) -> String? {
        guard let v = self[key], v != .null else { return nil }
        return try name(key)
    }

    func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let v = self[key], v != .null else { return nil }
        guard case .bool(let b) = v else { throw error("field \"\(key)\" must be true or false, not \(v.typeName)") }
        return b
    }

    func number(_ key: String, minimum: Double) throws(ProtocolError) -> Double {
        let v = try required(key)
        guard case .number(let d) = v else { throw error("field \"\(key)\" must be a number, not \(v.typeName)") }
        guard d >= minimum else { throw error("field \"\(key)\" must be at least \(minimum)") }
        return d
    }

    func integer(_ key: String, range: ClosedRange<Int>) throws(ProtocolError) -> Int {
        let v = try required(key)
        guard case .number(let d) = v else { throw error("field \"\(key)\" must be an integer, not \(v.typeName)") }
        guard d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            throw error("field \"\(key)\" must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return Int(d)
    }

    /// An array of strings, or nil when absent or null.
    func optionalStrings(_ key: String, maximumCount: Int = 1024) throws(ProtocolError) -> [String]? {
        guard let v = self[key], v != .null else { return nil }
        guard case .array(let items) = v else {
            throw error("field \"\(key)\" must be an array of strings, not \(v.typeName)")
        }
        guard items.count <= maximumCount else { throw error("field \"\(key)\" has more than \(maximumCount) entries") }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else {
                throw error("\(key)[\(i)] must be a string, not \(item.typeName)")
            }
            guard !s.isEmpty, s.utf8.count <= ControlCommand.maximumNameLength else {
                throw error("\(key)[\(i)] must be 1…\(ControlCommand.maximumNameLength) bytes")
            }
            out.append(s)
        }
        return out
    }
}
