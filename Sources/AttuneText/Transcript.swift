import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One recognised word with its time span in seconds from the start of the call's audio.
public struct TranscriptWord: Sendable, Equatable {
    public var word: String
    public var start: Double
    public var end: Double
    /// Recogniser confidence 0…1, when the transcript gives one.
    public var confidence: Double?

    public init(word: String, start: Double, end: Double, confidence: Double? = nil) {
        self.word = word; self.start = start; self.end = end; self.confidence = confidence
    }

    /// Middle of the word, the instant used to place it inside a segment.
    public var midpoint: Double { (start + end) / 2 }
}

/// Where an utterance's words came from, which decides whether they may be shown as what was said.
public enum UtteranceOrigin: Sendable, Equatable {
    /// A transcript: a file (`--transcript`) or an `asr` message from a recogniser the user runs. Its words are shown
    /// (segment records, reports) and read for events.
    case transcript
    /// Attune's built-in recogniser (`--asr pocketsphinx`): a cue-word spotter that gets too many other words wrong
    /// for them to be shown or stored as what the caller said, so its words are read for events only.
    case builtInRecognizer
}

/// One recognised utterance: the fields of an `asr` message.
public struct TranscriptUtterance: Sendable, Equatable {
    public var channel: Int
    public var start: Double
    public var end: Double
    public var text: String
    public var final: Bool
    /// Word timings; when the source has none they are spread evenly over the utterance by ``Transcript``.
    public var words: [TranscriptWord]
    /// The line of the file the utterance was read from (its cue timing for subtitles), for errors found later,
    /// such as a channel the audio does not have; nil when the format has no useful line (one JSON document).
    public var line: Int?
    /// The speaker label the file gave the utterance (WebVTT `<v Name>`, a `SPEAKER_01:` prefix, whisper.cpp's
    /// speaker), as written; ``ChannelMap`` turns it into ``channel``.
    public var speaker: String?
    /// Who produced it: a transcript's words are shown, the built-in recogniser's only read for events.
    public var origin: UtteranceOrigin

    public init(channel: Int = 0, start: Double, end: Double, text: String, final: Bool = true, words: [TranscriptWord] = [],
                line: Int? = nil, speaker: String? = nil, origin: UtteranceOrigin = .transcript) {
        self.channel = channel; self.start = start; self.end = end; self.text = text; self.final = final; self.words = words
        self.line = line; self.speaker = speaker; self.origin = origin
    }
}

/// Why a transcript could not be read: names the file, the line where there is one, and the cause.
public struct TranscriptError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var line: Int?
    public var reason: String
    /// Why it failed, which decides the sysexits code.
    public var kind: Kind

    public enum Kind: Sendable, Equatable {
        /// Malformed or invalid content (65).
        case badData
        /// The file could not be opened at all (66).
        case missing
        /// Reading failed part-way for a reason outside the data (74).
        case io
        /// The options given do not fit the transcript, e.g. speakers no channel map places (64).
        case usage
    }

    public init(path: String, line: Int? = nil, _ reason: String, kind: Kind = .badData) {
        self.path = path; self.line = line; self.reason = reason; self.kind = kind
    }

    public init(path: String, line: Int? = nil, _ reason: String, missing: Bool) {
        self.init(path: path, line: line, reason, kind: missing ? .missing : .badData)
    }

    /// True when the file could not be opened at all (sysexits 66) rather than parsed (65).
    public var missing: Bool { kind == .missing }

    public var exitCode: Int32 {
        switch kind {
        case .badData: 65
        case .missing: 66
        case .io: 74
        case .usage: 64
        }
    }
    public var description: String { line.map { "\(path):\($0): \(reason)" } ?? "\(path): \(reason)" }
}

/// A whole transcript, in any format Attune reads: native NDJSON (`asr` messages, wrapped or not),
/// Vosk JSON, whisper.cpp JSON, WebVTT and SRT, recognised by content.
public struct Transcript: Sendable, Equatable {
    /// Final utterances in file order; interim (`"final": false`) ones are dropped, a later final one supersedes them.
    public var utterances: [TranscriptUtterance]

    public init(utterances: [TranscriptUtterance]) { self.utterances = utterances }

    /// Reads and parses `path`; a FIFO or `/dev/fd/N` (`<(cmd)`) is read to its end like a file.
    public init(contentsOf path: String, channels: ChannelMap = ChannelMap()) throws(TranscriptError) {
        try self.init(contentsOf: Array(path.utf8CString), name: path, channels: channels)
    }

    /// Reads and parses the file at `path`, given as the bytes of a C string (so names that are not UTF-8 work);
    /// `name` is what errors call it.
    public init(contentsOf path: [CChar], name: String, channels: ChannelMap = ChannelMap()) throws(TranscriptError) {
        let fd = path.withUnsafeBufferPointer { open($0.baseAddress!, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            throw TranscriptError(path: name, "cannot open transcript: \(String(cString: strerror(errno)))", missing: true)
        }
        defer { close(fd) }
        try self.init(reading: fd, path: name, channels: channels)
    }

    /// Reads `fd` (a file, a pipe, stdin) to its end and parses it; the descriptor stays open. `path` names the
    /// source in errors. A directory is missing input (66), a failing read an I/O error (74), more than
    /// ``maxBytes`` bad data (65): reading stops there, so `/dev/zero` or a runaway pipe cannot exhaust memory.
    public init(reading fd: Int32, path: String, channels: ChannelMap = ChannelMap()) throws(TranscriptError) {
        let bytes: [UInt8]
        do throws(BoundedReadFailure) { bytes = try readWhole(fd, limit: Self.maxBytes) } catch {
            switch error {
            case .directory: throw TranscriptError(path: path, "is a directory, not a transcript", missing: true)
            case .tooLarge: throw TranscriptError(path: path, "transcript is larger than \(Self.maxBytes >> 20) MiB; split it by call")
            case .read(let code, let after):
                throw TranscriptError(path: path, "read failed after \(after) bytes: read: \(String(cString: strerror(code)))", kind: .io)
            }
        }
        try self.init(data: bytes, path: path, channels: channels)
    }

    /// The largest transcript read: an hour-long call's is well under a megabyte, so this only stops runaway input.
    public static let maxBytes = 64 << 20

    /// Parses the bytes of a transcript file, which must be UTF-8 text; the first byte that is not names its line.
    public init(data: [UInt8], path: String = "-", channels: ChannelMap = ChannelMap()) throws(TranscriptError) {
        guard data.count <= Self.maxBytes else {
            throw TranscriptError(path: path, "transcript is larger than \(Self.maxBytes >> 20) MiB; split it by call")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            let (line, column, byte) = Self.firstInvalidUTF8(data)
            throw TranscriptError(path: path, line: line,
                                  "not UTF-8 text: byte 0x\(String(byte, radix: 16, uppercase: true)) at column \(column) "
                                  + "(convert it, e.g. iconv -f CP1258 -t UTF-8)")
        }
        try self.init(parsing: text, path: path, channels: channels)
    }

    /// The line, byte column (from 1) and value of the first byte that does not decode as UTF-8.
    static func firstInvalidUTF8(_ data: [UInt8]) -> (line: Int, column: Int, byte: UInt8) {
        var parser = Unicode.UTF8.ForwardParser()
        var bytes = data.makeIterator()
        var line = 1, lineStart = 0, offset = 0
        while true {
            switch parser.parseScalar(from: &bytes) {
            case .valid(let scalar):
                offset += scalar.count
                if scalar.count == 1 && scalar.first == 0x0A { line += 1; lineStart = offset }
            case .error:
                return (line, offset - lineStart + 1, data[min(offset, data.count - 1)])
            case .emptyInput:
                return (line, offset - lineStart + 1, 0)
            }
        }
    }

    /// Parses transcript text; `path` only names the source in errors; `channels` places utterances whose format
    /// names no channel (see ``ChannelMap``).
    ///
    /// Utterances are sorted by start time (stable), since files assembled from several recognisers or channels
    /// need not be in order. Two final utterances of one channel that overlap by more than ``overlapTolerance``
    /// are refused, naming both lines: one voice says one thing at a time, so such a file is a duplicate or a
    /// mix-up, and reading both would count the words twice. Interim ones (`"final": false`) are checked and then
    /// dropped before that.
    ///
    /// CR LF line endings (and a lone CR ending the last line) read as LF, for every format at once: Swift takes
    /// "\r\n" as one `Character`, which splitting on "\n" does not find, so each parser would otherwise see a
    /// Windows file as one long line.
    public init(parsing original: String, path: String = "-", channels: ChannelMap = ChannelMap()) throws(TranscriptError) {
        var text = original.utf8.contains(UInt8(ascii: "\r")) ? original.replacingOccurrences(of: "\r\n", with: "\n") : original
        if text.unicodeScalars.last == "\r" { text = String(text.unicodeScalars.dropLast()) + "\n" }
        let trimmed = text.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        // The parsers count lines from the start of what they are given; the blank lines dropped before the
        // content go back in so that errors name the file's own line numbers.
        let skipped = text[..<trimmed.startIndex].reduce(0) { $0 + ($1.isNewline ? 1 : 0) }
        let body = String(repeating: "\n", count: skipped) + trimmed
        if trimmed.hasPrefix("WEBVTT") || Self.looksLikeSRT(trimmed) {
            utterances = try CueParser.parse(body, path: path, channel: channels.defaultChannel)
        } else if trimmed.hasPrefix("{") || trimmed.hasPrefix("[") {
            utterances = try JSONTranscriptParser.parse(body, path: path, channel: channels.defaultChannel)
        } else if trimmed.isEmpty {
            utterances = []
        } else {
            throw TranscriptError(path: path, line: 1, "not a transcript: expected NDJSON asr lines, Vosk or whisper.cpp JSON, WebVTT or SRT")
        }
        // Every format is held to the same rules here, interim utterances included, so a file is accepted or
        // refused for what it says, not for the format it says it in.
        for u in utterances { try Self.validate(u, path: path) }
        try Self.place(&utterances, channels, path: path)
        utterances = utterances.filter(\.final).enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }
            .map { Self.withWordTimes($0.element) }
        try Self.checkOverlaps(utterances, path: path)
    }

    /// Same-channel overlap that is still taken as two utterances in a row: separately recognised stretches
    /// often share a boundary frame or two.
    public static let overlapTolerance = 0.25

    static func checkOverlaps(_ utterances: [TranscriptUtterance], path: String) throws(TranscriptError) {
        var last: [Int: TranscriptUtterance] = [:]
        for u in utterances {
            if let p = last[u.channel], p.end - u.start > overlapTolerance {
                let other = p.line.map { "line \($0)" } ?? "the utterance before"
                throw TranscriptError(path: path, line: u.line,
                                      "overlaps \(other) on channel \(u.channel) (\(p.start)–\(p.end) s and \(u.start)–\(u.end) s): "
                                      + "a channel says one thing at a time, so this is a duplicate or a mix-up")
            }
            if last[u.channel].map({ u.end > $0.end }) ?? true { last[u.channel] = u }
        }
    }

    /// Gives each labelled utterance its channel (see ``ChannelMap``). Refuses (64) a map label that no utterance
    /// carries, and two or more labels that nothing places.
    static func place(_ utterances: inout [TranscriptUtterance], _ map: ChannelMap, path: String) throws(TranscriptError) {
        // Each label once, with the line it first appears on, in file order.
        var labels: [Label] = []
        var unplaced: [Label] = []
        for i in utterances.indices {
            guard let label = utterances[i].speaker else { continue }
            let first = !labels.contains { $0.label == label }
            if first { labels.append(Label(label: label, line: utterances[i].line)) }
            if let channel = map.channel(for: label) {
                utterances[i].channel = channel
            } else if first {
                unplaced.append(Label(label: label, line: utterances[i].line))
            }
        }
        let present = Set(labels.map { ChannelMap.comparable($0.label) })
        let unknown = map.speakers.keys.filter { !present.contains(ChannelMap.comparable($0)) }.sorted()
        if !unknown.isEmpty {
            // A typo or the wrong file; ignoring it would leave the speaker it meant on the default channel unseen.
            let which = unknown.map { "'\(Label.shown($0))'" }.joined(separator: ", ")
            let has = labels.isEmpty ? "the transcript has no speaker labels"
                : "the transcript's labels are " + Label.list(labels, limit: 10) + (labels.count > 10 ? ", … (\(labels.count) in all)" : "")
            throw TranscriptError(path: path, "--transcript-channel: no utterance has the label\(unknown.count == 1 ? "" : "s") "
                                  + "\(which); \(has)", kind: .usage)
        }
        guard unplaced.count >= 2 else { return }
        let example = ChannelMap.option(mapping: unplaced.prefix(2).map { Label.shown($0.label) })
        throw TranscriptError(path: path, line: unplaced[0].line,
                              "\(unplaced.count) speakers and no channel for them: \(Label.list(unplaced, limit: 3)); map them with "
                              + "\(example) (or name roles with --roles)", kind: .usage)
    }

    /// A speaker label and the line it first appears on, for messages.
    struct Label {
        var label: String
        var line: Int?

        /// Labels come from the file, so a runaway one is cut short rather than copied into a message whole.
        static func shown(_ label: String) -> String { label.count > 64 ? label.prefix(64) + "…" : label }

        /// The first `limit` labels as `'A' (line 3), 'B' (line 6)`.
        static func list(_ labels: [Label], limit: Int) -> String {
            labels.prefix(limit).map { "'\(shown($0.label))'" + ($0.line.map { " (line \($0))" } ?? "") }.joined(separator: ", ")
        }
    }

    /// Times finite, ≥ 0 and not ending before they start, for the utterance and each word; words within
    /// ``wordSlack`` of their utterance; confidence in 0…1. Live `asr` messages are held to the same rules.
    public static func validate(_ u: TranscriptUtterance, path: String) throws(TranscriptError) {
        // Words first: a Vosk utterance takes its span from its words, so a bad word is the cause to name.
        for w in u.words {
            if let problem = span(w.start, w.end) {
                throw TranscriptError(path: path, line: u.line, "word '\(w.word)' \(problem)")
            }
            if let c = w.confidence, !(0...1).contains(c) {
                throw TranscriptError(path: path, line: u.line, "word '\(w.word)': confidence \(c) is not in 0…1")
            }
        }
        if let problem = span(u.start, u.end) {
            throw TranscriptError(path: path, line: u.line, "utterance \(problem)")
        }
        if let w = u.words.first(where: { $0.start < u.start - wordSlack || $0.end > u.end + wordSlack }) {
            throw TranscriptError(path: path, line: u.line,
                                  "word '\(w.word)' (\(w.start)–\(w.end) s) lies outside its utterance (\(u.start)–\(u.end) s)")
        }
    }

    /// How far a word's times may stray outside its utterance's (recognisers round them differently).
    static let wordSlack = 0.5

    /// What is wrong with a time span, or nil when it is a valid one.
    private static func span(_ start: Double, _ end: Double) -> String? {
        guard start.isFinite, end.isFinite else { return "times must be finite numbers of seconds (start \(start), end \(end))" }
        guard start >= 0 else { return "starts before the audio (start \(start) s)" }
        guard end >= start else { return "ends before it starts (start \(start) s, end \(end) s)" }
        return nil
    }

    /// Refuses an utterance on a channel the audio does not have (65), naming the transcript line and the audio.
    public func check(channelCount: Int, audio: String, path: String) throws(TranscriptError) {
        for u in utterances where u.channel >= channelCount {
            throw TranscriptError(path: path, line: u.line,
                                  "channel \(u.channel), but \(audio) has \(channelCount) channel\(channelCount == 1 ? "" : "s") "
                                  + "(channels count from 0)")
        }
    }

    /// Every word of `channel` whose midpoint lies in `start..<end`, in time order.
    public func words(channel: Int, from start: Double, to end: Double) -> [String] {
        var out: [(Double, String)] = []
        for u in utterances where u.channel == channel && u.end >= start && u.start <= end {
            for w in u.words where w.midpoint >= start && w.midpoint < end { out.append((w.midpoint, w.word)) }
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// `u` with word timings: an utterance that has none gets its text's words spread evenly over it, in proportion
    /// to their length. Files and live `asr` messages both go through it, so a segment gets the same words from
    /// either (design.md: offline and live records are the same).
    public static func withWordTimes(_ u: TranscriptUtterance) -> TranscriptUtterance {
        guard u.words.isEmpty else { return u }
        let tokens = u.text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        let letters = tokens.reduce(0) { $0 + $1.count }
        guard letters > 0, u.end > u.start else { return u }
        var out = u
        var t = u.start
        for token in tokens {
            let d = (u.end - u.start) * Double(token.count) / Double(letters)
            out.words.append(TranscriptWord(word: token, start: t, end: t + d))
            t += d
        }
        return out
    }

    static func looksLikeSRT(_ text: Substring) -> Bool {
        let lines = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        return lines.count >= 2 && Int(lines[0].trimmingCharacters(in: .whitespaces)) != nil && lines[1].contains("-->")
    }
}
