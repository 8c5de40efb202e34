import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A daemon whose startup call c1 reads stdin:s16le:8000:2 from a FIFO holding one second of silence, and the FIFO's
/// writing end. The FIFO is opened for reading and writing, which does not wait for the other end: the daemon's stdin
/// then stays open (no EOF), and c1 keeps reading it, until the returned descriptor is closed.
private func stdinCall(_ dir: TempDir) throws -> (Daemon, Int32) {
    let fifo = dir.file("pcm")
    #expect(mkfifo(fifo, 0o600) == 0)
    let writer = open(fifo, O_RDWR | O_CLOEXEC)
    #expect(writer >= 0)
    var silence = [UInt8](repeating: 0, count: 8000 * 2 * 2)
    #expect(write(writer, &silence, silence.count) == silence.count)
    let daemon = try Daemon(["--source", "c1=stdin:s16le:8000:2"], dir: dir, stdin: fifo)
    #expect(eventually(timeout: 30) { (try? daemon.calls()) == ["c1"] })
    return (daemon, writer)
}

extension DaemonSuite {
    @Suite("Stdin") struct StdinTests {
        /// Standard input is one stream: a second `stdin:` call beside the first would take every other block of its
        /// bytes, silently, and once the first call has ended the stream is spent. Both starts are refused, saying so.
        @Test("a second stdin: call is refused while the first reads standard input, and after it has ended")
        func oneReaderOfStandardInput() throws {
            let (daemon, writer) = try stdinCall(TempDir(prefix: "attuned-stdin"))

            let second = try daemon.command(#"{"cmd":"start","call":"c2","source":"stdin:s16le:8000:2"}"#)
            #expect(second["ok"] as? Bool == false)
            #expect((second["error"] as? String ?? "").contains("standard input is already read by call 'c1'"), "\(second)")
            #expect(try daemon.calls() == ["c1"])

            close(writer)
            #expect(eventually(timeout: 30) { (try? daemon.calls()) == [] }, "c1 did not end at the end of its input")
            let third = try daemon.command(#"{"cmd":"start","call":"c3","source":"stdin:s16le:8000:1"}"#)
            #expect(third["ok"] as? Bool == false)
            #expect((third["error"] as? String ?? "").contains("standard input was read by call 'c1', which has ended"), "\(third)")
            // Other sources are not affected.
            try daemon.start("c4", "file:\(sampleCall)?speed=max")
            #expect(daemon.terminate() == 0)
        }

        /// A writer that stalls in the middle of a frame (half a sample pair written, the pipe held open): the reader
        /// retried read(2) for the rest, where the stop's signal could not reach, so `stop` never replied.
        @Test("a stdin: call whose writer stalls inside a frame stops at once")
        func stallInsideAFrame() throws {
            let (daemon, writer) = try stdinCall(TempDir(prefix: "attuned-stdin-stall"))
            defer { close(writer) }
            let subscriber = try daemon.subscribe(#"{"subscribe":{"types":["call_end"]}}"#)
            // The first second read; then 3 bytes of the next 4-byte frame, alone in the pipe, so the reader has
            // less than a frame and reads on for the rest.
            var available: Int32 = 1
            #expect(eventually(timeout: 10) { ioctl(writer, UInt(FIONREAD), &available) == 0 && available == 0 }, "the daemon did not read the first second")
            var part = [UInt8](repeating: 0, count: 3)
            #expect(write(writer, &part, part.count) == part.count)
            usleep(300_000)
            let asked = Date()
            let reply = try daemon.command(#"{"cmd":"stop","call":"c1"}"#, timeout: 20)
            #expect(Date().timeIntervalSince(asked) < 3, "stop took \(Date().timeIntervalSince(asked)) s")
            #expect(reply["ended"] as? Bool == true, "\(reply)")
            #expect(try UnixClient.pump([subscriber], timeout: 10) { subscriber.hasReceived(lineContaining: #""reason":"stopped""#) })
            #expect(daemon.terminate() == 0)
        }
    }
}
