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

            // The ring holds the whole audio: after the infile ends the clockless device keeps delivering as fast
            // as it can, and that must not push the audio under test out.
            let daemon = try Daemon(["--ring-seconds", "20", "--source", "tap=alsa:tap?rate=\(rate)&channels=\(channels)"],
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
            close(writer)
            writer = -1

            // Past the end of the audio on both channels, so every frame compared below has been published.
            let pastEnd = String(format: #""t":%.3f"#, seconds + 0.5)
            let done = try UnixClient.pump([subscriber], timeout: 120) {
                subscriber.received.count > 1000 && subscriber.hasReceived(lineContaining: pastEnd)
            }
            #expect(done, "no frame at t = \(seconds + 0.5) s within 120 s")

            let offline = try runAttune(["analyze", wav, "--frames"], dir: dir)
            #expect(offline.status == 0, "\(offline.stderr)")
            // After the infile's end the file plugin stops overwriting the capture buffer and the null slave never
            // writes it, so the device goes on delivering stale bytes, not the end of file analyze sees. A frame
            // depends on audio up to half a window plus the pitch path's and the activity stage's look-ahead
            // after its centre (ChannelAnalyzer.delayFrames, under 1 s): frames before `end - 1 s` must be equal.
            let compareUntil = seconds - 1.0
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
