import Foundation

/// Native NDJSON (`{"asr": {...}}` or the bare object, one per line), Vosk results and whisper.cpp's JSON output.
///
/// Every value is checked for its type before use: a number where a string belongs (or the reverse), a boolean
/// `final` that is not one, a channel that is not a whole number ≥ 0 are refused with the line, never coerced.
enum JSONTranscriptParser {
    /// `channel`: where utterances that name none go.
    static func parse(_ text: String, path: String, channel: Int = 0) throws(TranscriptError) -> [TranscriptUtterance] {
        // A whole-file JSON document (whisper.cpp, Vosk's array or one result) parses in one go;
        // otherwise the file is NDJSON and each line is one object.
        if let whole = try? JSONSerialization.jsonObject(with: Data(text.utf8)) {
            if let dict = whole as? [String: Any] {
                if let segments = dict["transcription"] {
                    guard let segments = segments as? [[String: Any]] else {
                        throw TranscriptError(path: path, "whisper.cpp \"transcription\" must be an array of segments")
                    }
                    return try whisper(segments, path: path, channel: channel)
                }
                // One object on one line: the line it is on, after any blank lines.
                let line = text.prefix { $0.isWhitespace }.reduce(1) { $0 + ($1.isNewline ? 1 : 0) }
                return try object(dict, path: path, line: line, channel: channel).map { [$0] } ?? []
            }
            if let list = whole as? [Any] {
                var out: [TranscriptUtterance] = []
                // A JSON array has no line per element, so errors name the element instead (its index, from 0).
                for (i, element) in list.enumerated() {
                    guard let d = element as? [String: Any] else {
                        throw TranscriptError(path: path, "element \(i) of the array is not a JSON object")
                    }
                    do throws(TranscriptError) {
                        if var u = try object(d, path: path, line: 0, channel: channel) {
                            u.line = nil
                            try Transcript.validate(u, path: path)
                            out.append(u)
                        }
                    } catch {
                        throw TranscriptError(path: path, "element \(i) of the array: \(error.reason)")
                    }
                }
                return out
            }
        }
        var out: [TranscriptUtterance] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)), let dict = object as? [String: Any] else {
                throw TranscriptError(path: path, line: i + 1, "malformed JSON (expected one object per line)")
            }
            if let u = try Self.object(dict, path: path, line: i + 1, channel: channel) { out.append(u) }
        }
        return out
    }

    /// One object of an NDJSON file or a JSON array: a Vosk result or a native utterance; nil for what carries no
    /// final text (Vosk's `{"partial": …}` and the `{"text": ""}` it prints for silence).
    static func object(_ o: [String: Any], path: String, line: Int, channel: Int) throws(TranscriptError) -> TranscriptUtterance? {
        if let alternatives = o["alternatives"] {
            // Vosk with SetMaxAlternatives: the first alternative is the best.
            guard let list = alternatives as? [[String: Any]], var best = list.first else {
                throw TranscriptError(path: path, line: line, "Vosk \"alternatives\" must be a non-empty array of results")
            }
            if best["channel"] == nil, let c = o["channel"] { best["channel"] = c }
            return try vosk(best, path: path, line: line, channel: channel)
        }
        if o["result"] != nil { return try vosk(o, path: path, line: line, channel: channel) }
        if o["partial"] != nil && o["start"] == nil { return nil }
        if o.count == 1, let text = o["text"] as? String, text.isEmpty { return nil }
        return try native(o, path: path, line: line, channel: channel)
    }

    static func number(_ value: Any?) -> Double? {
        // Foundation on Linux lets `is Bool` match any 0/1 NSNumber, so JSON booleans are told apart by their C type.
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return n.doubleValue
    }

    static func bool(_ value: Any?) -> Bool? {
        guard let n = value as? NSNumber, String(cString: n.objCType) == "c" else { return nil }
        return n.boolValue
    }

    /// The utterance's `"channel"`: `fallback` when absent, else a whole number ≥ 0. `Int(exactly:)` rather than
    /// `Int(_:)`, which traps on 1e20, NaN or infinity.
    static func channel(_ o: [String: Any], path: String, line: Int?, fallback: Int) throws(TranscriptError) -> Int {
        guard let value = o["channel"] else { return fallback }
        guard let n = number(value).flatMap({ Int(exactly: $0) }), n >= 0 else {
            throw TranscriptError(path: path, line: line, "\"channel\" must be a whole number ≥ 0 (got \(describe(value)))")
        }
        return n
    }

    /// A JSON value for an error message, cut short: a megabyte string must not become a megabyte message.
    static func describe(_ value: Any) -> String {
        let s: String
        if let n = number(value) { s = "\(n)" }
        else if let b = bool(value) { s = "\(b)" }
        else if let t = value as? String { s = "\"\(t)\"" }
        else if value is NSNull { s = "null" }
        else if value is [Any] { s = "an array" }
        else if value is [String: Any] { s = "an object" }
        else { s = "\(value)" }
        return s.count > 40 ? String(s.prefix(40)) + "…" : s
    }

    static func words(_ list: Any, key: String, path: String, line: Int, what: String) throws(TranscriptError) -> [TranscriptWord] {
        guard let list = list as? [Any] else {
            throw TranscriptError(path: path, line: line, "\(what) must be an array of word objects")
        }
        var words: [TranscriptWord] = []
        for (i, element) in list.enumerated() {
            guard let w = element as? [String: Any], let word = (key == "w" ? (w["w"] ?? w["word"]) : w[key]) as? String,
                  let ws = number(w["start"]), let we = number(w["end"]) else {
                throw TranscriptError(path: path, line: line,
                                      "word \(i) of \(what) needs \"\(key)\" (a string), \"start\" and \"end\" (seconds)")
            }
            var confidence: Double?
            if let c = w["conf"] {
                guard let n = number(c) else {
                    throw TranscriptError(path: path, line: line, "word '\(word)': \"conf\" must be a number (got \(describe(c)))")
                }
                confidence = n
            }
            words.append(TranscriptWord(word: word, start: ws, end: we, confidence: confidence))
        }
        // Recognisers emit words in order; a merged file may not, and everything downstream reads them in time order.
        return words.enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }.map(\.element)
    }

    static func native(_ object: [String: Any], path: String, line: Int, channel fallback: Int) throws(TranscriptError)
        -> TranscriptUtterance {
        var o = object
        if let wrapped = object["asr"] {
            guard let inner = wrapped as? [String: Any] else {
                throw TranscriptError(path: path, line: line, "\"asr\" must be an object")
            }
            o = inner
        }
        guard let start = number(o["start"]), let end = number(o["end"]) else {
            throw TranscriptError(path: path, line: line, "an utterance needs numeric \"start\" and \"end\" (seconds)")
        }
        guard let text = o["text"] as? String else {
            throw TranscriptError(path: path, line: line, "an utterance needs a \"text\" string")
        }
        let channel = try channel(o, path: path, line: line, fallback: fallback)
        var final = true
        if let f = o["final"] {
            guard let b = bool(f) else {
                throw TranscriptError(path: path, line: line, "\"final\" must be true or false (got \(describe(f)))")
            }
            final = b
        }
        let words = try o["words"].map { (list) throws(TranscriptError) in
            try Self.words(list, key: "w", path: path, line: line, what: "\"words\"")
        } ?? []
        return TranscriptUtterance(channel: channel, start: start, end: end, text: text, final: final, words: words, line: line)
    }

    static func vosk(_ o: [String: Any], path: String, line: Int, channel fallback: Int) throws(TranscriptError) -> TranscriptUtterance {
        let words = try Self.words(o["result"] ?? [Any](), key: "word", path: path, line: line, what: "Vosk \"result\"")
        var text = words.map(\.word).joined(separator: " ")
        if let t = o["text"] {
            guard let s = t as? String else {
                throw TranscriptError(path: path, line: line, "Vosk \"text\" must be a string (got \(describe(t)))")
            }
            text = s
        }
        let channel = try channel(o, path: path, line: line, fallback: fallback)
        let start = words.map(\.start).min() ?? 0, end = words.map(\.end).max() ?? 0
        return TranscriptUtterance(channel: channel, start: start, end: end, text: text, words: words, line: line)
    }

    /// whisper.cpp `-oj`: `offsets` in milliseconds. Speakers come from `"speaker"` (`--diarize`, "0"/"1", or "?"
    /// when unsure), alternating `A`/`B` turns from `"speaker_turn_next"` (`--tinydiarize`), or a `[SPEAKER_00]`
    /// prefix in the text (diarized output converted to whisper's JSON).
    static func whisper(_ segments: [[String: Any]], path: String, channel: Int) throws(TranscriptError) -> [TranscriptUtterance] {
        let turns = segments.contains { $0["speaker_turn_next"] != nil }
        var turn = 0
        var out: [TranscriptUtterance] = []
        for (i, s) in segments.enumerated() {
            guard let offsets = s["offsets"] as? [String: Any], let from = number(offsets["from"]), let to = number(offsets["to"]),
                  let raw = s["text"] as? String else {
                throw TranscriptError(path: path, "whisper.cpp segment \(i) needs \"offsets\" {from, to} in ms and \"text\"")
            }
            var text = raw.replacingOccurrences(of: "[SPEAKER_TURN]", with: "").trimmingCharacters(in: .whitespaces)
            var speaker: String?
            if let s = s["speaker"] as? String, s != "?", !s.isEmpty { speaker = s }
            if let prefix = SpeakerPrefix.split(text) {
                text = prefix.rest
                if !prefix.label.isEmpty { speaker = prefix.label }
            }
            if turns && speaker == nil { speaker = turn % 2 == 0 ? "A" : "B" }
            if bool(s["speaker_turn_next"]) == true { turn += 1 }
            // One JSON document has no useful line numbers; the segment's index goes into the text of any error.
            let u = TranscriptUtterance(channel: channel, start: from / 1000, end: to / 1000, text: text, speaker: speaker)
            do throws(TranscriptError) { try Transcript.validate(u, path: path) } catch {
                throw TranscriptError(path: path, "whisper.cpp segment \(i): \(error.reason)")
            }
            out.append(u)
        }
        return out
    }
}
