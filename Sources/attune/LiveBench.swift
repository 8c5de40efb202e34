import ArgumentParser
import AttuneAudio
import AttuneDSP
import AttuneEngine
import AttuneEvents
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's access pattern without the daemon: many channels, each visited in turn with the audio that
/// arrived since its last visit. A one-channel benchmark keeps every channel's state in cache; with hundreds of
/// channels each visit finds its state evicted by the others, and that cold-cache cost is what this measures.
struct LiveBench {
    /// What one channel is: a bare ``ChannelAnalyzer`` (the DSP alone), or a channel of a ``CallSession`` (repair,
    /// resampling, staging and the output queue too; calls have the file's channel count).
    enum Level: String, CaseIterable, ExpressibleByArgument { case analyzer, session }

    let source: InMemorySource
    let level: Level
    let runs: Int
    /// Channel-hops each timed run aims at, whatever the channel count, so every run takes about as long.
    let hopsPerRun: Int

    /// One measurement: median and spread of the runs, in µs per channel-hop.
    struct Result {
        var channels: Int
        var visitMs: Int
        var hopsPerRun: Int
        var microseconds: [Double]
        /// The same from the thread's CPU time: on a shared machine, time spent descheduled is left out.
        var cpuMicroseconds: [Double]
        var residentBytesPerChannel: Int
    }

    /// Sets up `channels` channels (plans and all, as the engine does), warms them up for a second of audio, then
    /// for each visit length times `runs` rounds-robin of the same channels.
    /// A file without samples is bad data (65): every channel loops its audio, and there is nothing to loop.
    func measure(channels requested: Int, visitMs: [Int], report: (Result) -> Void) throws(AudioError) {
        guard source.frameCount > 0 else { throw Self.noSamples(source) }
        let residentBefore = Self.residentBytes()
        let feeder: any Feeder = switch level {
        case .analyzer: try AnalyzerFeeder(source: source, channels: requested)
        case .session: try SessionFeeder(source: source, channels: requested)
        }
        let residentBytes = (Self.residentBytes() - residentBefore) / feeder.channels
        // Past the pitch path's and the activity stage's look-ahead, so every hop does its full work.
        feeder.run(milliseconds: 1000, visitMs: 100)
        for visit in visitMs {
            let hopsPerVisit = visit / 10
            let rounds = max(1, hopsPerRun / (feeder.channels * hopsPerVisit))
            var times: [Double] = []
            var cpuTimes: [Double] = []
            let hops = Double(rounds * hopsPerVisit * feeder.channels)
            for _ in 0..<runs {
                let cpuStart = Self.threadCPUSeconds()
                let seconds = elapsedSeconds { feeder.run(milliseconds: rounds * visit, visitMs: visit) }
                cpuTimes.append((Self.threadCPUSeconds() - cpuStart) * 1e6 / hops)
                times.append(seconds * 1e6 / hops)
            }
            report(Result(channels: feeder.channels, visitMs: visit, hopsPerRun: rounds * hopsPerVisit * feeder.channels,
                          microseconds: times, cpuMicroseconds: cpuTimes, residentBytesPerChannel: residentBytes))
        }
    }

    /// The error for audio with nothing in it to loop.
    static func noSamples(_ source: InMemorySource) -> AudioError {
        let frames = source.frameCount
        return AudioError(.badData, path: source.name,
                          "no samples to bench (\(frames) frame\(frames == 1 ? "" : "s") of audio\(frames > 0 ? ", none left once resampled" : ""))")
    }

    /// CPU time of the calling thread, in seconds.
    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Resident bytes of the process (/proc/self/statm). Every stage fills its buffers at setup, so the growth
    /// over a setup is the memory the channels hold, FFTW's plans and buffers included. (mallinfo is not in
    /// the Glibc module.)
    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        let fields = bytes[0..<n].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Feeds channels round-robin, `visitMs` of audio per visit.
private protocol Feeder {
    var channels: Int { get }
    func run(milliseconds: Int, visitMs: Int)
}

/// Channel `c` starts at its own point of the file (a different stretch of speech or silence from its
/// neighbours') and loops it, so channels do not work in lockstep.
private func startOffset(channel c: Int, frames: Int) -> Int {
    (c &* 7919 &* 80) % max(1, frames)
}

private final class AnalyzerFeeder: Feeder {
    let channels: Int
    let rate: Int
    let analyzers: [ChannelAnalyzer]
    /// Each channel's audio at the analysis rate, one copy per file channel.
    let audio: [UnsafeMutableBufferPointer<Float>]
    var positions: [Int]
    var frames = 0

    init(source: InMemorySource, channels: Int) throws(AudioError) {
        self.channels = channels
        let settings = AnalysisSettings(sampleRate: AnalysisSettings.analysisRate(forInputRate: source.sampleRate))
        rate = settings.sampleRate
        var audio: [UnsafeMutableBufferPointer<Float>] = []
        for c in 0..<source.channelCount {
            var samples = source.channel(c)
            if source.sampleRate != rate {
                let resampler = try Resampler(from: source.sampleRate, to: rate)
                var out: [Float] = []
                samples.withUnsafeBufferPointer { input in
                    resampler.process(input, end: true) { out.append(contentsOf: $0) }
                }
                samples = out
            }
            // A few input frames can resample to none, which would leave the channel nothing to loop.
            guard !samples.isEmpty else {
                for a in audio { a.deallocate() }
                throw LiveBench.noSamples(source)
            }
            audio.append(.allocate(copying: samples))
        }
        self.audio = audio
        analyzers = (0..<channels).map { _ in ChannelAnalyzer(settings: settings) }
        positions = (0..<channels).map { startOffset(channel: $0, frames: audio[$0 % audio.count].count) }
    }

    deinit { for a in audio { a.deallocate() } }

    func run(milliseconds: Int, visitMs: Int) {
        let perVisit = visitMs * rate / 1000
        var done = 0
        while done < milliseconds {
            for c in 0..<channels {
                let samples = audio[c % audio.count]
                var left = perVisit
                while left > 0 {
                    let n = min(left, samples.count - positions[c])
                    let block = UnsafeBufferPointer(rebasing: samples[positions[c]..<(positions[c] + n)])
                    analyzers[c].push(block, onFrame: { _ in frames &+= 1 }, onSegment: { _ in frames &+= 1 })
                    positions[c] = (positions[c] + n) % samples.count
                    left -= n
                }
            }
            done += visitMs
        }
    }
}

private final class SessionFeeder: Feeder {
    let channels: Int
    let width: Int
    let rate: Int
    let sessions: [CallSession]
    /// The file's interleaved frames.
    let audio: UnsafeMutableBufferPointer<Float>
    let frameCount: Int
    var positions: [Int]
    var outputs = 0

    init(source: InMemorySource, channels: Int) throws(AudioError) {
        width = source.channelCount
        rate = source.sampleRate
        let calls = max(1, channels / width)
        self.channels = calls * width
        frameCount = source.frameCount
        var interleaved = [Float](repeating: 0, count: frameCount * width)
        for c in 0..<width {
            for (i, x) in source.channel(c).enumerated() { interleaved[i * width + c] = x }
        }
        audio = .allocate(copying: interleaved)
        var sessions: [CallSession] = []
        for _ in 0..<calls { sessions.append(try CallSession(sampleRate: rate, channels: width)) }
        self.sessions = sessions
        positions = (0..<calls).map { startOffset(channel: $0, frames: source.frameCount) }
    }

    deinit { audio.deallocate() }

    func run(milliseconds: Int, visitMs: Int) {
        let perVisit = visitMs * rate / 1000
        var done = 0
        while done < milliseconds {
            for (k, session) in sessions.enumerated() {
                var left = perVisit
                while left > 0 {
                    let n = min(left, frameCount - positions[k])
                    let start = positions[k] * width
                    session.push(interleaved: UnsafeBufferPointer(rebasing: audio[start..<(start + n * width)]))
                    positions[k] = (positions[k] + n) % frameCount
                    left -= n
                }
                // The record builder's side, run here so the queue never fills.
                while session.outputs.pop() != nil { outputs &+= 1 }
            }
            done += visitMs
        }
    }
}
