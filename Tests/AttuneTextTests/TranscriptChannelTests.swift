import AttuneTestSupport
import Foundation
import Testing
@testable import AttuneText
#if canImport(Glibc)
import Glibc
#endif

/// Channels for formats that carry none, order and overlap, and the hardening of each format's fields.
@Suite("Transcript channels and hardening")
struct TranscriptChannelTests {
    func parse(_ text: String, _ map: ChannelMap = ChannelMap()) throws(TranscriptError) -> Transcript {
        try Transcript(parsing: text, path: "t", channels: map)
    }

    @Test("--transcript-channel values")
    func channelSpec() throws {
        #expect(try ChannelMap(parsing: "1") == ChannelMap(defaultChannel: 1))
        #expect(try ChannelMap(parsing: "SPEAKER_00=1, SPEAKER_01=0") == ChannelMap(speakers: ["SPEAKER_00": 1, "SPEAKER_01": 0]))
        #expect(try ChannelMap(parsing: "0,Alice=1", roles: ["agent"]) == ChannelMap(speakers: ["Alice": 1], roles: ["agent"]))
        // Labels may hold `,` (written `\,`) and `=` (an entry splits at its last `=`); `\\` is a backslash.
        #expect(try ChannelMap(parsing: #"Smith\, John=0, Doe\, Jane=1"#) == ChannelMap(speakers: ["Smith, John": 0, "Doe, Jane": 1]))
        #expect(try ChannelMap(parsing: "a=b=1,2") == ChannelMap(defaultChannel: 2, speakers: ["a=b": 1]))
        #expect(try ChannelMap(parsing: #"C:\\dir=1,x\y=0"#) == ChannelMap(speakers: [#"C:\dir"#: 1, #"x\y"#: 0]))
        for bad in ["x", "-1", "1e20", "1,2", "=1", "A=1,a=2", "O\u{2019}Brien=0,o'brien=1", "Jos\u{E9}=0,jose\u{301}=1", "", "A=", "1024", #"A\,1"#, "A=1=x"] {
            let error = #expect(throws: TranscriptError.self, "\(bad)") { try ChannelMap(parsing: bad) }
            #expect(error?.exitCode == 64)
            #expect(error?.description.hasPrefix("--transcript-channel: ") == true)
        }
    }

    @Test("the default channel takes utterances that name none; named channels stay")
    func defaultChannel() throws {
        let native = "{\"start\": 0, \"end\": 1, \"text\": \"a\"}\n{\"channel\": 0, \"start\": 1, \"end\": 2, \"text\": \"b\"}\n"
        #expect(try parse(native, ChannelMap(defaultChannel: 1)).utterances.map(\.channel) == [1, 0])
        let srt = "1\n00:00:01,000 --> 00:00:02,000\nhello\n"
        #expect(try parse(srt, ChannelMap(defaultChannel: 1)).utterances.map(\.channel) == [1])
        let vosk = #"{"result": [{"word": "a", "start": 0, "end": 1}]}"#
        #expect(try parse(vosk, ChannelMap(defaultChannel: 2)).utterances.map(\.channel) == [2])
    }

    static let vtt = """
        WEBVTT

        00:00:01.000 --> 00:00:02.000
        <v Agent>How can I help?</v>

        00:00:02.500 --> 00:00:04.000
        <v.loud Customer>I want a refund &amp; now

        00:00:04.500 --> 00:00:05.000
        Agent: Of course.
        """

    @Test("WebVTT voices and prefixes go to the channel of the role they name")
    func rolesFromVoices() throws {
        let t = try parse(Self.vtt, ChannelMap(roles: ["agent", "customer"]))
        #expect(t.utterances.map(\.channel) == [0, 1, 0])
        #expect(t.utterances.map(\.speaker) == ["Agent", "Customer", "Agent"])
        #expect(t.utterances.map(\.text) == ["How can I help?", "I want a refund & now", "Of course."])
        #expect(try parse(Self.vtt, ChannelMap(roles: ["customer", "agent"])).utterances.map(\.channel) == [1, 0, 1])
        // An explicit map wins over roles.
        #expect(try parse(Self.vtt, ChannelMap(speakers: ["agent": 1], roles: ["agent", "customer"])).utterances.map(\.channel)
                == [1, 1, 1])
    }

    @Test("two speakers nothing places are refused with the lines and the fix")
    func unplacedSpeakers() {
        let error = #expect(throws: TranscriptError.self) { try parse(Self.vtt) }
        #expect(error?.exitCode == 64)
        #expect(error?.line == 3)
        #expect(error?.reason == "2 speakers and no channel for them: 'Agent' (line 3), 'Customer' (line 6); map them with "
                + "--transcript-channel Agent=0,Customer=1 (or name roles with --roles)")
        // One speaker alone goes to the default channel.
        let one = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Bob>hi\n"
        #expect((try? parse(one, ChannelMap(defaultChannel: 1)))?.utterances.map(\.channel) == [1])
    }

    static let twoSpeakerSRT = "1\n00:00:01,000 --> 00:00:02,000\nSPEAKER_00: hello\n\n"
        + "2\n00:00:02,500 --> 00:00:03,000\nSPEAKER_01: cancel it\n"

    /// A misspelt label used to be ignored, and the speaker it meant went to the default channel unnoticed.
    @Test("a --transcript-channel label no utterance carries is refused, with the labels the transcript has")
    func unknownMapLabel() throws {
        let error = #expect(throws: TranscriptError.self) {
            try parse(Self.twoSpeakerSRT, ChannelMap(parsing: "SPEAKER_00=0,SPEAKR_01=1"))
        }
        #expect(error?.exitCode == 64)
        #expect(error?.line == nil)
        #expect(error?.reason == "--transcript-channel: no utterance has the label 'SPEAKR_01'; "
                + "the transcript's labels are 'SPEAKER_00' (line 2), 'SPEAKER_01' (line 6)")
        let none = #expect(throws: TranscriptError.self) {
            try parse("{\"start\": 0, \"end\": 1, \"text\": \"a\"}\n", ChannelMap(parsing: "A=0,B=1"))
        }
        #expect(none?.exitCode == 64)
        #expect(none?.reason == "--transcript-channel: no utterance has the labels 'A', 'B'; the transcript has no speaker labels")
        // Labels match case-insensitively, as placing does.
        #expect(try parse(Self.twoSpeakerSRT, ChannelMap(parsing: "speaker_00=1,Speaker_01=0")).utterances.map(\.channel) == [1, 0])
    }

    /// The refusal's suggested option is pasted into a shell: labels with `,` or `=` are escaped for the map, and
    /// a value with spaces or shell metacharacters goes in single quotes.
    @Test("the suggested --transcript-channel escapes labels for the map and quotes them for the shell")
    func suggestionQuoting() throws {
        func suggestion(_ a: String, _ b: String) -> String? {
            let vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v \(a)>hi\n\n00:00:02.500 --> 00:00:03.000\n<v \(b)>ho\n"
            let error = #expect(throws: TranscriptError.self) { try parse(vtt) }
            return error?.reason.split(separator: "map them with --transcript-channel ").last
                .map { String($0.dropLast(" (or name roles with --roles)".count)) }
        }
        #expect(suggestion("Smith, John", "Doe, Jane") == #"'Smith\, John=0,Doe\, Jane=1'"#)
        #expect(suggestion("O'Brien", "a=b") == #"'O'\''Brien=0,a=b=1'"#)
        #expect(suggestion("SPEAKER_00", "SPEAKER_01") == "SPEAKER_00=0,SPEAKER_01=1")
        // What the shell hands over parses back to the labels.
        #expect(try ChannelMap(parsing: #"Smith\, John=0,Doe\, Jane=1"#).speakers == ["Smith, John": 0, "Doe, Jane": 1])
    }

    @Test("SRT SPEAKER_NN prefixes through an explicit map")
    func srtSpeakers() throws {
        let srt = "1\n00:00:01,000 --> 00:00:02,000\nSPEAKER_00: hello\n\n2\n00:00:02,500 --> 00:00:03,000\n[SPEAKER_01]: cancel it\n\n"
            + "3\n00:00:03,500 --> 00:00:04,000\nNote: this is speech\n"
        let t = try parse(srt, ChannelMap(parsing: "SPEAKER_00=1,speaker_01=0"))
        #expect(t.utterances.map(\.channel) == [1, 0, 0])
        #expect(t.utterances.map(\.text) == ["hello", "cancel it", "Note: this is speech"])
    }

    @Test("whisper.cpp speakers: --diarize names the channel, --tinydiarize turns need a map")
    func whisperSpeakers() throws {
        let diarized = #"{"transcription": [{"offsets": {"from": 0, "to": 900}, "text": " hi", "speaker": "0"}, "#
            + #"{"offsets": {"from": 1000, "to": 2000}, "text": " refund", "speaker": "1"}, {"offsets": {"from": 2000, "to": 2500}, "text": " so", "speaker": "?"}]}"#
        #expect(try parse(diarized).utterances.map(\.channel) == [0, 1, 0])
        let turns = #"{"transcription": [{"offsets": {"from": 0, "to": 900}, "text": " hi [SPEAKER_TURN]", "speaker_turn_next": true}, "#
            + #"{"offsets": {"from": 1000, "to": 2000}, "text": " refund", "speaker_turn_next": true}, {"offsets": {"from": 2000, "to": 2500}, "text": " ok", "speaker_turn_next": false}]}"#
        #expect(throws: TranscriptError.self) { try parse(turns) }
        let t = try parse(turns, ChannelMap(parsing: "A=1,B=0"))
        #expect(t.utterances.map(\.channel) == [1, 0, 1])
        #expect(t.utterances.map(\.text) == ["hi", "refund", "ok"])
        let prefixed = #"{"transcription": [{"offsets": {"from": 0, "to": 900}, "text": " [SPEAKER_01]: hello"}]}"#
        #expect(try parse(prefixed, ChannelMap(parsing: "SPEAKER_01=1")).utterances.map(\.channel) == [1])
    }

    @Test("out-of-order utterances are sorted; overlapping ones on one channel refused with both lines")
    func orderAndOverlap() throws {
        let shuffled = "{\"start\": 5, \"end\": 6, \"text\": \"c\"}\n{\"start\": 0, \"end\": 1, \"text\": \"a\"}\n"
            + "{\"channel\": 1, \"start\": 0.5, \"end\": 5.5, \"text\": \"talk over\"}\n{\"start\": 1.1, \"end\": 2, \"text\": \"b\"}\n"
        #expect(try parse(shuffled).utterances.map(\.text) == ["a", "talk over", "b", "c"])
        // Touching, or crossing by a frame, is two utterances in a row.
        #expect(try parse("{\"start\": 0, \"end\": 1.2, \"text\": \"a\"}\n{\"start\": 1, \"end\": 2, \"text\": \"b\"}").utterances.count == 2)
        let overlap = "{\"start\": 0, \"end\": 3, \"text\": \"a\"}\n{\"start\": 9, \"end\": 10, \"text\": \"z\"}\n{\"start\": 2, \"end\": 4, \"text\": \"b\"}\n"
        let error = #expect(throws: TranscriptError.self) { try parse(overlap) }
        #expect(error?.description == "t:3: overlaps line 1 on channel 0 (0.0–3.0 s and 2.0–4.0 s): a channel says one thing at "
                + "a time, so this is a duplicate or a mix-up")
        // A partial followed by its final is not an overlap.
        let revised = "{\"start\": 0, \"end\": 1, \"text\": \"can\", \"final\": false}\n{\"start\": 0, \"end\": 2, \"text\": \"cancel\"}\n"
        #expect(try parse(revised).utterances.map(\.text) == ["cancel"])
        // Words are put in time order.
        let words = #"{"start": 0, "end": 2, "text": "b a", "words": [{"w": "b", "start": 1, "end": 2}, {"w": "a", "start": 0, "end": 1}]}"#
        #expect(try parse(words).words(channel: 0, from: 0, to: 2) == ["a", "b"])
    }

    @Test("fields of the wrong type or out of range are refused with the line", arguments: [
        (#"{"start": 0, "end": 1, "text": "a", "final": "no"}"#, "\"final\" must be true or false (got \"no\")"),
        (#"{"start": 0, "end": 1, "text": "a", "words": [{"w": "a", "start": 0, "end": 1, "conf": "x"}]}"#, "\"conf\" must be a number"),
        (#"{"asr": 5}"#, "\"asr\" must be an object"),
        (#"{"start": 0, "end": 1, "text": "a", "words": {"w": "a"}}"#, "must be an array of word objects"),
        (#"{"start": 0, "end": 1, "text": "a", "words": [{"w": "a", "start": 5, "end": 6}]}"#, "lies outside its utterance"),
        (#"{"result": [{"word": "a", "start": 0, "end": 1}], "text": 7}"#, "Vosk \"text\" must be a string"),
        (#"{"result": [{"word": "a", "start": 0, "end": 1}], "channel": 0.5}"#, "\"channel\" must be a whole number ≥ 0 (got 0.5)"),
        (#"{"result": [{"word": "a", "start": 0, "end": 1}], "channel": "1"}"#, "\"channel\" must be a whole number ≥ 0 (got \"1\")"),
        (#"{"channel": true, "start": 0, "end": 1, "text": "a"}"#, "\"channel\" must be a whole number ≥ 0 (got true)"),
        (#"{"alternatives": []}"#, "non-empty array"),
        ("WEBVTT\n\n00:00:1e3 --> 00:00:02.000\nhi", "bad cue timing"),
        ("WEBVTT\n\n00:61:00.000 --> 01:02:00.000\nhi", "bad cue timing"),
        ("WEBVTT\n\n-00:00:01.000 --> 00:00:02.000\nhi", "bad cue timing"),
        ("WEBVTT\n\n00:00:nan --> 00:00:02.000\nhi", "bad cue timing"),
        ("1\n00:00:01,000 --> 00:00:02,000 --> 00:00:03,000\nhi", "bad cue timing"),
    ])
    func wrongTypes(_ text: String, _ cause: String) {
        let error = #expect(throws: TranscriptError.self) { try parse(text) }
        #expect(error?.line != nil)
        #expect(error?.exitCode == 65)
        #expect(error?.reason.contains(cause) == true, "\(String(describing: error))")
    }

    @Test("Vosk partial results, empty results and alternatives")
    func voskShapes() throws {
        let text = """
            {"partial": "i want"}
            {"text": ""}
            {"alternatives": [{"confidence": 310.5, "result": [{"word": "refund", "start": 1.0, "end": 1.4}], "text": "refund"}], "channel": 1}
            """
        let t = try parse(text)
        #expect(t.utterances.map(\.text) == ["refund"])
        #expect(t.utterances.map(\.channel) == [1])
    }

    @Test("bytes that are not UTF-8 name their line and column")
    func invalidUTF8() {
        let bytes = Array("{\"start\": 0, \"end\": 1, \"text\": \"ok\"}\n{\"text\": \"b".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        let error = #expect(throws: TranscriptError.self) { try Transcript(data: bytes, path: "t") }
        #expect(error?.line == 2)
        #expect(error?.reason.hasPrefix("not UTF-8 text: byte 0xC3 at column 12") == true, "\(String(describing: error))")
    }

    @Test("input larger than the limit is refused, from bytes and from a stream, without reading it all")
    func huge() throws {
        let error = #expect(throws: TranscriptError.self) {
            try Transcript(data: [UInt8](repeating: 0x20, count: Transcript.maxBytes + 1), path: "big")
        }
        #expect(error?.reason.contains("larger than 64 MiB") == true)
        let zero = open("/dev/zero", O_RDONLY)
        defer { close(zero) }
        let stream = #expect(throws: TranscriptError.self) { try Transcript(reading: zero, path: "/dev/zero") }
        #expect(stream?.exitCode == 65)
    }
}
