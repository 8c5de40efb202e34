import AttuneText
import Foundation
import Testing

@Suite("Transcripts")
struct TranscriptTests {
    @Test("native NDJSON, wrapped and bare, with and without word timings")
    func native() throws {
        let text = """
        {"asr": {"call": "c42", "channel": 1, "start": 3.2, "end": 4.0, "text": "cancel it", "final": true,
          "words": [{"w": "cancel", "start": 3.2, "end": 3.6, "conf": 0.92}, {"w": "it", "start": 3.6, "end": 4.0}]}}
        {"channel": 0, "start": 0.5, "end": 1.5, "text": "hello there"}
        {"start": 2, "end": 2.5, "text": "interim", "final": false}
        """.replacingOccurrences(of: "\n  ", with: " ")
        let t = try Transcript(parsing: text)
        #expect(t.utterances.count == 2)
        #expect(t.words(channel: 1, from: 3, to: 5) == ["cancel", "it"])
        #expect(t.words(channel: 1, from: 3, to: 3.5) == ["cancel"])
        // No word timings: spread over the utterance by length, "hello" first.
        #expect(t.words(channel: 0, from: 0, to: 0.9) == ["hello"])
        #expect(t.words(channel: 0, from: 0, to: 2) == ["hello", "there"])
        #expect(t.words(channel: 0, from: 2, to: 3).isEmpty)
    }

    @Test("malformed lines are reported with the file and line")
    func malformed() {
        #expect(throws: TranscriptError(path: "t.ndjson", line: 2, "malformed JSON (expected one object per line)")) {
            try Transcript(parsing: "{\"start\": 0, \"end\": 1, \"text\": \"a\"}\n{oops\n", path: "t.ndjson")
        }
        #expect(throws: TranscriptError.self) { try Transcript(parsing: "{\"start\": 2, \"end\": 1, \"text\": \"a\"}") }
        #expect(throws: TranscriptError.self) { try Transcript(parsing: "{\"start\": \"x\", \"end\": 1, \"text\": \"a\"}") }
        #expect(throws: TranscriptError.self) { try Transcript(parsing: "just some words") }
        #expect((try? Transcript(contentsOf: "/nonexistent/t.ndjson")) == nil)
        do { _ = try Transcript(contentsOf: "/nonexistent/t.ndjson") } catch { #expect(error.exitCode == 66) }
    }

    @Test("Vosk and whisper.cpp JSON")
    func otherJSON() throws {
        let vosk = #"{"result": [{"conf": 1.0, "end": 1.2, "start": 0.9, "word": "yeah"}, {"conf": 0.8, "end": 1.6, "start": 1.2, "word": "fine"}], "text": "yeah fine"}"#
        #expect(try Transcript(parsing: vosk).words(channel: 0, from: 0, to: 2) == ["yeah", "fine"])
        let whisper = #"{"transcription": [{"timestamps": {"from": "00:00:00,000", "to": "00:00:02,000"}, "offsets": {"from": 0, "to": 2000}, "text": " whatever then"}]}"#
        #expect(try Transcript(parsing: whisper).words(channel: 0, from: 0, to: 2) == ["whatever", "then"])
    }

    @Test("WebVTT and SRT cues")
    func cues() throws {
        let vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Customer>I want a refund\n\n00:01:00.000 --> 00:01:01.000\nnow\n"
        let t = try Transcript(parsing: vtt)
        #expect(t.utterances.map(\.text) == ["I want a refund", "now"])
        #expect(t.words(channel: 0, from: 59, to: 62) == ["now"])
        let srt = "1\n00:00:01,000 --> 00:00:02,500\nVâng, được rồi\n\n2\n00:00:03,000 --> 00:00:04,000\nxin cảm ơn\n"
        let s = try Transcript(parsing: srt)
        #expect(s.utterances.count == 2)
        #expect(s.utterances[0].end == 2.5)
        #expect(s.words(channel: 0, from: 0, to: 3) == ["Vâng,", "được", "rồi"])
        #expect(throws: TranscriptError.self) { try Transcript(parsing: "WEBVTT\n\n00:0x:01.000 --> 00:00:02.000\nhi\n") }
    }

    /// One file of each line-based format (and whisper.cpp's JSON, which is not), with LF line endings.
    static let lineEndingSamples: [String] = [
        "{\"asr\": {\"channel\": 1, \"start\": 3.2, \"end\": 4.0, \"text\": \"cancel it\"}}\n"
            + "{\"channel\": 0, \"start\": 0.5, \"end\": 1.5, \"text\": \"hello there\"}\n"
            + "{\"start\": 2, \"end\": 2.5, \"text\": \"interim\", \"final\": false}\n",
        "{\"result\": [{\"word\": \"yeah\", \"start\": 0.9, \"end\": 1.2}], \"text\": \"yeah\"}\n{\"partial\": \"can\"}\n"
            + "{\"text\": \"\"}\n{\"result\": [{\"word\": \"cancel\", \"start\": 3.0, \"end\": 3.2}], \"text\": \"cancel\"}\n",
        "1\n00:00:01,000 --> 00:00:02,500\nSPEAKER_00: Vâng, được rồi\n\n2\n00:00:03,000 --> 00:00:04,000\n[SPEAKER_01]: xin\ncảm ơn\n",
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Agent>How can I help?\n\n00:00:02.500 --> 00:00:04.000\n<v Customer>a refund\n",
        "{\"transcription\": [\n  {\"offsets\": {\"from\": 0, \"to\": 2000}, \"text\": \" whatever then\"}\n]}\n",
    ]

    /// Windows tools end lines with CR LF. Swift reads "\r\n" as one Character, which splitting on "\n" does not
    /// find: NDJSON came out as one malformed line and SRT as "not a transcript".
    @Test("CR LF line endings, and a lone CR ending the last line, read exactly as LF", arguments: lineEndingSamples)
    func crlf(_ lf: String) throws {
        let map = ChannelMap(speakers: lf.contains("SPEAKER") ? ["SPEAKER_00": 0, "SPEAKER_01": 1] : [:], roles: ["agent", "customer"])
        let expected = try Transcript(parsing: lf, path: "t", channels: map)
        #expect(!expected.utterances.isEmpty)
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try Transcript(parsing: crlf, path: "t", channels: map) == expected)
        #expect(try Transcript(data: Array(crlf.utf8), path: "t", channels: map) == expected)
        // "\r\n" is one Character, so the CR alone is dropped from the scalars.
        let loneCR = String(crlf.unicodeScalars.dropLast())
        #expect(loneCR.hasSuffix("\r"))
        #expect(try Transcript(parsing: loneCR, path: "t", channels: map) == expected)
    }

    @Test("errors in a CR LF file name the same line as in the LF file")
    func crlfErrorLines() {
        let text = "{\"start\": 0, \"end\": 1, \"text\": \"a\"}\r\n\r\n{oops\r\n"
        #expect(throws: TranscriptError(path: "t", line: 3, "malformed JSON (expected one object per line)")) {
            try Transcript(parsing: text, path: "t")
        }
        let srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nhi\r\n\r\n2\r\n00:00:0x,000 --> 00:00:04,000\r\nho\r\n"
        let error = #expect(throws: TranscriptError.self) { try Transcript(parsing: srt, path: "t") }
        #expect(error?.line == 6)
        #expect(error?.reason.hasPrefix("bad cue timing '00:00:0x,000 --> 00:00:04,000' ") == true, "\(String(describing: error))")
    }
}
