import ArgumentParser
import AttuneBus
import AttuneFleet
import Foundation

/// `attune ctl nodes --nats URL`: the fleet as its heartbeats describe it.
struct CtlNodes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the fleet's nodes from their NATS heartbeats (PREFIX.nodes.*).",
        discussion: """
            Listens for --listen seconds (long enough to hear every node's heartbeat once: 6 s by default, beside the 5 s heartbeat), then \
            prints one line per node: name, seconds since its heartbeat, calls, workers, load, version. With \
            --watch it goes on and prints a line whenever a node appears or goes missing (no heartbeat for three \
            of its intervals). On a pipe or with --json each node is its last heartbeat, as sent.
            Exit codes: 0 ok, 69 NATS cannot be reached.
            """
    )

    @Option(help: "NATS URL (comma-separated for a cluster; a token goes in the URL).")
    var nats: String

    @Option(help: "The subject prefix (default attune).")
    var prefix = "attune"

    @Option(help: "Seconds to listen before printing.")
    var listen: Double = 6

    @Flag(help: "Keep watching and report nodes that appear or go missing.")
    var watch = false

    @OptionGroup var style: StyleOptions

    func run() throws {
        let output = PipeOutput()
        let view: FleetView
        do {
            let connection = try NatsConnection(NatsConnectionSettings(urls: nats.split(separator: ",").map(String.init)))
            view = try FleetView(connection: connection, prefix: prefix)
            try view.update(for: listen)
        } catch {
            fail(69, "attune ctl nodes: \(error)")
        }
        let pretty = style.style.pretty
        for node in view.nodes.values.sorted(by: { $0.name < $1.name }) {
            if pretty {
                let h = node.heartbeat
                func number(_ key: String) -> String {
                    if case .number(let n)? = h[key] { return n == n.rounded() ? "\(Int(n))" : "\(n)" }
                    return "-"
                }
                var load = "-"
                if case .array(let l)? = h["load"], case .number(let one)? = l.first { load = "\(one)" }
                let version: String
                if case .string(let v)? = h["version"] { version = v } else { version = "-" }
                let age = String(format: "%.1f", Date().timeIntervalSince(node.lastSeen))
                output.write("\(node.name)  last \(age) s ago  calls \(number("calls"))  workers \(number("workers"))  "
                    + "load \(load)  version \(version)\n")
            } else {
                var line: [UInt8] = []
                node.heartbeat.write(to: &line)
                output.write(line + [UInt8(ascii: "\n")])
            }
        }
        output.flush()
        guard watch else { return }
        var alive = Set(view.alive())
        while true {
            do { try view.update(for: 0.5) } catch { fail(69, "attune ctl nodes: \(error)") }
            let now = Set(view.alive())
            for gone in alive.subtracting(now).sorted() { output.write("\(gone) missing\n") }
            for came in now.subtracting(alive).sorted() { output.write("\(came) up\n") }
            output.flush()
            alive = now
        }
    }
}
