import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// ALSA for real, without sound hardware: libasound's own `file` PCM plugin reads an `infile` and hands it to
/// the capturing application in place of what its slave (`null`, built into libasound) captured. The daemon
/// opens `alsa:tap` through its real `ALSACapture` and capture thread, exactly as it would open `hw:1,0`.
///
/// The infile is a FIFO the test writes, for two reasons. The `null` slave has no clock, so a regular infile
/// would be read as fast as the capture loop spins and its frames published before any subscriber could connect;
/// a FIFO makes libasound's open wait until the test (already subscribed) opens the writing end. And the whole
/// audio goes into the FIFO in one write into a pipe enlarged to hold it, so no read of a period comes up short
/// (the plugin does not retry short reads: a partial period would shift the audio).
extension DaemonSuite {
    @Suite("ALSA capture through the daemon") struct ALSATests {
        @Test("frames published for alsa:tap equal attune analyze --frames of the same audio")
        func tapFramesMatchAnalyze() throws {
            let dir = TempDir(prefix: "attuned-alsa")
            let rate = 8000, channels = 2, seconds = 4.0
            let samples = voiceLikeSamples(rate: rate, seconds: seconds, channels: channels)
            let wav = dir.file("tap.wav")
            try wavData(rate: rate, channels: channels, samples: samples).write(to: URL(fileURLWithPath: wav))
            let fifo = dir.file("tap.fifo")
            #expect(mkfifo(fifo, 0o600) == 0)
            let config = dir.file("asound.conf")
            try """
            pcm.tap {
                type file
                slave.pcm "attune_null"
                file "/dev/null"
                infile "\(fifo)"
                format "raw"
            }
            pcm.attune_null { type null }
            """.write(toFile: config, atomically: true, encoding: .utf8)

            // The ring holds the whole audio, which arrives in one burst.
            let daemon = try Daemon(["--ring-seconds", "8", "--source", "tap=alsa:tap?rate=\(rate)&channels=\(channels)"],
                                    environment: ["ALSA_CONFIG_PATH": config], dir: dir)
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["tap"],"frames":true}}"#)

            // libasound opened the FIFO for reading once a non-blocking open for writing stops failing with ENXIO.
            var writer: CInt = -1
            #expect(eventually(timeout: 30) {
                writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                return writer >= 0
            }, "the daemon never opened the ALSA infile")
            defer { if writer >= 0 { close(writer) } }
            let bytes = [UInt8](pcmBytes(samples))
            let setPipeSize: CInt = 1031  // F_SETPIPE_SZ, a GNU macro Swift does not import
            #expect(fcntl(writer, setPipeSize, 1 << 20) >= bytes.count)
            #expect(bytes.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } == bytes.count)

            // The writing end stays open, so once the audio is read the device blocks like a quiet real one rather
            // than delivering end-of-file stale bytes. A frame depends on audio up to half a window plus the pitch
            // path's and the activity stage's look-ahead after its centre (ChannelAnalyzer.delayFrames, under 1 s),
            // so frames before `end - 1 s` are complete and must equal analyze's; the audio after that point is
            // where the two runs differ (analyze sees the end of the file, the daemon a device still open).
            let compareUntil = seconds - 1.0
            let lastCompared = String(format: #""channel":1,"role":"unknown","t":%.3f"#, compareUntil)
            let done = try UnixClient.pump([subscriber], timeout: 120) { subscriber.hasReceived(lineContaining: lastCompared) }
            #expect(done, "no frame at t = \(compareUntil) s within 120 s")
            // Close the writer first: `stop` waits for the capture thread, which sits in a blocking read of the
            // FIFO until end-of-file (a known limitation: a device that stops delivering cannot be stopped).
            close(writer)
            writer = -1
            #expect(try daemon.command(#"{"cmd":"stop","call":"tap"}"#)["ok"] as? Bool == true)
            #expect(try UnixClient.pump([subscriber], timeout: 120) {
                subscriber.hasReceived(lineContaining: #""type":"call_end","v":1,"call":"tap""#)
            }, "no call_end after stop")

            let offline = try runAttune(["analyze", wav, "--frames"], dir: dir)
            #expect(offline.status == 0, "\(offline.stderr)")
            func frames(_ lines: [String]) throws -> [String] {
                try lines.filter { $0.hasPrefix(#"{"type":"frame""#) }.filter { line in
                    try (jsonObject(line)["t"] as? Double ?? .infinity) < compareUntil
                }
            }
            let live = try frames(subscriber.receivedLines)
            let reference = try frames(offline.stdout.split(separator: "\n").map(String.init))
            #expect(reference.count == Int(compareUntil * 100) * channels)
            #expect(live.count == reference.count)
            let difference = firstDifference(live, reference)
            #expect(difference == nil, "\(difference ?? "")")
            // Voiced frames with a pitch prove the comparison is over real analysis, not two runs of silence.
            #expect(live.filter { !$0.contains(#""f0_hz":null"#) }.count > 100)
            #expect(published(subscriber).first?.contains(#""source":"alsa:tap?rate=8000&channels=2"#) == true)
            #expect(daemon.terminate() == 0)
        }
    }
}
