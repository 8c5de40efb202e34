import AttuneTestSupport
import Foundation
import Testing

/// The emotion layer live: text sent as `asr` messages on the control socket reaches the call's customer channel and
/// comes back as `event` records on the event socket; without consent nothing but call_start and call_end does.
extension DaemonSuite {
    @Suite("Live events") struct LiveEventTests {
        /// A 6 s customer channel replayed in real time, with thanks said between 2 and 4 s: what a subscriber to the
        /// call got, and what one filtering on the `satisfaction` kind got.
        func run(consent: Bool) throws -> (call: [String], kind: [String], offline: [String]) {
            let daemon = try Daemon()
            let path = daemon.dir.file("customer.wav")
            try wavData(rate: 8000, channels: 1, samples: voiceLikeSamples(rate: 8000, seconds: 6)).write(to: URL(fileURLWithPath: path))
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["c1"]}}"#)
            let byKind = try daemon.subscribe(#"{"subscribe":{"kinds":["satisfaction"]}}"#)
            let reply = try daemon.command(#"{"cmd":"start","call":"c1","source":"file:\#(path)","roles":["customer"],"consent":\#(consent)}"#)
            #expect(reply["ok"] as? Bool == true, "\(reply)")
            // Sent at once, before the audio reaches these words: they count when it does.
            let asr = try daemon.command(#"{"asr":{"call":"c1","channel":0,"start":2.0,"end":4.0,"text":"thank you so much, that is perfect"}}"#)
            #expect(asr["ok"] as? Bool == true, "\(asr)")
            // Text for a call without consent is dropped at once, and the sender is told so.
            #expect(asr["kept"] as? Bool == consent, "\(asr)")
            let ended = try UnixClient.pump([subscriber, byKind], timeout: 60) { subscriber.hasReceived(lineContaining: #""type":"call_end""#) }
            #expect(ended, "no call_end within 60 s")
            #expect(daemon.terminate() == 0)
            _ = try UnixClient.pump([byKind], timeout: 2) { false }
            // The same audio and text through `attune analyze`.
            let transcript = daemon.dir.file("customer.ndjson")
            try #"{"channel":0,"start":2.0,"end":4.0,"text":"thank you so much, that is perfect"}"#.write(toFile: transcript, atomically: true, encoding: .utf8)
            let offline = try runProcess(try builtBinary("attune"), ["analyze", path, "--roles", "customer", "--transcript", transcript])
            #expect(offline.status == 0)
            return (published(subscriber), published(byKind), try offline.stdoutText().split(separator: "\n").map(String.init))
        }

        @Test("asr text becomes a satisfaction event, published live with its words")
        func textBecomesAnEvent() throws {
            let (lines, byKind, offline) = try run(consent: true)
            let starts = lines.filter { $0.contains(#""type":"event""#) && $0.contains(#""state":"start""#) }
            let satisfaction = try #require(starts.first { $0.contains(#""kind":"satisfaction""#) }, "events: \(starts)")
            #expect(satisfaction.contains(#""words":["thank you"]"#))
            let event = try jsonObject(satisfaction)
            // "so much" intensifies the thanks.
            #expect((event["intensity"] as? Double ?? 0) > 0.8)
            // It starts once the audio has reached the end of "thank you" (its words spread evenly over 2–4 s end at
            // about 2.57 s), not when the text arrived at 0 s.
            let t = try #require(event["t"] as? Double)
            #expect(t >= 2.55 && t <= 3.0, "t \(t)")
            #expect(lines.contains { $0.contains(#""type":"event""#) && $0.contains(#""state":"end""#) })
            // Text without word timings gives the segments it falls in the same words as the same line in a transcript
            // file gives them offline (spread evenly over the utterance; a word whose middle lies in a pause joins none).
            let segmentWords = { (records: [String]) throws -> [[String]] in
                try records.filter { $0.contains(#""type":"segment""#) }.map { try jsonObject($0)["words"] as? [String] ?? [] }
            }
            let live = try segmentWords(lines)
            #expect(live.joined().contains("perfect"), "\(live)")
            #expect(live == (try segmentWords(offline)), "live \(live)")
            // A subscriber asking for this kind gets exactly the call's satisfaction events, nothing else.
            let satisfactionEvents = lines.filter { $0.contains(#""type":"event""#) && $0.contains(#""kind":"satisfaction""#) }
            #expect(!byKind.isEmpty)
            #expect(byKind == satisfactionEvents)
        }

        @Test("without consent only call_start and call_end are published")
        func noConsentNoEvents() throws {
            let (lines, byKind, _) = try run(consent: false)
            #expect(byKind.isEmpty)
            let types = Set(lines.compactMap { try? jsonObject($0)["type"] as? String })
            #expect(types == ["call_start", "call_end"], "\(types)")
        }
    }
}
