import AttuneEvents
import AttuneReport
import AttuneTestSupport
import AttuneText
import Foundation
import Testing

/// Runs `executable` to the end, stdin from /dev/null.
private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
    let r = try runProcess(executable, arguments)
    return (r.status, r.stdout, try r.stderrText())
}

/// `rsvg-convert` from Debian's librsvg2-bin (Tools/setup installs it).
private let rsvgConvert = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// A PNG's width and height from its IHDR chunk.
private func pngSize(_ data: Data) throws -> (width: Int, height: Int) {
    let bytes = [UInt8](data)
    try #require(bytes.count > 24 && bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "not a PNG")
    try #require(String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR")
    func u32(_ i: Int) -> Int { bytes[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
    return (u32(16), u32(20))
}

private struct TypeOnly: Decodable { var type: String }

@Suite("attune plot, end to end")
struct PlotCLITests {
    let sample = packageRoot + "/Samples/call-8k-mulaw.wav"
    let transcript = packageRoot + "/Samples/call-8k-mulaw.transcript.ndjson"

    /// The real binary on the bundled call with its transcript, then the real rsvg-convert on the SVG it wrote.
    @Test(.enabled(if: rsvgConvert != nil, "rsvg-convert is not installed (Tools/setup installs librsvg2-bin)"))
    func plotsTheSampleCallAndRendersToPNG() throws {
        let dir = TempDir()
        let svgPath = dir.file("report.svg"), pngPath = dir.file("report.png")
        let plot = try run(try builtBinary("attune"), ["plot", sample, "--roles", "agent,customer", "--transcript", transcript, "-o", svgPath])
        #expect(plot.status == 0, "stderr: \(plot.stderr)")
        #expect(plot.stdout.isEmpty)
        let svg = try String(contentsOfFile: svgPath, encoding: .utf8)
        let elements = try #require(parseSVG(svg))
        let root = try #require(elements.first)
        #expect(root.attributes["width"] == "1600")
        let height = try #require(Int(root.attributes["height"] ?? ""))
        #expect(elements.filter { $0.attributes["class"] == "lane" }.map { $0.attributes["data-role"] } == ["agent", "customer"])
        #expect(elements.contains { $0.text == "Call call-8k-mulaw" })
        let words = Set(elements.filter { $0.attributes["class"] == "words" }.flatMap { $0.text.split(separator: " ").map(String.init) })
        #expect(words.isSuperset(of: ["Northwind", "cancelling!", "Thursday?"]), "\(words.sorted())")
        #expect(elements.filter { $0.attributes["class"] == "speech" }.count >= 10)

        let convert = try run(try #require(rsvgConvert), [svgPath, "-o", pngPath])
        #expect(convert.status == 0, "rsvg-convert: \(convert.stderr)")
        let size = try pngSize(try Data(contentsOf: URL(fileURLWithPath: pngPath)))
        #expect(size.width == 1600 && size.height == height, "PNG \(size)")
        keep(svgPath, pngPath, as: "sample")
    }

    /// The sample's real records, as `attune analyze --frames` prints them, with hand-made events over the
    /// customer's escalation (the engine has no event layer yet), through rsvg-convert.
    @Test(.enabled(if: rsvgConvert != nil, "rsvg-convert is not installed (Tools/setup installs librsvg2-bin)"))
    func realRecordsWithEventsRenderToPNG() throws {
        let analysis = try run(try builtBinary("attune"), ["analyze", sample, "--frames", "--roles", "agent,customer", "--transcript", transcript])
        #expect(analysis.status == 0, "stderr: \(analysis.stderr)")
        var report = CallReport(call: "call-8k-mulaw")
        let decoder = JSONDecoder()
        var engineEvents: Set<String> = []
        for line in analysis.stdout.split(separator: UInt8(ascii: "\n")) {
            let data = Data(line)
            switch try decoder.decode(TypeOnly.self, from: data).type {
            case "frame": report.add(try decoder.decode(FrameRecord.self, from: data))
            case "segment": report.add(try decoder.decode(SegmentRecord.self, from: data))
            case "summary": report.add(try decoder.decode(SummaryRecord.self, from: data))
            case "event":
                let e = try decoder.decode(EventRecord.self, from: data)
                engineEvents.insert(e.id)
                report.add(e)
            default: Issue.record("unexpected line \(String(decoding: data, as: UTF8.self))")
            }
        }
        report.add(try Transcript(contentsOf: transcript))
        report.add(event("e1", kind: .frustration, start: 20.8, end: 29.5,
                         explanation: "Voice 3 st above her own baseline and louder, speaking faster; said \"cancelling\"."))
        report.add(event("e2", kind: .urgency, start: 26.5, end: nil, explanation: "Demands a fix today."))
        report.add(event("e3", channel: 0, role: .agent, kind: .deadAir, start: 14.9, end: 17.1,
                         explanation: "2.2 s of silence after the customer gave her account number."))
        report.add(event("e4", kind: .talkOver, start: 26.47, end: 26.59, explanation: "Both spoke at once."))
        report.add(event("e5", channel: 0, role: .agent, kind: .slowResponse, start: 14.9, end: 17.1, explanation: "The agent took 2.2 s to answer."))
        let dir = TempDir()
        let svgPath = dir.file("events.svg"), pngPath = dir.file("events.png")
        let svg = report.svg()
        try svg.write(toFile: svgPath, atomically: false, encoding: .utf8)
        let elements = try #require(parseSVG(svg))
        // One band per event: the engine's own and the five made here.
        #expect(elements.filter { $0.attributes["class"] == "event-band" }.count == 5 + engineEvents.count)
        let convert = try run(try #require(rsvgConvert), [svgPath, "-o", pngPath])
        #expect(convert.status == 0, "rsvg-convert: \(convert.stderr)")
        let size = try pngSize(try Data(contentsOf: URL(fileURLWithPath: pngPath)))
        #expect(size.width == 1600 && String(size.height) == elements.first?.attributes["height"], "PNG \(size)")
        keep(svgPath, pngPath, as: "events")
    }

    /// plot takes analyze's input options as one group: a speaker-labelled transcript mapped to channels lands in
    /// the right lanes.
    @Test func takesAnalyzesTranscriptOptions() throws {
        let dir = TempDir()
        let vtt = dir.file("t.vtt")
        try Data("""
            WEBVTT

            00:00.400 --> 00:03.500
            <v Sam>Northwind support, this is Sam.

            00:04.400 --> 00:07.700
            <v Kim>My internet has been down.
            """.utf8).write(to: URL(fileURLWithPath: vtt))
        let r = try run(try builtBinary("attune"), ["plot", sample, "--transcript", vtt, "--transcript-channel", "Sam=0,Kim=1", "-o", "-"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let elements = try #require(parseSVG(String(decoding: r.stdout, as: UTF8.self)))
        var lane = ""
        var lines: [String: String] = [:]
        for el in elements {
            if el.attributes["class"] == "lane" { lane = el.attributes["data-channel"] ?? "" }
            if el.attributes["class"] == "words" { lines[lane, default: ""] += el.text + " " }
        }
        #expect(lines["0"]?.contains("Northwind") == true && lines["1"]?.contains("internet") == true, "\(lines)")
        #expect(try run(try builtBinary("attune"), ["plot", sample, "--transcript-channel", "1", "-o", "-"]).status == 64)
    }

    /// The built-in recogniser's words are evidence for events, never a transcript to show (README, "Built-in
    /// recogniser"): with `--asr pocketsphinx` the words lane stays empty and the report says why.
    @Test func recognisersWordsAreNotDrawn() throws {
        let dir = TempDir()
        let call = try bundledCallOpening(in: dir)
        let attune = try builtBinary("attune")
        let asr = try runProcess(attune, ["plot", call, "--roles", "agent,customer", "--asr", "pocketsphinx", "-o", "-"],
                                 environment: ["ATTUNE_ASR_TRACE": "1"])
        let trace = try asr.stderrText()
        #expect(asr.status == 0, "stderr: \(trace)")
        let heard = Set(recognisedWords(trace: trace).values.joined().map { $0.lowercased() })
        try #require(heard.count >= 3, "the recogniser heard words to leave out: \(heard)")
        let plain = try run(attune, ["plot", call, "--roles", "agent,customer", "-o", "-"])
        #expect(plain.status == 0, "stderr: \(plain.stderr)")
        let drawn = try #require(parseSVG(String(decoding: asr.stdout, as: UTF8.self)))
        let without = try #require(parseSVG(String(decoding: plain.stdout, as: UTF8.self)))
        #expect(!drawn.contains { $0.attributes["class"] == "words" || $0.attributes["class"] == "phrase" })
        let note = "the built-in recogniser's words are not shown (evidence for events only)"
        // Event explanations may quote a cue word the recogniser heard (that is what it is for); everything else
        // names no word it heard beyond what the same report without it says.
        func tokens(_ elements: [SVGElement]) -> Set<String> {
            let texts = elements.filter { el in
                el.attributes["class"] != "event-label" && el.ancestors.last != "text" && !(el.name == "title" && el.ancestors.last == "rect")
            }
            return Set(texts.flatMap { el in
                el.text.replacingOccurrences(of: note, with: "").lowercased().split { !$0.isLetter && $0 != "'" }.map(String.init)
            })
        }
        let shown = tokens(drawn).intersection(heard).subtracting(tokens(without))
        #expect(shown.isEmpty, "the report shows words only the recogniser heard: \(shown.sorted())")
        #expect(drawn.contains { $0.text.contains(note) }, "the report says the recogniser's words are left out")
        #expect(!without.contains { $0.text.contains(note) })
    }

    @Test func stdoutGetsTheSameBytes() throws {
        let dir = TempDir()
        let file = try run(try builtBinary("attune"), ["plot", sample, "-o", dir.file("a.svg")])
        let stdout = try run(try builtBinary("attune"), ["plot", sample, "-o", "-"])
        #expect(file.status == 0 && stdout.status == 0, "\(file.stderr) \(stdout.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("a.svg"))) == stdout.stdout)
    }

    @Test func exitCodes() throws {
        let attune = try builtBinary("attune")
        let dir = TempDir()
        // The report cannot be created: EX_CANTCREAT, naming the file; nothing is left behind.
        let missingDir = try run(attune, ["plot", sample, "-o", dir.file("no/such/dir/r.svg")])
        #expect(missingDir.status == 73)
        #expect(missingDir.stderr.contains("no/such/dir/r.svg: cannot create the report: No such file or directory"), "\(missingDir.stderr)")
        let isDirectory = try run(attune, ["plot", sample, "-o", dir.path])
        #expect(isDirectory.status == 73, "\(isDirectory.stderr)")
        // A full disk once created: EX_IOERR.
        if FileManager.default.fileExists(atPath: "/dev/full") {
            let full = try run(attune, ["plot", sample, "-o", "/dev/full"])
            #expect(full.status == 74, "\(full.stderr)")
        }
        // The same input errors as analyze, and no report written for them.
        let missing = try run(attune, ["plot", dir.file("absent.wav"), "-o", dir.file("r.svg")])
        #expect(missing.status == 66)
        let bad = dir.file("bad.wav")
        try Data("not audio at all".utf8).write(to: URL(fileURLWithPath: bad))
        #expect(try run(attune, ["plot", bad, "-o", dir.file("r.svg")]).status == 65)
        #expect(!FileManager.default.fileExists(atPath: dir.file("r.svg")))
        // Usage: no -o, an unknown role, a dash name.
        #expect(try run(attune, ["plot", sample]).status == 64)
        #expect(try run(attune, ["plot", sample, "--roles", "boss", "-o", dir.file("r.svg")]).status == 64)
        #expect(try run(attune, ["plot", "-x.wav", "-o", dir.file("r.svg")]).status == 64)
    }
}
