/// What the engine tells whoever publishes a record (the event bus, the fleet link) about it, so they can route and
/// filter without reading the JSON. One type from the record thread to the sockets: the engine builds it once per
/// line and the bus keeps it.
///
/// Strings are shared, not copied, so building one per record costs a few reference-count operations.
public struct RecordRoute: Sendable, Equatable {
    /// The record's `type` (`"segment"`, `"event"`, `"call_start"`, …).
    public var type: String
    /// The call it belongs to; nil for records about no call.
    public var call: String?
    /// The event `kind` (`"frustration"`, `"dead_air"`, …) of an `event` record; nil for other records.
    public var kind: String?
    /// True for `frame` records, which subscribers get only when they ask (`"frames": true`).
    public var isFrame: Bool { type == "frame" }
    /// True for the records that tell a client which calls exist and how each ended (`call_start`, `summary`,
    /// `call_end`): a few per call, so a subscriber that fell behind keeps them where it loses the rest.
    public var isLifecycle: Bool { type == "call_start" || type == "call_end" || type == "summary" }

    public init(type: String, call: String?, kind: String? = nil) {
        self.type = type; self.call = call; self.kind = kind
    }

    /// The route of a `frame` record of `call`.
    public static func frame(call: String) -> RecordRoute {
        RecordRoute(type: "frame", call: call)
    }

    /// The route of an `event` record of `call` with its `kind`.
    public static func event(call: String, kind: String) -> RecordRoute {
        RecordRoute(type: "event", call: call, kind: kind)
    }
}
