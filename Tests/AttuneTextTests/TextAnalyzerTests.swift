import AttuneTestSupport
import Foundation
import Testing
@testable import AttuneText

@Suite("Text layer")
struct TextAnalyzerTests {
    /// nil when the bundled lexicons do not load, which `bundled()` below reports; the other tests then fail.
    static let analyzer: TextAnalyzer? = try? TextAnalyzer.bundled()

    func read(_ text: String, _ language: Language? = nil, start: Double = 0, end: Double = 2) -> TextReading {
        Self.analyzer?.read(TranscriptUtterance(start: start, end: end, text: text), language: language)
            ?? TextReading(cues: [], valence: 0, intensity: 0, language: .en)
    }

    func cue(_ r: TextReading, _ category: CueCategory) -> TextCue? { r.cues.first { $0.category == category } }

    @Test("the issue's phrases")
    func issuePhrases() throws {
        let noProblem = try #require(cue(read("no problem", .en), .positive))
        #expect(noProblem.polarity > 0 && !noProblem.negated && noProblem.phrase == "no problem")

        let notBad = try #require(cue(read("that's not bad", .en), .negative))
        #expect(notBad.negated && notBad.polarity > 0)
        #expect(read("not bad", .en).valence > 0)

        let khongTe = try #require(cue(read("cái này không tệ", .vi), .negative))
        #expect(khongTe.negated && khongTe.polarity > 0)

        let changVui = try #require(cue(read("chẳng vui gì", .vi), .positive))
        #expect(changVui.negated && changVui.polarity < 0)
        #expect(read("chẳng vui gì", .vi).valence < 0)
        // "gì" after the negated cue makes the negation emphatic.
        #expect(changVui.intensity > 0.5)

        let vang = read("Vâng, được rồi", .vi)
        #expect(vang.cues.map(\.category) == [.acceptance, .acceptance])
        #expect(vang.cues.map(\.phrase) == ["Vâng", "được rồi"])

        let thoi = read("thôi, bỏ đi", .vi)
        #expect(thoi.cues.map(\.category) == [.giveUp])
        #expect(thoi.cues.first?.phrase == "thôi, bỏ đi")

        let understand = try #require(cue(read("I don't understand", .en), .confusion))
        #expect(understand.phrase == "I don't understand" && !understand.negated)

        let thanks = try #require(cue(read("thank you so much", .en), .gratitude))
        let plain = try #require(cue(read("thank you", .en), .gratitude))
        #expect(thanks.intensity > plain.intensity && thanks.polarity > plain.polarity)
    }

    @Test("every category from the brief's examples", arguments: [
        ("this is ridiculous", Language.en, CueCategory.negative), ("great", .en, .positive),
        ("I want to escalate this", .en, .complaint), ("get me a lawyer", .en, .complaint),
        ("I need it right now", .en, .urgency), ("uh I think so", .en, .filler), ("what do you mean", .en, .confusion),
        ("I'm not sure", .en, .confusion), ("forget it", .en, .giveUp), ("never mind", .en, .giveUp),
        ("that's all, bye", .en, .closing), ("thanks", .en, .gratitude), ("perfect", .en, .satisfaction),
        ("that works", .en, .satisfaction), ("yeah fine, whatever", .en, .acceptance),
        ("dịch vụ tệ quá", .vi, .negative), ("tôi bực lắm", .vi, .negative), ("thật vô lý", .vi, .negative),
        ("tốt", .vi, .positive), ("phim này hay quá", .vi, .positive), ("tôi muốn hủy", .vi, .complaint),
        ("tôi sẽ khiếu nại", .vi, .complaint), ("cho tôi gặp quản lý", .vi, .complaint), ("hoàn tiền cho tôi", .vi, .complaint),
        ("làm ngay đi", .vi, .urgency), ("gấp lắm", .vi, .urgency), ("nhanh lên", .vi, .urgency), ("ờ tôi nghĩ", .vi, .filler),
        ("ừm", .vi, .filler), ("tôi không hiểu", .vi, .confusion), ("sao cơ", .vi, .confusion), ("kệ đi", .vi, .giveUp),
        ("chào chị", .vi, .closing), ("vậy thôi nhé", .vi, .closing), ("cảm ơn chị", .vi, .gratitude),
        ("tuyệt vời", .vi, .satisfaction), ("tôi rất hài lòng", .vi, .satisfaction), ("ừ", .vi, .acceptance),
        ("ok", .vi, .acceptance),
    ])
    func categories(_ text: String, _ language: Language, _ category: CueCategory) {
        #expect(read(text, language).cues.contains { $0.category == category }, "\(text): \(read(text, language).cues)")
    }

    @Test("negation scope: a negated cue phrase, and where the scope ends")
    func negationScope() throws {
        let notCancel = try #require(cue(read("I did not cancel anything", .en), .complaint))
        #expect(notCancel.negated)
        #expect(try #require(cue(read("I don't want to cancel", .en), .complaint)).negated)
        // Punctuation and conjunctions end it; so do more than three words.
        #expect(try #require(cue(read("not me, this is terrible", .en), .negative)).negated == false)
        #expect(try #require(cue(read("no but it is terrible", .en), .negative)).negated == false)
        #expect(try #require(cue(read("I do not think that this whole thing is terrible", .en), .negative)).negated == false)
        #expect(try #require(cue(read("không nhưng mà tệ", .vi), .negative)).negated == false)
        // "no" is mostly an interjection: it reaches the next word only.
        #expect(try #require(cue(read("no good", .en), .positive)).negated)
        #expect(try #require(cue(read("no no that is wrong", .en), .negative)).negated == false)
        // One negation, one cue.
        let two = read("not bad and great", .en)
        #expect(two.cues.map(\.negated) == [true, false])
        #expect(try #require(cue(read("chưa tốt", .vi), .positive)).polarity < 0)
        #expect(try #require(cue(read("không ổn", .vi), .positive)).polarity < 0)
        #expect(read("không sao", .vi).cues.map(\.category) == [.positive])
        #expect(read("không sao", .vi).cues.first?.negated == false)
        // "not very good": intensified, then negated.
        let notVeryGood = try #require(cue(read("not very good", .en), .positive))
        #expect(notVeryGood.negated && notVeryGood.polarity < 0 && notVeryGood.intensity > 0.5)
    }

    @Test("intensifiers raise intensity and polarity; diminishers lower them")
    func intensifiers() throws {
        let plain = try #require(cue(read("terrible", .en), .negative))
        let very = try #require(cue(read("really terrible", .en), .negative))
        let bit = try #require(cue(read("a bit annoying", .en), .negative))
        #expect(very.intensity > plain.intensity && very.polarity < plain.polarity)
        #expect(bit.intensity < 0.5)
        let te = try #require(cue(read("tệ", .vi), .negative))
        for phrase in ["rất tệ", "tệ quá", "tệ lắm", "quá tệ"] {
            let c = try #require(cue(read(phrase, .vi), .negative), "\(phrase)")
            #expect(c.intensity > te.intensity && c.polarity < te.polarity, "\(phrase): \(c)")
        }
        #expect(try #require(cue(read("hơi tệ", .vi), .negative)).intensity < te.intensity)
        #expect(try #require(cue(read("không hài lòng chút nào", .vi), .satisfaction)).intensity > 0.5)
        #expect(try #require(cue(read("not happy at all", .en), .positive)).intensity > 0.5)
        // Runs of three or more letters are cut to two, so drawn-out hesitations find "umm", "hmm", "uhh".
        #expect(read("ummm, hmmmm, uhhh", .en).cues.map(\.category) == [.filler, .filler, .filler])
        #expect(try #require(cue(read("this is USELESS!", .en), .negative)).intensity > 0.5)
        // An intensifier of another clause does not reach.
        #expect(try #require(cue(read("very, bad", .en), .negative)).intensity == 0.5)
    }

    @Test("toneless Vietnamese matches only the entries whose stripped form is safe")
    func toneless() {
        #expect(read("cam on chi nhieu", .vi).cues.map(\.category) == [.gratitude])
        // "nhieu" has one reading and intensifies; "lam" (lắm, or làm) does not.
        #expect(read("cam on chi nhieu", .vi).cues.first?.intensity ?? 0 > 0.5)
        #expect(read("te lam", .vi).cues.isEmpty)
        #expect(read("toi muon khieu nai", .vi).cues.map(\.category) == [.complaint])
        #expect(read("thoi bo di", .vi).cues.map(\.category) == [.giveUp])
        #expect(read("thoi, bo di", .vi).cues.map(\.category) == [.giveUp])
        #expect(read("duoc roi", .vi).cues.map(\.category) == [.acceptance])
        let khongHieu = read("toi khong hieu", .vi)
        #expect(khongHieu.cues.map(\.category) == [.confusion])
        // Negation works toneless: "khong" has one reading.
        #expect(read("khong tuyet voi", .vi).cues.first?.negated == true)
        // Detected as Vietnamese without being told.
        #expect(read("toi khong hieu anh noi gi").language == .vi)
        #expect(read("toi khong hieu anh noi gi").cues.map(\.category) == [.confusion])
    }

    @Test("ambiguous stripped forms do not match", arguments: [
        "tot",          // tốt, or tột
        "bo di",        // bỏ đi, or bò đi
        "thoi",         // thôi, or thời
        "vang",         // vâng, or vàng
        "gap",          // gấp, or gặp
        "te",           // tệ, or tê
        "ngay mai",     // ngày mai: no urgency
        "chao",         // chào, or cháo
    ])
    func ambiguousStripped(_ text: String) {
        #expect(read(text, .vi).cues.isEmpty, "\(text): \(read(text, .vi).cues)")
    }

    @Test("in text with diacritics, a toneless word is not its marked namesake")
    func marksElsewhere() {
        // "tot" among marked words is another word; "bò đi" (the cow goes) is not "bỏ đi".
        #expect(read("con bò đi rồi", .vi).cues.isEmpty)
        #expect(read("thời gian tot lắm", .vi).cues.allSatisfy { $0.category != .positive })
        #expect(read("ngày mai", .vi).cues.isEmpty)
    }

    @Test("NFD input, đ/Đ and mixed case read like NFC lower case")
    func normalisation() {
        let nfc = read("Vâng, được rồi. Cảm ơn", .vi)
        let nfd = read("Vâng, được rồi. Cảm ơn".decomposedStringWithCanonicalMapping, .vi)
        #expect(nfd.cues.map(\.category) == nfc.cues.map(\.category))
        #expect(nfc.cues.map(\.category) == [.acceptance, .acceptance, .gratitude])
        #expect(read("ĐƯỢC RỒI", .vi).cues.map(\.category) == [.acceptance])
        #expect(read("DUOC ROI", .vi).cues.map(\.category) == [.acceptance])
        #expect(read("THANK YOU", .en).cues.map(\.category) == [.gratitude])
        #expect(read("I don’t understand", .en).cues.map(\.category) == [.confusion])
        #expect(read("i dont understand", .en).cues.map(\.category) == [.confusion])
    }

    @Test("cue times come from the word timings")
    func times() throws {
        let u = TranscriptUtterance(start: 10, end: 14, text: "well, I want a refund now", words: [
            TranscriptWord(word: "well", start: 10, end: 10.3), TranscriptWord(word: "I", start: 10.5, end: 10.6),
            TranscriptWord(word: "want", start: 10.6, end: 10.9), TranscriptWord(word: "a", start: 10.9, end: 11.0),
            TranscriptWord(word: "refund", start: 11.1, end: 11.6), TranscriptWord(word: "now", start: 12.0, end: 12.4),
        ])
        let refund = try #require(Self.analyzer?.read(u, language: .en).cues.first { $0.category == .complaint })
        #expect(refund.start == 11.1 && refund.end == 11.6)
        let v = TranscriptUtterance(start: 0, end: 3, text: "Thank you so much", words: [
            TranscriptWord(word: "thank", start: 0.2, end: 0.4), TranscriptWord(word: "you", start: 0.4, end: 0.6),
            TranscriptWord(word: "so", start: 0.7, end: 0.8), TranscriptWord(word: "much", start: 0.8, end: 1.2),
        ])
        let thanks = try #require(Self.analyzer?.read(v, language: .en).cues.first)
        // The text's spelling, the words' times.
        #expect(thanks.phrase == "Thank you" && thanks.start == 0.2 && thanks.end == 0.6)
        // Without word timings the words are spread over the utterance by length.
        let spread = try #require(read("uh refund", .en, start: 5, end: 6).cues.last)
        #expect(spread.category == .complaint && spread.start > 5.2 && spread.end == 6)
    }

    @Test("valence and intensity of a reading")
    func reading() {
        #expect(read("this is terrible, I want a refund", .en).valence < -0.4)
        #expect(read("great, thank you so much", .en).valence > 0.4)
        let none = read("the weather report", .en)
        #expect(none.cues.isEmpty && none.valence == 0 && none.intensity == 0)
    }

    @Test("language detection", arguments: [
        ("Vâng, được rồi", Language?.some(.vi)), ("toi khong hieu anh noi gi", .vi), ("I want to cancel my account", .en),
        ("đ", .vi), ("ok", nil), ("", nil),
    ])
    func detect(_ text: String, _ expected: Language?) {
        #expect(Language.detect(text) == expected)
    }

    @Test("the bundled lexicons are found from the test runner and load once")
    func bundled() throws {
        let a = try TextAnalyzer.bundled(), b = try TextAnalyzer.bundled()
        #expect(a === b)
        let dir = try TextAnalyzer.bundledDirectory()
        #expect(FileManager.default.fileExists(atPath: dir + "/vi.tsv"), "\(dir)")
        // The resource bundle beside the test runner, the same place the attune binary (its neighbour in the build
        // directory) looks; not the source-tree fallback.
        if ProcessInfo.processInfo.environment["ATTUNE_LEXICONS"] == nil {
            #expect(dir.hasSuffix("/Attune_AttuneText.resources/Lexicons"), "\(dir)")
        }
    }

    @Test("a malformed lexicon names the file, the line and the cause", arguments: [
        ("great\tpositive\t0.7", 2, "expected 4 tab-separated columns"),
        ("great\tglad\t0.7\t-", 2, "unknown category 'glad'"),
        ("great\tpositive\tnan\t-", 2, "polarity must be a number in -1…1"),
        ("great\tpositive\t2\t-", 2, "polarity must be a number in -1…1"),
        ("not\tnegator\t9\t-", 2, "a negator's value is its reach"),
        ("but\tboundary\t1\t-", 2, "takes no value"),
        ("so\tintensifier\t9\t-", 2, "multiplier must be a number"),
        ("great\tpositive\t0.7\tloud", 2, "unknown flag 'loud'"),
        ("great\tpositive\t0.7\tpost", 2, "for intensifiers only"),
        ("Great\tpositive\t0.7\t-", 2, "not lower-case NFC words"),
        ("don't\tgiveUp\t0.7\t-", 2, "contractions written out"),
        ("good,\tpositive\t0.7\t-", 2, "no punctuation"),
        ("good\tpositive\t0.5\t-", 2, "already defined on line 1"),
    ])
    func malformedLexicon(_ line: String, _ at: Int, _ cause: String) throws {
        let dir = TempDir()
        try "good\tpositive\t0.6\t-\n\(line)\n".write(toFile: dir.file("en.tsv"), atomically: true, encoding: .utf8)
        try "tốt\tpositive\t0.6\t-\n".write(toFile: dir.file("vi.tsv"), atomically: true, encoding: .utf8)
        let error = #expect(throws: LexiconError.self) { try TextAnalyzer(lexiconDirectory: dir.path) }
        #expect(error?.path == dir.file("en.tsv"))
        #expect(error?.line == at)
        #expect(error?.reason.contains(cause) == true, "\(String(describing: error))")
    }

    @Test("toneless entries that strip alike but mean different things are refused")
    func strippedCollision() throws {
        let dir = TempDir()
        try "good\tpositive\t0.6\t-\n".write(toFile: dir.file("en.tsv"), atomically: true, encoding: .utf8)
        try "# header\ntốt\tpositive\t0.6\ttoneless\ntột\tnegative\t-0.6\ttoneless\n".write(toFile: dir.file("vi.tsv"),
                                                                                             atomically: true, encoding: .utf8)
        let error = #expect(throws: LexiconError.self) { try TextAnalyzer(lexiconDirectory: dir.path) }
        #expect(error?.description == "\(dir.file("vi.tsv")):3: 'tột' and line 2 both strip to 'tot' but mean different "
                + "things: drop the toneless flag from one")
        let missing = #expect(throws: LexiconError.self) { try TextAnalyzer(lexiconDirectory: dir.file("none")) }
        #expect(missing?.path == dir.file("none") + "/en.tsv")
    }
}
