import AttuneEvents
import AttuneReport
import AttuneText
import Foundation
#if canImport(FoundationXML)
// Linux keeps XMLParser in its own module (on libxml2).
import FoundationXML
#endif
import Testing

/// One element of a parsed SVG: its name, attributes and the text directly inside it.
struct SVGElement {
    var name: String
    var attributes: [String: String]
    var text = ""
    /// Names of the enclosing elements, outermost first.
    var ancestors: [String]
}

/// Parses `svg` with Foundation's XMLParser and returns its elements in document order; a document that is not
/// well-formed XML fails the test with the parser's error and returns nil.
func parseSVG(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) -> [SVGElement]? {
    final class Collector: NSObject, XMLParserDelegate {
        var elements: [SVGElement] = []
        var open: [Int] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements.append(SVGElement(name: name, attributes: attributes, ancestors: open.map { elements[$0].name }))
            open.append(elements.count - 1)
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            open.removeLast()
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if let i = open.last { elements[i].text += string }
        }
    }
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = Collector()
    parser.delegate = collector
    guard parser.parse() else {
        Issue.record("not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)",
                     sourceLocation: sourceLocation)
        return nil
    }
    return collector.elements
}

/// A ChannelRef for hand-made records.
func ref(_ channel: Int, _ role: Role, call: String = "c1") -> ChannelRef { ChannelRef(call: call, channel: channel, role: role) }

/// A hand-made event, as the fusion layer will send it.
func event(_ id: String, channel: Int = 1, role: Role = .customer, kind: EventKind, state: EventState = .end, start: Double, end: Double?,
           explanation: String = "The caller's voice rose well above their own baseline.", suggestion: String = "Acknowledge the problem.") -> EventRecord {
    EventRecord(id: id, ref(channel, role), kind: kind, state: state, t: end ?? start, start: start, end: end, confidence: 0.8,
                intensity: 0.6, arousal: 0.7, valence: -0.5, evidence: EventEvidence(f0St: 3.1, energyDb: 6.2), explanation: explanation,
                suggestion: suggestion, needsHuman: kind == .frustration)
}

/// A synthetic call of `seconds` on `channels` channels: every 10 ms frame (a voiced stretch of two seconds, then
/// one second of pause, pitch wobbling around 120 Hz + 60 Hz per channel), one segment per voiced stretch with
/// a word every 0.4 s, and a summary per channel.
func syntheticReport(seconds: Double, channels: Int = 2, call: String = "synthetic") -> CallReport {
    var report = CallReport(call: call)
    var utterances: [TranscriptUtterance] = []
    for c in 0..<channels {
        let r = ref(c, c == 0 ? .agent : .customer, call: call)
        let base = 120.0 + 60 * Double(c)
        let hops = Int(seconds * 100)
        for i in 0..<hops {
            let t = Double(i) / 100
            let phase = t.truncatingRemainder(dividingBy: 3)
            let speech = phase < 2
            let f0 = speech && phase > 0.1 && phase < 1.9 ? base * (1 + 0.1 * sin(t * 3)) : nil
            report.add(FrameRecord(r, t: t, f0Hz: f0, voicing: f0 == nil ? 0.1 : 0.9, energyDb: speech ? -20 + 4 * sin(t * 7) : -60, speech: speech))
        }
        var start = 0.0
        while start + 2 <= seconds {
            report.add(SegmentRecord(r, start: start, end: start + 2, syllables: 9, rateSps: 4.5 + sin(start), f0MedianHz: base,
                                     f0RangeSt: 3, energyDb: -20))
            let words = (0..<5).map { i in
                TranscriptWord(word: ["please", "cancel", "the", "account", "today"][i], start: start + Double(i) * 0.4, end: start + Double(i) * 0.4 + 0.3)
            }
            utterances.append(TranscriptUtterance(channel: c, start: start, end: start + 2, text: words.map(\.word).joined(separator: " "), words: words))
            start += 3
        }
        report.add(SummaryRecord(r, durationS: seconds, speechS: seconds * 2 / 3, syllables: 100, speechRateSps: 4, articulationRateSps: 4.5,
                                 f0MedianHz: base, pauses: Int(seconds / 3)))
    }
    report.add(Transcript(utterances: utterances))
    return report
}

/// Copies a rendered report (`.svg`, and `.png` when given) to `$ATTUNE_KEEP_REPORT/report-NAME.*` when that
/// directory is set, for a person to look at: `ATTUNE_KEEP_REPORT=/tmp swift test --filter AttuneReportTests`.
func keep(_ svgPath: String, _ pngPath: String? = nil, as name: String) {
    guard let dir = ProcessInfo.processInfo.environment["ATTUNE_KEEP_REPORT"] else { return }
    for (from, ext) in [(svgPath, "svg"), (pngPath, "png")] {
        guard let from else { continue }
        let to = dir + "/report-" + name + "." + ext
        _ = try? FileManager.default.removeItem(atPath: to)
        _ = try? FileManager.default.copyItem(atPath: from, toPath: to)
    }
}
