import AttuneEvents

/// Where the live engine's records go (the daemon's event socket and the fleet's NATS stream).
public protocol LiveRecordSink: Sendable {
    /// Encoded NDJSON lines, each ending in a newline, with what subscriber filters route on: everything one call
    /// produced since the record thread last looked at it. Called from the engine's record thread only, in order.
    func publish(_ batch: LineBatch)
    /// Whether anybody wants `frame` records now; when nobody does the engine does not even build them.
    var wantsFrames: Bool { get }
}

/// NDJSON lines back to back in one buffer, each with its route. The record thread hands its sink one batch per
/// call visited rather than one line at a time, so the sink takes one lock and makes one buffer per batch: at
/// 200,000 frame records a second the per-line lock, buffer and wake-up cost more than the JSON.
public struct LineBatch: Sendable {
    /// The lines, each ending in a newline.
    public private(set) var bytes: [UInt8] = []
    /// Where each line ends in ``bytes`` (exclusive), with its route.
    public private(set) var lines: [(end: Int, route: RecordRoute)] = []

    public init() {}

    public var isEmpty: Bool { lines.isEmpty }

    /// Appends one encoded line (it must end with a newline).
    public mutating func append(_ line: [UInt8], route: RecordRoute) {
        bytes.append(contentsOf: line)
        lines.append((bytes.count, route))
    }

    /// Ends `line` and appends it straight from the line's own storage: not through its `bytes`, which would copy
    /// every line once more on the record thread.
    public mutating func append(ending line: inout JSONLine, route: RecordRoute) {
        line.end { bytes.append(contentsOf: $0) }
        lines.append((bytes.count, route))
    }

    /// Calls `body` with each line and its route, in order.
    public func forEach(_ body: (ArraySlice<UInt8>, RecordRoute) -> Void) {
        var start = 0
        for (end, route) in lines {
            body(bytes[start..<end], route)
            start = end
        }
    }

    /// Empties the batch, keeping its storage for the next one.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
    }
}
