import AttuneTestSupport
import Foundation
import Testing

extension DaemonSuite {
    @Suite("Soak") struct SoakTests {
        /// Short calls started and ended through the control socket, several at a time, with subscribers coming
        /// and going: after a warm-up round (which sizes the allocator's arenas, NIO's buffers and the thread
        /// pools), the daemon's descriptors and threads must come back to exactly where they were, and its RSS
        /// within a stated tolerance. The figures are printed for the record.
        @Test("hundreds of short calls leave RSS, descriptors and threads flat")
        func shortCalls() throws {
            let dir = TempDir(prefix: "attuned-soak")
            let file = dir.file("one-second.wav")
            try wavData(rate: 8000, channels: 2, samples: voiceLikeSamples(rate: 8000, seconds: 1, channels: 2))
                .write(to: URL(fileURLWithPath: file))
            let daemon = try Daemon(dir: dir)
            let watcher = try daemon.subscribe(#"{"subscribe":{"types":["call_end"]}}"#)
            var ended = 0
            func endedCount() -> Int { watcher.receivedLines.count - 2 }

            /// `calls` calls, `parallel` at a time; every batch a new subscriber comes and the oldest goes: on even
            /// batches one that reads everything, frames included, on odd batches one that never reads a byte.
            func round(_ name: String, calls: Int, parallel: Int) throws {
                var readers: [UnixClient] = [], idlers: [UnixClient] = []
                for batch in stride(from: 0, to: calls, by: parallel) {
                    if batch / parallel % 2 == 0 {
                        readers.append(try daemon.subscribe(#"{"subscribe":{"frames":true}}"#))
                        if readers.count > 2 { readers.removeFirst() }
                    } else {
                        idlers.append(try daemon.subscribe())
                        if idlers.count > 2 { idlers.removeFirst() }
                    }
                    for i in batch..<min(calls, batch + parallel) { try daemon.start("\(name)-\(i)", "file:\(file)?speed=max") }
                    let target = ended + min(calls, batch + parallel) - batch
                    let done = try UnixClient.pump([watcher] + readers, timeout: 120) { endedCount() >= target }
                    #expect(done, "\(name): batch at \(batch) did not end within 120 s")
                    ended = target
                }
                readers.removeAll()
                idlers.removeAll()
                // Every call ended: none is left listed, and the bus has only the watcher.
                #expect(eventually(timeout: 30) { (try? daemon.calls().isEmpty) == true })
                #expect(eventually(timeout: 30) {
                    (try? daemon.command(#"{"cmd":"stats"}"#)["subscribers"] as? Int) == 1
                })
            }

            try round("warm", calls: 40, parallel: 6)
            let warm = try daemon.resources()
            try round("soak", calls: 200, parallel: 6)
            let end = try daemon.resources()
            print("attuned soak: after 40 warm-up calls rss \(warm.rssKB) kB, fds \(warm.fds), threads \(warm.threads); "
                  + "after 200 more rss \(end.rssKB) kB, fds \(end.fds), threads \(end.threads)")
            // Two of slack: NIO and the cooperative pool start and retire a thread (and its eventfd) lazily, so a
            // snapshot may catch one more or one fewer; a leak per call would add hundreds.
            #expect(end.fds <= warm.fds + 2)
            #expect(end.threads <= warm.threads + 2)
            // 8 MiB: glibc's per-thread arenas may still grow a little after the warm-up; a leak of one call's
            // buffers (rings of 2 s × 2 channels, analyzers, FFT plans: hundreds of kB) × 200 calls would be far more.
            #expect(end.rssKB - warm.rssKB < 8 * 1024, "RSS grew from \(warm.rssKB) to \(end.rssKB) kB")
            let stats = try daemon.command(#"{"cmd":"stats"}"#)
            #expect(stats["calls_ended"] as? Int == 240)
            #expect(stats["samples_dropped"] as? Int == 0)
            #expect(daemon.terminate() == 0)
        }
    }
}
