import ArgumentParser
import Foundation
import AttuneAudio
import AttuneEngine
import AttuneBus
import AttuneEvents
import AttuneRecognizer
import AttuneText
#if canImport(Glibc)
import Glibc
#endif

/// What an offline analysis reads — the audio and how to take it, the channels' roles, the transcript — shared by
/// `attune analyze` and `attune plot` as one option group, so an input option added here reaches both verbs.
struct AnalysisInput: ParsableArguments {
    @Argument(help: "Audio file, or - for stdin.")
    var file: String

    @Option(help: "Roles of the channels in order, e.g. agent,customer (each agent, customer or unknown).")
    var roles: String?

    @Option(help: "Read headerless PCM: ENCODING:RATE:CHANNELS, e.g. s16le:8000:2 (encodings s16le, s24le, s32le, f32le, u8, mulaw, alaw).")
    var raw: String?

    @Option(help: "Transcript whose words go into the segments they fall in: native NDJSON asr lines, Vosk or whisper.cpp JSON, WebVTT or SRT.")
    var transcript: String?

    @Option(help: ArgumentHelp("Channel for transcript utterances that name none: N, and/or LABEL=N per speaker label (WebVTT <v Name>, SPEAKER_01: prefixes, whisper.cpp speakers), e.g. SPEAKER_00=1,SPEAKER_01=0; a comma inside a label is written \\, (an entry splits at its last =).", valueName: "spec"))
    var transcriptChannel: String?

    @Option(help: "Recognise speech with the built-in recogniser instead of reading a transcript: pocketsphinx (English). Its words are evidence for events only; segments and reports do not show them.")
    var asr: String?

    @Option(help: "Language of event explanations and suggestions, and of transcripts that do not say: en or vi.")
    var lang: String = "en"

    @Flag(help: "Leave out event records (emotion and conversation events).")
    var noEvents = false

    /// The options above that take a value, for ``dashArgumentProblem(_:subcommand:optionsWithValues:)``.
    static let optionsWithValues: Set<String> = ["--roles", "--raw", "--transcript", "--transcript-channel", "--asr", "--lang"]

    /// How both verbs describe their input in `--help`.
    static let discussion = """
        FILE is anything libsndfile reads (WAV PCM/float/μ-law/A-law, FLAC, OGG, AIFF, AU, …), 1–8 channels, \
        8000–48000 Hz. With --raw, FILE (or - for stdin) is headerless PCM, e.g. \
        `sox call.wav -t s16 - | attune analyze - --raw s16le:8000:2`. Without --raw, - reads a self-describing \
        stream (e.g. WAV) from stdin.
        --transcript - reads the transcript from stdin (then FILE must be a path); FIFOs and <(cmd) work too.
        Errors are one line on stderr, `attune: FILE: what went wrong`, with control characters and bytes \
        that are not UTF-8 in names escaped (\\n, \\x1b). A file whose name starts with - is ./-name or -- -name.
        --asr pocketsphinx recognises English speech with the built-in recogniser on the customer channels (all \
        channels when --roles gives no roles). Its words are evidence for events only, never shown as a \
        transcript: segment records carry no words and plot draws none. \
        ATTUNE_ASR_TRACE=1 prints its utterances on stderr as native transcript lines.
        Events come with the other records: emotion kinds on the channels --roles names customer (none without \
        --roles), conversation events (dead air, slow response, talk-over) on all; \
        --no-events leaves them out, --lang vi explains them in Vietnamese.
        """

    /// Reads the transcript, opens the audio and runs the whole analysis, handing each record to `emit`; then
    /// prints the analysis' warnings on stderr. Any failure ends the program with its sysexits code (64 usage,
    /// 65 bad data, 66 missing input, 74 I/O), naming the file. `adjust` may change the options before the run.
    func analyse(frames: Bool, adjust: (inout AnalysisOptions) -> Void = { _ in }, emit: (AnalysisRecord) -> Void) {
        // A reader that goes away (`attune analyze x | head`) must surface as EPIPE, which the writer reports
        // with exit 74, not as a death by signal.
        signal(SIGPIPE, SIG_IGN)
        let parsedRoles = parseRoles()
        let audio = PathArgument(file)
        var words: Transcript?
        var transcriptName = ""
        if transcriptChannel != nil && transcript == nil { fail(64, "attune: --transcript-channel needs --transcript") }
        let recognizer = asrConfiguration()
        let language = parseLanguage()
        if let transcript {
            if transcript == "-" && file == "-" {
                fail(64, "attune: --transcript -: stdin cannot be both the audio and the transcript; give one of them by path")
            }
            do {
                let channels = try ChannelMap(parsing: transcriptChannel ?? "0", roles: parsedRoles.map(\.rawValue))
                if transcript == "-" {
                    if isatty(0) != 0 { fail(64, "attune: --transcript -: stdin is a terminal; pipe the transcript in") }
                    transcriptName = "-"
                    words = try Transcript(reading: 0, path: "-", channels: channels)
                } else {
                    let path = PathArgument(transcript)
                    transcriptName = path.name
                    words = try Transcript(contentsOf: path.bytes, name: path.name, channels: channels)
                }
            } catch { fail(error.exitCode, "attune: \(error)") }
        }
        do {
            let source = try openSource(audio)
            if !parsedRoles.isEmpty, let problem = roleCountProblem(given: parsedRoles.count, channels: source.channelCount, source: audio.name) {
                fail(64, "attune: --roles: \(problem)")
            }
            if let words {
                do { try words.check(channelCount: source.channelCount, audio: audio.name, path: transcriptName) }
                catch { fail(error.exitCode, "attune: \(error)") }
            }
            var options = AnalysisOptions(call: callName(file), frames: frames, roles: parsedRoles, transcript: words)
            options.asr = recognizer
            if recognizer != nil, ProcessInfo.processInfo.environment["ATTUNE_ASR_TRACE"] != nil {
                options.utteranceTap = { standardError.write(asrLine($0)) }
            }
            options.events = !noEvents
            options.fusion.language = language
            if let spec = ProcessInfo.processInfo.environment["ATTUNE_FUSION_SETTINGS"] {
                // Tools/emotion_eval.py tunes on its fit split through this.
                switch options.fusion.settings.overridden(by: spec) {
                case .success(let s): options.fusion.settings = s
                case .failure(let e): fail(64, "attune: ATTUNE_FUSION_SETTINGS: \(e)")
                }
            }
            if options.events {
                // Emotion kinds need a channel named customer (--roles): stderr stays for errors and repaired input,
                // so that is said in --help and the README rather than warned on every run.
                do { options.textAnalyzer = try TextAnalyzer.bundled() } catch { fail(78, "attune: \(error)") }
            }
            if isLiveInput(audio) {
                // Records as they happen, not when a 64 KiB buffer fills; and Ctrl-C keeps what was analysed.
                stopAtNextBlockOnSignal()
                options.afterBlock = {
                    standardOutput.flush()
                    return !liveStopRequested.load(ordering: .relaxed)
                }
            }
            adjust(&options)
            let warnings = try OfflineAnalysis(options: options).run(source, emit: emit)
            standardOutput.flush()
            for w in source.warnings { warn(w) }
            for w in warnings { warn("\(w)") }
        } catch {
            fail(error.exitCode, "attune: \(error)")
        }
    }

    private func parseLanguage() -> Language {
        guard let l = Language(rawValue: lang) else { fail(64, "attune: --lang: '\(lang)' is not supported (en, vi)") }
        return l
    }

    /// The recogniser `--asr` asks for, its model checked (69 when not installed, 78 when misconfigured); nil
    /// without `--asr`. With `--transcript` too it is a usage error: the words would come from two places.
    private func asrConfiguration() -> SpeechRecognizerConfiguration? {
        guard let asr else { return nil }
        guard asr == "pocketsphinx" else { fail(64, "attune: --asr: unknown recogniser '\(asr)' (pocketsphinx)") }
        if transcript != nil { fail(64, "attune: --asr and --transcript both give the words; use one of them") }
        let configuration = SpeechRecognizerConfiguration.fromEnvironment()
        do { try configuration.model.check() } catch { fail(error.exitCode, "attune: --asr pocketsphinx: \(error)") }
        return configuration
    }

    /// `agent,customer` → roles; an unknown or empty entry is a usage error (64).
    private func parseRoles() -> [Role] {
        guard let roles else { return [] }
        var parsed: [Role] = []
        for r in roles.split(separator: ",", omittingEmptySubsequences: false) {
            let name = r.trimmingCharacters(in: .whitespaces)
            guard let role = Role(rawValue: name) else {
                fail(64, "attune: --roles: unknown role '\(name)' in '\(roles)' (use agent, customer or unknown, comma-separated)")
            }
            parsed.append(role)
        }
        return parsed
    }

    /// The reader for `audio`: raw PCM when `--raw` is given, libsndfile otherwise (also on stdin, for formats
    /// it can parse from a pipe).
    private func openSource(_ audio: PathArgument) throws(AudioError) -> any AudioSource {
        if let raw {
            let format = try RawFormat(parsing: raw)
            if file == "-" {
                if isatty(0) != 0 { throw AudioError(.usage, path: "-", "stdin is a terminal; pipe the raw \(format) audio in") }
                return try RawPCMReader(fileDescriptor: 0, name: "-", format: format)
            }
            return try RawPCMReader(fileDescriptor: openForReading(audio.bytes, name: audio.name), name: audio.name, format: format,
                                    closeWhenDone: true)
        }
        guard file == "-" else {
            return try SoundFileReader(fileDescriptor: openForReading(audio.bytes, name: audio.name), name: audio.name, closeWhenDone: true)
        }
        if isatty(0) != 0 {
            throw AudioError(.usage, path: "-", "stdin is a terminal; pipe audio in, and give --raw \(RawFormat.usage) for headerless PCM")
        }
        // What is on stdin is data, not a usage error: unrecognised bytes are 65 like the same bytes in a file.
        return try SoundFileReader(fileDescriptor: 0, name: "-", unrecognisedHint: "For headerless PCM give --raw \(RawFormat.usage)")
    }
}

/// The call id for a file: its base name without directory and extension.
func callName(_ path: String) -> String {
    if path == "-" { return "stdin" }
    let base = path.split(separator: "/").last.map(String.init) ?? path
    if let dot = base.lastIndex(of: "."), dot != base.startIndex { return String(base[..<dot]) }
    return base
}

/// One recognised utterance as a native transcript line (what `--transcript` reads back), newline-terminated.
func asrLine(_ u: TranscriptUtterance) -> [UInt8] {
    let words: [JSONValue] = u.words.map { w in
        var fields: [(String, JSONValue)] = [("w", .string(w.word)), ("start", .number(w.start)), ("end", .number(w.end))]
        if let c = w.confidence { fields.append(("conf", .number(c))) }
        return .object(fields)
    }
    let value: JSONValue = .object([("channel", .number(Double(u.channel))), ("start", .number(u.start)), ("end", .number(u.end)),
                                    ("text", .string(u.text)), ("final", .bool(u.final)), ("words", .array(words))])
    var out: [UInt8] = []
    value.write(to: &out)
    out.append(UInt8(ascii: "\n"))
    return out
}
