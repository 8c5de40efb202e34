import AttuneEvents
import AttuneTestSupport
import Foundation
import Testing

/// `attune analyze --transcript`: words land in the segments they fall in; a bad transcript is bad data.
@Suite("TranscriptCLI")
struct TranscriptCLITests {
    @Test func wordsGoIntoTheirSegments() throws {
        let dir = TempDir()
        let audio = dir.file("burst.wav")
        // Speech-like bursts 0.2–1.2 s and 2.0–3.0 s, silence between.
        let rate = 16000
        let samples: [Float] = (0..<(rate * 4)).map { i in
            let t = Double(i) / Double(rate)
            guard (0.2..<1.2).contains(t) || (2.0..<3.0).contains(t) else { return 0 }
            var x = 0.0
            for h in 1...8 { x += sin(2 * .pi * 140 * Double(h) * t) / Double(h) }
            return Float(0.2 * x * (0.6 + 0.4 * sin(2 * .pi * 4 * t)))
        }
        try wavData(rate: rate, channels: 1, samples: samples).write(to: URL(fileURLWithPath: audio))
        let transcript = dir.file("t.ndjson")
        try """
        {"asr": {"channel": 0, "start": 0.3, "end": 1.1, "text": "I want", "words": [{"w": "I", "start": 0.3, "end": 0.5}, {"w": "want", "start": 0.6, "end": 1.0}]}}
        {"channel": 0, "start": 2.1, "end": 2.9, "text": "a refund"}
        """.write(toFile: transcript, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", audio, "--transcript", transcript])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let segments = decodeRecords(r.stdout).segments
        #expect(segments.count == 2)
        #expect(segments.first?.words == ["I", "want"])
        #expect(segments.last?.words == ["a", "refund"])
    }

    @Test func malformedTranscriptIs65() throws {
        let dir = TempDir()
        let transcript = dir.file("bad.ndjson")
        try "{\"start\": 0, \"end\": 1, \"text\": \"ok\"}\nnot json\n".write(toFile: transcript, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", repoRoot + "/Samples/hello-16k.wav", "--transcript", transcript])
        #expect(r.status == 65)
        #expect(r.stderr == "attune: \(transcript):2: malformed JSON (expected one object per line)\n")
        #expect(r.stdout.isEmpty)
    }

    /// A transcript saved with CR LF line endings gives the records the LF file gives (it used to be refused:
    /// NDJSON as "malformed JSON", SRT as "not a transcript").
    @Test func crlfTranscriptsGiveTheSameRecordsAsLF() throws {
        let dir = TempDir()
        let cases = [
            (repoRoot + "/Samples/call-8k-mulaw.wav",
             try String(contentsOfFile: repoRoot + "/Samples/call-8k-mulaw.transcript.ndjson", encoding: .utf8), "ndjson"),
            (repoRoot + "/Samples/hello-16k.wav", "1\n00:00:00,100 --> 00:00:00,900\nhello\n\n2\n00:00:01,000 --> 00:00:02,000\nthere\n", "srt"),
        ]
        for (audio, lf, ext) in cases {
            let lfPath = dir.file("lf.\(ext)"), crlfPath = dir.file("crlf.\(ext)")
            try lf.write(toFile: lfPath, atomically: true, encoding: .utf8)
            try lf.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: crlfPath, atomically: true, encoding: .utf8)
            let expected = try runAttune(["analyze", audio, "--transcript", lfPath])
            #expect(expected.status == 0, "stderr: \(expected.stderr)")
            #expect(decodeRecords(expected.stdout).segments.contains { !$0.words.isEmpty }, "\(ext): no words in any segment")
            let r = try runAttune(["analyze", audio, "--transcript", crlfPath])
            #expect(r.status == 0, "stderr: \(r.stderr)")
            #expect(r.stdout == expected.stdout)
        }
    }

    @Test func transcriptChannelPlacesUtterancesThatNameNone() throws {
        let dir = TempDir()
        let audio = repoRoot + "/Samples/hello-16k.wav"
        let srt = dir.file("t.srt")
        try "1\n00:00:00,100 --> 00:00:00,900\nhello there\n".write(toFile: srt, atomically: true, encoding: .utf8)
        // The mono sample has no channel 1: the flag reached the parser, and the check names the cue's line.
        let one = try runAttune(["analyze", audio, "--transcript", srt, "--transcript-channel", "1"])
        #expect(one.status == 65)
        #expect(one.stderr == "attune: \(srt):2: channel 1, but \(audio) has 1 channel (channels count from 0)\n")
        let zero = try runAttune(["analyze", audio, "--transcript", srt, "--transcript-channel", "0"])
        #expect(zero.status == 0, "stderr: \(zero.stderr)")

        let bad = try runAttune(["analyze", audio, "--transcript", srt, "--transcript-channel", "SPEAKER_00=x"])
        #expect(bad.status == 64)
        #expect(bad.stderr.hasPrefix("attune: --transcript-channel: 'x' is not a channel number"))
        let alone = try runAttune(["analyze", audio, "--transcript-channel", "1"])
        #expect(alone.status == 64)
        #expect(alone.stderr == "attune: --transcript-channel needs --transcript\n")
    }

    @Test func speakersWithoutChannelsAre64AndRolesPlaceThem() throws {
        let dir = TempDir()
        let audio = repoRoot + "/Samples/call-8k-mulaw.wav"
        let vtt = dir.file("t.vtt")
        try "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Agent>hello\n\n00:00:03.000 --> 00:00:04.000\n<v Customer>refund\n"
            .write(toFile: vtt, atomically: true, encoding: .utf8)
        let unmapped = try runAttune(["analyze", audio, "--transcript", vtt])
        #expect(unmapped.status == 64)
        #expect(unmapped.stderr.hasPrefix("attune: \(vtt):3: 2 speakers and no channel for them: 'Agent' (line 3), 'Customer' (line 6)"))
        let mapped = try runAttune(["analyze", audio, "--transcript", vtt, "--roles", "customer,agent"])
        #expect(mapped.status == 0, "stderr: \(mapped.stderr)")
        let explicit = try runAttune(["analyze", audio, "--transcript", vtt, "--transcript-channel", "agent=0,customer=1"])
        #expect(explicit.status == 0, "stderr: \(explicit.stderr)")
    }

    /// A misspelt label in the map used to be ignored, sending the speaker it meant to the default channel.
    @Test func aMapLabelTheTranscriptLacksIs64WithTheLabelsItHas() throws {
        let dir = TempDir()
        let srt = dir.file("t.srt")
        try "1\n00:00:01,000 --> 00:00:02,000\nSPEAKER_00: hello\n\n2\n00:00:03,000 --> 00:00:04,000\nSPEAKER_01: refund\n"
            .write(toFile: srt, atomically: true, encoding: .utf8)
        let r = try runAttune(["analyze", repoRoot + "/Samples/call-8k-mulaw.wav", "--transcript", srt,
                               "--transcript-channel", "SPEAKER_00=0,SPEAKR_01=1"])
        #expect(r.status == 64)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "attune: \(srt): --transcript-channel: no utterance has the label 'SPEAKR_01'; "
                + "the transcript's labels are 'SPEAKER_00' (line 2), 'SPEAKER_01' (line 6)\n")
    }

    /// Labels with `,` or `=` (`<v Smith, John>`): the refusal suggests an option that works when pasted into a
    /// shell, and it does.
    @Test func theSuggestedMapForLabelsWithCommasWorksInAShell() throws {
        let dir = TempDir()
        let audio = repoRoot + "/Samples/call-8k-mulaw.wav"
        let vtt = dir.file("t.vtt")
        try ("WEBVTT\n\n00:00:00.400 --> 00:00:02.300\n<v Smith, John>Northwind support, this is Sam.\n\n"
            + "00:00:04.500 --> 00:00:07.700\n<v O'Hara=Doe, Jane>Hi. My internet has been down since this morning.\n")
            .write(toFile: vtt, atomically: true, encoding: .utf8)
        let refused = try runAttune(["analyze", audio, "--transcript", vtt])
        #expect(refused.status == 64)
        let marker = "map them with "
        let advice = try #require(refused.stderr.range(of: marker).map { refused.stderr[$0.upperBound...] }, "\(refused.stderr)")
        let option = try #require(advice.range(of: " (or name roles").map { String(advice[..<$0.lowerBound]) })
        #expect(option == #"--transcript-channel 'Smith\, John=0,O'\''Hara=Doe\, Jane=1'"#)
        // As a user would: the suggestion pasted after the command, the shell doing the unquoting.
        let shell = try runProcess("/bin/sh", ["-c", "exec \"$0\" analyze \"$1\" --transcript \"$2\" " + option,
                                               try attuneBinary(), audio, vtt])
        let stderr = try shell.stderrText()
        #expect(shell.status == 0, "stderr: \(stderr)")
        let segments = decodeRecords(try shell.stdoutText()).segments
        #expect(segments.contains { $0.channel == 0 && $0.words.contains("Northwind") })
        #expect(segments.contains { $0.channel == 1 && $0.words.contains("internet") })
    }

    /// The text layer's lexicons ship as a SwiftPM resource bundle beside the binary, where
    /// `TextAnalyzer.bundled()` looks first (`Bundle.main` is the executable's directory).
    @Test func lexiconsShipBesideTheBinary() throws {
        let beside = URL(fileURLWithPath: try attuneBinary()).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("Attune_AttuneText.resources/Lexicons")
        for name in ["en.tsv", "vi.tsv"] {
            let text = try String(contentsOf: beside.appendingPathComponent(name), encoding: .utf8)
            #expect(text.hasPrefix("# Attune"), "\(name)")
        }
    }

    @Test func missingTranscriptIs66() throws {
        let r = try runAttune(["analyze", repoRoot + "/Samples/hello-16k.wav", "--transcript", "/nonexistent/t.vtt"])
        #expect(r.status == 66)
        #expect(r.stderr.hasPrefix("attune: /nonexistent/t.vtt: "))
    }
}
