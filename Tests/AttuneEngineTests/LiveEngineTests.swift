import AttuneAudio
import AttuneEngine
import AttuneEvents
import AttuneTestSupport
import Foundation
import Synchronization
import Testing

/// Collects what the engine publishes, in order.
final class CollectingSink: LiveRecordSink {
    private let lines = Mutex<[(String, RecordRoute)]>([])
    var wantsFrames: Bool { true }
    func publish(_ batch: LineBatch) {
        batch.forEach { line, route in
            let text = String(decoding: line, as: UTF8.self)
            lines.withLock { $0.append((text, route)) }
        }
    }
    var all: [(String, RecordRoute)] { lines.withLock { $0 } }
    func records(call: String) -> [String] { all.filter { $0.1.call == call }.map(\.0) }
}

@Suite("Live engine")
struct LiveEngineTests {
    static func waitFor(_ seconds: Double = 60, _ done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !done() { if Date() > deadline { return false }; usleep(2000) }
        return true
    }

    /// The same file analysed offline and replayed live at full speed gives the same frame, segment and
    /// summary lines, byte for byte; live adds call_start first and call_end last.
    @Test("file replay at speed=max equals attune analyze, record for record", arguments: [8000, 44100])
    func replayEqualsOffline(rate: Int) throws {
        let dir = TempDir()
        let path = dir.file("call.wav")
        let audio = OfflineAnalysisTests.call(sampleRate: rate, seconds: 3)
        try wavData(rate: rate, channels: 2, samples: audio).write(to: URL(fileURLWithPath: path))

        var offline: [String] = []
        var line = JSONLine()
        _ = try OfflineAnalysis(options: AnalysisOptions(call: "c1", frames: true, roles: [.agent, .customer]))
            .run(try SoundFileReader(path: path)) { r in
                line.begin(); r.write(to: &line); line.end()
                offline.append(String(decoding: line.bytes, as: UTF8.self))
            }

        let sink = CollectingSink()
        let engine = LiveEngine(configuration: LiveEngineConfiguration(workers: 2), sink: sink)
        defer { engine.shutdown() }
        let info = try engine.start(LiveCallRequest(call: "c1", source: "file:\(path)?speed=max", roles: [.agent, .customer]))
        #expect(info.channels == 2)
        #expect(info.sampleRate == rate)
        #expect(Self.waitFor { engine.callCount == 0 })
        let live = sink.records(call: "c1")
        #expect(live.first?.hasPrefix("{\"type\":\"call_start\"") == true)
        #expect(live.last?.hasPrefix("{\"type\":\"call_end\"") == true)
        #expect(live.last?.contains("\"reason\":\"eof\"") == true)
        let middle = Array(live.dropFirst().dropLast())
        #expect(middle.count == offline.count)
        let firstDifference = zip(middle, offline).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(firstDifference == nil, "first difference at line \(firstDifference?.offset ?? -1): live \(firstDifference?.element.0 ?? "") offline \(firstDifference?.element.1 ?? "")")
    }

    @Test("bad requests are refused with a reason, and other calls run on")
    func refusals() throws {
        let dir = TempDir()
        let path = dir.file("a.wav")
        try wavData(rate: 8000, channels: 1, samples: OfflineAnalysisTests.call(sampleRate: 8000, seconds: 1).enumerated()
            .filter { $0.offset % 2 == 0 }.map(\.element)).write(to: URL(fileURLWithPath: path))
        let sink = CollectingSink()
        let engine = LiveEngine(configuration: LiveEngineConfiguration(workers: 1), sink: sink)
        defer { engine.shutdown() }
        try engine.start(LiveCallRequest(call: "ok", source: "file:\(path)"))
        func refusal(_ r: LiveCallRequest) -> LiveEngineError? {
            do { try engine.start(r); return nil } catch { return error }
        }
        #expect(refusal(LiveCallRequest(call: "ok", source: "file:\(path)"))?.message.contains("already running") == true)
        #expect(refusal(LiveCallRequest(call: "x", source: "file:\(dir.file("missing.wav"))"))?.exitCode == 66)
        #expect(refusal(LiveCallRequest(call: "x", source: "smb://share"))?.exitCode == 64)
        #expect(refusal(LiveCallRequest(call: "bad id", source: "file:\(path)"))?.exitCode == 64)
        #expect(refusal(LiveCallRequest(call: "x", source: "alsa:nonexistent_pcm_name"))?.exitCode == 69)
        #expect(refusal(LiveCallRequest(call: "x", source: "file:\(path)", roles: [.agent, .customer]))?.exitCode == 64)
        #expect(throws: LiveEngineError.self) { try engine.stop(call: "nope") }
        #expect(engine.list().map(\.call) == ["ok"])
        try engine.stop(call: "ok")
        #expect(Self.waitFor { engine.callCount == 0 })
        #expect(sink.records(call: "ok").last?.contains("\"reason\":\"stopped\"") == true)
    }

    @Test("consent false publishes nothing but call_start and call_end")
    func noConsent() throws {
        let dir = TempDir()
        let path = dir.file("a.wav")
        try wavData(rate: 8000, channels: 2, samples: OfflineAnalysisTests.call(sampleRate: 8000, seconds: 2)).write(to: URL(fileURLWithPath: path))
        let sink = CollectingSink()
        let engine = LiveEngine(configuration: LiveEngineConfiguration(workers: 1), sink: sink)
        defer { engine.shutdown() }
        try engine.start(LiveCallRequest(call: "private", source: "file:\(path)?speed=max", consent: false))
        #expect(Self.waitFor { engine.callCount == 0 })
        #expect(sink.all.map(\.1.type) == ["call_start", "call_end"])
    }

    @Test("shutdown ends every call with reason shutdown after flushing its summary")
    func shutdownFlushes() throws {
        let dir = TempDir()
        let path = dir.file("a.wav")
        try wavData(rate: 8000, channels: 2, samples: OfflineAnalysisTests.call(sampleRate: 8000, seconds: 4)).write(to: URL(fileURLWithPath: path))
        let sink = CollectingSink()
        let engine = LiveEngine(configuration: LiveEngineConfiguration(workers: 2), sink: sink)
        for i in 0..<3 { try engine.start(LiveCallRequest(call: "c\(i)", source: "file:\(path)")) }
        usleep(300_000)
        #expect(engine.shutdown(timeout: 10))
        for i in 0..<3 {
            let types = sink.all.filter { $0.1.call == "c\(i)" }.map(\.1.type)
            #expect(types.first == "call_start")
            #expect(types.suffix(3) == ["summary", "summary", "call_end"])
            #expect(sink.records(call: "c\(i)").last?.contains("\"reason\":\"shutdown\"") == true)
        }
    }
}
