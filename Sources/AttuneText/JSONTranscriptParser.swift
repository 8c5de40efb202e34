import Foundation

/// Native NDJSON (`{"asr": {...}}` or the bare object, one per line), Vosk results and whisper.cpp's JSON output.
enum JSONTranscriptParser {
    static func parse(_ text: String, path: String) throws(TranscriptError) -> [TranscriptUtterance] {
        // A whole-file JSON document (whisper.cpp, Vosk's array or one result) parses in one go;
        // otherwise the file is NDJSON and each line is one object.
        if let whole = try? JSONSerialization.jsonObject(with: Data(text.utf8)) {
            if let dict = whole as? [String: Any] {
                if let segments = dict["transcription"] as? [[String: Any]] { return try whisper(segments, path: path) }
                // One object on one line: the line it is on, after any blank lines.
                let line = text.prefix { $0.isWhitespace }.reduce(1) { $0 + ($1.isNewline ? 1 : 0) }
                if dict["result"] != nil { return try [vosk(dict, path: path, line: line)] }
                return try [native(dict, path: path, line: line)]
            }
            if let list = whole as? [[String: Any]] {
                return try list.enumerated().map { (i, d) throws(TranscriptError) in
                    d["result"] != nil ? try vosk(d, path: path, line: i + 1) : try native(d, path: path, line: i + 1)
                }
            }
        }
        var out: [TranscriptUtterance] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)), let dict = object as? [String: Any] else {
                throw TranscriptError(path: path, line: i + 1, "malformed JSON (expected one object per line)")
            }
            out.append(dict["result"] != nil ? try vosk(dict, path: path, line: i + 1) : try native(dict, path: path, line: i + 1))
        }
        return out
    }

    static func number(_ value: Any?) -> Double? {
        // Foundation on Linux lets `is Bool` match any 0/1 NSNumber, so JSON booleans are told apart by their C type.
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return n.doubleValue
    }

    /// The utterance's `"channel"`: 0 when absent, else a whole number ≥ 0. `Int(exactly:)` rather than `Int(_:)`,
    /// which traps on 1e20, NaN or infinity.
    static func channel(_ o: [String: Any], path: String, line: Int?) throws(TranscriptError) -> Int {
        guard let value = o["channel"] else { return 0 }
        guard let n = number(value).flatMap({ Int(exactly: $0) }), n >= 0 else {
            throw TranscriptError(path: path, line: line, "\"channel\" must be a whole number ≥ 0 (got \(value))")
        }
        return n
    }

    static func native(_ object: [String: Any], path: String, line: Int) throws(TranscriptError) -> TranscriptUtterance {
        let o = (object["asr"] as? [String: Any]) ?? object
        guard let start = number(o["start"]), let end = number(o["end"]) else {
            throw TranscriptError(path: path, line: line, "an utterance needs numeric \"start\" and \"end\" (seconds)")
        }
        guard let text = o["text"] as? String else {
            throw TranscriptError(path: path, line: line, "an utterance needs a \"text\" string")
        }
        let channel = try channel(o, path: path, line: line)
        let final = (o["final"] as? Bool) ?? true
        var words: [TranscriptWord] = []
        if let list = o["words"] {
            guard let list = list as? [[String: Any]] else {
                throw TranscriptError(path: path, line: line, "\"words\" must be an array of {\"w\", \"start\", \"end\"} objects")
            }
            for w in list {
                guard let word = (w["w"] ?? w["word"]) as? String, let ws = number(w["start"]), let we = number(w["end"]) else {
                    throw TranscriptError(path: path, line: line, "each word needs \"w\", \"start\" and \"end\"")
                }
                words.append(TranscriptWord(word: word, start: ws, end: we, confidence: number(w["conf"])))
            }
        }
        return TranscriptUtterance(channel: channel, start: start, end: end, text: text, final: final, words: words, line: line)
    }

    static func vosk(_ o: [String: Any], path: String, line: Int) throws(TranscriptError) -> TranscriptUtterance {
        guard let result = o["result"] as? [[String: Any]] else {
            throw TranscriptError(path: path, line: line, "Vosk \"result\" must be an array of words")
        }
        var words: [TranscriptWord] = []
        for w in result {
            guard let word = w["word"] as? String, let s = number(w["start"]), let e = number(w["end"]) else {
                throw TranscriptError(path: path, line: line, "each Vosk word needs \"word\", \"start\" and \"end\"")
            }
            words.append(TranscriptWord(word: word, start: s, end: e, confidence: number(w["conf"])))
        }
        let text = (o["text"] as? String) ?? words.map(\.word).joined(separator: " ")
        let channel = try channel(o, path: path, line: line)
        return TranscriptUtterance(channel: channel, start: words.first?.start ?? 0, end: words.last?.end ?? 0, text: text,
                                   words: words, line: line)
    }

    static func whisper(_ segments: [[String: Any]], path: String) throws(TranscriptError) -> [TranscriptUtterance] {
        try segments.enumerated().map { (i, s) throws(TranscriptError) in
            guard let offsets = s["offsets"] as? [String: Any], let from = number(offsets["from"]), let to = number(offsets["to"]),
                  let text = s["text"] as? String else {
                throw TranscriptError(path: path, line: nil, "whisper.cpp segment \(i) needs \"offsets\" {from, to} in ms and \"text\"")
            }
            // One JSON document has no useful line numbers; the segment's index goes into the text of any error.
            let u = TranscriptUtterance(start: from / 1000, end: to / 1000, text: text.trimmingCharacters(in: .whitespaces))
            do throws(TranscriptError) { try Transcript.validate(u, path: path) } catch {
                throw TranscriptError(path: path, "whisper.cpp segment \(i): \(error.reason)")
            }
            return u
        }
    }
}
