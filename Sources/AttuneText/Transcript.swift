import Foundation

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

/// One recognised utterance: the fields of an `asr` message.
public struct TranscriptUtterance: Sendable, Equatable {
    public var channel: Int
    public var start: Double
    public var end: Double
    public var text: String
    public var final: Bool
    /// Word timings; when the source has none they are spread evenly over the utterance by ``Transcript``.
    public var words: [TranscriptWord]

    public init(channel: Int = 0, start: Double, end: Double, text: String, final: Bool = true, words: [TranscriptWord] = []) {
        self.channel = channel; self.start = start; self.end = end; self.text = text; self.final = final; self.words = words
    }
}

/// Why a transcript could not be read: names the file, the line where there is one, and the cause.
public struct TranscriptError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var line: Int?
    public var reason: String
    /// True when the file could not be opened at all (sysexits 66) rather than parsed (65).
    public var missing: Bool

    public init(path: String, line: Int? = nil, _ reason: String, missing: Bool = false) {
        self.path = path; self.line = line; self.reason = reason; self.missing = missing
    }

    public var exitCode: Int32 { missing ? 66 : 65 }
    public var description: String { line.map { "\(path):\($0): \(reason)" } ?? "\(path): \(reason)" }
}

/// A whole transcript, in any format Attune reads: native NDJSON (`asr` messages, wrapped or not),
/// Vosk JSON, whisper.cpp JSON, WebVTT and SRT, recognised by content.
public struct Transcript: Sendable, Equatable {
    /// Final utterances in file order; interim (`"final": false`) ones are dropped, a later final one supersedes them.
    public var utterances: [TranscriptUtterance]

    public init(utterances: [TranscriptUtterance]) { self.utterances = utterances }

    /// Reads and parses `path`.
    public init(contentsOf path: String) throws(TranscriptError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TranscriptError(path: path, "cannot open transcript (missing or unreadable)", missing: true)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TranscriptError(path: path, "transcript is not UTF-8 text")
        }
        try self.init(parsing: text, path: path)
    }

    /// Parses transcript text; `path` only names the source in errors.
    public init(parsing text: String, path: String = "-") throws(TranscriptError) {
        let trimmed = text.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        if trimmed.hasPrefix("WEBVTT") || Self.looksLikeSRT(trimmed) {
            utterances = try CueParser.parse(String(trimmed), path: path)
        } else if trimmed.hasPrefix("{") || trimmed.hasPrefix("[") {
            utterances = try JSONTranscriptParser.parse(String(trimmed), path: path)
        } else if trimmed.isEmpty {
            utterances = []
        } else {
            throw TranscriptError(path: path, line: 1, "not a transcript: expected NDJSON asr lines, Vosk or whisper.cpp JSON, WebVTT or SRT")
        }
        utterances = utterances.filter(\.final).map(Self.withWordTimes)
    }

    /// Every word of `channel` whose midpoint lies in `start..<end`, in time order.
    public func words(channel: Int, from start: Double, to end: Double) -> [String] {
        var out: [(Double, String)] = []
        for u in utterances where u.channel == channel && u.end >= start && u.start <= end {
            for w in u.words where w.midpoint >= start && w.midpoint < end { out.append((w.midpoint, w.word)) }
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Utterances without word timings get their words spread evenly, in proportion to their length.
    static func withWordTimes(_ u: TranscriptUtterance) -> TranscriptUtterance {
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
