@testable import AttuneBus
import AttuneTestSupport
import NIOCore
import Testing


/// Mutates valid lines the way broken clients and line noise do: flipped, inserted, deleted, duplicated and
/// truncated bytes, JSON punctuation dropped in, and spliced halves of other lines.
func mutate(_ line: [UInt8], corpus: [[UInt8]], rng: inout SeededGenerator) -> [UInt8] {
    var out = line
    let punctuation = Array("{}[]\":,\\-0123456789.eEtrufalsn \u{7f}".utf8) + [0x00, 0x80, 0xC3, 0xFF, 0xED, 0xA0]
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        switch Int.random(in: 0..<7, using: &rng) {
        case 0 where !out.isEmpty:
            out[Int.random(in: 0..<out.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
        case 1:
            out.insert(punctuation.randomElement(using: &rng)!, at: Int.random(in: 0...out.count, using: &rng))
        case 2 where !out.isEmpty:
            out.remove(at: Int.random(in: 0..<out.count, using: &rng))
        case 3 where !out.isEmpty:
            out = Array(out.prefix(Int.random(in: 0..<out.count, using: &rng)))
        case 4 where !out.isEmpty:
            let a = Int.random(in: 0..<out.count, using: &rng)
            let b = Int.random(in: a...min(out.count, a + 16), using: &rng)
            out.insert(contentsOf: out[a..<b], at: Int.random(in: 0...out.count, using: &rng))
        case 5:
            let other = corpus.randomElement(using: &rng)!
            out = Array(out.prefix(out.count / 2)) + Array(other.suffix(other.count / 2))
        default:
            out.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...out.count, using: &rng))
        }
    }
    return out
}

@Suite struct ParserFuzzTests {
    static let controlCorpus: [[UInt8]] = [
        #"{"cmd": "start", "call": "c42", "source": "alsa:hw:1,0", "roles": ["agent", "customer"], "consent": false, "lang": "vi", "asr": "pocketsphinx"}"#,
        #"{"cmd": "stop", "call": "c42"}"#,
        #"{"cmd": "list"}"#,
        #"{"cmd": "stats"}"#,
        #"{"asr": {"call": "c42", "channel": 1, "start": 3.2, "end": 4.0, "text": "Vâng, được rồi \u00e9\ud83d\ude00", "final": true, "words": [{"w": "cancel", "start": 3.1, "end": 3.5, "conf": 0.92}]}}"#,
    ].map { Array($0.utf8) }

    static let subscribeCorpus: [[UInt8]] = [
        #"{"subscribe": {"kinds": ["frustration", "urgency"], "calls": ["c42"], "types": ["event", "segment"], "frames": false}}"#,
        #"{"subscribe": {"frames": true}}"#,
        #"{"subscribe": {"calls": [], "kinds": null}}"#,
        #"{"subscribe": {}}"#,
    ].map { Array($0.utf8) }

    @Test func validCorpusParses() throws {
        for line in Self.controlCorpus { _ = try ControlCommand.parse(line: line) }
        for line in Self.subscribeCorpus { _ = try SubscriptionFilter.parse(line: line) }
    }

    /// 5,000 mutated control lines: each parses or is refused with a `ProtocolError`; nothing traps. Values that
    /// parse as JSON also survive a write-and-reparse round trip unchanged.
    @Test func mutatedControlLinesNeverCrash() throws {
        var rng = SeededGenerator(seed: 0xA77E_0001)
        var accepted = 0, refused = 0
        for _ in 0..<5000 {
            let line = mutate(Self.controlCorpus.randomElement(using: &rng)!, corpus: Self.controlCorpus, rng: &rng)
            do {
                _ = try ControlCommand.parse(line: line)
                accepted += 1
            } catch {
                #expect(!error.message.isEmpty)
                refused += 1
            }
            if String(validating: line, as: UTF8.self) != nil, let value = try? JSONValue.parse(line) {
                var written: [UInt8] = []
                value.write(to: &written)
                #expect(try JSONValue.parse(written) == value, "round trip of \(String(decoding: line, as: UTF8.self))")
            }
        }
        #expect(accepted + refused == 5000)
        #expect(refused > 2500, "the mutations should break most lines")
    }

    @Test func mutatedSubscribeLinesNeverCrash() {
        var rng = SeededGenerator(seed: 0xA77E_0002)
        var refused = 0
        for _ in 0..<5000 {
            let line = mutate(Self.subscribeCorpus.randomElement(using: &rng)!, corpus: Self.subscribeCorpus, rng: &rng)
            do { _ = try SubscriptionFilter.parse(line: line) } catch { refused += 1 }
        }
        #expect(refused > 2500)
    }

    /// A refused `asr` message tells its sender why, words and all, but what the daemon logs holds none of them.
    @Test func aRefusedASRMessageKeepsItsWordsOutOfTheLog() throws {
        let line = #"{"asr":{"call":"x","channel":1,"start":1,"end":2,"text":"my number is 0780","words":[{"w":"0780","start":9,"end":10}]}}"#
        let error = try #require(throws: ProtocolError.self) { try ControlCommand.parse(line: Array(line.utf8)) }
        #expect(error.message.contains("0780"), "\(error.message)")
        #expect(!error.logMessage.contains("0780") && !error.logMessage.contains("number"), "\(error.logMessage)")
        let plain = try #require(throws: ProtocolError.self) { try ControlCommand.parse(line: Array(#"{"cmd":"lst"}"#.utf8)) }
        #expect(plain.logMessage == plain.message, "other refusals are logged as they are")
    }

    @Test func pathologicalLinesAreRefusedNotCrashed() {
        let deep = Array(repeating: UInt8(ascii: "["), count: 200_000)
        #expect(throws: ProtocolError.self) { try ControlCommand.parse(line: deep) }
        let deepObject = Array(String(repeating: "{\"a\":", count: 100_000).utf8)
        #expect(throws: ProtocolError.self) { try SubscriptionFilter.parse(line: deepObject) }
        for bad in ["", " ", "1e999", "-", "\"\\ud800\"", "\"\\udc00x\"", "{\"a\" 1}", "{\"cmd\":\"list\"} x", "nul", "01"] {
            #expect(throws: ProtocolError.self) { try ControlCommand.parse(line: Array(bad.utf8)) }
        }
    }

    /// Lines of blanks (spaces, tabs, a CR) are dropped like empty ones: neither is a command or a filter.
    @Test func lineFramerSkipsOverlongLinesAndKeepsTheNext() {
        var framer = LineFramer(maximumLength: 8)
        var events: [LineFramer.Event] = []
        let input = "short\r\n0123456789abcdef\nafter\n\n \t \r\n  \nlast"
        for chunk in Array(input.utf8).chunked(3) {
            framer.feed(.init(bytes: chunk)) { events.append($0) }
        }
        #expect(events == [.line(Array("short".utf8)), .tooLong, .line(Array("after".utf8))])
    }
}

extension Array {
    func chunked(_ n: Int) -> [[Element]] {
        stride(from: 0, to: count, by: n).map { Array(self[$0..<Swift.min($0 + n, count)]) }
    }
}
