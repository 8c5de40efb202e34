import AttuneText
import Foundation
import Testing

/// Every format is held to the same rules: times finite, ≥ 0 and in order, channels whole and ≥ 0, and a
/// refusal names the file, the line and the cause (sysexits 65).
@Suite("Transcript validation")
struct TranscriptValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        /// The line the error must name; nil for a one-document format (whisper.cpp).
        var line: Int?
        var cause: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "WebVTT cue ends before it starts", text: "WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nhi\n",
             line: 3, cause: "ends before it starts"),
        Case(name: "SRT cue ends before it starts", text: "1\n00:00:02,000 --> 00:00:01,000\nhi\n",
             line: 2, cause: "ends before it starts"),
        Case(name: "WebVTT timestamp with an exponent", text: "WEBVTT\n\n00:00:1e400 --> 00:00:02.000\nhi\n",
             line: 3, cause: "bad cue timing"),
        Case(name: "Vosk fractional negative channel",
             text: #"{"channel": -1.5, "result": [{"word": "a", "start": 0, "end": 1}], "text": "a"}"#,
             line: 1, cause: #""channel" must be a whole number ≥ 0"#),
        Case(name: "Vosk word ends before it starts",
             text: "{\"result\": [{\"word\": \"a\", \"start\": 0, \"end\": 1}]}\n{\"result\": [{\"word\": \"b\", \"start\": 3, \"end\": 2}]}",
             line: 2, cause: "word 'b' ends before it starts"),
        Case(name: "native word ends before it starts",
             text: #"{"start": 0, "end": 4, "text": "a b", "words": [{"w": "a", "start": 1, "end": 0.5}]}"#,
             line: 1, cause: "word 'a' ends before it starts"),
        Case(name: "native word before the audio",
             text: #"{"start": 0, "end": 4, "text": "a", "words": [{"w": "a", "start": -1, "end": 0.5}]}"#,
             line: 1, cause: "word 'a' starts before the audio"),
        Case(name: "native utterance ends before it starts", text: "\n\n" + #"{"start": 2, "end": 1, "text": "a"}"#,
             line: 3, cause: "utterance ends before it starts"),
        Case(name: "interim utterance is checked too", text: #"{"start": 2, "end": 1, "text": "a", "final": false}"#,
             line: 1, cause: "utterance ends before it starts"),
        Case(name: "native channel 1e20", text: #"{"channel": 1e20, "start": 0, "end": 1, "text": "a"}"#,
             line: 1, cause: #""channel" must be a whole number ≥ 0"#),
        Case(name: "native channel -1", text: #"{"channel": -1, "start": 0, "end": 1, "text": "a"}"#,
             line: 1, cause: #""channel" must be a whole number ≥ 0"#),
        Case(name: "Vosk channel 1e300", text: #"{"channel": 1e300, "result": [], "text": ""}"#,
             line: 1, cause: #""channel" must be a whole number ≥ 0"#),
        Case(name: "confidence above 1",
             text: #"{"result": [{"word": "a", "start": 0, "end": 1, "conf": 7}]}"#, line: 1, cause: "confidence 7.0 is not in 0…1"),
        Case(name: "whisper.cpp segment ends before it starts",
             text: #"{"transcription": [{"offsets": {"from": 0, "to": 500}, "text": "a"}, {"offsets": {"from": 900, "to": 100}, "text": "b"}]}"#,
             line: nil, cause: "whisper.cpp segment 1: utterance ends before it starts"),
    ]

    @Test(arguments: cases)
    func refusedWithLineAndCause(_ c: Case) {
        let error = #expect(throws: TranscriptError.self) { try Transcript(parsing: c.text, path: "t.txt") }
        #expect(error?.path == "t.txt")
        #expect(error?.line == c.line, "\(String(describing: error))")
        #expect(error?.reason.contains(c.cause) == true, "\(String(describing: error))")
        #expect(error?.exitCode == 65)
    }

    @Test("a channel the audio does not have names the line and the audio")
    func channelBeyondTheAudio() throws {
        let text = "{\"channel\": 1, \"start\": 0, \"end\": 1, \"text\": \"a\"}\n{\"channel\": 5, \"start\": 1, \"end\": 2, \"text\": \"b\"}\n"
        let t = try Transcript(parsing: text, path: "t.ndjson")
        #expect(throws: Never.self) { try t.check(channelCount: 6, audio: "call.wav", path: "t.ndjson") }
        let error = #expect(throws: TranscriptError.self) { try t.check(channelCount: 2, audio: "call.wav", path: "t.ndjson") }
        #expect(error?.description == "t.ndjson:2: channel 5, but call.wav has 2 channels (channels count from 0)")
        #expect(error?.exitCode == 65)
    }

    @Test("bytes that are not UTF-8 are bad data, a directory is missing input")
    func unreadable() throws {
        let error = #expect(throws: TranscriptError.self) { try Transcript(data: [0x7B, 0xFF, 0x7D], path: "t.ndjson") }
        #expect(error?.exitCode == 65)
        let dir = #expect(throws: TranscriptError.self) { try Transcript(contentsOf: NSTemporaryDirectory()) }
        #expect(dir?.exitCode == 66)
        #expect(dir?.reason == "is a directory, not a transcript")
    }
}
