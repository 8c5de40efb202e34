import AttuneEvents

/// A subscriber's filter, from its line `{"subscribe": {"kinds": [...], "calls": [...], "types": [...], "frames": false}}`.
///
/// A record passes when it passes every constraint given:
/// - `calls`, `kinds`, `types`: the record's call id / event kind / type is in the list. A record without that
///   field (a `segment` has no kind) does not pass a `kinds` list. An absent, null or empty list constrains nothing.
/// - `frames`: `frame` records pass only when true (default false), and then only if they also pass the lists
///   (so `"types": ["segment"], "frames": true` still gets no frames).
///
/// Lines addressed to the subscriber itself (`hello`, its `gap` of dropped records, `subscribed`, `error`) are
/// never filtered.
public struct SubscriptionFilter: Sendable, Equatable {
    public var calls: Set<String>?
    public var kinds: Set<String>?
    public var types: Set<String>?
    public var frames: Bool

    /// Everything but frames: what a subscriber that never sends a filter gets.
    public static let `default` = SubscriptionFilter(calls: nil, kinds: nil, types: nil, frames: false)

    public init(calls: Set<String>? = nil, kinds: Set<String>? = nil, types: Set<String>? = nil, frames: Bool = false) {
        self.calls = calls?.isEmpty == true ? nil : calls
        self.kinds = kinds?.isEmpty == true ? nil : kinds
        self.types = types?.isEmpty == true ? nil : types
        self.frames = frames
    }

    /// Whether every record goes to a subscriber with this filter (frames on, nothing narrowed): the fan-out then
    /// sends a whole batch without looking at its lines.
    public var matchesEverything: Bool { frames && calls == nil && kinds == nil && types == nil }

    /// Whether a record with `route` goes to a subscriber with this filter.
    @inlinable
    public func matches(_ route: RecordRoute) -> Bool {
        if route.isFrame && !frames { return false }
        if let types, !types.contains(route.type) { return false }
        if let calls {
            guard let call = route.call, calls.contains(call) else { return false }
        }
        if let kinds {
            guard let kind = route.kind, kinds.contains(kind) else { return false }
        }
        return true
    }

    /// Record types a filter may name; a misspelt type would otherwise silently match nothing.
    public static let knownTypes: Set<String> = [
        "hello", "call_start", "call_end", "gap", "frame", "segment", "summary", "event",
    ]

    /// Event kinds a filter may name: the engine's own list (`EventKind`), so a kind added there is taken here, and a
    /// misspelt one is refused like a misspelt type instead of matching no event ever.
    public static let knownKinds: Set<String> = Set(EventKind.allCases.map(\.rawValue))

    /// Throws naming the first of `names` not in `known`, and the ones that are.
    private static func refuseUnknown(_ names: [String]?, known: Set<String>, what: String) throws(ProtocolError) {
        guard let unknown = names?.first(where: { !known.contains($0) }) else { return }
        throw ProtocolError("subscribe: unknown \(what) \"\(unknown)\" (one of " + known.sorted().joined(separator: ", ") + ")")
    }

    /// Parses a subscriber's line (without its newline).
    public static func parse(line: some Collection<UInt8>) throws(ProtocolError) -> SubscriptionFilter {
        try parse(JSONValue.parseLine(line))
    }

    /// Checks a parsed subscribe line.
    public static func parse(_ value: JSONValue) throws(ProtocolError) -> SubscriptionFilter {
        guard case .object(let top) = value else {
            throw ProtocolError("expected {\"subscribe\": {...}}, not \(value.typeName)")
        }
        guard top.count == 1, let body = value["subscribe"] else {
            throw ProtocolError("expected {\"subscribe\": {...}} and nothing else")
        }
        guard case .object(let members) = body else {
            throw ProtocolError("subscribe: must be an object, not \(body.typeName)")
        }
        let fields = Fields(members, context: "subscribe")
        try fields.allowOnly(["calls", "kinds", "types", "frames"], context: "subscribe")
        let calls = try fields.optionalStrings("calls", maximumCount: 4096)
        let kinds = try fields.optionalStrings("kinds")
        let types = try fields.optionalStrings("types")
        try refuseUnknown(types, known: knownTypes, what: "type")
        try refuseUnknown(kinds, known: knownKinds, what: "kind")
        let frames = try fields.optionalBool("frames") ?? false
        return SubscriptionFilter(calls: calls.map(Set.init), kinds: kinds.map(Set.init), types: types.map(Set.init),
                                  frames: frames)
    }

    /// The filter as the `subscribed` acknowledgement line spells it back: fields in a fixed order, lists sorted.
    func acknowledgement() -> [UInt8] {
        func list(_ s: Set<String>?) -> JSONValue {
            guard let s else { return .null }
            return .array(s.sorted().map(JSONValue.string))
        }
        let ack: JSONValue = [
            "type": "subscribed", "v": 1,
            "calls": list(calls), "kinds": list(kinds), "types": list(types), "frames": .bool(frames),
        ]
        var out: [UInt8] = []
        ack.write(to: &out)
        out.append(UInt8(ascii: "\n"))
        return out
    }
}
