import Foundation

/// How text is brought to the form the lexicons are written in, and split into the words they match.
enum TextFolding {
    /// NFC, lower case, typographic apostrophes as `'`. Lower-casing can leave a sequence that is no longer
    /// composed (a decomposed capital with marks), so composition comes last.
    static func folded(_ s: String) -> String {
        var t = s.lowercased()
        if t.contains(where: { $0 == "\u{2019}" || $0 == "\u{2018}" || $0 == "\u{02BC}" }) {
            t = String(t.map { $0 == "\u{2019}" || $0 == "\u{2018}" || $0 == "\u{02BC}" ? "'" : $0 })
        }
        return t.precomposedStringWithCanonicalMapping
    }

    /// Every diacritic removed and đ written d: what a recogniser that lost the tone marks writes.
    static func stripped(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for u in s.decomposedStringWithCanonicalMapping.unicodeScalars {
            switch u.value {
            case 0x0300...0x036F: continue
            case 0x0111: out.append("d")
            case 0x0110: out.append("D")
            default: out.append(u)
            }
        }
        return String(out)
    }

    /// A letter only Vietnamese writes among Latin-script languages (given NFC): đ, a horn (ơ ư), a hook above or a
    /// dot below, or a vowel with both a circumflex or breve and a tone mark.
    static func isVietnameseLetter(_ c: Character) -> Bool {
        var marks = 0
        for u in String(c).decomposedStringWithCanonicalMapping.unicodeScalars {
            switch u.value {
            case 0x0110, 0x0111, 0x031B, 0x0309, 0x0323: return true
            case 0x0300...0x036F: marks += 1
            default: break
            }
        }
        return marks >= 2
    }

    static func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber }

    /// The folded words of `text`, split at anything that is not a letter, digit or inner apostrophe.
    static func words(of text: String) -> [String] {
        folded(text).split { !isWordCharacter($0) && $0 != "'" }.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
            .filter { !$0.isEmpty }
    }

    /// What separates two tokens. A sentence end stops phrases and negation; a clause mark (comma, colon, dash)
    /// stops negation only, so "thôi, bỏ đi" is still one phrase.
    enum Break: Int, Comparable {
        case none, clause, sentence
        static func < (a: Break, b: Break) -> Bool { a.rawValue < b.rawValue }

        init(_ c: Character) {
            switch c {
            case ".", "!", "?", ";", "…", "。", "！", "？": self = .sentence
            case ",", ":", "–", "—", "(", ")", "\"", "“", "”", "、", "，": self = .clause
            default: self = .none
            }
        }
    }

    /// One word as the lexicons see it.
    struct Token {
        var text: String
        var stripped: String
        /// The source word it came from (a contraction gives two tokens from one word).
        var word: Int
        /// The strongest break between the previous token and this one.
        var breakBefore: Break
        /// Written in capitals ("NOW", "USELESS"), which raises a cue's intensity.
        var shouted: Bool
        /// Its sentence ends in an exclamation mark.
        var exclaimed = false
    }

    /// Splits source words into tokens; English contractions are written out (don't → do not) so one lexicon
    /// entry covers every spelling.
    static func tokens(of words: [String], language: Language) -> [Token] {
        var out: [Token] = []
        var pending = Break.none
        var sentenceStart = 0
        for (index, word) in words.enumerated() {
            var current = ""
            func flush() {
                let trimmed = current.trimmingCharacters(in: CharacterSet(charactersIn: "'"))
                current = ""
                guard !trimmed.isEmpty else { return }
                let shouted = trimmed.count >= 3 && trimmed.contains(where: \.isLetter) && trimmed == trimmed.uppercased()
                let lower = collapsedRuns(TextFolding.folded(trimmed))
                let parts = language == .en ? expandedContraction(lower) : [lower]
                for (k, p) in parts.enumerated() {
                    out.append(Token(text: p, stripped: stripped(p), word: index, breakBefore: k == 0 ? pending : .none,
                                     shouted: shouted))
                }
                pending = .none
            }
            for c in word {
                if isWordCharacter(c) || (c == "'" || c == "\u{2019}") && !current.isEmpty {
                    current.append(c)
                    continue
                }
                flush()
                let b = Break(c)
                pending = max(pending, b)
                if b == .sentence {
                    if c == "!" || c == "！" { for k in sentenceStart..<out.count { out[k].exclaimed = true } }
                    sentenceStart = out.count
                }
            }
            flush()
        }
        return out
    }

    /// Runs of three or more of one letter cut to two: transcribers draw out hesitations ("ummm", "hmmmm",
    /// "uhhh") and emphasis ("sooo") by as many letters as they like, and the lexicon lists each once.
    static func collapsedRuns(_ w: String) -> String {
        var out = ""
        var run = 0
        var previous: Character?
        for c in w {
            run = c == previous ? run + 1 : 1
            previous = c
            if run <= 2 { out.append(c) }
        }
        return out
    }

    private static let contractions: [String: [String]] = [
        "won't": ["will", "not"], "can't": ["can", "not"], "cannot": ["can", "not"], "shan't": ["shall", "not"],
        "ain't": ["is", "not"], "let's": ["let", "us"], "i'm": ["i", "am"],
        // Recognisers and hurried typists drop the apostrophe; only spellings that are no other English word.
        "dont": ["do", "not"], "doesnt": ["does", "not"], "didnt": ["did", "not"], "cant": ["can", "not"],
        "isnt": ["is", "not"], "arent": ["are", "not"], "wasnt": ["was", "not"], "werent": ["were", "not"],
        "couldnt": ["could", "not"], "wouldnt": ["would", "not"], "shouldnt": ["should", "not"],
        "havent": ["have", "not"], "hasnt": ["has", "not"], "hadnt": ["had", "not"], "im": ["i", "am"],
        "thats": ["that", "is"], "whats": ["what", "is"],
    ]
    /// Only after these is 's "is"; elsewhere it is a possessive and stays.
    private static let isBefore: Set<String> = ["it", "that", "what", "there", "here", "he", "she", "who", "where", "how"]

    static func expandedContraction(_ w: String) -> [String] {
        if let c = contractions[w] { return c }
        if w.hasSuffix("n't"), w.count > 3 { return [String(w.dropLast(3)), "not"] }
        for (suffix, full) in [("'re", "are"), ("'ve", "have"), ("'ll", "will"), ("'d", "would"), ("'m", "am")]
        where w.hasSuffix(suffix) && w.count > suffix.count {
            return [String(w.dropLast(suffix.count)), full]
        }
        if w.hasSuffix("'s"), isBefore.contains(String(w.dropLast(2))) { return [String(w.dropLast(2)), "is"] }
        return [w]
    }
}
