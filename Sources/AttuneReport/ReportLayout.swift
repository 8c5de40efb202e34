import AttuneEvents
import AttuneText

/// The knobs of a report's layout.
public struct ReportStyle: Sendable, Equatable {
    /// Width of the SVG in pixels; the height follows from the channels and how many label rows they need.
    public var width: Double
    /// Lines of transcript text under each lane; a phrase longer than its lines is cut with an ellipsis.
    public var wordRows: Int
    /// Rows of event labels above each lane; a label that finds no room is left to its band's tooltip.
    public var eventRows: Int

    /// The default suits a laptop screen and a printed landscape page; widths below 600 px and fewer than one row
    /// are raised to that, since nothing would be readable.
    public init(width: Double = 1600, wordRows: Int = 3, eventRows: Int = 3) {
        self.width = max(width, 600)
        self.wordRows = max(wordRows, 1)
        self.eventRows = max(eventRows, 1)
    }

    /// Room for the panel names and their tick labels left of the plot, and a little air on the right.
    static let leftMargin = 112.0
    static let rightMargin = 28.0
    static let labelSize = 11.0
    static let wordSize = 11.0
    /// Event labels longer than this are cut: past ~80 characters a label stops being glanceable.
    static let maxEventLabelWidth = 520.0
    /// A phrase of the transcript gets at least this much room when its neighbours allow: about 22 characters.
    static let minimumPhraseWidth = 140.0
}

/// Vertical positions of one channel's lane, top to bottom: header, event label rows, pitch, energy, rate, words.
struct LaneGeometry {
    static let header = 26.0
    static let eventRow = 17.0
    static let pitch = 120.0
    static let energy = 56.0
    static let rate = 48.0
    static let panelGap = 8.0
    static let wordRow = 13.5
    static let after = 24.0

    let top: Double
    let stripTop: Double
    let pitchTop: Double
    let energyTop: Double
    let rateTop: Double
    let wordsTop: Double
    let bottom: Double

    init(top: Double, eventRows: Int, wordRows: Int) {
        self.top = top
        stripTop = top + Self.header
        pitchTop = stripTop + Double(eventRows) * Self.eventRow + (eventRows > 0 ? 4 : 0)
        energyTop = pitchTop + Self.pitch + Self.panelGap
        rateTop = energyTop + Self.energy + Self.panelGap
        wordsTop = rateTop + Self.rate
        bottom = wordsTop + (wordRows > 0 ? 8 + Double(wordRows) * Self.wordRow : 0)
    }

    var pitchBottom: Double { pitchTop + Self.pitch }
    var energyBottom: Double { energyTop + Self.energy }
    var rateBottom: Double { rateTop + Self.rate }
    /// Where the next lane starts.
    var next: Double { bottom + Self.after }
}

/// An event label placed in one of a lane's label rows.
struct PlacedEventLabel {
    var event: EventRecord
    var row: Int
    /// x of the colour square; the text starts right of it.
    var markerX: Double
    var kind: String
    /// The explanation, cut to fit; empty when there was no room or none was given.
    var explanation: String
}

/// Words said without a pause, shown together: reading a phrase is easier than reading words scattered across
/// rows by their own times.
struct Phrase {
    var start: Double
    var end: Double
    var words: [String]

    /// A pause this long, or this much time or text, ends a phrase: short enough to sit under its own stretch of
    /// speech, long enough to read as words that belong together.
    static let pause = 0.35
    static let longest = 4.0
    static let mostCharacters = 80
    /// Phrases closer on the page than half a phrase's room are joined across pauses up to this long, rather
    /// than one crowding the other out.
    static let crowdedPause = 1.5
}

/// A phrase placed under its lane: a bar over its time span at `x`, then its text wrapped into `lines` of at most
/// `width` pixels.
struct PlacedPhrase {
    var phrase: Phrase
    var x: Double
    var width: Double
    var lines: [String]
    /// How many of the phrase's words made it into the lines whole.
    var shownWords: Int
}

extension CallReport {
    /// The time axis the report draws with `style`: tests use it to find where an instant lands.
    public func timeScale(style: ReportStyle = ReportStyle()) -> TimeScale {
        TimeScale(duration: duration, left: ReportStyle.leftMargin, right: style.width - ReportStyle.rightMargin)
    }

    /// The events of `channel` in the order they are labelled: by start, then id, so the output is deterministic.
    func events(channel: Int) -> [EventRecord] {
        events.filter { $0.channel == channel && $0.start.isFinite }
            .sorted { ($0.start, $0.id) < ($1.start, $1.id) }
    }

    /// Labels for `events` in up to `rows` rows, each in the first row whose previous label ends before it starts;
    /// returns them and how many found no row.
    func layoutEventLabels(_ events: [EventRecord], scale: TimeScale, rows: Int) -> (labels: [PlacedEventLabel], hidden: Int) {
        let size = ReportStyle.labelSize
        let marker = 14.0
        var rowEnds: [Double] = []
        var placed: [PlacedEventLabel] = []
        var hidden = 0
        let separator = textWidth(" · ", size: size)
        for e in events {
            let kind = Palette.name(e.kind)
            let kindWidth = textWidth(kind, size: size, bold: true)
            let text = clean(e.explanation)
            let full = marker + kindWidth + (text.isEmpty ? 0 : separator + textWidth(text, size: size))
            // A band near the end of the call gets its label pulled left (by a word or two, or as far as its kind
            // needs) so more of it stays on the page; the band's own edge still marks where the event starts.
            let start = scale.x(e.start)
            let wanted = min(full, ReportStyle.maxEventLabelWidth)
            let markerX = max(scale.left, min(start, max(scale.right - wanted, start - 80), scale.right - marker - kindWidth))
            guard let row = (0..<rows).first(where: { $0 >= rowEnds.count || rowEnds[$0] + 12 <= markerX }) else {
                hidden += 1
                continue
            }
            let room = min(ReportStyle.maxEventLabelWidth, scale.right - markerX) - marker - kindWidth - separator
            let explanation = text.isEmpty ? "" : truncated(text, toWidth: room, size: size) ?? ""
            let end = markerX + marker + kindWidth + (explanation.isEmpty ? 0 : separator + textWidth(explanation, size: size))
            if row == rowEnds.count { rowEnds.append(end) } else { rowEnds[row] = end }
            placed.append(PlacedEventLabel(event: e, row: row, markerX: markerX, kind: kind, explanation: explanation))
        }
        return (placed, hidden)
    }

    /// The words to show under `channel`'s lane: the transcript's timed words, or, when the report was given none (one
    /// built from records alone), the words its segments carry spread evenly over each segment.
    func words(channel: Int) -> [TranscriptWord] {
        guard let data = channels[channel] else { return [] }
        if !data.words.isEmpty { return data.words }
        var out: [TranscriptWord] = []
        for s in data.segments where !s.words.isEmpty {
            let step = (s.end - s.start) / Double(s.words.count)
            for (i, w) in s.words.enumerated() {
                out.append(TranscriptWord(word: w, start: s.start + Double(i) * step, end: s.start + Double(i + 1) * step))
            }
        }
        return out
    }

    /// `words` (in any order) grouped into phrases, in time order: a word joins the phrase before it across a short
    /// pause, or across a longer one when the two would otherwise start too close on the page to both be read.
    func phrases(_ words: [TranscriptWord], scale: TimeScale) -> [Phrase] {
        var out: [Phrase] = []
        var current: Phrase?
        var characters = 0
        for w in words.sorted(by: { ($0.start, $0.end, $0.word) < ($1.start, $1.end, $1.word) }) where w.start.isFinite && w.end.isFinite {
            let text = clean(w.word)
            if text.isEmpty { continue }
            if var p = current, characters + 1 + text.count <= Phrase.mostCharacters {
                let gap = w.start - p.end
                let flowing = gap < Phrase.pause && w.end - p.start <= Phrase.longest
                let crowded = gap <= Phrase.crowdedPause && scale.x(w.start) - scale.x(p.start) < ReportStyle.minimumPhraseWidth / 2
                if flowing || crowded {
                    p.words.append(text)
                    p.end = max(p.end, w.end)
                    characters += 1 + text.count
                    current = p
                    continue
                }
            }
            if let p = current { out.append(p) }
            current = Phrase(start: w.start, end: w.end, words: [text])
            characters = text.count
        }
        if let p = current { out.append(p) }
        return out
    }

    /// Places phrases under a lane without overlaps, each starting at its first word's time. A phrase gets at least
    /// its own span and, room allowing, up to ``minimumPhraseWidth`` so a short burst of words is still readable.
    /// When phrases are too dense for that (a long call), the ones spoken during an event of the channel go first
    /// (what was said when the caller got frustrated is what a supervisor wants to read), then the rest in time
    /// order; those that find no room are left out and counted in the lane's header.
    func layoutPhrases(_ phrases: [Phrase], events: [EventRecord], scale: TimeScale, lines: Int) -> [PlacedPhrase] {
        let size = ReportStyle.wordSize
        let margin = 8.0
        let during = { (p: Phrase) in events.contains { $0.start < p.end && p.start < ($0.end ?? scale.duration) } }
        var placed: [PlacedPhrase] = []
        for pass in [true, false] {
            for (i, p) in phrases.enumerated() where during(p) == pass {
                let x = scale.x(p.start)
                let span = max(scale.x(p.end) - x, 0)
                let next = i + 1 < phrases.count ? scale.x(phrases[i + 1].start) - margin : scale.right
                var width = max(span, min(ReportStyle.minimumPhraseWidth, next - x))
                // Squeezed below a few words by its neighbour, the phrase takes its full room and the neighbour
                // is the one left out.
                if width < 40 { width = ReportStyle.minimumPhraseWidth }
                width = min(width, scale.right - x)
                // A hair of tolerance: a phrase whose room ended where the next begins must not be refused by rounding.
                let clear = !placed.contains { $0.x - margin < x + width - 0.01 && x < $0.x + $0.width + margin - 0.01 }
                guard width >= 24, clear else { continue }
                let (wrapped, shown) = wrap(p.words, width: width, size: size, lines: lines)
                guard !wrapped.isEmpty else { continue }
                placed.append(PlacedPhrase(phrase: p, x: x, width: width, lines: wrapped, shownWords: shown))
            }
        }
        return placed.sorted { $0.x < $1.x }
    }
}

/// `words` filled into at most `lines` lines of `width` pixels; a word wider than a line is cut, and when the
/// words run out of lines the last line ends with an ellipsis. Returns the lines and how many words are whole.
func wrap(_ words: [String], width: Double, size: Double, lines: Int) -> ([String], Int) {
    var out: [String] = []
    var line = ""
    var shown = 0
    for (i, w) in words.enumerated() {
        let candidate = line.isEmpty ? w : line + " " + w
        if textWidth(candidate, size: size) <= width {
            line = candidate
            shown = i + 1
            continue
        }
        if !line.isEmpty { out.append(line) }
        if out.count == lines {
            out[lines - 1] = truncated(out[lines - 1] + " " + w, toWidth: width, size: size) ?? out[lines - 1]
            if !out[lines - 1].hasSuffix("…") { out[lines - 1] += "…" }
            return (out, shown)
        }
        if textWidth(w, size: size) <= width {
            line = w
            shown = i + 1
        } else {
            // A word wider than the line: as much of it as fits, and nothing after it.
            if let cut = truncated(w, toWidth: width, size: size) { out.append(cut) }
            return (Array(out.prefix(lines)), shown)
        }
    }
    if !line.isEmpty { out.append(line) }
    return (out, shown)
}

/// Untrusted text as one line: runs of whitespace and control characters become one space.
func clean(_ text: String) -> String {
    var out = ""
    var pendingSpace = false
    for s in text.unicodeScalars {
        if s.properties.isWhitespace || s.properties.generalCategory == .control {
            pendingSpace = !out.isEmpty
            continue
        }
        if pendingSpace { out += " "; pendingSpace = false }
        out.unicodeScalars.append(s)
    }
    return out
}
