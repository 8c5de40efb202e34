import AttuneEvents
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

@main
struct Attune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attune",
        abstract: "Real-time prosody analysis of call audio.",
        version: "0.2.0",
        subcommands: [Analyze.self, Plot.self, Bench.self, Tail.self, Ctl.self]
    )

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let verbs = [("analyze", AnalysisInput.optionsWithValues), ("plot", Plot.optionsWithValues)]
        for (verb, options) in verbs {
            if let problem = dashArgumentProblem(arguments, subcommand: verb, optionsWithValues: options) { fail(64, problem) }
        }
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            if exitCode(for: error) != .success {
                for (verb, options) in verbs {
                    if let problem = doubleDashArgumentProblem(arguments, subcommand: verb, optionsWithValues: options) {
                        fail(64, problem)
                    }
                }
            }
            exit(reporting: error, arguments: arguments)
        }
        do {
            try command.run()
        } catch {
            exit(reporting: error, arguments: arguments)
        }
    }

    /// As ArgumentParser's own main, but its errors quote the arguments they refuse, and a newline or an escape
    /// sequence in one must neither split the message nor reach the terminal.
    private static func exit(reporting error: any Error, arguments: [String]) -> Never {
        let code = exitCode(for: error)
        var text = fullMessage(for: error)
        if code == .success {
            standardOutput.write(text + "\n")
            standardOutput.flush()
            Glibc.exit(0)
        }
        if text.isEmpty { Glibc.exit(code.rawValue) }
        for a in arguments where escapedForTerminal(a) != a { text = text.replacingOccurrences(of: a, with: escapedForTerminal(a)) }
        fail(code.rawValue, text, keepingLineBreaks: true)
    }
}
