import AttuneBus
import AttuneEngine
import AttuneFleet

/// Hands the engine's records to the event socket, and to the fleet's NATS stream when one is configured.
struct BusSink: LiveRecordSink {
    let bus: EventBus
    let fleet: FleetNode?

    func publish(_ batch: LineBatch) {
        bus.publish(lines: batch.bytes, batch.lines)
        // Same bytes to NATS; FleetNode only appends to a bounded buffer here, so a slow or dead NATS never holds up
        // the record thread or the socket.
        guard let fleet else { return }
        batch.forEach { line, route in fleet.publish(Array(line), call: route.call, type: route.type) }
    }

    // The bus keeps no per-filter count yet, so frames are always built; subscribers without `"frames": true`
    // never receive them.
    var wantsFrames: Bool { true }
}
