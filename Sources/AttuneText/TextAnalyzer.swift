import Foundation

/// Reads cue phrases, polarity and intensity out of one utterance, in English or Vietnamese.
///
/// Stages, in order (the lexicon files' headers state the same rules for whoever edits them):
/// 1. Words: the utterance's word list (times from the recogniser, or spread evenly by ``Transcript``), with the
///    punctuation of its text when the text has the same number of words. Each word is folded (NFC, lower case,
///    ’ → ') and split into tokens; English contractions are written out (don't → do not). Punctuation between
///    tokens is a sentence break (. ! ? ;) or a clause break (, : dashes).
/// 2. Phrases: at each token the longest lexicon phrase wins ("no problem" before "no", "thôi bỏ đi" before
///    "thôi"); a phrase may span a clause break but not a sentence break. Vietnamese with no diacritic anywhere in
///    the utterance is matched by stripped forms, and then only entries flagged `toneless` (whose stripped form
///    has one reading) can match; otherwise matching is exact, so "bò đi" never reads as "bỏ đi".
/// 3. Scope: a negator negates the first cue starting within its reach after it (3 tokens unless its lexicon
///    entry says otherwise: "no" reaches 1, being more often an interjection than a determiner), unless a clause
///    or sentence break or a boundary word (but, and; nhưng, mà, vì) comes first. An intensifier multiplies a cue
///    starting within 2 tokens after it (or, flagged post, one ending within 2 tokens before it in the same
///    clause).
/// 4. Values: intensity = 0.5 × intensifiers (× 1.2 for an exclamation mark, × 1.2 for capitals), clamped to 0…1;
///    polarity = prior × intensifiers, clamped to −1…1, then × −0.5 when negated ("not bad" is mildly positive,
///    weaker than "good").
public final class TextAnalyzer: Sendable {
    private let lexicons: [Language: Lexicon]

    /// The lexicons bundled with Attune, loaded once (call at start-up; throws naming the file and line).
    ///
    /// Looked for in `$ATTUNE_LEXICONS` when set (a directory holding `en.tsv` and `vi.tsv`, for an installed
    /// binary), else in the SwiftPM resource bundle next to the executable (or test runner), else in the source
    /// tree the binary was built from.
    public static func bundled() throws(LexiconError) -> TextAnalyzer {
        switch loaded {
        case .success(let analyzer): return analyzer
        case .failure(let error): throw error
        }
    }

    // Built with do/catch rather than `Result { () throws(LexiconError) in … }`: with Swift 6.3.1 that typed-throws
    // initialiser handed back a value whose first use crashed in swift_release (debug and release).
    private static let loaded: Result<TextAnalyzer, LexiconError> = {
        do { return .success(try TextAnalyzer(lexiconDirectory: try bundledDirectory())) }
        catch let error as LexiconError { return .failure(error) }
        catch { return .failure(LexiconError(path: "lexicons", "\(error)")) }
    }()

    static func bundledDirectory() throws(LexiconError) -> String {
        if let dir = ProcessInfo.processInfo.environment["ATTUNE_LEXICONS"], !dir.isEmpty { return dir }
        let fm = FileManager.default
        // SwiftPM's generated Bundle.module stops the process when it finds no bundle, so it is asked only once the
        // bundle is known to be where it looks first.
        let beside = Bundle.main.bundleURL.appendingPathComponent("Attune_AttuneText.resources").path
        if fm.fileExists(atPath: beside) { return Bundle.module.bundleURL.appendingPathComponent("Lexicons").path }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Lexicons").path
        if fm.fileExists(atPath: source + "/en.tsv") { return source }
        throw LexiconError(path: beside, "Attune's lexicons are missing: no resource bundle next to the executable and no "
                           + "\(source); set ATTUNE_LEXICONS to a directory holding en.tsv and vi.tsv")
    }

    /// Loads `en.tsv` and `vi.tsv` from `lexiconDirectory`.
    public init(lexiconDirectory: String) throws(LexiconError) {
        var lexicons: [Language: Lexicon] = [:]
        for language in Language.allCases {
            lexicons[language] = try Lexicon(contentsOf: lexiconDirectory + "/\(language.rawValue).tsv", language: language)
        }
        self.lexicons = lexicons
    }

    /// Reads `utterance` in `language`, or the detected language when nil (English when detection is unsure).
    public func read(_ utterance: TranscriptUtterance, language: Language?) -> TextReading {
        let language = language ?? Language.detect(utterance.text) ?? .en
        let words = Self.sourceWords(utterance)
        let tokens = TextFolding.tokens(of: words.map(\.surface), language: language)
        // A toneless utterance may be Vietnamese that lost its marks; English never has marks to lose.
        let toneless = language == .vi && tokens.allSatisfy { $0.text == $0.stripped }
        let items = Self.phrases(tokens, lexicons[language]!, toneless: toneless)
        let cues = Self.cues(items, tokens, words)
        let polar = cues.filter { $0.polarity != 0 }
        let weight = polar.reduce(0) { $0 + $1.intensity }
        let valence = weight > 0 ? polar.reduce(0) { $0 + $1.polarity * $1.intensity } / weight : 0
        return TextReading(cues: cues, valence: min(1, max(-1, valence)), intensity: cues.map(\.intensity).max() ?? 0,
                           language: language)
    }

    struct SourceWord {
        var surface: String
        var start: Double
        var end: Double
    }

    /// The recogniser's words, with the text's spelling (punctuation included) when the two line up word for word.
    static func sourceWords(_ u: TranscriptUtterance) -> [SourceWord] {
        let spelled = u.text.split(whereSeparator: \.isWhitespace).map(String.init)
        let timed = u.words.isEmpty ? Transcript.withWordTimes(u).words : u.words
        if timed.isEmpty {
            return spelled.map { SourceWord(surface: $0, start: u.start, end: u.end) }
        }
        let aligned = spelled.count == timed.count
        return timed.enumerated().map { i, w in SourceWord(surface: aligned ? spelled[i] : w.word, start: w.start, end: w.end) }
    }

    /// A lexicon entry found over `tokens[first...last]`, or a plain token (`entry` nil).
    struct Item {
        var entry: Lexicon.Entry?
        var first: Int
        var last: Int
    }

    static func phrases(_ tokens: [TextFolding.Token], _ lexicon: Lexicon, toneless: Bool) -> [Item] {
        var items: [Item] = []
        var i = 0
        while i < tokens.count {
            var found: Item?
            var n = min(lexicon.longest, tokens.count - i)
            while n > 0, found == nil {
                defer { n -= 1 }
                if tokens[(i + 1)..<(i + n)].contains(where: { $0.breakBefore == .sentence }) { continue }
                let key = tokens[i..<(i + n)].map { toneless ? $0.stripped : $0.text }.joined(separator: " ")
                if let e = toneless ? lexicon.stripped[key] : lexicon.exact[key] { found = Item(entry: e, first: i, last: i + n - 1) }
            }
            let item = found ?? Item(entry: nil, first: i, last: i)
            items.append(item)
            i = item.last + 1
        }
        return items
    }

    static let intensifierReach = 2

    static func cues(_ items: [Item], _ tokens: [TextFolding.Token], _ words: [SourceWord]) -> [TextCue] {
        struct Found { var item: Item; var category: CueCategory; var prior: Double; var gain: Double; var negated: Bool }
        var found: [Found] = []
        var negator: (end: Int, reach: Int)?
        var pending: (gain: Double, end: Int)?
        for item in items {
            let at = item.first
            if tokens[at].breakBefore != .none { negator = nil; pending = nil }
            guard let e = item.entry else { continue }
            switch e.kind {
            case .negator:
                negator = (item.last, Int(e.value))
            case .boundary:
                negator = nil; pending = nil
            case .intensifier:
                // "tệ quá": a post intensifier right after a cue of the same clause belongs to it.
                if e.after, let last = found.indices.last, at - found[last].item.last <= intensifierReach,
                   !tokens[(found[last].item.last + 1)...at].contains(where: { $0.breakBefore != .none }) {
                    found[last].gain *= e.value
                } else if e.before {
                    pending = ((pending?.gain ?? 1) * e.value, item.last)
                }
            case .cue(let category):
                let negated = negator.map { at - $0.end <= $0.reach } ?? false
                let gain = pending.flatMap { at - $0.end <= intensifierReach ? $0.gain : nil } ?? 1
                found.append(Found(item: item, category: category, prior: e.value, gain: gain, negated: negated))
                // One negation, one cue: in "not bad, great" only "bad" is negated.
                if negated { negator = nil }
                pending = nil
            }
        }
        return found.map { f in
            var gain = f.gain
            let span = tokens[f.item.first...f.item.last]
            if span.contains(where: \.exclaimed) { gain *= 1.2 }
            if span.contains(where: \.shouted) { gain *= 1.2 }
            var polarity = min(1, max(-1, f.prior * gain))
            if f.negated { polarity *= -0.5 }
            let a = tokens[f.item.first].word, b = tokens[f.item.last].word
            let phrase = words[a...b].map(\.surface).joined(separator: " ")
                .trimmingCharacters(in: CharacterSet.alphanumerics.union(.nonBaseCharacters).inverted)
            return TextCue(category: f.category, phrase: phrase, start: words[a].start, end: words[b].end,
                           polarity: polarity, intensity: min(1, max(0, 0.5 * gain)), negated: f.negated)
        }
    }
}
