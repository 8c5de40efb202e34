import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `file:` source on a FIFO is read through libsndfile, whose read loop retries EINTR until its buffer is full:
/// a writer that sent a WAV header and a little audio and then stays connected but silent kept the capture thread
/// in read(2) for as long as the writer lived, so `stop` never replied and SIGTERM never ended the daemon.
extension DaemonSuite {
    @Suite("file: on a quiet FIFO") struct QuietFIFOTests {
        /// A daemon running call `q1` from a FIFO that holds a WAV header declaring a minute of 8 kHz mono and one
        /// second of that audio (less than two reads of the paced replay's read-ahead, so the second read waits in
        /// the middle), with the writing end held open (read-write, so no open waits for the other end) and never
        /// written again; its subscriber took `filter` before the start.
        final class QuietCall {
            let dir: TempDir
            let daemon: Daemon
            let subscriber: UnixClient
            private let writer: CInt

            init(_ prefix: String, subscribe filter: String) throws {
                dir = TempDir(prefix: prefix)
                let fifo = try dir.fifo("quiet.fifo")
                let writer = open(fifo, O_RDWR | O_CLOEXEC)
                guard writer >= 0 else { throw DaemonTestFailure("open \(fifo): \(String(cString: strerror(errno)))") }
                self.writer = writer
                let wav = wavData(rate: 8000, channels: 1, samples: voiceLikeSamples(rate: 8000, seconds: 60))
                let bytes = [UInt8](wav.prefix(44 + 2 * 8000))
                guard bytes.withUnsafeBytes({ write(writer, $0.baseAddress, $0.count) }) == bytes.count else {
                    close(writer)
                    throw DaemonTestFailure("write \(fifo): \(String(cString: strerror(errno)))")
                }
                do {
                    daemon = try Daemon(dir: dir)
                    subscriber = try daemon.subscribe(filter)
                    try daemon.start("q1", "file:\(fifo)")
                } catch {
                    close(writer)
                    throw error
                }
            }

            deinit { close(writer) }
        }

        @Test("stop ends a file: call whose FIFO writer went quiet, promptly, with call_end reason stopped")
        func stopQuietFIFO() throws {
            let q = try QuietCall("attuned-quiet-stop", subscribe: #"{"subscribe":{"calls":["q1"],"types":["call_start","call_end"]}}"#)
            // The rest of the replay's second read never comes: the capture thread waits in read(2).
            #expect(try UnixClient.pump([q.subscriber], timeout: 30) { q.subscriber.hasReceived(lineContaining: #""type":"call_start""#) })
            usleep(1_500_000)
            #expect(try q.daemon.calls() == ["q1"])

            let asked = Date()
            let reply = try q.daemon.command(#"{"cmd":"stop","call":"q1"}"#, timeout: 10)
            let took = Date().timeIntervalSince(asked)
            #expect(reply["ok"] as? Bool == true, "\(reply)")
            #expect(reply["ended"] as? Bool == true, "\(reply)")
            #expect(took < 3, "stop took \(took) s")
            #expect(try UnixClient.pump([q.subscriber], timeout: 10) { q.subscriber.hasReceived(lineContaining: #""type":"call_end""#) })
            let end = try jsonObject(try #require(published(q.subscriber).last { $0.contains(#""type":"call_end""#) }))
            #expect(end["reason"] as? String == "stopped", "\(end)")
            #expect(try q.daemon.calls().isEmpty)
            #expect(q.daemon.terminate(timeout: 10) == 0)
        }

        @Test("SIGTERM with a file: call on a quiet FIFO exits 0 at once, every call with call_end reason shutdown")
        func sigtermQuietFIFO() throws {
            let q = try QuietCall("attuned-quiet-term", subscribe: #"{"subscribe":{"types":["call_start","call_end"]}}"#)
            try q.daemon.start("ok1", "file:\(sampleCall)")
            #expect(try UnixClient.pump([q.subscriber], timeout: 30) {
                ["q1", "ok1"].allSatisfy { q.subscriber.hasReceived(lineContaining: #""type":"call_start","v":1,"call":"\#($0)""#) }
            })
            usleep(1_500_000)

            let asked = Date()
            q.daemon.process.signal(SIGTERM)
            let code = q.daemon.process.wait(timeout: 15)
            let took = Date().timeIntervalSince(asked)
            #expect(code == 0, "exit \(code.map(String.init) ?? "none") after SIGTERM: \(q.daemon.stderrExcerpt)")
            #expect(took < 5, "the daemon took \(took) s to exit")
            _ = try UnixClient.pump([q.subscriber], timeout: 5) { q.subscriber.eof }
            let ends = try published(q.subscriber).filter { $0.contains(#""type":"call_end""#) }.map { try jsonObject($0) }
            #expect(Set(ends.compactMap { $0["call"] as? String }) == ["q1", "ok1"], "\(ends)")
            #expect(ends.allSatisfy { $0["reason"] as? String == "shutdown" }, "\(ends)")
        }
    }
}
