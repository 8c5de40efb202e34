import AttuneBus
import Foundation
import Logging

/// Control over NATS: the start queue group (`PREFIX.control`, one node answers) and `PREFIX.control.all` (every
/// node answers), each served on a thread of its own, and the queue group left while the node is full.
extension FleetNode {
    func serve(_ sub: NatsSubscription, all: Bool, handler: any ControlHandler) {
        let t = Thread { [self] in serveControl(sub, all: all, handler: handler) }
        t.name = "attune-fleet-ctl"
        t.start()
    }

    /// Leaves the start queue group while this node has no room for another call, and joins it again once it has.
    /// NATS hands each queued request to any one member: a full member refused starts (69) that an idle node would
    /// have taken, and nothing sent them on. A request already handed over when the node fills is still refused.
    func followRoom(_ connection: NatsConnection, _ handler: any ControlHandler) {
        guard !stop.load(ordering: .acquiring), !controlStopped.load(ordering: .acquiring) else { return }
        let room = handler.hasRoom
        let member = link.withLockedValue { $0?.queue != nil }
        if room == member { return }
        guard room else {
            // Drained, not dropped: a start already on its way to this node is answered (refused, the node is full)
            // rather than lost to its requester's timeout.
            let queue: NatsSubscription? = link.withLockedValue { l in
                defer { l?.queue = nil }
                return l?.queue
            }
            queue?.drain()
            logger.info("full: left the start queue group until a call ends", metadata: ["subject": "\(settings.stream.prefix).control"])
            return
        }
        do throws(NatsError) {
            let queue = try connection.subscribe("\(settings.stream.prefix).control", queue: "attune")
            try connection.flush(timeout: 5)
            link.withLockedValue { $0?.queue = queue }
            serve(queue, all: false, handler: handler)
            logger.info("room for calls again: rejoined the start queue group", metadata: ["subject": "\(settings.stream.prefix).control"])
        } catch {
            logger.warning("could not rejoin the start queue group; trying again", metadata: ["error": "\(error)"])
        }
    }

    /// Commands the queue group (one node answers) and `.all` (every node answers) take. `start` belongs to the
    /// queue group; `stop` and `asr` name a call only one node has, so they go to all and the others say so.
    static func allowed(_ command: ControlCommand, all: Bool) -> Bool {
        switch command {
        case .start: return !all
        case .list, .stats: return true
        case .stop, .asr: return all
        }
    }

    func serveControl(_ sub: NatsSubscription, all: Bool, handler: any ControlHandler) {
        // Not a local peer: the control socket's SO_PEERCRED has no meaning here, the NATS account is the check.
        let peer = PeerCredentials(pid: 0, uid: UInt32.max, gid: UInt32.max)
        let node = settings.node
        // Once the subscription is out of the link, the start queue's is drained (see `followRoom`): what reached
        // it is still answered, then the thread ends.
        var draining = false
        while !stop.load(ordering: .acquiring) {
            if !draining {
                let still = link.withLockedValue { l in l.map { $0.queue === sub || $0.subscriptions.contains { $0 === sub } } ?? false }
                if !still {
                    guard !all else { return }
                    draining = true
                }
            }
            let message: NatsMessage?
            do { message = try sub.next(timeout: draining ? 0.5 : 0.2) } catch {
                if draining { return }
                usleep(100_000)
                continue
            }
            guard let message else {
                if draining { return }
                continue
            }
            guard message.reply != nil else { continue }
            var line = message.data[...]
            while let last = line.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { line = line.dropLast() }
            let command: ControlCommand
            do { command = try ControlCommand.parse(line: line) } catch {
                try? sub.respond(to: message, Self.reply(.failure(error.message), node: node))
                continue
            }
            guard Self.allowed(command, all: all) else {
                let subject = all ? "\(settings.stream.prefix).control" : "\(settings.stream.prefix).control.all"
                try? sub.respond(to: message, Self.reply(.failure("\(command.name) goes to \(subject) over NATS"), node: node))
                continue
            }
            // A stop or asr for a call another node has: only the owner answers, so a requester taking the first
            // reply (`nats req`) gets its answer, not "no call" from a node that was quicker (a stop's owner replies
            // only once the call has ended). No reply at all means no node has the call.
            if all, let call = command.call, !handler.owns(call: call) { continue }
            // High priority for the reason ControlConnectionHandler gives: a command must not queue behind
            // whatever holds the cooperative pool.
            Task(priority: .high) {
                let reply = await handler.handle(command, from: peer)
                try? sub.respond(to: message, Self.reply(reply, node: node))
            }
        }
    }

    /// The control socket's reply line with `"node"` after `"ok"`.
    static func reply(_ reply: ControlReply, node: String) -> [UInt8] {
        let object: JSONValue
        switch reply {
        case .ok(.object(let members)):
            object = .object([("ok", true), ("node", .string(node))] + members.filter { $0.0 != "ok" && $0.0 != "node" })
        case .ok(let other):
            object = .object([("ok", true), ("node", .string(node)), ("result", other)])
        case .failure(let message):
            object = .object([("ok", false), ("node", .string(node)), ("error", .string(message))])
        }
        var out: [UInt8] = []
        object.write(to: &out)
        out.append(UInt8(ascii: "\n"))
        return out
    }
}
