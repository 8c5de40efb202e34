import Foundation

/// WebVTT and SRT subtitles: each cue becomes an utterance on channel 0 (a `<v Speaker>` voice tag is dropped).
enum CueParser {
    static func parse(_ text: String, path: String) throws(TranscriptError) -> [TranscriptUtterance] {
        var out: [TranscriptUtterance] = []
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        while i < lines.count {
            let line = lines[i]
            guard line.contains("-->") else { i += 1; continue }
            let parts = line.components(separatedBy: "-->")
            let endField = parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            guard let start = timestamp(parts[0].trimmingCharacters(in: .whitespaces)), let end = timestamp(endField) else {
                throw TranscriptError(path: path, line: i + 1, "bad cue timing '\(line)' (expected HH:MM:SS.mmm --> HH:MM:SS.mmm)")
            }
            var textLines: [String] = []
            let timing = i
            i += 1
            while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).isEmpty {
                textLines.append(stripTags(String(lines[i])))
                i += 1
            }
            out.append(TranscriptUtterance(start: start, end: end, text: textLines.joined(separator: " "), line: timing + 1))
        }
        return out
    }

    /// `HH:MM:SS.mmm`, `MM:SS.mmm` or SRT's `HH:MM:SS,mmm`.
    static func timestamp(_ s: String) -> Double? {
        let fields = s.replacingOccurrences(of: ",", with: ".").split(separator: ":")
        guard (2...3).contains(fields.count) else { return nil }
        var total = 0.0
        for f in fields {
            guard let v = Double(f), v >= 0 else { return nil }
            total = total * 60 + v
        }
        return total
    }

    static func stripTags(_ s: String) -> String {
        var out = ""
        var inTag = false
        for ch in s {
            if ch == "<" { inTag = true } else if ch == ">" { inTag = false } else if !inTag { out.append(ch) }
        }
        return out.trimmingCharacters(in: .whitespaces)
    }
}
