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

        With --channels the live daemon's access pattern is timed instead: K channels (each with its own \
        analyzer, FFT plans made at setup as the engine does) are fed --visit-ms of audio each in turn, round \
        robin, so with many channels every visit finds the channel's state evicted from cache by the others. \
        The first file is the audio (looped; channel c starts at its own offset and takes file channel \
        c mod the file's channel count). After one second of warm-up per channel, each visit length is timed \
        --runs times and one JSON line per (K, M) gives us_per_hop (the median run, µs per channel-hop), \
        us_per_hop_min/max, cpu_us_per_hop (the median run by the thread's CPU time, which \
        leaves out time the thread spent descheduled on a busy machine) and resident_bytes_per_channel (growth of resident memory over the setup, FFTW included; exact only for \
        the first K of a run, later setups reuse memory the earlier ones freed). \
        --level analyzer (default) times the DSP alone (ChannelAnalyzer); --level session times whole \
        CallSessions (repair, resampling, staging, output queue drained after each visit), one per call of \
        the file's channel count. The figure quoted for the product's budget:
          attune bench Samples/call-8k-mulaw.wav --channels 1 100 1000 2000 --visit-ms 20 100
        Use a release build (swift build -c release) on an otherwise idle machine.
        """
    )

    @Argument(help: "Audio files to time (with --channels: the first is the audio every channel loops).")
    var files: [String]

    @Option(parsing: .upToNextOption, help: "Live pattern: channel counts K to time, e.g. --channels 1 100 1000 2000.")
    var channels: [Int] = []

    @Option(name: .customLong("visit-ms"), parsing: .upToNextOption,
            help: "Live pattern: milliseconds of audio per channel visit (multiples of 10), e.g. --visit-ms 20 100.")
    var visitMs: [Int] = [20, 100]

    @Option(help: "Live pattern: analyzer (DSP alone) or session (whole CallSession per call).")
    var level: LiveBench.Level = .analyzer

    @Option(help: "Live pattern: channel-hops per timed run (more is steadier, and slower).")
    var hops: Int = 200_000

    @Option(help: "Runs per file; the fastest is reported.")
    var runs: Int = 3

    @Flag(help: "Also time each stage alone on the first channel (resample, levels, pitch, activity, events), in µs per frame.")
    var stages = false

    func run() throws {
        guard runs >= 1 else { fail(64, "attune bench: --runs must be at least 1") }
        if !channels.isEmpty { return runLive() }
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

    private func runLive() {
        guard let file = files.first else { fail(64, "attune bench: --channels needs an audio file") }
        guard channels.allSatisfy({ $0 >= 1 }) else { fail(64, "attune bench: --channels must be at least 1") }
        guard !visitMs.isEmpty, visitMs.allSatisfy({ $0 >= 10 && $0 % 10 == 0 }) else {
            fail(64, "attune bench: --visit-ms must be whole hops (10, 20, … ms)")
        }
        guard hops >= 1 else { fail(64, "attune bench: --hops must be at least 1") }
        do {
            let bench = LiveBench(source: try InMemorySource(reading: SoundFileReader(path: file)), level: level,
                                  runs: runs, hopsPerRun: hops)
            for k in channels {
                try bench.measure(channels: k, visitMs: visitMs) { result in
                    let sorted = result.microseconds.sorted()
                    let cpu = result.cpuMicroseconds.sorted()
                    var line = JSONLine()
                    line.begin()
                    line.field("file", file)
                    line.field("level", level.rawValue)
                    line.field("channels", result.channels)
                    line.field("visit_ms", result.visitMs)
                    line.field("hops_per_run", result.hopsPerRun)
                    line.field("us_per_hop", sorted[sorted.count / 2], decimals: 3)
                    line.field("us_per_hop_min", sorted.first!, decimals: 3)
                    line.field("us_per_hop_max", sorted.last!, decimals: 3)
                    line.field("cpu_us_per_hop", cpu[cpu.count / 2], decimals: 3)
                    line.field("resident_bytes_per_channel", result.residentBytesPerChannel)
                    line.end()
                    standardOutput.write(line.bytes)
                    standardOutput.flush()
                }
            }
        } catch {
            fail(error.exitCode, "attune: \(error)")
        }
    }
}
