import Foundation

/// WebVTT and SRT subtitles: each cue becomes an utterance. Its speaker is the first `<v Name>` voice tag, else a
/// `SPEAKER_01:` / `[SPEAKER_00]` / `Agent:` prefix of its text (see ``SpeakerPrefix``); ``ChannelMap`` places it.
enum CueParser {
    static func parse(_ text: String, path: String, channel: Int = 0) throws(TranscriptError) -> [TranscriptUtterance] {
        var out: [TranscriptUtterance] = []
        // CR LF is already LF here (``Transcript/init(parsing:path:channels:)``).
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        while i < lines.count {
            let line = lines[i]
            guard line.contains("-->") else { i += 1; continue }
            let parts = line.components(separatedBy: "-->")
            let endField = parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            guard parts.count == 2, let start = timestamp(parts[0].trimmingCharacters(in: .whitespaces)),
                  let end = timestamp(endField) else {
                throw TranscriptError(path: path, line: i + 1,
                                      "bad cue timing '\(line.prefix(80))' (expected HH:MM:SS.mmm --> HH:MM:SS.mmm, "
                                      + "minutes and seconds below 60)")
            }
            var textLines: [Substring] = []
            let timing = i
            i += 1
            while i < lines.count, !lines[i].trimmingCharacters(in: .whitespaces).isEmpty {
                textLines.append(lines[i])
                i += 1
            }
            let raw = textLines.joined(separator: " ")
            var speaker = voice(raw)
            var cueText = decodeEntities(stripTags(raw))
            if speaker == nil, let prefix = SpeakerPrefix.split(cueText) {
                cueText = prefix.rest
                if !prefix.label.isEmpty { speaker = prefix.label }
            }
            out.append(TranscriptUtterance(channel: channel, start: start, end: end, text: cueText, line: timing + 1,
                                           speaker: speaker))
        }
        return out
    }

    /// `HH:MM:SS.mmm`, `MM:SS.mmm` or SRT's `HH:MM:SS,mmm`: digits only (no signs, exponents, "nan" or "inf",
    /// which `Double(_:)` would take), minutes and seconds below 60, 1–9 digits of fraction.
    static func timestamp(_ s: String) -> Double? {
        let fields = s.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(fields.count) else { return nil }
        let lastParts = fields[fields.count - 1].split(omittingEmptySubsequences: false) { $0 == "." || $0 == "," }
        guard lastParts.count <= 2 else { return nil }
        let wholes = fields.dropLast().map(String.init) + [String(lastParts[0])]
        func digits(_ t: Substring, _ range: ClosedRange<Int>) -> Bool {
            range.contains(t.count) && t.allSatisfy { $0.isASCII && $0.isNumber }
        }
        guard wholes.enumerated().allSatisfy({ digits(Substring($0.element), $0.offset == 0 && wholes.count == 3 ? 1...9 : 1...2) })
        else { return nil }
        let numbers = wholes.compactMap { Int($0) }
        guard numbers.count == wholes.count, numbers.dropFirst(wholes.count == 3 ? 1 : 0).allSatisfy({ $0 < 60 }) else { return nil }
        var total = Double(numbers.reduce(0) { $0 * 60 + $1 })
        if lastParts.count == 2 {
            guard digits(lastParts[1], 1...9), let f = Double("0." + lastParts[1]) else { return nil }
            total += f
        }
        return total
    }

    /// The name of the first WebVTT voice span, `<v Name>` or `<v.class Name>`.
    static func voice(_ s: String) -> String? {
        guard let open = s.range(of: "<v") else { return nil }
        let after = s[open.upperBound...]
        guard let first = after.first, first == " " || first == "." || first == "\t",
              let close = after.firstIndex(of: ">") else { return nil }
        var tag = after[..<close]
        if tag.first == "." { tag = tag.drop { !$0.isWhitespace } }
        let name = tag.trimmingCharacters(in: .whitespaces)
        return name.isEmpty ? nil : name
    }

    static func stripTags(_ s: String) -> String {
        var out = ""
        var inTag = false
        for ch in s {
            if ch == "<" { inTag = true } else if ch == ">" { inTag = false } else if !inTag { out.append(ch) }
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    /// The character references WebVTT writes for text that would look like markup.
    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&nbsp;", with: " ").replacingOccurrences(of: "&lrm;", with: "")
            .replacingOccurrences(of: "&rlm;", with: "").replacingOccurrences(of: "&amp;", with: "&")
    }
}
