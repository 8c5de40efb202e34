import ArgumentParser

@main
struct Attune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attune",
        abstract: "Real-time prosody analysis of call audio.",
        version: "0.1.0",
        subcommands: [Analyze.self, Bench.self]
    )
}
