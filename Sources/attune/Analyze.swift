import ArgumentParser
import AttuneAudio
import AttuneEngine
import AttuneEvents
#if canImport(Glibc)
import Glibc
#endif

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse a recording and print frame, segment and summary records as NDJSON.",
        discussion: "Exit codes: 0 ok, 64 usage, 65 bad data, 66 input missing, 74 I/O error."
    )

    @Argument(help: "Audio file, or - for raw PCM on stdin (with --raw).")
    var file: String

    @Flag(help: "Also print one frame record per 10 ms hop.")
    var frames = false

    @Option(help: "Roles of the channels in order, e.g. agent,customer.")
    var roles: String?

    @Option(help: "Format of raw PCM on stdin: ENCODING:RATE:CHANNELS, e.g. s16le:8000:2.")
    var raw: String?

    func run() throws {
        var parsedRoles: [Role] = []
        if let roles {
            for r in roles.split(separator: ",") {
                guard let role = Role(rawValue: String(r).trimmingSpaces) else {
                    fail(64, "attune: --roles: unknown role '\(r)' (use agent, customer or unknown)")
                }
                parsedRoles.append(role)
            }
        }
        do {
            let source = try SoundFileReader(path: file)
            let options = AnalysisOptions(call: callName(file), frames: frames, roles: parsedRoles)
            var line = JSONLine()
            let warnings = try OfflineAnalysis(options: options).run(source) { record in
                line.begin()
                record.write(to: &line)
                line.end()
                standardOutput.write(line.bytes)
            }
            standardOutput.flush()
            for w in warnings { warn("\(w)") }
        } catch {
            fail(error.exitCode, "attune: \(error)")
        }
    }
}

/// The call id for a file: its base name without directory and extension.
func callName(_ path: String) -> String {
    if path == "-" { return "stdin" }
    let base = path.split(separator: "/").last.map(String.init) ?? path
    if let dot = base.lastIndex(of: "."), dot != base.startIndex { return String(base[..<dot]) }
    return base
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
