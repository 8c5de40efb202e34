import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `attuned ARGUMENTS` expecting it to exit by itself (a startup failure, `--check-config`).
func runAttuned(_ arguments: [String], dir: TempDir, environment: [String: String] = [:]) throws -> Child {
    let child = try Child(try builtBinary("attuned"), arguments, environment: environment, dir: dir, tag: "attuned-\(UUID().uuidString)")
    #expect(child.wait(timeout: 60) != nil, "attuned \(arguments) still running after 60 s")
    return child
}

extension DaemonSuite {
    @Suite("Startup") struct StartupTests {
        @Test("a second daemon on the same run dir exits 69 naming the holder; the first keeps running")
        func secondDaemon() throws {
            let first = try Daemon()
            let second = try runAttuned(["--run-dir", first.runDir], dir: first.dir)
            #expect(second.status == 69)
            #expect(second.stderr.contains("socket is held by pid \(first.pid) (attuned)"), "\(second.stderr)")
            #expect(try first.command(#"{"cmd":"list"}"#)["ok"] as? Bool == true)
            #expect(first.terminate() == 0)
        }

        @Test("stale socket files from a crashed run are replaced, with the modes of design.md")
        func staleSockets() throws {
            let dir = TempDir(prefix: "attuned-stale")
            let run = dir.file("run")
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try makeStaleSocket(run + "/events.sock")
            try makeStaleSocket(run + "/control.sock")
            #expect((try? UnixClient(path: run + "/events.sock")) == nil, "the stale socket must refuse connections")
            let daemon = try Daemon(dir: dir, runDir: run)
            #expect(try daemon.subscribe().fd >= 0)
            for (name, mode) in [("events.sock", 0o660), ("control.sock", 0o600)] {
                let attributes = try FileManager.default.attributesOfItem(atPath: run + "/" + name)
                #expect(attributes[.posixPermissions] as? Int == mode, "\(name)")
            }
            #expect(daemon.terminate() == 0)
            // A clean shutdown removes its socket files.
            #expect(!FileManager.default.fileExists(atPath: run + "/events.sock"))
        }

        @Test("--source naming an ALSA device that cannot be opened exits 69 naming it")
        func missingALSADevice() throws {
            let dir = TempDir(prefix: "attuned-nodev")
            let child = try runAttuned(["--run-dir", dir.file("run"), "--source", "c1=alsa:nonexistent"], dir: dir)
            #expect(child.status == 69)
            #expect(child.stderr.contains("c1=alsa:nonexistent") && child.stderr.contains("snd_pcm_open"), "\(child.stderr)")
            // It cleaned up after itself: no socket left for the next start to find held.
            #expect(!FileManager.default.fileExists(atPath: dir.file("run") + "/control.sock"))
        }

        @Test("a bad configuration exits 78 naming the file and the key", arguments: [
            ("workers = \"two\"\n", "workers: expected a whole number"),
            ("wrokers = 2\n", "wrokers: unknown setting"),
            ("[events]\nqueue_records = 1\n", "events.queue_records: 1 is outside"),
            ("[metrics]\nlisten = \"0.0.0.0:9464\"\n", "metrics.listen"),
            ("[[source]]\ncall = \"c1\"\n", "source[0]: needs both call and uri"),
            ("ring_seconds = \n", "attune.toml:1"),
            ("asr = \"whisper\"\n", "asr: unknown recogniser 'whisper' (pocketsphinx)"),
            ("[[source]]\ncall = \"c1\"\nuri = \"file:x.wav\"\nasr = \"vosk\"\n", "source[0].asr: unknown recogniser 'vosk'"),
        ])
        func badConfig(_ text: String, _ expected: String) throws {
            let dir = TempDir(prefix: "attuned-badconf")
            let config = dir.file("attune.toml")
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            for extra in [["--check-config"], ["--run-dir", dir.file("run")]] {
                let child = try runAttuned(["--config", config] + extra, dir: dir)
                #expect(child.status == 78, "\(extra)")
                #expect(child.stderr.contains(config) && child.stderr.contains(expected), "\(child.stderr)")
            }
        }
    }
}
