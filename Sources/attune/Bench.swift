import ArgumentParser
import AttuneAudio
import AttuneEngine
import AttuneEvents

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the full analysis (no frame output) on one core and report multiples of real time.",
        discussion: """
        Each file is decoded into memory first, so the figure is the analysis alone: resampling, framing, \
        FFTs, pitch, levels, activity, syllables, segments, the emotion layer (every channel taken as a customer, \
        the heaviest case) and records. Prints one JSON line per file. \
        With --stages the line also carries each stage's cost on the first channel, run alone: resample_us, \
        levels_us (with spectral balance), pitch_us (with the harmonics-to-noise ratio), activity_us and \
        events_us (the emotion layer) per frame.
        """
    )

    @Argument(help: "Audio files to time.")
    var files: [String]

    @Option(help: "Runs per file; the fastest is reported.")
    var runs: Int = 3

    @Flag(help: "Also time each stage alone on the first channel (resample, levels, pitch, activity, events), in µs per frame.")
    var stages = false

    func run() throws {
        guard runs >= 1 else { fail(64, "attune bench: --runs must be at least 1") }
        for file in files {
            do {
                let source = try InMemorySource(reading: SoundFileReader(path: file))
                let seconds = Double(source.frameCount) / Double(source.sampleRate)
                var best = Double.infinity
                var records = 0
                // Every channel a customer: the emotion layer runs on all of them, the heaviest case.
                let options = AnalysisOptions(call: "bench", roles: Array(repeating: .customer, count: source.channelCount))
                for _ in 0..<runs {
                    source.rewind()
                    records = 0
                    best = min(best, try elapsedSeconds { () throws(AudioError) in
                        _ = try OfflineAnalysis(options: options).run(source) { _ in records += 1 }
                    })
                }
                let hops = seconds * 100 * Double(source.channelCount)
                var line = JSONLine()
                line.begin()
                line.field("file", file)
                line.field("sample_rate", source.sampleRate)
                line.field("channels", source.channelCount)
                line.field("audio_s", seconds, decimals: 3)
                line.field("wall_s", best, decimals: 6)
                line.field("x_realtime", seconds / best, decimals: 1)
                line.field("x_realtime_per_channel", seconds * Double(source.channelCount) / best, decimals: 1)
                line.field("us_per_frame", best / hops * 1e6, decimals: 3)
                line.field("records", records)
                if stages {
                    let profile = try StageProfile.measure(source, runs: runs)
                    line.field("analysis_rate", profile.analysisRate)
                    line.field("resample_us", profile.resample * 1e6, decimals: 3)
                    line.field("levels_us", profile.levels * 1e6, decimals: 3)
                    line.field("pitch_us", profile.pitch * 1e6, decimals: 3)
                    line.field("activity_us", profile.activity * 1e6, decimals: 3)
                    line.field("events_us", profile.events * 1e6, decimals: 3)
                }
                line.end()
                standardOutput.write(line.bytes)
                standardOutput.flush()
            } catch {
                fail(error.exitCode, "attune: \(error)")
            }
        }
    }
}
