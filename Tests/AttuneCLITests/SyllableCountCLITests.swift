import AttuneTestSupport
import Foundation
import Testing

/// The syllable counter end to end on real synthesised speech: espeak-ng reads sentences of known syllable count
/// at three speaking rates, wide band and through sox's telephone band, and `attune analyze` counts them. The
/// full evaluation (hundreds of files, flite and held-out voices) is Tools/rate_eval.py; this guards the
/// shipped model weights and their wiring.
@Suite struct SyllableCountCLITests {
    /// Text, language voice, true syllables (CMU dictionary for English, one per word in Vietnamese).
    static let sentences: [(text: String, voice: String, syllables: Int)] = [
        ("I would like to cancel my subscription because the service has been unreliable.", "en-us", 22),
        ("Could you please check the balance on my account and tell me when the payment is due?", "en", 20),
        ("Xin chào, tôi muốn hỏi về hóa đơn tháng này của tôi.", "vi", 12),
    ]


    @Test func countsOfSynthesisedSentencesAreCloseToTheText() throws {
        let dir = TempDir()
        var errors: [Double] = []
        var report: [String] = []
        for (i, s) in Self.sentences.enumerated() {
            for wpm in [110, 175, 300] {
                let wide = dir.file("s\(i)-\(wpm).wav"), phone = dir.file("s\(i)-\(wpm)-tel.wav")
                try runTool("espeak-ng", ["-v", s.voice, "-s", "\(wpm)", "-w", wide, s.text])
                try runTool("sox", [wide, "-r", "8000", "-c", "1", "-e", "u-law", phone, "sinc", "300-3400"])
                for file in [wide, phone] {
                    let r = try runAttune(["analyze", file])
                    #expect(r.status == 0, "stderr: \(r.stderr)")
                    let counted = decodeRecords(r.stdout).summaries.reduce(0) { $0 + $1.syllables }
                    let error = Double(counted - s.syllables) / Double(s.syllables)
                    errors.append(abs(error))
                    report.append("\(URL(fileURLWithPath: file).lastPathComponent): \(counted)/\(s.syllables)")
                    #expect(abs(error) <= 0.25, "\(file): \(counted) syllables counted, \(s.syllables) in the text")
                }
            }
        }
        let mape = errors.reduce(0, +) / Double(errors.count)
        #expect(mape <= 0.10, "mean absolute error \(mape * 100) %: \(report)")
    }
}
