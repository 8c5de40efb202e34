import ArgumentParser
import AttuneEngine
import AttuneReport
#if canImport(Glibc)
import Glibc
#endif

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse a recording and draw it as an SVG timeline: one lane per channel with pitch, energy, speech rate, words and events.",
        discussion: AnalysisInput.discussion + """

            Takes the same input options as analyze. The report is one self-contained SVG file; open it in a \
            browser (hover an event band for its explanation and suggestion) or make a PNG with \
            `rsvg-convert report.svg -o report.png`. It is written only once the analysis has succeeded, so a \
            failed run leaves an earlier report in place.
            Exit codes: 0 ok, 64 usage, 65 bad data (audio or transcript), 66 input missing, \
            73 the report cannot be created (no such directory, no permission, read-only file system), \
            74 I/O error (reading the input, or writing the report once created, e.g. a full disk).
            """
    )

    @OptionGroup var input: AnalysisInput

    @Option(name: [.customShort("o"), .customLong("output")], help: "Where to write the SVG, or - for stdout.")
    var output: String

    /// The options of this verb that take a value, for ``dashArgumentProblem(_:subcommand:optionsWithValues:)``.
    static let optionsWithValues = AnalysisInput.optionsWithValues.union(["-o", "--output"])

    func run() throws {
        var report = CallReport(call: callName(input.file))
        input.analyse(frames: true, adjust: { options in
            if let transcript = options.transcript { report.add(transcript) }
            report.recognizerWordsLeftOut = options.asr != nil
        }) { record in
            switch record {
            case .frame(let r): report.add(r)
            case .segment(let r): report.add(r)
            case .summary(let r): report.add(r)
            case .event(let r): report.add(r)
            }
        }
        let svg = Array(report.svg().utf8)
        if output == "-" {
            standardOutput.write(svg)
            standardOutput.flush()
            return
        }
        write(svg, to: PathArgument(output))
    }

    /// Writes the report to `path`: a file that cannot be created is EX_CANTCREAT (73), a write that fails
    /// after it was created EX_IOERR (74); both name the file and the cause.
    private func write(_ bytes: [UInt8], to path: PathArgument) {
        let fd = path.bytes.withUnsafeBufferPointer { open($0.baseAddress!, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { fail(73, "attune: \(path.name): cannot create the report: \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                fail(74, "attune: \(path.name): writing the report failed after \(offset) bytes: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        if close(fd) != 0 { fail(74, "attune: \(path.name): closing the report failed: \(String(cString: strerror(errno)))") }
    }
}
