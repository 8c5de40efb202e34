import AttuneAudio
import AttuneEngine
import AttuneRecognizer
import AttuneTestSupport
import Foundation
import Testing

/// A live call with `asr`: a recogniser thread per recognised channel, fed by the session's tap, its utterances
/// joining the call like `asr` messages, joined before `call_end`.
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
