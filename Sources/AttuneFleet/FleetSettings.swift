/// Everything a node needs to join the fleet (design.md "Fleet"): where NATS is, what to call things, how much to
/// buffer.
public struct FleetSettings: Sendable {
    public var connection: NatsConnectionSettings
    public var stream = StreamSettings()
    /// The node's name: the second token of its subjects, so it may not contain `.`, `*`, `>` or white space.
    public var node: String
    /// Publish `frame` records too (100 per second per channel); off by default.
    public var frames = false
    /// Records of one call held while NATS is away or slow; past it new records of the call are dropped, counted,
    /// and reported in a `gap` record once they can be published again. `call_end` and `gap` always get in.
    public var bufferRecords = 10_000
    /// Seconds between heartbeats on `PREFIX.nodes.<node>`.
    public var heartbeatSeconds = 5.0
    /// Seconds to wait for the acks of one batch before it is sent again, and for the stream's answer when a call
    /// new to this run asks where an earlier run left its seqs.
    public var ackTimeout = 2.0
    /// Records published before waiting for their acks.
    public var batchRecords = 512
    /// Create the stream on first connect when it does not exist.
    public var createStream = true
    /// The daemon's version, for heartbeats.
    public var version = ""

    public init(connection: NatsConnectionSettings, node: String) {
        self.connection = connection
        self.node = node
    }

    /// Why `name` cannot be a subject token, or nil when it can.
    public static func tokenProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if let c = name.unicodeScalars.first(where: { ".*>".unicodeScalars.contains($0) || $0.properties.isWhitespace || $0.value < 0x20 }) {
            return "contains '\(c.escaped(asASCII: true))', which a NATS subject token may not"
        }
        return nil
    }

    /// Why `name` cannot name a node, or nil when it can: a subject token without `:`, since `Nats-Msg-Id` is
    /// `<node>:<call>:<seq>` and call ids may hold `:` (node `n1:a` with call `b` and node `n1` with call `a:b`
    /// would share ids, and the stream would drop one call's records as duplicates).
    public static func nodeProblem(_ name: String) -> String? {
        tokenProblem(name) ?? (name.contains(":") ? "contains ':', which would make its message ids ambiguous" : nil)
    }

    /// A call id as a subject token. The ids the engine accepts (letters, digits, `- _ : @ + =`) are tokens as they
    /// are; anything else a token may not hold would become `_` (the record's `call` field and `Nats-Msg-Id` keep the
    /// id as it is).
    public static func token(_ call: String) -> String {
        var out = String.UnicodeScalarView()
        for c in call.unicodeScalars {
            out.append(".*>".unicodeScalars.contains(c) || c.properties.isWhitespace || c.value < 0x20 ? "_" : c)
        }
        return out.isEmpty ? "_" : String(out)
    }
}

/// Counters of the fleet link, for `stats`, metrics and heartbeats.
public struct FleetStats: Sendable, Equatable {
    /// Records the stream acknowledged.
    public var published = 0
    /// Records waiting in the per-call buffers.
    public var buffered = 0
    /// Records dropped: their call's buffer was full, or the stream refused them for good (too large, …).
    public var dropped = 0
    /// `gap` records published to report drops.
    public var gaps = 0
    /// Batches sent again because their acks did not all come.
    public var retries = 0
    /// Whether the connection is up now.
    public var connected = false
    /// The stream was not there at the last publish and could not be created again (this node does not create
    /// streams, or creating it failed): nothing is published until it is back; records wait in the buffers.
    public var streamMissing = false
}
