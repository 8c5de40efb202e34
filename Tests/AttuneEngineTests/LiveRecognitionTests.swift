import AttuneAudio
import AttuneEngine
import AttuneRecognizer
import AttuneTestSupport
import AttuneText
import Foundation
import Testing

/// A live call with `asr`: a recogniser thread per recognised channel, fed by the session's tap, its utterances
/// reaching the emotion layer like `asr` messages but not the segments, joined before `call_end`.
@Suite("Live engine with the built-in recogniser")
struct LiveRecognitionTests {
    @Test("a paced call's customer speech is recognised while it runs; call_end follows the recogniser's end")
    func pacedCall() throws {
        let reader = try SoundFileReader(path: "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
        var speech: [Float] = []
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4096)
        defer { buffer.deallocate() }
        while case let n = try reader.read(into: buffer), n > 0 { speech += buffer[0..<n] }
        // Two channels: an agent who says nothing, and the customer's sentence then 2.5 s of silence, during which
        // the recogniser's endpointer closes the utterance while the call is still running.
        let customer = speech + [Float](repeating: 0, count: 40000)
        var stereo = [Float](repeating: 0, count: 2 * customer.count)
        for (i, x) in customer.enumerated() { stereo[2 * i + 1] = x }
        let dir = TempDir()
        let path = dir.file("call.wav")
        try wavData(rate: 16000, channels: 2, samples: stereo).write(to: URL(fileURLWithPath: path))

        let sink = CollectingSink()
        let engine = LiveEngine(configuration: LiveEngineConfiguration(workers: 1), sink: sink)
        defer { engine.shutdown() }
        try engine.start(LiveCallRequest(call: "c1", source: "file:\(path)", roles: [.agent, .customer],
                                         asr: SpeechRecognizerConfiguration()))
        var heard = 0
        #expect(LiveEngineTests.waitFor(60) {
            heard = max(heard, engine.info(call: "c1")?.asrUtterances ?? 0)
            return engine.callCount == 0
        })
        #expect(heard >= 1, "the customer's sentence was recognised during the call")
        let records = sink.records(call: "c1")
        #expect(records.last?.contains("\"type\":\"call_end\"") == true)
        #expect(records.last?.contains("\"reason\":\"eof\"") == true)
    }

    /// The built-in recogniser's words are evidence for events, never a transcript to show (README, "Built-in
    /// recogniser"); a call that also gets `asr` messages shows theirs. The recogniser's utterance is injected as it
    /// would arrive (pocketsphinx misrecognises synthetic speech, so recognising real audio would make this a test of
    /// its accuracy), after a real one over the same stretch that it must not replace.
    @Test("the recogniser's words reach the events but not the segments; an asr message's words do reach them")
    func recognisersWordsAreEvidenceOnly() throws {
        let dir = TempDir()
        let path = dir.file("customer.wav")
        try wavData(rate: 8000, channels: 1, samples: voiceLikeSamples(rate: 8000, seconds: 6)).write(to: URL(fileURLWithPath: path))
        let real = TranscriptUtterance(channel: 0, start: 2.0, end: 4.0, text: "please hold on")
        let recognised = TranscriptUtterance(channel: 0, start: 2.0, end: 4.0, text: "thank you so much, that is perfect",
                                             origin: .builtInRecognizer)
        var configuration = LiveEngineConfiguration(workers: 1)
        configuration.textAnalyzer = try TextAnalyzer.bundled()
        let sink = CollectingSink()
        let engine = LiveEngine(configuration: configuration, sink: sink)
        defer { engine.shutdown() }
        try engine.start(LiveCallRequest(call: "c1", source: "file:\(path)", roles: [.customer]))
        // Sent at once, before the audio, replayed in real time, reaches them.
        try engine.addTranscript(call: "c1", real)
        try engine.addTranscript(call: "c1", recognised)
        #expect(LiveEngineTests.waitFor(60) { engine.callCount == 0 })
        let records = try sink.records(call: "c1").map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let satisfaction = try #require(records.first { $0["type"] as? String == "event" && $0["kind"] as? String == "satisfaction" },
                                        "the recogniser's thanks count as evidence")
        let evidence = try #require(satisfaction["evidence"] as? [String: Any])
        #expect(evidence["words"] as? [String] == ["thank you"])
        let live = records.filter { $0["type"] as? String == "segment" }.map { $0["words"] as? [String] ?? ["words missing"] }
        // The same audio offline with the real utterance alone as its transcript: the segments' words must be exactly these.
        var options = AnalysisOptions(call: "c1", roles: [.customer], transcript: Transcript(utterances: [Transcript.withWordTimes(real)]))
        options.events = false
        var offline: [[String]] = []
        _ = try OfflineAnalysis(options: options).run(try SoundFileReader(path: path)) { r in
            if case .segment(let s) = r { offline.append(s.words) }
        }
        #expect(!offline.joined().isEmpty, "the real words fall in segments")
        #expect(live == offline, "live segments carry the asr message's words and nothing of the recogniser's")
    }

    @Test("a start with asr and no model installed is refused with the model's error")
    func missingModel() throws {
        let engine = LiveEngine(configuration: LiveEngineConfiguration(workers: 1), sink: CollectingSink())
        defer { engine.shutdown() }
        let dir = TempDir()
        let path = dir.file("call.wav")
        try wavData(rate: 8000, channels: 1, samples: [Float](repeating: 0, count: 8000)).write(to: URL(fileURLWithPath: path))
        let model = RecognizerModel(directory: "/nonexistent/model", configured: false)
        do {
            try engine.start(LiveCallRequest(call: "c1", source: "file:\(path)", asr: SpeechRecognizerConfiguration(model: model)))
            Issue.record("started without a model")
        } catch {
            #expect(error.exitCode == 69)
            #expect(error.message.contains("/nonexistent/model"), "\(error)")
        }
        #expect(engine.callCount == 0)
    }
}
