import AttuneBus
import AttuneEngine

/// Hands the engine's records to the event socket.
struct BusSink: LiveRecordSink {
    let bus: EventBus

    func publish(_ line: [UInt8], route: LiveRecordRoute) {
        bus.publish(line, route: RecordRoute(type: route.type, call: route.call, kind: route.kind, isFrame: route.type == "frame"))
    }

    // The bus keeps no per-filter count yet, so frames are always built; subscribers without `"frames": true`
    // never receive them.
    var wantsFrames: Bool { true }
}
