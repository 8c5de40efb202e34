import AttuneEvents
import AttuneText

extension CallReport {
    /// The report as one self-contained SVG document: a title, a legend, one lane per channel (pitch relative to
    /// the speaker's median, energy, speech rate per segment, speech shading, the transcript's words, event bands
    /// with their labels) on a shared time axis.
    ///
    /// The same report always gives the same bytes. Every text that came from outside (call id, words,
    /// explanations, suggestions) is escaped for XML.
    public func svg(style: ReportStyle = ReportStyle()) -> String {
        var renderer = ReportRenderer(report: self, style: style)
        return renderer.render()
    }
}

/// Draws a ``CallReport``. Scales shared by all lanes (pitch span, energy range, rate range) are computed once, so
/// lanes can be compared by eye.
struct ReportRenderer {
    let report: CallReport
    let style: ReportStyle
    let scale: TimeScale
    let lanes: [Int]
    /// Each lane's zero for pitch: the summary's median F0, else the median of its voiced frames.
    let medians: [Int: Double]
    let series: [Int: FrameSeries]
    /// Pitch is drawn over ±`pitchSpan` semitones.
    let pitchSpan: Double
    let energyFloor: Double
    let energyCeiling: Double
    let rateCeiling: Double
    var svg = SVGWriter()

    init(report: CallReport, style: ReportStyle) {
        self.report = report
        self.style = style
        scale = report.timeScale(style: style)
        lanes = report.laneChannels
        var medians: [Int: Double] = [:], series: [Int: FrameSeries] = [:]
        var deviations: [Double] = [], energies: [Double] = [], rates: [Double] = []
        for c in lanes {
            let data = report.channels[c]!
            let frames = data.frames.sorted { $0.t < $1.t }
            let voiced = frames.filter { $0.f0 > 0 }.map { Double($0.f0) }
            let m = data.summary?.f0MedianHz.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? median(voiced)
            medians[c] = m
            let s = FrameSeries(frames: frames, medianHz: m, secondsPerColumn: scale.secondsPerPixel)
            series[c] = s
            deviations += s.pitchRuns.flatMap { $0.map { abs($0.st) } }
            energies += s.energy.map(\.db)
            rates += data.segments.map(\.rateSps).filter(\.isFinite)
        }
        self.medians = medians
        self.series = series
        // Most speech moves within ±6 st of its median; a voice that ranges wider gets up to ±12 so the line stays
        // on the panel, in steps of 3 so the tick labels stay round.
        let spread = quantile(deviations, 0.98) ?? 0
        pitchSpan = min(12, max(6, (spread / 3).rounded(.up) * 3))
        // The floor sits under the quietest stretches (line noise, not digital silence) and the ceiling just over
        // the loudest, in 10 dB steps, so quiet calls still fill the panel.
        let floor = ((quantile(energies, 0.05) ?? -60) / 10).rounded(.down) * 10
        energyFloor = min(-40, max(-80, floor))
        let ceiling = ((energies.max() ?? -10) / 10).rounded(.up) * 10
        energyCeiling = min(0, max(energyFloor + 30, ceiling))
        rateCeiling = min(16, max(8, ((rates.max() ?? 0) * 1.25).rounded(.up)))
    }

    mutating func render() -> String {
        let width = style.width
        var laid: [LaneLayout] = []
        var y = 112.0
        for c in lanes {
            let (labels, hidden) = report.layoutEventLabels(report.events(channel: c), scale: scale, rows: style.eventRows)
            let words = report.words(channel: c)
            let placed = report.layoutPhrases(report.phrases(words, scale: scale), events: report.events(channel: c), scale: scale, lines: style.wordRows)
            let eventRows = labels.map(\.row).max().map { $0 + 1 } ?? 0
            let wordRows = placed.map(\.lines.count).max() ?? 0
            let g = LaneGeometry(top: y, eventRows: eventRows, wordRows: wordRows)
            laid.append(LaneLayout(channel: c, geometry: g, labels: labels, hiddenLabels: hidden, phrases: placed, wordCount: words.count))
            y = g.next
        }
        let axisTop = y - LaneGeometry.after + 8
        let height = axisTop + 64

        svg.open("svg", [("xmlns", "http://www.w3.org/2000/svg"), ("width", fixed(width, 0)), ("height", fixed(height, 0)),
                         ("viewBox", "0 0 \(fixed(width, 0)) \(fixed(height, 0))"),
                         ("font-family", "DejaVu Sans, Verdana, Arial, sans-serif"), ("font-size", "12"), ("fill", Palette.text)])
        svg.element("title", [], content: "Attune report: call \(report.call), \(scale.durationLabel)")
        definitions()
        svg.element("rect", [("width", "100%"), ("height", "100%"), ("fill", "#FFFFFF")])
        header()
        for lane in laid { drawLane(lane) }
        axis(top: axisTop)
        svg.close("svg")
        return svg.text
    }

    /// Hatch patterns for the conversation events.
    private mutating func definitions() {
        svg.open("defs")
        for kind in EventKind.allCases where kind.isConversation {
            svg.open("pattern", [("id", Palette.patternID(kind)), ("patternUnits", "userSpaceOnUse"), ("width", "8"), ("height", "8"),
                                 ("patternTransform", "rotate(45)")])
            svg.element("rect", [("width", "8"), ("height", "8"), ("fill", Palette.colour(kind)), ("fill-opacity", "0.10")])
            svg.element("line", [("x1", "0"), ("y1", "0"), ("x2", "0"), ("y2", "8"), ("stroke", Palette.colour(kind)),
                                 ("stroke-width", "3"), ("stroke-opacity", "0.35")])
            svg.close("pattern")
        }
        svg.close("defs")
    }

    /// What the subtitle says of a call whose words came from the built-in recogniser.
    static let recognizerNote = "the built-in recogniser's words are not shown (evidence for events only)"

    /// Title, subtitle and legend.
    private mutating func header() {
        let events = report.events.count
        let urgent = report.events.filter(\.needsHuman).count
        svg.element("text", [("x", "12"), ("y", "30"), ("font-size", "20"), ("font-weight", "bold")], content: "Call \(report.call)")
        var subtitle = "\(scale.durationLabel) · \(lanes.count) channel\(lanes.count == 1 ? "" : "s") · "
            + (events == 0 ? "no events" : "\(events) event\(events == 1 ? "" : "s")")
        if urgent > 0 { subtitle += ", \(urgent) for a person to look at" }
        if report.recognizerWordsLeftOut { subtitle += " · " + Self.recognizerNote }
        svg.element("text", [("x", "12"), ("y", "50"), ("fill", Palette.muted)], content: subtitle)

        var x = 12.0
        let y = 72.0
        func item(_ label: String, _ draw: (inout SVGWriter, Double) -> Void) {
            draw(&svg, x)
            svg.element("text", [("x", fixed(x + 30)), ("y", fixed(y + 10))], content: label)
            x += 30 + textWidth(label, size: 12) + 22
        }
        item("pitch, semitones from the speaker's median") { svg, x in
            svg.element("path", [("d", "M\(fixed(x)) \(fixed(y + 9))l8 -6l8 4l8 -5"), ("fill", "none"), ("stroke", Palette.pitch), ("stroke-width", "2")])
        }
        item("energy, dBFS") { svg, x in
            svg.element("path", [("d", "M\(fixed(x)) \(fixed(y + 12))l6 -9l6 5l6 -8l6 12z"), ("fill", Palette.energyFill), ("stroke", Palette.energyLine)])
        }
        item("speech rate per segment, syllables/s") { svg, x in
            svg.element("rect", [("x", fixed(x)), ("y", fixed(y + 3)), ("width", "24"), ("height", "9"), ("fill", Palette.rate),
                                 ("fill-opacity", "0.22"), ("stroke", Palette.rate)])
        }
        item("speech (white: pause)") { svg, x in
            svg.element("rect", [("x", fixed(x)), ("y", fixed(y)), ("width", "24"), ("height", "12"), ("fill", Palette.speech),
                                 ("stroke", Palette.frame)])
        }
        let kinds = EventKind.allCases.filter { k in report.events.contains { $0.kind == k } }
        x = 12
        let y2 = 94.0
        svg.element("text", [("x", fixed(x)), ("y", fixed(y2 + 10)), ("fill", Palette.muted)], content: kinds.isEmpty ? "Events: none" : "Events:")
        x += 58
        for kind in kinds {
            eventSwatch(kind, x: x, y: y2)
            let name = Palette.name(kind)
            svg.element("text", [("x", fixed(x + 30)), ("y", fixed(y2 + 10))], content: name)
            x += 30 + textWidth(name, size: 12) + 20
        }
    }

    private mutating func eventSwatch(_ kind: EventKind, x: Double, y: Double, width: Double = 24) {
        svg.element("rect", [("x", fixed(x)), ("y", fixed(y)), ("width", fixed(width)), ("height", "12"), ("fill", Palette.fill(kind)),
                             ("fill-opacity", kind.isConversation ? "1" : "0.35")])
        svg.element("rect", [("x", fixed(x)), ("y", fixed(y)), ("width", "3"), ("height", "12"), ("fill", Palette.colour(kind))])
    }

    // MARK: - Lanes

    /// What one lane shows, laid out before drawing because the lane's height depends on it.
    struct LaneLayout {
        var channel: Int
        var geometry: LaneGeometry
        var labels: [PlacedEventLabel]
        var hiddenLabels: Int
        var phrases: [PlacedPhrase]
        var wordCount: Int
    }

    private mutating func drawLane(_ lane: LaneLayout) {
        let c = lane.channel, g = lane.geometry
        let data = report.channels[c]!
        svg.open("g", [("class", "lane"), ("data-channel", "\(c)"), ("data-role", data.role.rawValue)])
        laneHeader(c, data, g, hiddenLabels: lane.hiddenLabels, shownWords: lane.phrases.reduce(0) { $0 + $1.shownWords },
                   wordCount: lane.wordCount)

        // Speech first, so everything else is drawn over it.
        for s in data.segments where s.end > s.start {
            let x0 = scale.x(s.start), x1 = scale.x(s.end)
            svg.element("rect", [("class", "speech"), ("x", fixed(x0)), ("y", fixed(g.pitchTop)), ("width", fixed(max(x1 - x0, 0.5))),
                                 ("height", fixed(g.rateBottom - g.pitchTop)), ("fill", Palette.speech)])
        }
        for t in scale.ticks {
            let x = fixed(scale.x(t))
            svg.element("line", [("x1", x), ("y1", fixed(g.pitchTop)), ("x2", x), ("y2", fixed(g.rateBottom)), ("stroke", Palette.grid)])
        }
        for (top, height) in [(g.pitchTop, LaneGeometry.pitch), (g.energyTop, LaneGeometry.energy), (g.rateTop, LaneGeometry.rate)] {
            svg.element("rect", [("x", fixed(scale.left)), ("y", fixed(top)), ("width", fixed(scale.right - scale.left)),
                                 ("height", fixed(height)), ("fill", "none"), ("stroke", Palette.frame)])
        }
        eventBands(report.events(channel: c), g)
        energy(series[c]!, g)
        rate(data.segments, g)
        pitch(c, series[c]!, g)
        for p in lane.phrases { phrase(p, g) }
        eventLabels(lane.labels, g)
        svg.close("g")
    }

    private mutating func laneHeader(_ c: Int, _ data: CallReport.ChannelData, _ g: LaneGeometry, hiddenLabels: Int,
                                     shownWords: Int, wordCount: Int) {
        let title = "\(Palette.name(data.role)) · channel \(c)"
        svg.element("text", [("class", "lane-title"), ("x", "12"), ("y", fixed(g.top + 17)), ("font-size", "15"), ("font-weight", "bold")],
                    content: title)
        var facts: [String] = []
        if let s = data.summary {
            facts.append("speaking " + (s.speechS >= 60 ? TimeScale.clock(s.speechS) : fixed(s.speechS, 1) + " s"))
            facts.append("\(fixed(s.articulationRateSps, 1)) syllables/s while speaking")
            facts.append("\(s.pauses) pause\(s.pauses == 1 ? "" : "s")")
        }
        if let m = medians[c] { facts.append("median pitch \(fixed(m, 0)) Hz") }
        let n = report.events(channel: c).count
        if n > 0 { facts.append("\(n) event\(n == 1 ? "" : "s")" + (hiddenLabels > 0 ? " (\(hiddenLabels) labelled only on hover)" : "")) }
        if shownWords < wordCount { facts.append("\(shownWords) of \(wordCount) words shown") }
        svg.element("text", [("x", fixed(12 + textWidth(title, size: 15, bold: true) + 16)), ("y", fixed(g.top + 17)), ("fill", Palette.muted)],
                    content: facts.joined(separator: " · "))
    }

    /// A panel's name and unit in the left margin, and its tick labels right-aligned against the plot.
    private mutating func panelLabels(_ name: String, _ unit: String, top: Double, height: Double, ticks: [(y: Double, label: String)],
                                      note: String? = nil) {
        svg.element("text", [("x", "12"), ("y", fixed(top + 13)), ("font-size", "11"), ("font-weight", "bold")], content: name)
        svg.element("text", [("x", "12"), ("y", fixed(top + 26)), ("font-size", "10"), ("fill", Palette.muted)], content: unit)
        if let note { svg.element("text", [("x", "12"), ("y", fixed(top + 39)), ("font-size", "10"), ("fill", Palette.muted)], content: note) }
        for tick in ticks {
            // Labels at a panel's edge are kept inside it, so they never meet the neighbouring panel's.
            let baseline = min(max(tick.y + 3.5, top + 8), top + height - 1)
            svg.element("text", [("x", fixed(scale.left - 6)), ("y", fixed(baseline)), ("font-size", "10"), ("text-anchor", "end"),
                                 ("fill", Palette.muted)], content: tick.label)
        }
    }

    private mutating func pitch(_ c: Int, _ s: FrameSeries, _ g: LaneGeometry) {
        let mid = g.pitchTop + LaneGeometry.pitch / 2
        let perSemitone = (LaneGeometry.pitch / 2 - 2) / pitchSpan
        func y(_ st: Double) -> Double { mid - st * perSemitone }
        var ticks: [(Double, String)] = []
        // A dotted line every 3 semitones (a minor third); labels at the edges, the middle and halfway when round.
        for k in stride(from: -Int(pitchSpan), through: Int(pitchSpan), by: 3) {
            let st = Double(k)
            if k == 0 || abs(k) == Int(pitchSpan) || (Int(pitchSpan) % 2 == 0 && abs(k) == Int(pitchSpan) / 2) {
                ticks.append((y(st), k == 0 ? "0" : (k > 0 ? "+" : "−") + String(abs(k))))
            }
            if k != 0 {
                svg.element("line", [("x1", fixed(scale.left)), ("y1", fixed(y(st))), ("x2", fixed(scale.right)), ("y2", fixed(y(st))),
                                     ("stroke", Palette.grid), ("stroke-dasharray", "2 4")])
            }
        }
        svg.element("line", [("x1", fixed(scale.left)), ("y1", fixed(mid)), ("x2", fixed(scale.right)), ("y2", fixed(mid)),
                             ("stroke", Palette.muted), ("stroke-width", "0.8"), ("stroke-dasharray", "6 3")])
        panelLabels("pitch", "semitones", top: g.pitchTop, height: LaneGeometry.pitch, ticks: ticks, note: medians[c].map { "0 = \(fixed($0, 0)) Hz" } ?? "no voice")
        guard !s.pitchRuns.isEmpty else { return }
        let clip = "clip-pitch-\(c)"
        svg.open("clipPath", [("id", clip)])
        svg.element("rect", [("x", fixed(scale.left)), ("y", fixed(g.pitchTop)), ("width", fixed(scale.right - scale.left)),
                             ("height", fixed(LaneGeometry.pitch))])
        svg.close("clipPath")
        var d = ""
        for run in s.pitchRuns {
            for (i, p) in run.enumerated() {
                d += (i == 0 ? "M" : "L") + fixed(scale.x(p.t)) + " " + fixed(y(p.st))
            }
            // A lone voiced point would draw nothing; a short dash keeps it visible.
            if run.count == 1 { d += "h1.5" }
        }
        svg.element("path", [("class", "pitch"), ("d", d), ("fill", "none"), ("stroke", Palette.pitch), ("stroke-width", "1.6"),
                             ("stroke-linejoin", "round"), ("stroke-linecap", "round"), ("clip-path", "url(#\(clip))")])
    }

    private mutating func energy(_ s: FrameSeries, _ g: LaneGeometry) {
        let span = energyCeiling - energyFloor
        func y(_ db: Double) -> Double {
            g.energyBottom - LaneGeometry.energy * min(max((db - energyFloor) / span, 0), 1)
        }
        let mid = (energyCeiling + energyFloor) / 2
        panelLabels("energy", "dBFS", top: g.energyTop, height: LaneGeometry.energy,
                    ticks: [(y(energyCeiling), fixed(energyCeiling, 0)), (y(mid), fixed(mid, 0)), (y(energyFloor), fixed(energyFloor, 0))]
                        .map { ($0.0, $0.1.replacingMinus()) })
        guard let first = s.energy.first, let last = s.energy.last else { return }
        var d = "M" + fixed(scale.x(first.t)) + " " + fixed(g.energyBottom)
        for p in s.energy { d += "L" + fixed(scale.x(p.t)) + " " + fixed(y(p.db)) }
        d += "L" + fixed(scale.x(last.t)) + " " + fixed(g.energyBottom) + "Z"
        svg.element("path", [("class", "energy"), ("d", d), ("fill", Palette.energyFill), ("stroke", Palette.energyLine), ("stroke-width", "0.6"),
                             ("stroke-linejoin", "round")])
    }

    private mutating func rate(_ segments: [SegmentRecord], _ g: LaneGeometry) {
        func y(_ r: Double) -> Double { g.rateBottom - LaneGeometry.rate * min(max(r / rateCeiling, 0), 1) }
        let half = (rateCeiling / 2).rounded()
        panelLabels("rate", "syllables/s", top: g.rateTop, height: LaneGeometry.rate, ticks: [(y(rateCeiling), fixed(rateCeiling, 0)), (y(half), fixed(half, 0)), (y(0), "0")])
        for step in rateSteps(segments) {
            let x0 = scale.x(step.start), x1 = scale.x(step.end), top = y(step.rate)
            svg.element("rect", [("class", "rate"), ("x", fixed(x0)), ("y", fixed(top)), ("width", fixed(max(x1 - x0, 0.5))),
                                 ("height", fixed(g.rateBottom - top)), ("fill", Palette.rate), ("fill-opacity", "0.18")],
                        title: "\(fixed(step.start, 2))–\(fixed(step.end, 2)) s: \(step.syllables) syllables, \(fixed(step.rate, 1))/s")
            svg.element("line", [("x1", fixed(x0)), ("y1", fixed(top)), ("x2", fixed(x0 + max(x1 - x0, 0.5))), ("y2", fixed(top)),
                                 ("stroke", Palette.rate), ("stroke-width", "1.6")])
            let label = fixed(step.rate, 1)
            if x1 - x0 >= textWidth(label, size: 10) + 6 {
                // Inside the bar when it is tall enough, else just above its top.
                let ty = g.rateBottom - top >= 16 ? top + 11 : top - 3
                svg.element("text", [("x", fixed((x0 + x1) / 2)), ("y", fixed(ty)), ("font-size", "10"), ("text-anchor", "middle"),
                                     ("fill", Palette.rate)], content: label)
            }
        }
    }

    /// One step per segment; when segments are only a few pixels wide (long calls) they would draw a comb, so
    /// they are pooled into columns of ``rateColumn`` pixels, each at the rate of all its speech together.
    private func rateSteps(_ segments: [SegmentRecord]) -> [(start: Double, end: Double, rate: Double, syllables: Int)] {
        let valid = segments.filter { $0.end > $0.start && $0.rateSps.isFinite }
        let widths = valid.map { scale.x($0.end) - scale.x($0.start) }
        if (median(widths) ?? .infinity) >= 4 { return valid.map { ($0.start, $0.end, $0.rateSps, $0.syllables) } }
        let columnSeconds = Self.rateColumn * scale.secondsPerPixel
        var pooled: [(start: Double, end: Double, rate: Double, syllables: Int)] = []
        var column = -1, syllables = 0, speech = 0.0
        func flush() {
            if speech > 0 {
                pooled.append((Double(column) * columnSeconds, Double(column + 1) * columnSeconds, Double(syllables) / speech, syllables))
            }
            syllables = 0; speech = 0
        }
        for s in valid.sorted(by: { $0.start < $1.start }) {
            let c = Int(((s.start + s.end) / 2 / columnSeconds).rounded(.down))
            if c != column { flush(); column = c }
            syllables += s.syllables
            speech += s.end - s.start
        }
        flush()
        return pooled
    }

    static let rateColumn = 8.0

    /// A bar over the phrase's time span, its text below, and the whole phrase with its times as the tooltip.
    private mutating func phrase(_ p: PlacedPhrase, _ g: LaneGeometry) {
        svg.open("g", [("class", "phrase")])
        svg.element("title", [], content: "\(fixed(p.phrase.start, 2))–\(fixed(p.phrase.end, 2)) s: " + p.phrase.words.joined(separator: " "))
        let bar = g.wordsTop + 4
        svg.element("line", [("x1", fixed(p.x)), ("y1", fixed(bar)), ("x2", fixed(max(scale.x(p.phrase.end), p.x + 2))), ("y2", fixed(bar)),
                             ("stroke", Palette.muted), ("stroke-width", "2")])
        for (i, line) in p.lines.enumerated() {
            svg.element("text", [("class", "words"), ("x", fixed(p.x)), ("y", fixed(bar + 12 + Double(i) * LaneGeometry.wordRow)),
                                 ("font-size", fixed(ReportStyle.wordSize, 0))], content: line)
        }
        svg.close("g")
    }

    private mutating func eventBands(_ events: [EventRecord], _ g: LaneGeometry) {
        for e in events {
            let start = e.start
            // An event still open when the call ended lasts to the end of the call.
            let end = max(e.end ?? scale.duration, start)
            let x0 = scale.x(start), x1 = scale.x(end)
            let solid = !e.kind.isConversation
            var tip = "\(Palette.name(e.kind)), \(fixed(start, 2))–\(fixed(end, 2)) s\(e.end == nil ? " (still open at the end)" : "")"
                + " · confidence \(fixed(e.confidence, 2)) · intensity \(fixed(e.intensity, 2))"
            if !e.explanation.isEmpty { tip += "\n" + e.explanation }
            if !e.suggestion.isEmpty { tip += "\nSuggestion: " + e.suggestion }
            if e.needsHuman { tip += "\nA person should look at this now." }
            svg.element("rect", [("class", "event-band"), ("data-kind", e.kind.rawValue), ("data-id", e.id),
                                 ("x", fixed(x0, 2)), ("y", fixed(g.stripTop)), ("width", fixed(max(x1 - x0, 1), 2)),
                                 ("height", fixed(g.bottom - g.stripTop)), ("fill", Palette.fill(e.kind)),
                                 ("fill-opacity", solid ? (e.kind == .hesitation ? "0.30" : "0.16") : "1")],
                        title: tip)
            svg.element("line", [("x1", fixed(x0)), ("y1", fixed(g.stripTop)), ("x2", fixed(x0)), ("y2", fixed(g.bottom)),
                                 ("stroke", Palette.colour(e.kind)), ("stroke-width", "1.5")])
        }
    }

    private mutating func eventLabels(_ labels: [PlacedEventLabel], _ g: LaneGeometry) {
        for l in labels {
            let top = g.stripTop + Double(l.row) * LaneGeometry.eventRow + 2
            svg.element("rect", [("x", fixed(l.markerX + 1)), ("y", fixed(top + 1)), ("width", "10"), ("height", "10"),
                                 ("fill", Palette.colour(l.event.kind)), ("stroke", Palette.text), ("stroke-width", "0.5")])
            var markup = "<text class=\"event-label\" x=\"\(fixed(l.markerX + 14))\" y=\"\(fixed(top + 10))\" font-size=\"11\">"
            markup += "<tspan font-weight=\"bold\">\(xmlEscaped(l.kind))</tspan>"
            if !l.explanation.isEmpty { markup += " · " + xmlEscaped(l.explanation) }
            markup += "</text>"
            svg.raw(markup)
        }
    }

    // MARK: - Axis

    private mutating func axis(top: Double) {
        svg.element("line", [("x1", fixed(scale.left)), ("y1", fixed(top)), ("x2", fixed(scale.right)), ("y2", fixed(top)), ("stroke", Palette.muted)])
        for t in scale.ticks {
            let x = fixed(scale.x(t))
            svg.element("line", [("x1", x), ("y1", fixed(top)), ("x2", x), ("y2", fixed(top + 5)), ("stroke", Palette.muted)])
            svg.element("text", [("x", x), ("y", fixed(top + 18)), ("text-anchor", "middle"), ("font-size", "11")], content: scale.label(t))
        }
        svg.element("text", [("x", "12"), ("y", fixed(top + 18)), ("font-size", "11"), ("fill", Palette.muted)],
                    content: scale.usesClockTime ? "time (m:ss)" : "time (s)")
        svg.element("text", [("x", "12"), ("y", fixed(top + 44)), ("font-size", "11"), ("fill", Palette.muted)],
                    content: "Pitch is drawn only where the voice is voiced, relative to each speaker's own median. "
                        + "Bands are events from start to end (to the end of the call when still open); hover one for its explanation and suggestion.")
    }
}

private extension String {
    /// Negative tick labels with a true minus sign, as printed scales have.
    func replacingMinus() -> String { hasPrefix("-") ? "−" + dropFirst() : self }
}
