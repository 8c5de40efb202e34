import AttuneAudio
import AttuneText
import Foundation

/// How the built-in recogniser runs.
public struct SpeechRecognizerConfiguration: Sendable, Equatable {
    public var model: RecognizerModel
    /// Rate the decoder runs at for input below 16 kHz (telephone audio): 16000 upsamples it with libsoxr and
    /// keeps the en-us model's own front end; 8000 runs the front end at 8 kHz with its filter bank cut at
    /// ``narrowbandUpperHz``. README, "Built-in recogniser", has the measurements behind the default.
    public var narrowbandDecoderRate: Int
    /// Upper edge of the mel filter bank when the decoder runs at 8 kHz (the model's 6800 Hz is above Nyquist).
    public var narrowbandUpperHz: Int = 3500
    /// Silence that ends an utterance (s).
    public var endSilence: Double = 0.5
    /// Audio kept before the first speech frame, so a soft onset is not cut (s).
    public var preroll: Double = 0.3
    /// Longest utterance decoded at once (s): longer speech is cut there, which bounds the decoder's memory and
    /// how long text waits.
    public var maximumUtterance: Double = 20
    /// Speech shorter than this is a click or a breath, not worth a decode (s).
    public var minimumSpeech: Double = 0.1

    public init(model: RecognizerModel = .fromEnvironment(), narrowbandDecoderRate: Int = 16000) {
        self.model = model
        self.narrowbandDecoderRate = narrowbandDecoderRate
    }

    /// The configuration `attune` and `attuned` use: the model from the environment, and
    /// `ATTUNE_ASR_NARROWBAND_RATE=8000` to try the 8 kHz front end (what `Tools/asr_wer.py --compare-rates` sets).
    public static func fromEnvironment() -> SpeechRecognizerConfiguration {
        var c = SpeechRecognizerConfiguration()
        if ProcessInfo.processInfo.environment["ATTUNE_ASR_NARROWBAND_RATE"] == "8000" { c.narrowbandDecoderRate = 8000 }
        return c
    }

    /// The decoder's rate for input at `inputRate`.
    func decoderRate(forInputRate inputRate: Int) -> Int { inputRate >= 16000 ? 16000 : narrowbandDecoderRate }
}

/// English speech recognition of one channel with pocketsphinx: audio in, in call-time order, and
/// ``TranscriptUtterance``s out, with word times on the call's timeline and each word's posterior confidence, marked
/// ``UtteranceOrigin/builtInRecognizer`` (evidence for events, not words to show).
///
/// Utterances are cut on silence by an energy endpointer (a 10 ms frame is speech when it is 12 dB above the
/// tracked noise floor and above −55 dBFS; ``SpeechRecognizerConfiguration/endSilence`` of non-speech ends the
/// utterance) rather than by pocketsphinx's own VAD, whose silence removal drops frames and so shifts the word
/// times it reports. Each utterance is then decoded whole (see ``PocketSphinxDecoder/decode(_:)``). Only final
/// utterances are produced; there are no partial results.
///
/// Not thread-safe and not for the DSP path: it allocates and decodes for as long as an utterance takes. Run it on
/// its own thread (``RecognizerThread``) or, offline, between blocks.
public final class SpeechRecognizer {
    public let channel: Int
    public let inputRate: Int
    public let decoderRate: Int
    public let configuration: SpeechRecognizerConfiguration

    private let decoder: PocketSphinxDecoder
    private let resampler: Resampler?
    private let frameSamples: Int
    /// The current utterance's audio at the input rate, or while idle the pre-roll.
    private var audio: [Float] = []
    /// Input samples consumed so far, gaps included: the channel's clock.
    private var position = 0
    private var inUtterance = false
    private var speechFrames = 0
    private var silentFrames = 0
    /// Energy accumulated over the frame being filled.
    private var frameEnergy: Double = 0
    private var frameFill = 0
    /// Tracked background level (dB): follows quieter frames at once and rises slowly, so speech does not lift it.
    private var noiseFloor: Double = -70

    /// Loads the decoder (about a second, and some 20 MB for the language model and dictionary). `channel` is
    /// what the utterances carry.
    public init(configuration: SpeechRecognizerConfiguration, channel: Int, sampleRate: Int) throws(RecognizerError) {
        try configuration.model.check()
        self.channel = channel
        self.configuration = configuration
        inputRate = sampleRate
        decoderRate = configuration.decoderRate(forInputRate: sampleRate)
        var arguments = [("-hmm", configuration.model.acousticModel), ("-lm", configuration.model.languageModel),
                         ("-dict", configuration.model.dictionary), ("-samprate", "\(decoderRate)"),
                         // The endpointer above cuts utterances; pocketsphinx's VAD would drop frames and shift times.
                         ("-remove_silence", "no"), ("-dither", "no"),
                         // ps_init prints its whole configuration to the log file, past the log callback.
                         ("-logfn", "/dev/null")]
        var featureFile: String?
        defer { if let featureFile { unlink(featureFile) } }
        if decoderRate < 16000 {
            // The model's feat.params (read after our arguments, so it wins) puts the filter bank's top at 6800 Hz,
            // above 8 kHz audio's Nyquist: a copy with the top lowered replaces it, for ps_init only.
            let path = try Self.narrowbandFeatureParameters(configuration)
            featureFile = path
            arguments += [("-featparams", path), ("-nfft", "256")]
        }
        decoder = try PocketSphinxDecoder(PocketSphinxConfig(arguments), model: configuration.model)
        if sampleRate != decoderRate {
            do { resampler = try Resampler(from: sampleRate, to: decoderRate) } catch {
                throw RecognizerError("recogniser: \(error)", exitCode: 74)
            }
        } else {
            resampler = nil
        }
        frameSamples = max(1, sampleRate / 100)
        audio.reserveCapacity(Int((configuration.maximumUtterance + 1) * Double(sampleRate)))
    }

    /// Writes the model's feat.params with `-upperf` lowered for 8 kHz decoding to a temporary file; returns its path.
    private static func narrowbandFeatureParameters(_ configuration: SpeechRecognizerConfiguration) throws(RecognizerError) -> String {
        let source = configuration.model.acousticModel + "/feat.params"
        guard let text = try? String(contentsOfFile: source, encoding: .utf8) else {
            throw RecognizerError("\(source): cannot be read", exitCode: 74)
        }
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("-upperf") } + ["-upperf \(configuration.narrowbandUpperHz)"]
        var template = Array((NSTemporaryDirectory() + "/attune-featparams-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw RecognizerError("mkstemp: \(String(cString: strerror(errno)))", exitCode: 74) }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else {
            unlink(path)
            throw RecognizerError("\(path): write failed", exitCode: 74)
        }
        return path
    }

    /// Seconds of the channel's audio consumed so far.
    public var processedSeconds: Double { Double(position) / Double(inputRate) }

    /// Every utterance that starts before this time has been returned: the start of the open utterance, or the
    /// start of the pre-roll while idle. Offline analysis holds segments back until it passes their end.
    public var settledSeconds: Double { Double(position - audio.count) / Double(inputRate) }

    /// Feeds the next samples of the channel (full scale ±1); returns the utterances they completed.
    public func process(_ samples: UnsafeBufferPointer<Float>) throws(RecognizerError) -> [TranscriptUtterance] {
        var out: [TranscriptUtterance] = []
        var i = 0
        while i < samples.count {
            // Up to the end of the current 10 ms frame at a time.
            let n = min(samples.count - i, frameSamples - frameFill)
            let part = UnsafeBufferPointer(rebasing: samples[i..<(i + n)])
            audio.append(contentsOf: part)
            var energy: Float = 0
            for x in part { energy += x * x }
            frameEnergy += Double(energy)
            frameFill += n
            position += n
            i += n
            if frameFill == frameSamples, let u = try endFrame() { out.append(u) }
        }
        return out
    }

    /// Accounts for `count` samples lost before the recogniser (its ring was full): the open utterance ends there,
    /// and the clock moves on so later words keep their times.
    public func skip(_ count: Int) throws(RecognizerError) -> [TranscriptUtterance] {
        guard count > 0 else { return [] }
        let u = inUtterance ? try endUtterance() : nil
        audio.removeAll(keepingCapacity: true)
        frameEnergy = 0
        frameFill = 0
        position += count
        return u.map { [$0] } ?? []
    }

    /// Ends the stream: decodes the open utterance, if any.
    public func finish() throws(RecognizerError) -> [TranscriptUtterance] {
        let u = inUtterance ? try endUtterance() : nil
        audio.removeAll(keepingCapacity: true)
        return u.map { [$0] } ?? []
    }

    /// Classifies the frame just filled and moves the endpointer on.
    private func endFrame() throws(RecognizerError) -> TranscriptUtterance? {
        let level = 10 * log10(frameEnergy / Double(frameFill) + 1e-12)
        frameEnergy = 0
        frameFill = 0
        noiseFloor = max(-70, level < noiseFloor ? level : noiseFloor + 0.005)
        let speech = level > noiseFloor + 12 && level > -55
        if !inUtterance {
            if speech {
                inUtterance = true
                speechFrames = 1
                silentFrames = 0
            } else {
                let keep = Int(configuration.preroll * Double(inputRate))
                if audio.count > 2 * keep { audio.removeFirst(audio.count - keep) }
            }
            return nil
        }
        if speech {
            speechFrames += 1
            silentFrames = 0
        } else {
            silentFrames += 1
        }
        let ended = Double(silentFrames) / 100 >= configuration.endSilence
        let tooLong = Double(audio.count) >= configuration.maximumUtterance * Double(inputRate)
        guard ended || tooLong else { return nil }
        let u = try endUtterance()
        audio.removeAll(keepingCapacity: true)
        return u
    }

    /// Decodes the utterance held in `audio` (which ends at `position`) and leaves the endpointer idle.
    private func endUtterance() throws(RecognizerError) -> TranscriptUtterance? {
        inUtterance = false
        guard Double(speechFrames) / 100 >= configuration.minimumSpeech else { return nil }
        let start = Double(position - audio.count) / Double(inputRate)
        var pcm: [Int16] = []
        pcm.reserveCapacity(audio.count * decoderRate / inputRate + 64)
        func append(_ block: UnsafeBufferPointer<Float>) {
            for x in block { pcm.append(Int16(max(-32768, min(32767, (x * 32768).rounded())))) }
        }
        audio.withUnsafeBufferPointer { input in
            if let resampler { resampler.process(input, end: true, append) } else { append(input) }
        }
        if let failure = resampler?.failure { throw RecognizerError("recogniser: \(failure)", exitCode: 74) }
        let decoded = try pcm.withUnsafeBufferPointer { buffer throws(RecognizerError) in try decoder.decode(buffer) }
        var words: [TranscriptWord] = []
        for d in decoded {
            guard let word = Self.spoken(d.word) else { continue }
            // Frames are 10 ms from the start of what was decoded; a segment's last frame is inclusive.
            words.append(TranscriptWord(word: word, start: start + Double(d.first) / 100, end: start + Double(d.last + 1) / 100,
                                        confidence: (d.confidence * 1000).rounded() / 1000))
        }
        guard let first = words.first, let last = words.last else { return nil }
        return TranscriptUtterance(channel: channel, start: first.start, end: last.end,
                                   text: words.map(\.word).joined(separator: " "), final: true, words: words, origin: .builtInRecognizer)
    }

    /// The dictionary word pocketsphinx reported as plain text: nil for silence and fillers (`<sil>`, `<s>`,
    /// `[NOISE]`, `++…++`), alternate pronunciations (`read(2)`) folded into their word.
    static func spoken(_ word: String) -> String? {
        guard let first = word.first, !"<[+".contains(first) else { return nil }
        if let paren = word.firstIndex(of: "("), word.hasSuffix(")") { return String(word[..<paren]) }
        return word
    }
}
