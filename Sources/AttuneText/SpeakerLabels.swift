import Foundation

/// Which audio channel each utterance of a transcript belongs to, for formats that carry no channel.
///
/// An utterance that names its channel (native NDJSON, Vosk with Attune's `"channel"`) keeps it. One with a
/// speaker label — WebVTT `<v Name>`, a `SPEAKER_01:` / `[SPEAKER_00]` / `Agent:` prefix in SRT, WebVTT or
/// whisper.cpp text, whisper.cpp's `"speaker"` field (`--diarize`), or the alternating turns `A`/`B` of its
/// `"speaker_turn_next"` (`--tinydiarize`) — goes to, in order: the channel the explicit map gives the label
/// (case-insensitive); the channel whose role the label names (Agent, Customer, Caller, Nhân viên, Khách hàng…,
/// given roles); the channel a bare number names (whisper.cpp's stereo `--diarize` speaker is the channel). Any
/// other utterance goes to ``defaultChannel``. A transcript with two or more labels that none of these place is
/// refused (64): guessing which speaker is the customer would put one person's words on another's channel. So is a
/// map label that no utterance carries (64): a misspelt one would leave its speaker on the default channel unseen.
public struct ChannelMap: Sendable, Equatable {
    /// Where utterances with no channel and no placeable speaker label go.
    public var defaultChannel: Int
    /// Speaker label → channel, as the user spelled the label.
    public var speakers: [String: Int]
    /// The channels' roles in order (`agent`, `customer`, `unknown`), for labels that name a role.
    public var roles: [String]

    public init(defaultChannel: Int = 0, speakers: [String: Int] = [:], roles: [String] = []) {
        self.defaultChannel = defaultChannel; self.speakers = speakers; self.roles = roles
    }

    /// `--transcript-channel`'s value: comma-separated entries, each a channel number (the default channel) or
    /// `LABEL=N` (e.g. `1`, `SPEAKER_00=1,SPEAKER_01=0`, `0,Alice=1`). Speaker labels may hold `=` and `,`
    /// (`<v Smith, John>`): an entry splits at its last `=`, a comma inside a label is written `\,`, and `\\` is a
    /// backslash, so `Smith\, John=0,a=b=1` maps `Smith, John` to 0 and `a=b` to 1.
    public init(parsing spec: String, roles: [String] = []) throws(TranscriptError) {
        self.init(roles: roles)
        var sawDefault = false
        for raw in Self.entries(spec) {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            func fail(_ why: String) -> TranscriptError {
                TranscriptError(path: "--transcript-channel", "\(why) in '\(spec)' (give N, or LABEL=N entries, comma-separated)",
                                kind: .usage)
            }
            let equals = entry.lastIndex(of: "=")
            let number = String(entry[(equals.map { entry.index(after: $0) } ?? entry.startIndex)...])
                .trimmingCharacters(in: .whitespaces)
            guard let channel = Int(number), channel >= 0, channel < 1024 else {
                throw fail("'\(number)' is not a channel number 0…1023")
            }
            guard let equals else {
                guard !sawDefault else { throw fail("two default channels") }
                sawDefault = true
                defaultChannel = channel
                continue
            }
            let label = entry[..<equals].trimmingCharacters(in: .whitespaces)
            guard !label.isEmpty else { throw fail("empty speaker label") }
            // Compared as lookups compare them: two labels one name would match would pick a channel at random.
            guard !speakers.keys.contains(where: { Self.comparable($0) == Self.comparable(label) }) else {
                throw fail("speaker '\(label)' given twice")
            }
            speakers[label] = channel
        }
    }

    /// `spec` split at each comma not written `\,`, with `\,` and `\\` read as `,` and `\` (any other backslash
    /// stays as it is).
    static func entries(_ spec: String) -> [String] {
        var entries: [String] = []
        var entry = ""
        var escaped = false
        for ch in spec {
            if escaped {
                if ch != "," && ch != "\\" { entry.append("\\") }
                entry.append(ch)
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == "," {
                entries.append(entry)
                entry = ""
            } else {
                entry.append(ch)
            }
        }
        if escaped { entry.append("\\") }
        entries.append(entry)
        return entries
    }

    /// The `--transcript-channel` option that maps `labels` to channels 0, 1, … in turn, written so that it works
    /// pasted into a shell: `\` and `,` in a label escaped as ``init(parsing:roles:)`` reads them, and the value in
    /// single quotes when it holds anything a shell would act on (spaces, quotes, `\`, `$`, `*`, …).
    static func option(mapping labels: [String]) -> String {
        let value = labels.enumerated().map { channel, label in
            label.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ",", with: "\\,") + "=\(channel)"
        }.joined(separator: ",")
        let plain = value.allSatisfy { $0.isLetter || $0.isNumber || "_-.,:=@%+/".contains($0) }
        return "--transcript-channel " + (plain ? value : "'" + value.replacingOccurrences(of: "'", with: #"'\''"#) + "'")
    }

    /// Labels that name a role, folded to lower case.
    static let roleNames: [String: String] = [
        "agent": "agent", "operator": "agent", "representative": "agent", "rep": "agent", "support": "agent",
        "nhân viên": "agent", "tổng đài viên": "agent", "tư vấn viên": "agent", "tổng đài": "agent",
        "customer": "customer", "caller": "customer", "client": "customer", "khách hàng": "customer", "khách": "customer",
    ]

    /// A label as the map compares it: trimmed, case and apostrophes folded.
    static func comparable(_ label: String) -> String { TextFolding.folded(label.trimmingCharacters(in: .whitespaces)) }

    /// The channel `label` goes to, or nil when nothing places it.
    func channel(for label: String) -> Int? {
        let folded = Self.comparable(label)
        if let hit = speakers.first(where: { Self.comparable($0.key) == folded }) { return hit.value }
        if let role = Self.roleNames[folded], let index = roles.firstIndex(of: role) { return index }
        if !folded.isEmpty, folded.allSatisfy(\.isASCII), folded.allSatisfy(\.isNumber), let n = Int(folded), n < 1024 {
            return n
        }
        return nil
    }
}

/// Speaker labels written into subtitle and whisper.cpp text.
enum SpeakerPrefix {
    /// A label at the start of `text` and the text after it: `[SPEAKER_00]`, `[SPEAKER_00]:`, `[Any Name]:`,
    /// `SPEAKER_01:`, `Speaker 2:`, `Agent:` (a role name), `(speaker 1)` (whisper.cpp's text output).
    /// Other `Word:` starts are left alone, since "Note: …" is more often speech than a speaker.
    static func split(_ text: String) -> (label: String, rest: String)? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("["), let close = t.firstIndex(of: "]") {
            let label = String(t[t.index(after: t.startIndex)..<close]).trimmingCharacters(in: .whitespaces)
            var rest = t[t.index(after: close)...]
            let colon = rest.first == ":"
            if colon { rest = rest.dropFirst() }
            guard !label.isEmpty, label.count <= 64, colon || isSpeakerWord(label) else { return nil }
            return (label, rest.trimmingCharacters(in: .whitespaces))
        }
        if t.lowercased().hasPrefix("(speaker "), let close = t.firstIndex(of: ")") {
            let label = t[t.index(t.startIndex, offsetBy: 9)..<close].trimmingCharacters(in: .whitespaces)
            let rest = t[t.index(after: close)...].trimmingCharacters(in: .whitespaces)
            return label == "?" || label.isEmpty ? ("", rest) : (label, rest)
        }
        if let colon = t.firstIndex(of: ":"), t.distance(from: t.startIndex, to: colon) <= 32 {
            let label = String(t[..<colon]).trimmingCharacters(in: .whitespaces)
            guard isSpeakerWord(label) else { return nil }
            return (label, t[t.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// `SPEAKER_00`, `Speaker 1`, `speaker-2`, `S1`-less forms excluded; or a role name.
    static func isSpeakerWord(_ label: String) -> Bool {
        let folded = TextFolding.folded(label)
        if ChannelMap.roleNames[folded] != nil { return true }
        guard folded.hasPrefix("speaker") else { return false }
        let number = folded.dropFirst(7).drop { $0 == "_" || $0 == " " || $0 == "-" }
        return !number.isEmpty && number.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
