import Foundation

/// One language's cue lexicon, read from a TSV file the project owns (Sources/AttuneText/Lexicons; the format is
/// described in each file's header).
struct Lexicon: Sendable {
    enum Kind: Sendable, Equatable {
        case cue(CueCategory)
        case negator
        case intensifier
        case boundary
    }

    struct Entry: Sendable {
        /// Folded words of the phrase.
        var words: [String]
        var kind: Kind
        /// A cue's prior polarity, an intensifier's multiplier, a negator's reach in words; 0 for a boundary.
        var value: Double
        /// May match by its stripped form in an utterance with no diacritics.
        var toneless: Bool
        /// An intensifier's side of its cue.
        var before: Bool
        var after: Bool
        var line: Int
    }

    /// By the words of the phrase joined with single spaces.
    private(set) var exact: [String: Entry] = [:]
    /// Entries flagged toneless, by their stripped form.
    private(set) var stripped: [String: Entry] = [:]
    private(set) var longest = 1

    init(contentsOf path: String, language: Language) throws(LexiconError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LexiconError(path: path, "cannot read the lexicon (missing or unreadable)")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw LexiconError(path: path, "lexicon is not UTF-8 text")
        }
        try self.init(parsing: text, path: path, language: language)
    }

    init(parsing text: String, path: String, language: Language) throws(LexiconError) {
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            let content = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if content.allSatisfy(\.isWhitespace) || content.hasPrefix("#") { continue }
            let fields = content.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4 else {
                throw LexiconError(path: path, line: line,
                                   "expected 4 tab-separated columns (phrase, category, value, flags), found \(fields.count)")
            }
            try add(try Self.entry(fields, language: language, path: path, line: line), path: path)
        }
        guard !exact.isEmpty else { throw LexiconError(path: path, "lexicon has no entries") }
    }

    static let defaultNegatorReach = 3

    private static func entry(_ f: [String], language: Language, path: String, line: Int) throws(LexiconError) -> Entry {
        func fail(_ why: String) -> LexiconError { LexiconError(path: path, line: line, why) }
        let phrase = f[0]
        let words = TextFolding.tokens(of: phrase.split(separator: " ", omittingEmptySubsequences: false).map(String.init),
                                       language: language)
        // The phrase must read back as itself, or the reader could never produce it: no punctuation, no double
        // spaces, contractions written out, already lower-case NFC.
        guard !phrase.isEmpty, words.map(\.text).joined(separator: " ") == phrase,
              phrase.unicodeScalars.elementsEqual(TextFolding.folded(phrase).unicodeScalars) else {
            throw fail("phrase '\(phrase)' is not lower-case NFC words separated by single spaces "
                       + "(no punctuation; contractions written out)")
        }
        let kind: Kind
        switch f[1] {
        case "negator": kind = .negator
        case "intensifier": kind = .intensifier
        case "boundary": kind = .boundary
        default:
            guard let c = CueCategory(rawValue: f[1]) else {
                throw fail("unknown category '\(f[1])' (a cue category: "
                           + CueCategory.allCases.map(\.rawValue).joined(separator: ", ") + "; or negator, intensifier, boundary)")
            }
            kind = .cue(c)
        }
        var value = 0.0
        switch kind {
        case .boundary:
            guard f[2] == "-" else { throw fail("a boundary takes no value: write - (got '\(f[2])')") }
        case .negator:
            // An interjection-like negator ("no") reaches only the next word or two; "not" and "không" further.
            if f[2] == "-" {
                value = Double(defaultNegatorReach)
            } else {
                guard let reach = Int(f[2]), (1...6).contains(reach) else {
                    throw fail("a negator's value is its reach, a whole number of words 1…6, or - for \(defaultNegatorReach) (got '\(f[2])')")
                }
                value = Double(reach)
            }
        case .intensifier:
            guard let v = Double(f[2]), v.isFinite, (0.1...3).contains(v) else {
                throw fail("intensifier multiplier must be a number in 0.1…3 (got '\(f[2])')")
            }
            value = v
        case .cue:
            guard let v = Double(f[2]), v.isFinite, (-1...1).contains(v) else {
                throw fail("polarity must be a number in -1…1 (got '\(f[2])')")
            }
            value = v
        }
        var toneless = false, before = false, after = false
        for flag in f[3] == "-" ? [] : f[3].split(separator: ",", omittingEmptySubsequences: false) {
            switch flag {
            case "toneless": toneless = true
            case "pre" where kind == .intensifier: before = true
            case "post" where kind == .intensifier: after = true
            case "pre", "post": throw fail("flag '\(flag)' is for intensifiers only")
            default: throw fail("unknown flag '\(flag)' (toneless, pre, post, or - for none)")
            }
        }
        if kind == .intensifier && !after { before = true }
        return Entry(words: words.map(\.text), kind: kind, value: value, toneless: toneless, before: before, after: after,
                     line: line)
    }

    private mutating func add(_ e: Entry, path: String) throws(LexiconError) {
        let key = e.words.joined(separator: " ")
        if let other = exact[key] {
            throw LexiconError(path: path, line: e.line, "'\(key)' is already defined on line \(other.line)")
        }
        exact[key] = e
        longest = max(longest, e.words.count)
        guard e.toneless else { return }
        let bare = TextFolding.stripped(key)
        // Two spellings of one word ("cảm ơn", "cám ơn") may share a stripped form; two different cues may not,
        // since a toneless utterance could not tell them apart.
        if let other = stripped[bare], other.kind != e.kind || other.value != e.value {
            throw LexiconError(path: path, line: e.line,
                               "'\(key)' and line \(other.line) both strip to '\(bare)' but mean different things: "
                               + "drop the toneless flag from one")
        }
        if stripped[bare] == nil { stripped[bare] = e }
    }
}
