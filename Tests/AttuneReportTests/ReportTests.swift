import AttuneEvents
import AttuneReport
import AttuneTestSupport
import AttuneText
import Foundation
import Testing

@Suite("Report: the SVG a call's records draw")
struct ReportTests {
    @Test func isWellFormedXMLWithTitleAndAxis() throws {
        var report = syntheticReport(seconds: 30)
        report.add(event("e1", kind: .frustration, start: 12, end: 18))
        let svg = report.svg()
        let elements = try #require(parseSVG(svg))
        #expect(elements.first?.name == "svg")
        #expect(elements.first?.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        let texts = elements.filter { $0.name == "text" }.map(\.text)
        #expect(texts.contains("Call synthetic"))
        #expect(texts.contains { $0.hasPrefix("30.0 s · 2 channels · 1 event") }, "\(texts.prefix(3))")
        // Ticks every 5 s on a 30 s call, labelled in seconds.
        for label in ["0", "5", "10", "15", "20", "25", "30"] { #expect(texts.contains(label), "tick \(label)") }
    }

    @Test(arguments: [1, 2, 3])
    func oneLanePerChannel(_ channels: Int) throws {
        let report = syntheticReport(seconds: 12, channels: channels)
        let elements = try #require(parseSVG(report.svg()))
        let lanes = elements.filter { $0.name == "g" && $0.attributes["class"] == "lane" }
        #expect(lanes.map { $0.attributes["data-channel"] } == (0..<channels).map { "\($0)" })
        #expect(lanes.map { $0.attributes["data-role"] } == (0..<channels).map { $0 == 0 ? "agent" : "customer" })
        let titles = elements.filter { $0.attributes["class"] == "lane-title" }.map(\.text)
        #expect(titles == (0..<channels).map { $0 == 0 ? "Agent · channel 0" : "Customer · channel \($0)" })
        // Each lane draws its own pitch line.
        #expect(elements.filter { $0.attributes["class"] == "pitch" }.count == channels)
    }

    @Test func eventBandSpansItsStartToItsEnd() throws {
        var report = syntheticReport(seconds: 60)
        report.add(event("e1", kind: .frustration, state: .start, start: 10, end: nil, explanation: "first guess"))
        // The end of the same event replaces its start: the band shows the final span and explanation.
        report.add(event("e1", kind: .frustration, state: .end, start: 10, end: 14.5, explanation: "Voice 3 st above baseline."))
        report.add(event("e2", channel: 0, role: .agent, kind: .deadAir, start: 40, end: 48))
        // Still open when the call ended: runs to the end of the call.
        report.add(event("e3", kind: .disengagement, state: .start, start: 50, end: nil))
        let scale = report.timeScale()
        let elements = try #require(parseSVG(report.svg()))
        let bands = elements.filter { $0.attributes["class"] == "event-band" }
        #expect(bands.count == 3)
        func band(_ id: String) throws -> (x: Double, width: Double, element: SVGElement) {
            let b = try #require(bands.first { $0.attributes["data-id"] == id })
            return (Double(b.attributes["x"] ?? "") ?? .nan, Double(b.attributes["width"] ?? "") ?? .nan, b)
        }
        let e1 = try band("e1")
        #expect(abs(e1.x - scale.x(10)) < 0.01, "x \(e1.x), want \(scale.x(10))")
        #expect(abs(e1.x + e1.width - scale.x(14.5)) < 0.02)
        #expect(e1.element.attributes["data-kind"] == "frustration")
        let tooltip = try #require(elements.first { $0.name == "title" && $0.text.contains("Voice 3 st above baseline.") })
        #expect(tooltip.text.contains("Suggestion: Acknowledge the problem."))
        #expect(!elements.contains { $0.text.contains("first guess") })
        let e3 = try band("e3")
        #expect(abs(e3.x + e3.width - scale.x(60)) < 0.02, "an open event ends at the call's end")
        #expect(abs(e3.x + e3.width - scale.right) < 0.02)
        // Each band sits in its own channel's lane, and its kind is written beside it.
        #expect(try band("e2").element.ancestors.last == "g")
        let laneOf = { (id: String) -> String? in
            var lane: String?
            for el in elements {
                if el.name == "g", el.attributes["class"] == "lane" { lane = el.attributes["data-channel"] }
                if el.attributes["data-id"] == id { return lane }
            }
            return nil
        }
        #expect(laneOf("e1") == "1")
        #expect(laneOf("e2") == "0")
        let labels = elements.filter { $0.name == "tspan" }.map(\.text)
        #expect(labels == ["dead air", "frustration", "disengagement"])
    }

    @Test func eventLabelsStayOnThePageWithoutOverlapping() throws {
        var report = syntheticReport(seconds: 60)
        let long = String(repeating: "The caller sounds more and more annoyed. ", count: 5)
        // Crowded at the start, one at the very end, more than three rows can hold.
        for i in 0..<8 { report.add(event("a\(i)", kind: .frustration, start: 1 + Double(i) * 0.5, end: 3 + Double(i), explanation: long)) }
        report.add(event("z", kind: .satisfaction, start: 59.5, end: 60, explanation: long))
        let scale = report.timeScale()
        let elements = try #require(parseSVG(report.svg()))
        var rows: [String: [(Double, Double)]] = [:]
        var labelled: [String] = []
        for (i, el) in elements.enumerated() where el.attributes["class"] == "event-label" {
            let kind = elements[i + 1].text
            let rest = el.text
            let x = try #require(Double(el.attributes["x"] ?? ""))
            let end = x + Double(kind.count) * 11 * 0.64 + Double(rest.count) * 11 * 0.58
            #expect(x >= scale.left && end <= scale.right + 0.5, "label \(kind)\(rest) from \(x) to \(end)")
            #expect(rest.count < long.count, "a long explanation is cut")
            rows[el.attributes["y"]!, default: []].append((x, end))
            labelled.append(kind)
        }
        #expect(rows.count == 3)
        for (_, spans) in rows {
            let sorted = spans.sorted { $0.0 < $1.0 }
            for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(a.1 <= b.0, "labels overlap: \(a) \(b)") }
        }
        #expect(labelled.contains("satisfaction"), "the event at the end keeps its label")
        #expect(labelled.count < 9)
        #expect(elements.contains { $0.text.contains("9 events (") && $0.text.contains("labelled only on hover)") })
        #expect(elements.filter { $0.attributes["class"] == "event-band" }.count == 9)
    }

    @Test func hostileTextIsEscaped() throws {
        let hostile = "<script>alert('x')</script> & \"quoted\" \u{0}\u{1B}[31m\u{7}\u{FFFE}\u{202E}gnp.exe ]]> <!-- -->"
        var report = CallReport(call: "c<1>&\"'")
        let r = ref(0, .customer)
        for i in 0..<300 {
            report.add(FrameRecord(r, t: Double(i) / 100, f0Hz: 200, voicing: 0.9, energyDb: -20, speech: true))
        }
        report.add(SegmentRecord(r, start: 0, end: 3, syllables: 12, rateSps: 4, f0MedianHz: 200, f0RangeSt: 2, energyDb: -20))
        report.add(Transcript(utterances: [TranscriptUtterance(channel: 0, start: 0, end: 3, text: hostile,
                                                               words: [TranscriptWord(word: hostile, start: 0.5, end: 1.5),
                                                                       TranscriptWord(word: "&amp;", start: 2, end: 2.5)])]))
        report.add(event("x", channel: 0, kind: .incongruence, start: 1, end: 2, explanation: hostile, suggestion: hostile))
        let svg = report.svg()
        #expect(!svg.contains("<script"))
        #expect(!svg.contains("<!--"))
        #expect(!svg.unicodeScalars.contains { $0.value < 0x20 && $0.value != 0x0A })
        #expect(!svg.unicodeScalars.contains { $0.value == 0xFFFE || $0.value == 0x202E })
        let elements = try #require(parseSVG(svg))
        let texts = elements.map(\.text)
        // What was said survives as text (escaped, not dropped), with the bytes XML cannot hold replaced.
        #expect(texts.contains("Call c<1>&\"'"))
        #expect(texts.contains("&amp;"), "an already-escaped word is shown as written")
        let tooltip = try #require(elements.first { $0.name == "title" && $0.text.contains("incongruence") })
        #expect(tooltip.text.contains("<script>alert('x')</script> & \"quoted\""))
        #expect(tooltip.text.contains("\u{FFFD}"))
        let word = try #require(elements.first { $0.attributes["class"] == "words" && $0.text.contains("script") })
        #expect(word.text.hasPrefix("<script>"))
    }

    @Test func wordsReadAsPhrasesAtTheirTimes() throws {
        var report = CallReport(call: "c1")
        let r = ref(0, .customer)
        report.add(SummaryRecord(r, durationS: 20, speechS: 10, syllables: 40, speechRateSps: 2, articulationRateSps: 4, f0MedianHz: 200, pauses: 2))
        // Three phrases split by pauses.
        let said: [(String, Double)] = [("I", 2.0), ("want", 2.2), ("a", 2.5), ("refund.", 2.6), ("Cancel", 10.0), ("it", 10.3), ("now!", 10.5),
                                        ("Today.", 12.0)]
        let words = said.map { TranscriptWord(word: $0.0, start: $0.1, end: $0.1 + 0.2) }
        report.add(Transcript(utterances: [TranscriptUtterance(channel: 0, start: 2, end: 11, text: "", words: words)]))
        let scale = report.timeScale()
        let elements = try #require(parseSVG(report.svg()))
        let lines = elements.filter { $0.attributes["class"] == "words" }
        #expect(lines.map(\.text) == ["I want a refund.", "Cancel it now!", "Today."])
        // Each phrase starts at its first word's time.
        #expect(lines.map { Double($0.attributes["x"]!)! } == [2.0, 10.0, 12.0].map { (scale.x($0) * 10).rounded() / 10 })
        let titles = elements.filter { $0.name == "title" }.map(\.text)
        #expect(titles.contains("2.00–2.80 s: I want a refund."))
    }

    /// A report built from records alone has the words its segments carry, without times of their own: they are shown
    /// under their segment.
    @Test func segmentWordsStandInForAMissingTranscript() throws {
        var report = CallReport(call: "c1")
        let r = ref(0, .customer)
        report.add(SegmentRecord(r, start: 1, end: 2.5, syllables: 6, rateSps: 4, f0MedianHz: 200, f0RangeSt: 2, energyDb: -20,
                                 words: ["cancel", "my", "account"]))
        report.add(SummaryRecord(r, durationS: 5, speechS: 1.5, syllables: 6, speechRateSps: 4, articulationRateSps: 4, f0MedianHz: 200, pauses: 0))
        let elements = try #require(parseSVG(report.svg()))
        let line = try #require(elements.first { $0.attributes["class"] == "words" })
        #expect(line.text == "cancel my account")
        #expect(Double(line.attributes["x"]!)! == (report.timeScale().x(1) * 10).rounded() / 10)
        // Five seconds: ticks every half second, in seconds.
        let texts = elements.filter { $0.name == "text" }.map(\.text)
        #expect(texts.contains("2.5") && texts.contains("time (s)") && texts.contains { $0.hasPrefix("5.0 s · 1 channel ·") })
    }

    @Test func denseSpeechIsThinnedWithoutOverlap() throws {
        var report = syntheticReport(seconds: 600, channels: 1)
        report.add(event("e1", channel: 0, role: .agent, kind: .frustration, start: 301, end: 302))
        let elements = try #require(parseSVG(report.svg()))
        let phrases = elements.filter { $0.name == "g" && $0.attributes["class"] == "phrase" }
        let lines = elements.filter { $0.attributes["class"] == "words" }
        #expect(phrases.count > 5 && phrases.count < 200, "\(phrases.count) of 200 phrases placed")
        // Lines of one phrase share an x; phrases are ordered and at least a phrase's minimum width apart.
        let xs = Array(Set(lines.map { Double($0.attributes["x"]!)! })).sorted()
        #expect(xs.count == phrases.count)
        for (a, b) in zip(xs, xs.dropFirst()) { #expect(b - a >= 140, "phrases at \(a) and \(b) overlap") }
        // What was said during the event is among what is shown.
        let spans = elements.filter { $0.name == "title" && $0.ancestors.last == "g" }.compactMap { title -> (Double, Double)? in
            let times = title.text.prefix { $0 != " " }.split(separator: "–").compactMap { Double($0) }
            return times.count == 2 ? (times[0], times[1]) : nil
        }
        #expect(spans.contains { $0.0 < 302 && $0.1 > 301 }, "a phrase during the event, in \(spans)")
        #expect(elements.contains { $0.text.contains(" of 1000 words shown") })
        #expect(lines.allSatisfy { $0.text.count <= 24 }, "lines wrap within the phrase's width")
    }

    @Test func thirtyMinutesStaySmallAndDeterministic() throws {
        var report = syntheticReport(seconds: 1800)
        for i in 0..<40 {
            report.add(event("e\(i)", channel: i % 2, role: i % 2 == 0 ? .agent : .customer,
                             kind: EventKind.allCases[i % EventKind.allCases.count], start: Double(i) * 45, end: Double(i) * 45 + 20))
        }
        let svg = report.svg()
        #expect(svg.utf8.count < 2_000_000, "\(svg.utf8.count) bytes")
        let dir = TempDir()
        try svg.write(toFile: dir.file("long.svg"), atomically: false, encoding: .utf8)
        keep(dir.file("long.svg"), as: "30min")
        #expect(svg == report.svg(), "the same records give the same bytes")
        let elements = try #require(parseSVG(svg))
        // At most about one point per pixel column of the plot, whatever the number of frames.
        let scale = report.timeScale()
        for path in elements.filter({ $0.attributes["class"] == "pitch" || $0.attributes["class"] == "energy" }) {
            let points = path.attributes["d"]!.filter { $0 == "L" || $0 == "M" }.count
            #expect(points <= Int(scale.right - scale.left) + 4, "\(points) points")
            #expect(points > 200)
        }
        // Long calls are labelled in minutes and seconds.
        let texts = elements.filter { $0.name == "text" }.map(\.text)
        #expect(texts.contains("30:00") && texts.contains("time (m:ss)"))
        #expect(texts.contains { $0.hasPrefix("30:00 · 2 channels · 40 events") })
    }

    @Test func emptyReportStillDraws() throws {
        let elements = try #require(parseSVG(CallReport(call: "nothing").svg()))
        #expect(elements.filter { $0.attributes["class"] == "lane" }.isEmpty)
        #expect(elements.contains { $0.text == "Call nothing" })
    }

    @Test func timeScaleMapsAndLabels() {
        let s = TimeScale(duration: 100, left: 100, right: 1100)
        #expect(s.x(0) == 100 && s.x(50) == 600 && s.x(100) == 1100)
        #expect(s.x(-5) == 100 && s.x(500) == 1100 && s.x(.nan) == 1100)
        #expect(TimeScale(duration: 0, left: 0, right: 10).x(1) == 10)
    }

    @Test func escapingAndNumbers() {
        #expect(xmlEscaped("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;")
        #expect(xmlEscaped("x\u{0}y\u{1F}z\tw\n") == "x\u{FFFD}y\u{FFFD}z\tw\n")
        #expect(xmlEscaped("Vâng, được rồi") == "Vâng, được rồi")
    }
}
