import AttuneBus
import AttuneEngine
import AttuneEvents
import AttuneFleet
import Foundation
import Logging

/// Hands the engine's records to the event socket, and to the fleet's NATS stream when one is configured.
struct BusSink: LiveRecordSink {
    let bus: EventBus
    let fleet: FleetNode?
    let logger: Logger

    func publish(_ batch: LineBatch) {
        bus.publish(lines: batch.bytes, batch.lines)
        batch.forEach { line, route in
            if route.type == "call_end" { logEnd(line) }
            // Same bytes to NATS; FleetNode only appends to a bounded buffer here, so a slow or dead NATS never holds
            // up the record thread or the socket.
            fleet?.publish(Array(line), call: route.call, type: route.type)
        }
    }

    /// Says in the log how a call ended by itself: a lost device or an error was seen only by subscribers before.
    /// Stops and shutdown are logged where they are asked for.
    private func logEnd(_ line: ArraySlice<UInt8>) {
        guard let end = try? JSONDecoder().decode(CallEndRecord.self, from: Data(line)) else { return }
        var metadata: Logger.Metadata = ["call": "\(end.call)", "reason": "\(end.reason.rawValue)", "analysed_s": "\(end.t)"]
        if let message = end.message { metadata["message"] = "\(message)" }
        switch end.reason {
        case .deviceLost, .error: logger.warning("call ended", metadata: metadata)
        case .eof: logger.info("call ended", metadata: metadata)
        case .stopped, .shutdown: break
        }
    }

    // The bus keeps no per-filter count yet, so frames are always built; subscribers without `"frames": true`
    // never receive them.
    var wantsFrames: Bool { true }
}
