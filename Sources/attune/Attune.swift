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
        version: "0.1.0",
        subcommands: [Analyze.self, Plot.self, Bench.self, Tail.self, Ctl.self]
    )

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        for (verb, options) in [("analyze", AnalysisInput.optionsWithValues), ("plot", Plot.optionsWithValues)] {
            if let problem = dashArgumentProblem(arguments, subcommand: verb, optionsWithValues: options) { fail(64, problem) }
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            // As ArgumentParser's own main, but its errors quote the arguments they refuse, and a newline or an
            // escape sequence in one must neither split the message nor reach the terminal.
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
}
