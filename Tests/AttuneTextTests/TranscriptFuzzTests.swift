import AttuneTestSupport
@testable import AttuneText
import Foundation
import Testing


/// Mutated transcripts of every format either parse to valid utterances or throw ``TranscriptError`` naming the
/// file (and the line, for line-based formats); nothing traps. A crash ends the test process, which is the failure
/// this suite exists to catch. Accepted utterances go on through the text layer, which must not trap either.
@Suite("Transcript fuzzing")
struct TranscriptFuzzTests {
    static let seeds: [(format: String, text: String)] = [
        ("native", """
            {"asr": {"call": "c42", "channel": 1, "start": 3.2, "end": 4.0, "text": "cancel it", "final": true, "words": [{"w": "cancel", "start": 3.2, "end": 3.6, "conf": 0.92}, {"w": "it", "start": 3.6, "end": 4.0}]}}
            {"channel": 0, "start": 0.5, "end": 1.5, "text": "hello there"}
            {"start": 2, "end": 2.5, "text": "interim", "final": false}
            {"channel": 1, "start": 5, "end": 6, "text": "Vâng, được rồi, thôi bỏ đi", "words": [{"w": "Vâng,", "start": 5, "end": 5.2}]}
            """),
        ("vosk", """
            {"channel": 1, "result": [{"conf": 1.0, "end": 1.2, "start": 0.9, "word": "yeah"}, {"conf": 0.8, "end": 1.6, "start": 1.2, "word": "fine"}], "text": "yeah fine"}
            {"result": [{"conf": 0.5, "end": 2.2, "start": 2.0, "word": "ok"}], "text": "ok"}
            {"partial": "can"}
            {"text": ""}
            {"alternatives": [{"confidence": 0.9, "result": [{"end": 3.2, "start": 3.0, "word": "cancel"}], "text": "cancel"}]}
            """),
        ("vosk-array", #"[{"result": [{"conf": 1.0, "end": 1.2, "start": 0.9, "word": "yeah"}], "text": "yeah"}, {"result": [], "text": ""}]"#),
        ("whisper", #"{"transcription": [{"timestamps": {"from": "00:00:00,000", "to": "00:00:02,000"}, "offsets": {"from": 0, "to": 2000}, "text": " whatever then"}, {"offsets": {"from": 2500, "to": 3000}, "text": " fine"}]}"#),
        ("whisper-speakers", #"{"transcription": [{"offsets": {"from": 0, "to": 900}, "text": " [SPEAKER_00]: hello", "speaker_turn_next": true}, {"offsets": {"from": 1000, "to": 2000}, "text": " I want a refund", "speaker": "1"}]}"#),
        ("webvtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000 align:start\n<v Customer>I want a refund\n\n00:01:00.000 --> 00:01:01.000\n<v.loud Customer>now &amp; here</v>\n"),
        ("srt", "1\n00:00:01,000 --> 00:00:02,500\nSPEAKER_01: Vâng, được rồi\n\n2\n00:00:03,000 --> 00:00:04,000\n[SPEAKER_01] xin cảm ơn\n"),
    ]

    /// Splices that reach the parsers' edges: numbers that overflow, trap an `Int` conversion or are not numbers,
    /// structure out of place, invalid UTF-8 and deep nesting.
    static let tokens: [[UInt8]] = [
        "1e20", "-1", "-1.5", "1e400", "-1e400", "NaN", "nan", "inf", "-0", "0.5", "4294967296", "9223372036854775808",
        "99999999999999999999999999999999", "1e-400", "null", "true", "false", "\"\"", "[]", "{}", "[", "{", "]", "}", ",",
        ":", "\"", "\\", "\\u0000", "\\ud800", "-->", " --> ", "00:00:", "99:99:99.999", "\n", "\r\n", "\u{FEFF}", "WEBVTT\n",
        "\"channel\": 1e20, ", "\"channel\": -1.5, ", "\"start\": 1e400, ", "\"words\": [{}], ", "\"result\": 7, ",
        "\"transcription\": [{}], ", "\"offsets\": {\"from\": \"x\"}, ", "<v Agent>", "<v ", "[SPEAKER_00]: ", "SPEAKER_02: ",
        "(speaker ?) ", "\"speaker\": \"7\", ", "\"speaker_turn_next\": true, ", "\"final\": \"no\", ", "\"conf\": \"x\", ",
        "\"alternatives\": [], ", "\"partial\": \"\", ", "Đ", "e\u{301}", "không", "n't", "&amp;", "60:60:60,000",
    ].map { Array($0.utf8) } + [
        [0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x00],
        Array(String(repeating: "[", count: 10_000).utf8), Array(String(repeating: "{\"a\":", count: 2_000).utf8),
    ]

    static func mutate(_ input: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: if !bytes.isEmpty { bytes[at] = UInt8.random(in: 0...255, using: &rng) }
            case 1: if !bytes.isEmpty { bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng) }
            case 2: bytes.removeSubrange(at...)
            case 3: bytes.insert(contentsOf: tokens.randomElement(using: &rng)!, at: at)
            case 4:
                // A number replaced by an edge value, where the parsers convert it.
                if let digit = bytes[at...].firstIndex(where: { (0x30...0x39).contains($0) }) {
                    let end = bytes[digit...].firstIndex { !(0x30...0x39).contains($0) && $0 != 0x2E } ?? bytes.endIndex
                    bytes.replaceSubrange(digit..<end, with: tokens[Int.random(in: 0..<16, using: &rng)])
                }
            case 5: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...20, using: &rng)))
            case 6:
                // Two stretches swapped: fields, values and lines out of their places.
                let b = Int.random(in: 0...bytes.count, using: &rng)
                let (lo, hi) = (min(at, b), max(at, b))
                let n = min(Int.random(in: 1...30, using: &rng), (hi - lo) / 2)
                if n > 0 {
                    let first = Array(bytes[lo..<(lo + n)]), second = Array(bytes[(hi - n)..<hi])
                    bytes.replaceSubrange((hi - n)..<hi, with: first)
                    bytes.replaceSubrange(lo..<(lo + n), with: second)
                }
            default: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + Int.random(in: 1...40, using: &rng))], at: at)
            }
        }
        return bytes
    }

    /// Values put where the parsers expect others (computed: `Any` values cannot be shared between tests): numbers that trap an `Int` conversion, wrong types, empty
    /// containers, text with cue words.
    static var edgeValues: [Any] { [
        1e20, -1, -1.5, 0.5, 1e300, -1e300, 4_294_967_296, 9.3e18, 0, "", "1", "x", true, false, NSNull(), [Any](),
        [String: Any](), "Vâng, không tệ", "[SPEAKER_00]: no problem", ["w": 1] as [String: Any],
    ] }

    /// JSON taken apart and put back with one to three structural changes: a value replaced by an edge value, a
    /// key dropped, two values of an object swapped, an array element repeated. The bytes stay valid JSON, so the
    /// mutations reach the checks of each field rather than stopping at the JSON parser.
    static func mutateJSON(_ value: Any, _ rng: inout SeededGenerator, depth: Int = 0) -> Any {
        if var o = value as? [String: Any], !o.isEmpty {
            let keys = o.keys.sorted()
            let key = keys[Int.random(in: 0..<keys.count, using: &rng)]
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: o[key] = edgeValues.randomElement(using: &rng)!
            case 1: o[key] = nil
            case 2:
                let other = keys[Int.random(in: 0..<keys.count, using: &rng)]
                (o[key], o[other]) = (o[other], o[key])
            default: o[key] = mutateJSON(o[key]!, &rng, depth: depth + 1)
            }
            return o
        }
        if var a = value as? [Any], !a.isEmpty {
            let i = Int.random(in: 0..<a.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: a[i] = edgeValues.randomElement(using: &rng)!
            case 1: a.remove(at: i)
            case 2: a.insert(a[i], at: i)
            default: a[i] = mutateJSON(a[i], &rng, depth: depth + 1)
            }
            return a
        }
        return edgeValues.randomElement(using: &rng)!
    }

    /// One line of NDJSON (or the whole document) mutated by ``mutateJSON``; the bytes unchanged if it is not JSON.
    static func mutateStructure(_ input: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var lines = input.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        let whole = (try? JSONSerialization.jsonObject(with: Data(input))) != nil
        let i = whole ? 0 : Int.random(in: 0..<lines.count, using: &rng)
        let target = whole ? input : lines[i]
        guard var object = try? JSONSerialization.jsonObject(with: Data(target)) else { return input }
        for _ in 0..<Int.random(in: 1...3, using: &rng) { object = mutateJSON(object, &rng) }
        // Foundation stops the process rather than throw when the top level is not an object or array.
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return input }
        if whole { return Array(data) }
        lines[i] = Array(data)
        return Array(lines.joined(separator: [0x0A]))
    }

    /// What an accepted transcript must hold, whatever it was parsed from.
    static func expectValid(_ t: Transcript, from bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        for u in t.utterances {
            let ok = u.final && u.channel >= 0 && u.start.isFinite && u.end.isFinite && u.start >= 0 && u.end >= u.start
                && u.words.allSatisfy { w in
                    w.start.isFinite && w.end.isFinite && w.start >= 0 && w.end >= w.start && (w.confidence.map { (0...1).contains($0) } ?? true)
                }
            #expect(ok, "accepted an invalid utterance \(u) from \(String(decoding: bytes.prefix(300), as: UTF8.self))",
                    sourceLocation: sourceLocation)
            _ = t.words(channel: u.channel, from: u.start, to: u.end)
        }
    }

    /// Mutations per seed; with two seeds for whisper.cpp and Vosk each, every format gets at least this many.
    static let mutations = 2_000
    static let analyzer: TextAnalyzer? = try? TextAnalyzer.bundled()

    @Test(arguments: seeds.indices)
    func mutatedTranscriptsParseOrThrow(_ index: Int) {
        let (format, text) = Self.seeds[index]
        var rng = SeededGenerator(seed: 0xA77E_0000 + UInt64(index))
        let original = Array(text.utf8)
        // Each seed's own labels in the explicit map (a label the transcript lacks is refused), so mutations reach
        // placing by map, by role and by number.
        let labels: [String: [String: Int]] = ["srt": ["SPEAKER_01": 1], "whisper-speakers": ["SPEAKER_00": 0], "webvtt": ["customer": 1]]
        let map = ChannelMap(speakers: labels[format] ?? [:], roles: ["agent", "customer"])
        #expect((try? Transcript(data: original, path: format, channels: map)) != nil, "the \(format) seed itself must parse")
        var accepted = 0, refused = 0, cues = 0
        let json = original.first == UInt8(ascii: "{") || original.first == UInt8(ascii: "[")
        for n in 0..<Self.mutations {
            // JSON formats get half their mutations as structure, half as bytes.
            let bytes = json && n % 2 == 0 ? Self.mutateStructure(original, &rng) : Self.mutate(original, &rng)
            do {
                let t = try Transcript(data: bytes, path: format, channels: map)
                Self.expectValid(t, from: bytes)
                for u in t.utterances {
                    for language in [Language.en, .vi, nil] {
                        guard let r = Self.analyzer?.read(u, language: language) else { continue }
                        cues += r.cues.count
                        #expect(r.valence.isFinite && (-1...1).contains(r.valence) && (0...1).contains(r.intensity))
                    }
                }
                accepted += 1
            } catch {
                // Typed throws: whatever arrives here is a TranscriptError; it must say where and why.
                // 64 only when the mutation made speakers the channel map cannot place, or took away a label it maps.
                #expect(error.path == format && !error.reason.isEmpty
                        && (error.exitCode == 65 || error.exitCode == 64 && error.reason.contains("no channel for them")
                            || error.exitCode == 64 && error.reason.hasPrefix("--transcript-channel: no utterance has the label")))
                #expect(error.description.hasPrefix(format + (error.line.map { ":\($0): " } ?? ": ")))
                let lines = bytes.count(where: { $0 == 0x0A }) + 1
                #expect(error.line.map { (1...lines).contains($0) } ?? true, "\(error) names a line the input lacks")
                // A line-based file names the line of every problem found in it.
                if error.line == nil && ["native", "webvtt", "srt"].contains(format) {
                    let allowed = ["whisper.cpp", "larger than", "overlaps the utterance before", "--transcript-channel"]
                    #expect(allowed.contains { error.reason.contains($0) } || bytes.first == UInt8(ascii: "[")
                            || bytes.count(where: { $0 == 0x0A }) == 0, "\(error) names no line")
                }
                refused += 1
            }
        }
        // Both outcomes occur, so the mutations reach past the first check and the validation is exercised.
        #expect(accepted > 0 && refused > 0, "\(format): \(accepted) accepted, \(refused) refused")
        #expect(cues > 0, "\(format): the text layer found no cue in any accepted mutation")
    }

    @Test("mutated lexicons load or throw a LexiconError naming the file and line")
    func mutatedLexicons() throws {
        let dir = try TextAnalyzer.bundledDirectory()
        for language in Language.allCases {
            let path = dir + "/\(language.rawValue).tsv"
            let original = try #require(FileManager.default.contents(atPath: path)).map { $0 }
            var rng = SeededGenerator(seed: 0x1E71_C000 + UInt64(language.rawValue.utf8.first!))
            var refused = 0
            for _ in 0..<100 {
                let bytes = Self.mutate(original, &rng)
                guard let text = String(validating: bytes, as: UTF8.self) else { continue }
                do { _ = try Lexicon(parsing: text, path: path, language: language) } catch {
                    #expect(error.path == path && !error.reason.isEmpty)
                    refused += 1
                }
            }
            #expect(refused > 0)
        }
    }

    @Test("one-megabyte lines")
    func hugeLines() {
        let mb = 1 << 20
        let text = String(repeating: "abcdefghijklmnopqrstuvwxyz01234 ", count: mb / 32)
        let inputs: [[UInt8]] = [
            Array("{\"start\": 0, \"end\": 1, \"text\": \"\(text)\"}".utf8),
            Array("{\"start\": \(String(repeating: "9", count: mb)), \"end\": 1, \"text\": \"a\"}".utf8),
            Array("{\"channel\": 0.\(String(repeating: "5", count: mb)), \"start\": 0, \"end\": 1, \"text\": \"a\"}".utf8),
            Array(String(repeating: "[", count: mb).utf8),
            Array(String(repeating: "{\"a\":", count: mb / 5).utf8),
            Array("WEBVTT\n\n00:00:\(String(repeating: "1", count: mb)) --> 00:00:02.000\nhi\n".utf8),
            Array("1\n00:00:01,000 --> 00:00:02,000\n\(text)\n".utf8),
            [UInt8](repeating: 0xFF, count: mb),
        ]
        var accepted = 0
        for bytes in inputs {
            do {
                Self.expectValid(try Transcript(data: bytes, path: "big"), from: bytes)
                accepted += 1
            } catch {
                #expect(error.path == "big")
            }
        }
        #expect(accepted == 2, "the two long texts are valid transcripts")
    }
}
