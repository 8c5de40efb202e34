import AttuneAudio
import AttuneRecognizer
import AttuneTestSupport
import AttuneText
import Foundation
import Testing

/// The built-in recogniser on real recordings (pocketsphinx-testdata) and synthetic telephone speech.
/// Decoding takes a few seconds per utterance on a busy machine, so the suite runs serially.
@Suite("Built-in recogniser (pocketsphinx)", .serialized)
struct SpeechRecognizerTests {
    static let librivox = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"

    /// All samples of a mono file, and its rate.
    static func load(_ path: String) throws -> (samples: [Float], rate: Int) {
        let reader = try SoundFileReader(path: path)
        var out: [Float] = []
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4096 * reader.channelCount)
        defer { buffer.deallocate() }
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            for i in 0..<n { out.append(buffer[i * reader.channelCount]) }
        }
        return (out, reader.sampleRate)
    }

    /// Recognises `samples` in blocks of `block` samples, as a tap would deliver them.
    static func recognise(_ samples: [Float], rate: Int, block: Int = 1024) throws -> [TranscriptUtterance] {
        let r = try SpeechRecognizer(configuration: SpeechRecognizerConfiguration(), channel: 1, sampleRate: rate)
        var out: [TranscriptUtterance] = []
        try samples.withUnsafeBufferPointer { all in
            var i = 0
            while i < all.count {
                out += try r.process(UnsafeBufferPointer(rebasing: all[i..<min(all.count, i + block)]))
                i += block
            }
        }
        return out + (try r.finish())
    }

    /// Speech synthesised by `command` (writing WAV to the path that replaces `OUT`), as telephone audio:
    /// 300–3400 Hz, 8 kHz μ-law.
    static func telephone(_ command: [String], in dir: TempDir) throws -> String {
        let raw = dir.file("raw.wav"), phone = dir.file("phone.wav")
        try run(command.map { $0 == "OUT" ? raw : $0 })
        try run(["sox", "-D", "-V1", raw, "-r", "8000", "-e", "mu-law", "-c", "1", phone, "sinc", "300-3400"])
        return phone
    }

    static func run(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw RecognizerError("\(arguments[0]) failed", exitCode: 1) }
    }

    static func words(_ us: [TranscriptUtterance]) -> [String] { us.flatMap { $0.words.map(\.word) } }

    @Test("a LibriVox recording: key words, in order, at plausible times on the call's clock")
    func librivox() throws {
        let (samples, rate) = try Self.load(Self.librivox)
        // 1.5 s of silence first: the times must move with it, so they are on the stream's clock, not the utterance's.
        let lead = Array(repeating: Float(0), count: 3 * rate / 2)
        let us = try Self.recognise(lead + samples, rate: rate)
        let words = us.flatMap(\.words)
        let text = Self.words(us)
        // "he was not an ill disposed young man"; pocketsphinx's own expected output has "he was not" and "young man".
        for w in ["he", "was", "not", "young", "man"] { #expect(text.contains(w), "\(w) missing from \(text)") }
        let duration = Double(samples.count) / Double(rate) + 1.5
        let he = try #require(words.first { $0.word == "he" }), man = try #require(words.last { $0.word == "man" })
        #expect(he.start >= 1.5 && he.start < 2.0, "speech starts ~0.2 s into the file, after 1.5 s of lead: \(he)")
        #expect(man.end > 3.5 && man.end <= duration, "the last word ends near the end of the speech: \(man)")
        for (a, b) in zip(words, words.dropFirst()) { #expect(a.end <= b.start + 1e-9, "words overlap: \(a) \(b)") }
        for w in words { #expect((0...1).contains(w.confidence ?? -1)) }
        #expect(us.allSatisfy { $0.channel == 1 && $0.final })
    }

    @Test("results do not depend on how the audio is cut into blocks")
    func blockIndependent() throws {
        let (samples, rate) = try Self.load(Self.librivox)
        #expect(try Self.recognise(samples, rate: rate, block: 1024) == (try Self.recognise(samples, rate: rate, block: 333)))
    }

    /// Measured (README, "Built-in recogniser"): the en-us model does not recognise espeak-ng's formant voice.
    /// This sentence came out as "i want and don't and we don't" and, at other speeds and voices, without "cancel"
    /// in five of six tries. The expectation stays the real one; when it starts passing, the known issue fails and
    /// this note must go.
    @Test("espeak-ng telephone speech with cancel and refund (known to fail: pocketsphinx misses the cue words)")
    func espeakCueWords() throws {
        let dir = TempDir()
        let phone = try Self.telephone(["espeak-ng", "-v", "en-us", "-s", "130", "-w", "OUT",
                                        "I want to cancel my account and get a refund."], in: dir)
        let (samples, rate) = try Self.load(phone)
        #expect(rate == 8000)
        let text = Self.words(try Self.recognise(samples, rate: rate))
        withKnownIssue("pocketsphinx's en-us model does not recognise espeak-ng's voice; got \(text)") {
            #expect(text.contains("cancel") && text.contains("refund"), "\(text)")
        }
    }

    @Test("flite telephone speech: cancel and refund are recognised at 8 kHz")
    func fliteCueWords() throws {
        let dir = TempDir()
        let phone = try Self.telephone(["flite", "-voice", "awb", "-t", "I want to cancel my account and get a refund.",
                                        "-o", "OUT"], in: dir)
        let (samples, rate) = try Self.load(phone)
        let us = try Self.recognise(samples, rate: rate)
        let text = Self.words(us)
        #expect(text.contains("cancel"), "\(text)")
        #expect(text.contains("refund"), "\(text)")
        let cancel = try #require(us.flatMap(\.words).first { $0.word == "cancel" })
        #expect(cancel.start > 0.3 && cancel.end < Double(samples.count) / 8000, "\(cancel)")
    }

    @Test("silence and low noise make no utterances; the clock still advances")
    func silence() throws {
        var generator = SeededGenerator(seed: 7)
        // 5 s of digital silence, then 5 s of noise 60 dB below full scale: below the endpointer's −55 dBFS floor.
        let samples = [Float](repeating: 0, count: 40000) + (0..<40000).map { _ in Float.random(in: -0.001...0.001, using: &generator) }
        let r = try SpeechRecognizer(configuration: SpeechRecognizerConfiguration(), channel: 0, sampleRate: 8000)
        let got = try samples.withUnsafeBufferPointer { try r.process($0) } + (try r.finish())
        #expect(got.isEmpty, "\(got)")
        #expect(abs(r.processedSeconds - 10) < 1e-9)
    }

    @Test("a missing model is a clear error: 78 when configured, 69 when the package is missing")
    func missingModel() throws {
        for configured in [true, false] {
            let model = RecognizerModel(directory: "/nonexistent/pocketsphinx-model", configured: configured)
            do {
                _ = try SpeechRecognizer(configuration: SpeechRecognizerConfiguration(model: model), channel: 0, sampleRate: 8000)
                Issue.record("a recogniser without a model was created")
            } catch {
                #expect(error.exitCode == (configured ? 78 : 69))
                #expect(error.message.contains("/nonexistent/pocketsphinx-model: no such model directory"), "\(error)")
                #expect(error.message.contains(configured ? "ATTUNE_POCKETSPHINX_MODEL" : "pocketsphinx-en-us"), "\(error)")
            }
        }
        // A directory without the files: each missing one is named.
        let dir = TempDir()
        let model = RecognizerModel(directory: dir.path, configured: true)
        #expect(throws: RecognizerError.self) { try model.check() }
        do { try model.check() } catch { #expect(error.message.contains("en-us.lm.bin") && error.message.contains("en-us/mdef")) }
    }

    @Test("the recogniser thread reads its ring, keeps time across a gap and delivers the last utterance on stop")
    func thread() throws {
        let (samples, rate) = try Self.load(Self.librivox)
        let ring = SPSCRingBuffer(minimumCapacity: 1 << 16)
        let got = Mutex<[TranscriptUtterance]>([])
        let recognizer = try SpeechRecognizer(configuration: SpeechRecognizerConfiguration(), channel: 0, sampleRate: rate)
        let thread = RecognizerThread(recognizer, ring: ring) { u in got.withLock { $0.append(u) } }
        // The first second is lost (skipped as a gap), then the recording follows.
        ring.skip(rate)
        samples.withUnsafeBufferPointer { all in
            var i = 0
            while i < all.count {
                let n = min(1024, all.count - i)
                while !ring.canWrite(n) { usleep(1000) }
                ring.write(UnsafeBufferPointer(rebasing: all[i..<(i + n)]))
                i += n
            }
        }
        thread.join()
        #expect(thread.hasExited && thread.failure == nil)
        #expect(thread.lostSamples == rate)
        let words = got.withLock { $0 }.flatMap(\.words)
        let he = try #require(words.first { $0.word == "he" })
        #expect(he.start >= 1.0 && he.start < 1.5, "after the 1 s gap: \(he)")
        #expect(words.contains { $0.word == "man" })
    }
}

import Synchronization
