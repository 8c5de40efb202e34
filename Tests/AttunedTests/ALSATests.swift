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
        /// A FIFO in `dir` and an ALSA config (for ALSA_CONFIG_PATH) whose `pcm.tap` captures from it.
        func fifoTap(_ dir: TempDir) throws -> (fifo: String, config: String) {
            let fifo = try dir.fifo("tap.fifo")
            return (fifo, try tapConfig(dir, infile: fifo))
        }

        /// An ALSA config in `dir` (for ALSA_CONFIG_PATH) whose `pcm.tap` captures `infile`'s raw S16_LE frames.
        func tapConfig(_ dir: TempDir, infile: String) throws -> String {
            let config = dir.file("asound.conf")
            try """
            pcm.tap {
                type file
                slave.pcm "attune_null"
                file "/dev/null"
                infile "\(infile)"
                format "raw"
            }
            pcm.attune_null { type null }
            """.write(toFile: config, atomically: true, encoding: .utf8)
            return config
        }

        /// The daemon's threads named `name` (in /proc/PID/task/TID/comm), each with the system call it is in
        /// (the first field of /proc/PID/task/TID/syscall: a number, or `running`).
        func threads(_ daemon: Daemon, named name: String) throws -> [(tid: String, syscall: String)] {
            let tasks = "/proc/\(daemon.pid)/task"
            return try FileManager.default.contentsOfDirectory(atPath: tasks).compactMap { tid in
                let comm = (try? String(contentsOfFile: "\(tasks)/\(tid)/comm", encoding: .utf8)) ?? ""
                guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == name else { return nil }
                let syscall = (try? String(contentsOfFile: "\(tasks)/\(tid)/syscall", encoding: .utf8)) ?? ""
                return (tid, String(syscall.split(separator: " ").first ?? ""))
            }
        }

        /// libasound's `file` plugin reads its infile with a blocking read(2) even on a non-blocking PCM, so a
        /// FIFO that has a writer (the test holds it open read-write, which also lets libasound's blocking open
        /// of it return) but never gets a byte keeps the capture thread in that read, out of reach of the wake
        /// pipe. `stop` must still end the call promptly, with `call_end` reason `stopped`, and leave no capture
        /// thread behind and the daemon serving.
        @Test("stop ends a call whose ALSA device blocks inside snd_pcm_readi; the daemon keeps serving")
        func stopBlockedDevice() throws {
            let dir = TempDir(prefix: "attuned-alsa-blocked")
            let (fifo, config) = try fifoTap(dir)
            let holder = open(fifo, O_RDWR | O_CLOEXEC)
            #expect(holder >= 0, "open \(fifo): \(String(cString: strerror(errno)))")
            defer { close(holder) }
            let daemon = try Daemon(["--source", "blocked=alsa:tap?rate=8000&channels=1"],
                                    environment: ["ALSA_CONFIG_PATH": config], dir: dir)
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["blocked"]}}"#)
            #expect(try eventually(timeout: 30) { try daemon.calls() == ["blocked"] }, "the startup call is not listed")

            // The capture thread is in read(2) (x86_64 syscall 0, aarch64 63), which is what makes this test.
            #if arch(arm64)
            let readSyscall = "63"
            #else
            let readSyscall = "0"
            #endif
            var capture: [(tid: String, syscall: String)] = []
            #expect(try eventually(timeout: 30) {
                capture = try threads(daemon, named: "attune-capture")
                return capture.count == 1 && capture[0].syscall == readSyscall
            }, "the capture thread is not blocked in read: \(capture)")

            let asked = Date()
            let reply = try daemon.command(#"{"cmd":"stop","call":"blocked"}"#, timeout: 10)
            #expect(reply["ok"] as? Bool == true, "\(reply)")
            #expect(try UnixClient.pump([subscriber], timeout: 10) {
                subscriber.hasReceived(lineContaining: #""type":"call_end","v":1,"call":"blocked""#)
            }, "no call_end within 10 s of stop")
            let took = Date().timeIntervalSince(asked)
            #expect(took < 5, "stop to call_end took \(took) s")
            let end = try jsonObject(try #require(published(subscriber).last { $0.contains(#""type":"call_end""#) }))
            #expect(end["reason"] as? String == "stopped", "\(end)")

            #expect(try threads(daemon, named: "attune-capture").isEmpty, "a capture thread outlived its call")
            #expect(try daemon.calls().isEmpty)
            // Subscribed first: a subscriber joining after the start could see the call's records before its
            // `subscribed` reply.
            let next = try daemon.subscribe(#"{"subscribe":{"calls":["after"],"types":["call_end"]}}"#)
            try daemon.start("after", "file:\(sampleCall)?speed=max")
            #expect(try UnixClient.pump([next], timeout: 120) { next.hasReceived(lineContaining: #""reason":"eof""#) },
                    "a call started after the stop did not run to its end")
            #expect(daemon.terminate() == 0)
        }

        /// libasound's `file` PCM opens its infile when the PCM is opened, so a FIFO nobody writes holds `start` inside
        /// `snd_pcm_open`. More such starts than the cooperative pool has threads must not hold up `list`, `stats` or
        /// another call; once the device opens, each gets its reply and runs like any other call.
        @Test("starts whose device open blocks hold up no other command; they complete once the device opens")
        func blockedOpens() throws {
            let dir = TempDir(prefix: "attuned-alsa-open")
            let (fifo, config) = try fifoTap(dir)
            // The opens stay blocked while the file call below runs to its end, which on a loaded machine takes
            // longer than the default start_timeout_s; the timeout has its own test.
            let daemon = try Daemon(["--set", "start_timeout_s=600"], environment: ["ALSA_CONFIG_PATH": config], dir: dir)
            let subscriber = try daemon.subscribe(#"{"subscribe":{"types":["call_end"]}}"#)
            let blocked = (1...ProcessInfo.processInfo.activeProcessorCount + 2).map { "blocked\($0)" }
            let pending = try blocked.map { call -> UnixClient in
                let client = try UnixClient(path: daemon.control)
                try client.send(#"{"cmd":"start","call":"\#(call)","source":"alsa:tap?rate=8000&channels=1"}"# + "\n")
                return client
            }
            usleep(500_000)
            #expect(try pending[0].readLine(timeout: 0.5) == nil, "the open did not block, so this test shows nothing")
            let list = try daemon.command(#"{"cmd":"list"}"#, timeout: 5)
            #expect(list["ok"] as? Bool == true, "\(list)")
            #expect(try daemon.command(#"{"cmd":"stats"}"#, timeout: 5)["ok"] as? Bool == true)
            try daemon.start("other", "file:\(sampleCall)?speed=max")
            #expect(try UnixClient.pump([subscriber], timeout: 120) { subscriber.hasReceived(lineContaining: #""call":"other""#) },
                    "a file call did not run to its end while the opens were blocked")

            // A writer lets every blocked open through.
            let writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            #expect(writer >= 0, "open \(fifo) for writing: \(String(cString: strerror(errno)))")
            defer { if writer >= 0 { close(writer) } }
            for (call, client) in zip(blocked, pending) {
                let reply = try jsonObject(try client.readLine(timeout: 30) ?? "{}")
                #expect(reply["ok"] as? Bool == true, "\(call): \(reply)\(daemon.exitDiagnosis)")
                #expect(try daemon.command(#"{"cmd":"stop","call":"\#(call)"}"#, timeout: 10)["ok"] as? Bool == true)
            }
            #expect(try UnixClient.pump([subscriber], timeout: 30) {
                blocked.allSatisfy { subscriber.hasReceived(lineContaining: #""call":"\#($0)""#) }
            }, "not every stopped call ended")
            #expect(daemon.terminate() == 0)
        }

        /// The same blocking open, past `start_timeout_s`: the client gets a refusal naming the timeout instead of
        /// waiting for ever, and when the device does open later the call is torn down before anyone sees it.
        @Test("a start whose device open outlasts start_timeout_s is refused; opened later, the call never appears")
        func startTimeout() throws {
            let dir = TempDir(prefix: "attuned-alsa-timeout")
            let (fifo, config) = try fifoTap(dir)
            let daemon = try Daemon(["--set", "start_timeout_s=1"], environment: ["ALSA_CONFIG_PATH": config], dir: dir)
            let subscriber = try daemon.subscribe(#"{"subscribe":{"types":["call_start","call_end"]}}"#)
            let asked = Date()
            let reply = try daemon.command(#"{"cmd":"start","call":"slow","source":"alsa:tap?rate=8000&channels=1"}"#, timeout: 30)
            let took = Date().timeIntervalSince(asked)
            #expect(reply["ok"] as? Bool == false, "\(reply)")
            #expect((reply["error"] as? String ?? "").contains("did not open within 1.0 s"), "\(reply)")
            #expect(took >= 0.9 && took < 10, "the refusal took \(took) s")
            #expect(try daemon.calls().isEmpty)

            // Let the open through: the late call is closed unseen.
            let writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            #expect(writer >= 0, "open \(fifo) for writing: \(String(cString: strerror(errno)))")
            defer { if writer >= 0 { close(writer) } }
            #expect(daemon.logged("abandoned start ended"), "\(daemon.process.stderr)")
            #expect(try daemon.calls().isEmpty)
            try daemon.start("other", "file:\(sampleCall)?speed=max")
            #expect(try UnixClient.pump([subscriber], timeout: 120) { subscriber.hasReceived(lineContaining: #""reason":"eof""#) },
                    "a call started after the abandoned one did not run to its end")
            #expect(!published(subscriber).contains { $0.contains(#""call":"slow""#) }, "\(published(subscriber))")
            #expect(daemon.terminate() == 0)
        }

        /// Every abandoned start keeps a thread blocked in the device's open until it returns; a dispatcher
        /// retrying a dead tap piled them up without bound (60 refused starts: 60 threads, 60 more descriptors).
        @Test("past eight starts still blocked in a hung open, further starts are refused at once, and stats counts them")
        func hungStartsBounded() throws {
            let dir = TempDir(prefix: "attuned-alsa-hung")
            let (fifo, config) = try fifoTap(dir)
            let daemon = try Daemon(["--set", "start_timeout_s=1"], environment: ["ALSA_CONFIG_PATH": config], dir: dir)
            for i in 0..<8 {
                let reply = try daemon.command(#"{"cmd":"start","call":"h\#(i)","source":"alsa:tap?rate=8000&channels=1"}"#, timeout: 30)
                #expect((reply["error"] as? String ?? "").contains("did not open within 1.0 s"), "\(reply)")
            }
            #expect(try daemon.command(#"{"cmd":"stats"}"#)["starts_hung"] as? Int == 8)
            let threads = { (try? String(contentsOfFile: "/proc/\(daemon.pid)/status", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("Threads:") } ?? "" }
            let before = threads()
            let asked = Date()
            let refused = try daemon.command(#"{"cmd":"start","call":"h8","source":"alsa:tap?rate=8000&channels=1"}"#, timeout: 30)
            #expect(Date().timeIntervalSince(asked) < 0.9, "the ninth start waited for its own timeout")
            #expect((refused["error"] as? String ?? "").contains("8 earlier starts are still waiting for sources that did not open"), "\(refused)")
            #expect(threads() == before)
            // The device answers: the blocked opens return, their calls are torn down unseen, and starts are tried again.
            let writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            defer { if writer >= 0 { close(writer) } }
            #expect(eventually(timeout: 20) { (try? daemon.command(#"{"cmd":"stats"}"#)["starts_hung"] as? Int) == 0 }, "\(daemon.process.stderr)")
            #expect(try daemon.calls().isEmpty)
            #expect(daemon.terminate() == 0)
        }

        /// Sixty starts at once on a hung device made sixty threads, each waiting in the open: the abandoned-start
        /// bound only counts those already past their timeout. No more opens run at once than calls may yet start.
        @Test("starts at once on a hung device: no more open at a time than max_calls allows, the rest refused at once")
        func hungStartsAtOnce() throws {
            let dir = TempDir(prefix: "attuned-alsa-burst")
            let (fifo, config) = try fifoTap(dir)
            let daemon = try Daemon(["--set", "start_timeout_s=2", "--max-calls", "3"], environment: ["ALSA_CONFIG_PATH": config], dir: dir)
            // Twelve connections, each sending its start before any reply comes.
            let clients = try (0..<12).map { _ in try UnixClient(path: daemon.control) }
            for (i, client) in clients.enumerated() {
                try client.send(#"{"cmd":"start","call":"b\#(i)","source":"alsa:tap?rate=8000&channels=1"}"# + "\n")
            }
            let errors = try clients.map { client in
                let reply = try jsonObject(try client.readLine(timeout: 30) ?? "{}")
                return reply["error"] as? String ?? "\(reply)"
            }
            #expect(errors.filter { $0.contains("did not open within 2.0 s") }.count == 3, "\(errors)")
            #expect(errors.filter { $0.contains("starts are opening their sources beside 0 running calls; max_calls is 3") }.count == 9, "\(errors)")
            let writer = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            defer { if writer >= 0 { close(writer) } }
            #expect(eventually(timeout: 20) { (try? daemon.command(#"{"cmd":"stats"}"#)["starts_hung"] as? Int) == 0 }, "\(daemon.process.stderr)")
            #expect(daemon.terminate() == 0)
        }

        @Test("frames published for alsa:tap equal attune analyze --frames of the same audio")
        func tapFramesMatchAnalyze() throws {
            let dir = TempDir(prefix: "attuned-alsa")
            let rate = 8000, channels = 2, seconds = 4.0
            let samples = voiceLikeSamples(rate: rate, seconds: seconds, channels: channels)
            let wav = dir.file("tap.wav")
            try wavData(rate: rate, channels: channels, samples: samples).write(to: URL(fileURLWithPath: wav))
            let (fifo, config) = try fifoTap(dir)

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
            // The writer stays open: the capture thread sits in the plugin's blocking read of the FIFO, and `stop`
            // gets it out (see `stopBlockedDevice`).
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

        /// A regular infile over the `null` slave, which has no clock: the device hands over frames as fast as the
        /// capture loop reads them, the call's audio in a few milliseconds and then silence for ever, thousands of
        /// times faster than real time. The 2 s rings drop nearly all of it, each dropped stretch a gap the worker
        /// analysed as silence so later samples keep their times, so the analysis fell further behind the capture
        /// with every second: after a stop the worker went on analysing silence (hours of it, at full CPU) for
        /// minutes, and the call kept its id. A stop now ends the call at once: what the rings held up to the
        /// first gap is analysed, the rest is reported lost (`gap`, what "samples"), then summaries and `call_end`.
        @Test("a stopped call from a device faster than real time ends at once, its lost audio a gap; the id is free")
        func stopFasterThanRealTime() throws {
            let dir = TempDir(prefix: "attuned-alsa-fast")
            let raw = dir.file("call.s16")
            try pcmBytes(voiceLikeSamples(rate: 8000, seconds: 10, channels: 2)).write(to: URL(fileURLWithPath: raw))
            let daemon = try Daemon(environment: ["ALSA_CONFIG_PATH": try tapConfig(dir, infile: raw)], dir: dir)
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["a1"],"types":["gap","summary","call_end"]}}"#)
            try daemon.start("a1", "alsa:tap?rate=8000&channels=2")
            usleep(3_000_000)
            let listed = try daemon.command(#"{"cmd":"list"}"#)
            let before = try #require((listed["calls"] as? [[String: Any]])?.first?["analysed_s"] as? Double, "\(listed)")

            let asked = Date()
            let reply = try daemon.command(#"{"cmd":"stop","call":"a1"}"#, timeout: 30)
            let took = Date().timeIntervalSince(asked)
            #expect(reply["ok"] as? Bool == true, "\(reply)")
            #expect(reply["ended"] as? Bool == true, "\(reply)")
            #expect(took < 3, "stop took \(took) s")
            #expect(try UnixClient.pump([subscriber], timeout: 10) { subscriber.hasReceived(lineContaining: #""type":"call_end""#) })
            let lines = published(subscriber)
            let end = try jsonObject(try #require(lines.last))
            #expect(end["type"] as? String == "call_end" && end["reason"] as? String == "stopped", "\(end)")
            #expect(lines.filter { $0.contains(#""type":"summary""#) }.count == 2, "\(lines)")
            let gaps = try lines.filter { $0.contains(#""type":"gap""#) }.map { try jsonObject($0) }
            #expect(!gaps.isEmpty && gaps.allSatisfy { $0["what"] as? String == "samples" }, "\(gaps)")
            // After the stop the call analysed what its rings held (2 s) and the little the worker did between `list`
            // and the stop, not the silence standing in for everything else the device delivered (hours of it).
            let analysed = end["t"] as? Double ?? .infinity
            #expect(analysed - before < 120, "analysed \(before) s before the stop, \(analysed) s at the end")
            try daemon.start("a1", "file:\(sampleCall)?speed=max")
            #expect(daemon.terminate() == 0)
        }
    }
}
