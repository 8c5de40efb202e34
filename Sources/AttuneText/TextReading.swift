/// A language the text layer has a lexicon for.
public enum Language: String, Sendable, CaseIterable {
    case en, vi

    /// Guess from the text (Vietnamese diacritics / common Vietnamese words), nil when unsure.
    ///
    /// Any diacritic that only Vietnamese uses among Latin-script languages (horn ơ ư, hook above, dot below, đ, a
    /// vowel carrying two marks) settles it. Without one, common function words of each language are counted (the
    /// Vietnamese ones by their toneless spelling, since that is the case left to decide); the language with more,
    /// and at least two for Vietnamese or one for English, wins.
    public static func detect(_ text: String) -> Language? {
        if text.precomposedStringWithCanonicalMapping.contains(where: TextFolding.isVietnameseLetter) { return .vi }
        var vi = 0, en = 0
        for token in TextFolding.words(of: text) {
            if viWords.contains(TextFolding.stripped(token)) { vi += 1 }
            if enWords.contains(token) { en += 1 }
        }
        if vi >= 2 && vi > en { return .vi }
        if en >= 1 && en > vi { return .en }
        return nil
    }

    // Kept disjoint and free of words both languages spell alike (a, an, la, do, to, no, ban).
    private static let viWords: Set<String> = [
        "khong", "duoc", "roi", "cua", "toi", "minh", "nhe", "vay", "nhung", "voi", "nay", "thi", "cho", "cac",
        "nhieu", "lam", "gi", "sao", "vang", "anh", "chi", "em", "oi", "mot", "bay", "gio", "tien", "dich", "vu",
        "cam", "xin", "chao", "di", "ma", "nua", "chua", "dang", "se", "biet", "hieu", "thoi", "qua", "ngay",
    ]
    private static let enWords: Set<String> = [
        "the", "is", "are", "you", "i", "it", "and", "of", "that", "what", "not", "this", "be", "for", "with",
        "have", "my", "me", "your", "want", "need", "can", "will", "please", "thanks", "thank", "yes", "yeah",
        "just", "get", "was", "we", "they", "but", "if", "about", "know", "don't", "i'm", "it's", "would", "why",
    ]
}

/// What a cue phrase says about the speaker; the emotion layer decides what each means in context.
public enum CueCategory: String, Sendable, CaseIterable {
    /// Polarity words: ridiculous, terrible, useless; tệ, bực, vô lý.
    case negative
    /// Great, good; tốt, hay quá.
    case positive
    /// Cancel, escalate, complain, lawyer, refund, manager; hủy, khiếu nại, gặp quản lý, hoàn tiền.
    case complaint
    /// Right now, immediately, hurry, asap; ngay, gấp, nhanh lên.
    case urgency
    /// Uh, um, er, hmm; ờ, ừm, à, ơ.
    case filler
    /// I don't understand, what do you mean, I'm not sure; không hiểu, sao cơ.
    case confusion
    /// Forget it, never mind, whatever, I give up; thôi, bỏ đi, kệ đi.
    case giveUp
    /// Bye, that's all, goodbye; chào, vậy thôi nhé.
    case closing
    /// Thank you (so much), thanks; cảm ơn.
    case gratitude
    /// Perfect, exactly, wonderful, that works; tuyệt vời, hài lòng.
    case satisfaction
    /// The words that say fine (fine, okay, alright, sure; vâng, được rồi, ừ, ok), for incongruence.
    case acceptance
}

/// One cue phrase found in an utterance.
public struct TextCue: Sendable, Equatable {
    public var category: CueCategory
    /// As the text spelled it (original casing and diacritics), punctuation at its ends trimmed.
    public var phrase: String
    /// From the utterance's word times: the start of the phrase's first word, the end of its last.
    public var start: Double
    public var end: Double
    /// −1…1 after negation and intensifiers ("not bad" > 0, "chẳng vui gì" < 0).
    public var polarity: Double
    /// 0…1; 0.5 for a plain cue, raised by intensifiers (so, very, really; rất, quá, lắm), an exclamation mark or
    /// capitals, lowered by diminishers (a bit; hơi).
    public var intensity: Double
    /// A negator's scope covers the phrase ("not cancel", "không tệ").
    public var negated: Bool

    public init(category: CueCategory, phrase: String, start: Double, end: Double, polarity: Double, intensity: Double,
                negated: Bool) {
        self.category = category; self.phrase = phrase; self.start = start; self.end = end
        self.polarity = polarity; self.intensity = intensity; self.negated = negated
    }
}

/// What the words of one utterance say.
public struct TextReading: Sendable, Equatable {
    /// In the order they were spoken.
    public var cues: [TextCue]
    /// −1…1: the cues' polarities averaged, each weighted by its intensity; 0 when no cue has a polarity.
    public var valence: Double
    /// 0…1: the strongest cue's intensity; 0 without cues.
    public var intensity: Double
    /// The lexicon the text was read with: the one asked for, else the detected one, else English.
    public var language: Language

    public init(cues: [TextCue], valence: Double, intensity: Double, language: Language) {
        self.cues = cues; self.valence = valence; self.intensity = intensity; self.language = language
    }
}

/// Why a lexicon could not be loaded: names the file, the line where there is one, and the cause.
public struct LexiconError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var line: Int?
    public var reason: String

    public init(path: String, line: Int? = nil, _ reason: String) {
        self.path = path; self.line = line; self.reason = reason
    }

    public var description: String { line.map { "\(path):\($0): \(reason)" } ?? "\(path): \(reason)" }
}
