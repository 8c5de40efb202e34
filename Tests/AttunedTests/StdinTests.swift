import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DaemonSuite {
    @Suite("Stdin") struct StdinTests {
        /// Standard input is one stream: a second `stdin:` call beside the first would take every other block of its
        /// bytes, silently, and once the first call has ended the stream is spent. Both starts are refused, saying so.
        @Test("a second stdin: call is refused while the first reads standard input, and after it has ended")
        func oneReaderOfStandardInput() throws {
            let dir = TempDir(prefix: "attuned-stdin")
            let fifo = dir.file("pcm")
            #expect(mkfifo(fifo, 0o600) == 0)
            // Open for reading and writing, which does not wait for the other end: the daemon's stdin then stays open
            // (no EOF), and the first call keeps reading it, until this descriptor is closed.
            let writer = open(fifo, O_RDWR | O_CLOEXEC)
            #expect(writer >= 0)
            var silence = [UInt8](repeating: 0, count: 8000 * 2 * 2)
            #expect(write(writer, &silence, silence.count) == silence.count)
            let daemon = try Daemon(["--source", "c1=stdin:s16le:8000:2"], dir: dir, stdin: fifo)
            #expect(eventually(timeout: 30) { (try? daemon.calls()) == ["c1"] })

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
    }
}
