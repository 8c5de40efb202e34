import AttuneBus
import Foundation

/// The operator's view of the fleet: which nodes sent a heartbeat on `PREFIX.nodes.*` lately, and which have
/// gone quiet for longer than `missedBeats` of their own announced intervals.
public final class FleetView {
    /// A node as its last heartbeat describes it.
    public struct Node: Sendable {
        public var name: String
        public var lastSeen: Date
        public var intervalSeconds: Double
        /// The heartbeat itself (`calls`, `workers`, `load`, `version`, `nats` counters…).
        public var heartbeat: JSONValue
    }

    let subscription: NatsSubscription
    /// A node is missing after this many intervals without a heartbeat.
    public let missedBeats: Double
    public private(set) var nodes: [String: Node] = [:]

    public init(connection: NatsConnection, prefix: String = "attune", missedBeats: Double = 3) throws(NatsError) {
        subscription = try connection.subscribe("\(prefix).nodes.*")
        self.missedBeats = missedBeats
    }

    /// Takes the heartbeats that arrive within `seconds`.
    public func update(for seconds: Double) throws(NatsError) {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let m = try subscription.next(timeout: left) else { return }
            guard let beat = try? JSONValue.parse(m.data.last == 10 ? m.data.dropLast() : m.data[...]),
                  case .string(let name)? = beat["node"] else { continue }
            var interval = 5.0
            if case .number(let i)? = beat["interval_s"] { interval = i }
            nodes[name] = Node(name: name, lastSeen: Date(), intervalSeconds: interval, heartbeat: beat)
        }
    }

    /// Nodes heard from within their timeout, by name.
    public func alive(at now: Date = Date()) -> [String] {
        nodes.values.filter { now.timeIntervalSince($0.lastSeen) <= missedBeats * $0.intervalSeconds }.map(\.name).sorted()
    }

    /// Nodes seen once but silent for longer than their timeout.
    public func missing(at now: Date = Date()) -> [String] {
        nodes.values.filter { now.timeIntervalSince($0.lastSeen) > missedBeats * $0.intervalSeconds }.map(\.name).sorted()
    }
}
