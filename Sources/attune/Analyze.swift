import ArgumentParser
import Foundation
import AttuneEngine
import AttuneEvents

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse a recording and print frame, segment, event and summary records as NDJSON.",
        discussion: AnalysisInput.discussion + """

            Exit codes: 0 ok, 64 usage, 65 bad data (audio or transcript), 66 input missing, 69 recogniser model \
            not installed, 74 I/O error, 78 ATTUNE_POCKETSPHINX_MODEL names no model or the lexicons are missing.
            """
    )

    @OptionGroup var input: AnalysisInput

    @Flag(help: "Also print one frame record per 10 ms hop.")
    var frames = false

    func run() throws {
        var line = JSONLine()
        input.analyse(frames: frames, adjust: { options in
            if ProcessInfo.processInfo.environment["ATTUNE_SYLLABLE_FEATURES"] != nil {
                // Tools/rate_train.py trains the syllable-nucleus model on these lines.
                options.syllableTap = { standardError.write($0.line) }
            }
        }) { record in
            line.begin()
            record.write(to: &line)
            line.end { standardOutput.write($0) }
        }
    }
}
