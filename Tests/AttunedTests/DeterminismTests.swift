import AttuneTestSupport
import Foundation
import Testing

/// Live and offline runs share one engine, so a call replayed at `speed=max` must publish exactly the records
/// `attune analyze --frames` prints. The call id is the file's base name (what `analyze` calls it), so the lines
/// are compared byte for byte, not field by field.
extension DaemonSuite {
    @Suite("Determinism") struct DeterminismTests {
        func replayMatchesAnalyze(file: String, call: String) throws {
            let daemon = try Daemon()
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["\#(call)"],"frames":true}}"#)
            try daemon.start(call, "file:\(file)?speed=max")
            let ended = try UnixClient.pump([subscriber], timeout: 240) {
                subscriber.hasReceived(lineContaining: #""type":"call_end""#)
            }
            #expect(ended, "no call_end within 240 s")
            let live = published(subscriber)
            #expect(live.first?.hasPrefix(#"{"type":"call_start""#) == true, "\(live.first ?? "nothing")")
            #expect(live.last?.contains(#""reason":"eof""#) == true, "\(live.last ?? "nothing")")

            let offline = try runAttune(["analyze", file, "--frames"], dir: daemon.dir)
            #expect(offline.status == 0, "\(offline.stderr)")
            let offlineLines = offline.stdout.split(separator: "\n").map(String.init)
            // Events too: the emotion layer runs on the same outputs in the same order, live and offline.
            let types: Set = ["frame", "segment", "summary", "event"]
            let liveRecords = records(live, types: types), offlineRecords = records(offlineLines, types: types)
            // A replay that published nothing would compare equal to an empty analysis: both must have content.
            #expect(offlineRecords.count > 100)
            #expect(records(offlineRecords, types: ["summary"]).count >= 1)
            #expect(liveRecords.count == offlineRecords.count)
            let difference = firstDifference(liveRecords, offlineRecords)
            #expect(difference == nil, "\(difference ?? "")")
            // Nothing but call_start, the records and call_end: no gap, no error.
            #expect(live.count == liveRecords.count + 2, "\(Set(live).subtracting(liveRecords))")
            #expect(daemon.terminate() == 0)
        }

        @Test("8 kHz μ-law stereo sample: live records = analyze records")
        func telephoneSample() throws {
            try replayMatchesAnalyze(file: sampleCall, call: "call-8k-mulaw")
        }

        @Test("44.1 kHz stereo WAV (resampled to 16 kHz): live records = analyze records")
        func wideband() throws {
            let dir = TempDir()
            let path = dir.file("tone-44k.wav")
            try wavData(rate: 44_100, channels: 2, samples: voiceLikeSamples(rate: 44_100, seconds: 3, channels: 2))
                .write(to: URL(fileURLWithPath: path))
            try replayMatchesAnalyze(file: path, call: "tone-44k")
        }
    }
}
