import ArgumentParser

@main
struct Attune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attune",
        abstract: "Real-time prosody analysis of call audio.",
        version: "0.1.0",
        subcommands: [Analyze.self, Bench.self]
    )

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let problem = dashArgumentProblem(arguments, subcommand: "analyze", optionsWithValues: ["--roles", "--raw", "--transcript"]) {
            fail(64, problem)
        }
        main(arguments)
    }
}
