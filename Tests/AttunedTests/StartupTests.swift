import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether this process may make a UTS namespace, to run the daemon under another host name.
let hostNamespaceAvailable: Bool = {
    guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
    p.arguments = ["-u", "true"]
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}()

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
            #expect(second.stderr.contains("held by pid \(first.pid) (attuned)"), "\(second.stderr)")
            #expect(try first.command(#"{"cmd":"list"}"#)["ok"] as? Bool == true)
            #expect(first.terminate() == 0)
        }

        /// Two daemons started in the same instant on one run directory: before either has a socket, so the socket
        /// check alone cannot tell them apart. Exactly one must win every time and the other exit 69 naming it.
        @Test("two daemons started at once on one run dir: exactly one stays up, the other exits 69 naming it")
        func simultaneousDaemons() throws {
            let dir = TempDir(prefix: "attuned-race")
            let binary = try builtBinary("attuned")
            for round in 0..<20 {
                let run = dir.file("run\(round)")
                let pair = try (0..<2).map { i in
                    try Child(binary, ["--run-dir", run, "--log-level", "error"], dir: dir, tag: "race\(round)-\(i)")
                }
                // The loser exits by itself; the winner answers on its control socket.
                func answers(_ child: Child) -> Bool {
                    guard child.poll() == nil, let client = try? UnixClient(path: run + "/control.sock"),
                          (try? client.send("{\"cmd\":\"list\"}\n")) != nil,
                          let reply = try? client.readLine(timeout: 5) else { return false }
                    return reply.hasPrefix("{\"ok\":true")
                }
                let settled = eventually(timeout: 20) {
                    pair.filter { $0.poll() != nil }.count == 1 && pair.contains(where: answers)
                }
                let exited = pair.filter { $0.poll() != nil }
                let exits = pair.map { $0.poll().map(String.init) ?? "running" }
                #expect(settled && exited.count == 1, "round \(round): exits \(exits): \(pair.map(\.stderr).joined(separator: " | "))")
                if let loser = exited.first, exited.count == 1, let winner = pair.first(where: { $0 !== loser }) {
                    #expect(loser.status == 69, "round \(round): \(loser.stderr)")
                    #expect(loser.stderr.contains("held by pid \(winner.pid) (attuned)"), "round \(round): \(loser.stderr)")
                }
                for child in pair where child.poll() == nil {
                    child.signal(SIGTERM)
                    #expect(child.wait(timeout: 30) == 0, "round \(round): \(child.stderr)")
                }
                if !settled || exited.count != 1 { break }
            }
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
            ("[[source]]\ncall = \"c1\"\nuri = \"http://x\"\n", "source[0].uri: 'http://x': unknown scheme 'http'"),
            ("[[source]]\ncall = \"c1\"\nuri = \"stdin:s16le:8000:2\"\n[[source]]\ncall = \"c2\"\nuri = \"stdin:s16le:8000:1\"\n",
             "source[1].uri: only one call can read standard input, and "),
            ("[[source]]\ncall = \"a.b\"\nuri = \"file:x.wav\"\n", "source[0].call: call id 'a.b' may hold only letters"),
            ("[[source]]\ncall = \"c1\"\nuri = \"file:x.wav\"\n[[source]]\ncall = \"c1\"\nuri = \"file:y.wav\"\n",
             "source[1].uri: call 'c1' is also "),
            ("[nats]\nurl = \"http://127.0.0.1:4222\"\n", "nats.url 'http://127.0.0.1:4222' has scheme 'http'"),
            ("[nats]\nurls = [\"nats://a:4222\", \"nats://b:99999\"]\n", "nats.url 'nats://b:99999' has port '99999', not 1-65535"),
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

        /// A config file that cannot be read says why in the words of the system, never "Success".
        @Test("--config naming a directory or a missing file exits 78 saying why")
        func unreadableConfig() throws {
            let dir = TempDir(prefix: "attuned-confdir")
            for (path, why) in [(dir.path, "Is a directory"), (dir.file("missing.toml"), "No such file or directory")] {
                for extra in [["--check-config"], ["--run-dir", dir.file("run")]] {
                    let child = try runAttuned(["--config", path] + extra, dir: dir)
                    #expect(child.status == 78, "\(extra): \(child.stderr)")
                    #expect(child.stderr == "attuned: \(path): cannot be read: \(why)\n", "\(child.stderr)")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: dir.file("run")))
        }

        /// The default node name is the host name; on a host named by its FQDN (common on RHEL-style systems) the
        /// dots made it an invalid subject token, and the fleet quick start without `--node` exited 78.
        @Test("the default node is the short host name, so an FQDN host runs with NATS without --node",
              .enabled(if: hostNamespaceAvailable, "needs root for a UTS namespace (unshare -u)"))
        func fqdnHost() throws {
            let dir = TempDir(prefix: "attuned-fqdn")
            let child = try Child("/usr/bin/unshare", ["-u", "sh", "-c", #"hostname attune1.example.com && exec "$0" "$@""#,
                                                       try builtBinary("attuned"), "--check-config", "--nats", "nats://127.0.0.1:4222"],
                                  dir: dir, tag: "fqdn")
            #expect(child.wait(timeout: 60) == 0, "\(child.stderr)")
            #expect(child.stdout.contains("node attune1,"), "\(child.stdout) \(child.stderr)")
        }

        /// A startup source whose roles do not fit its channels is known only once it opens; the error names the
        /// file and key (it named a `--source` flag that was never given) and exits 78, as configuration.
        @Test("a [[source]] whose roles do not fit its channels exits 78 naming the file and key")
        func startupRolesMismatch() throws {
            let dir = TempDir(prefix: "attuned-src-roles")
            let config = dir.file("attune.toml")
            try "[[source]]\ncall = \"t1\"\nuri = \"file:\(sampleCall)\"\nroles = [\"agent\", \"customer\", \"customer\"]\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
            let child = try runAttuned(["--config", config, "--run-dir", dir.file("run")], dir: dir)
            #expect(child.status == 78, "\(child.stderr)")
            #expect(child.stderr.contains("\(config): source[0].uri: 3 roles given but"), "\(child.stderr)")
        }

        /// An empty run directory put the sockets at /events.sock: --check-config said ok, the run failed at stat (74).
        @Test("an empty run_dir exits 78 from --check-config and at startup")
        func emptyRunDir() throws {
            let dir = TempDir(prefix: "attuned-emptyrun")
            for extra in [["--check-config"], []] {
                let child = try runAttuned(["--set", "run_dir=\"\""] + extra, dir: dir)
                #expect(child.status == 78, "\(extra): \(child.stderr)")
                #expect(child.stderr == "attuned: --set: run_dir: the run directory is empty\n", "\(child.stderr)")
            }
        }

        /// An endless "file" is refused after a bound, not read until memory runs out (the daemon was killed by the
        /// allocator before); a file of text over the bound too.
        @Test("--config /dev/zero or an oversized file exits 78 at once, naming the bound")
        func endlessConfig() throws {
            let dir = TempDir(prefix: "attuned-confzero")
            let big = dir.file("big.toml")
            try String(repeating: "# padding line of a config file that will never end well\n", count: 20_000)
                .write(toFile: big, atomically: true, encoding: .utf8)
            for path in ["/dev/zero", big] {
                let child = try runAttuned(["--config", path, "--check-config"], dir: dir)
                #expect(child.status == 78, "\(path): \(child.stderr)")
                #expect(child.stderr == "attuned: \(path): larger than 1024 KiB; not a config file\n", "\(child.stderr)")
            }
        }

        /// The sockets live in the run directory, and a socket path may have at most 103 bytes (swift-nio's limit, below
        /// Linux's 107-byte `sun_path`), counting the temporary name a socket is bound under before its rename.
        /// A run directory too long for them is the configuration's fault, found by `--check-config` and at startup
        /// alike, before anything is created, naming where the run directory came from.
        @Test("a run_dir too long for its sockets exits 78 naming the file or flag and the limit, creating nothing")
        func runDirTooLong() throws {
            let dir = TempDir(prefix: "attuned-longrun")
            let long = dir.file(String(repeating: "d", count: max(1, 100 - dir.path.utf8.count)) + "/run")
            let config = dir.file("attune.toml")
            try "run_dir = \"\(long)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            for (flags, origin) in [(["--config", config], "\(config): run_dir"), (["--set", "run_dir=\(long)"], "--set: run_dir"),
                                    (["--run-dir", long], "--run-dir")] {
                for extra in [["--check-config"], []] {
                    let child = try runAttuned(flags + extra, dir: dir)
                    #expect(child.status == 78, "\(flags + extra): \(child.stderr)")
                    #expect(child.stderr.hasPrefix("attuned: \(origin): '\(long)'") && child.stderr.contains("at most 103 bytes; use a run directory of at most 78 bytes"),
                            "\(child.stderr)")
                    #expect(!FileManager.default.fileExists(atPath: long), "\(flags + extra) created the run directory")
                }
            }
            // The longest run_dir that fits is taken.
            let fits = dir.path + "/" + String(repeating: "f", count: 78 - dir.path.utf8.count - 1)
            let daemon = try Daemon(dir: dir, runDir: fits)
            #expect(daemon.terminate() == 0)
        }

        /// A `--source` flag is configuration like the file's `[[source]]`: a URI that cannot be one is refused with 78
        /// by `--check-config` and at startup, before any socket exists (README: 64 is left to malformed command lines).
        @Test("a bad --source exits 78 naming the flag, from --check-config and at startup alike", arguments: [
            (["--source", "bogus"], "--source 'bogus': expected CALL=URI"),
            (["--source", "t1=http://x"], "--source 't1=http://x': unknown scheme 'http'"),
            (["--source", "t1=stdin:s16le:8000"], "--source 't1=stdin:s16le:8000': "),
            (["--source", "a=stdin:s16le:8000:1", "--source", "b=stdin:s16le:8000:1"],
             "--source 'b=stdin:s16le:8000:1': only one call can read standard input, and --source 'a=stdin:s16le:8000:1' does"),
            // The engine refused these only at launch (64, after --check-config had said ok).
            (["--source", "a.b=file:x.wav"], "--source 'a.b=file:x.wav': call id 'a.b' may hold only letters, digits and - _ : @ + ="),
            (["--source", "c1=file:x.wav", "--source", "c1=file:y.wav"], "--source 'c1=file:y.wav': call 'c1' is also --source 'c1=file:x.wav'"),
            (["--nats", "nats://127.0.0.1:99999", "--node", "n1"], "--nats: url 'nats://127.0.0.1:99999' has port '99999'"),
        ])
        func badSourceFlag(_ flags: [String], _ expected: String) throws {
            let dir = TempDir(prefix: "attuned-badsource")
            for extra in [["--check-config"], ["--run-dir", dir.file("run")]] {
                let child = try runAttuned(flags + extra, dir: dir)
                #expect(child.status == 78, "\(extra): \(child.stderr)")
                #expect(child.stderr.contains(expected), "\(child.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir.file("run")), "a socket directory was created")
        }

        /// Emotion inference beyond the customer channel is the privacy setting that matters most: `--check-config`
        /// says where it runs, and the startup warning fires for that alone (a role named twice is still one).
        @Test("--check-config names the emotion roles; only roles beyond the customer warn", arguments: [
            ([String](), "emotion events on customer,"),
            (["--emotion-roles", "customer,customer"], "emotion events on customer,"),
            (["--emotion-roles", "agent,customer"], "emotion events on agent,customer (beyond the customer channel),"),
        ])
        func emotionRoles(_ flags: [String], _ expected: String) throws {
            let dir = TempDir(prefix: "attuned-roles")
            let check = try runAttuned(flags + ["--check-config"], dir: dir)
            #expect(check.status == 0)
            #expect(check.stdout.contains(expected), "\(check.stdout)")
            let daemon = try Daemon(flags, dir: dir)
            let hello = try jsonObject(try #require(try UnixClient(path: daemon.events).readLine(timeout: 10)))
            let beyond = expected.contains("agent")
            #expect((hello["emotions"] as? [String]) == (beyond ? ["agent", "customer"] : ["customer"]))
            #expect(daemon.terminate() == 0)
            #expect(daemon.process.stderr.contains("emotion events enabled beyond the customer channel") == beyond,
                    "\(daemon.process.stderr)")
        }

        /// `--set` reaches every setting of the file through the same checks, so a bad value is refused the same way,
        /// naming the flag, and the settings only the file may hold are refused outright.
        @Test("a bad --set exits 78 naming the flag and the key", arguments: [
            (["--set", "events.queue_records=3"], "--set: events.queue_records: 3 is outside"),
            (["--set", "wrokers=2"], "--set: wrokers: unknown setting"),
            (["--set", "workers=two"], "--set: workers: expected a whole number"),
            (["--set", "metrics.allow_remote=true"], "--set metrics.allow_remote: only the config file can set it"),
            (["--set", "source.uri=file:x.wav"], "use --source CALL=URI"),
            (["--set", "bad key=1"], "is not a setting name"),
            (["--set", "events=1", "--set", "events.mode=0660"], "--set: "),
            (["--set", "novalue"], "expected KEY=VALUE"),
            (["--emotion-roles", "customer,boss"], "privacy.emotion_roles: unknown role 'boss'"),
            (["--max-calls", "0"], "max_calls: 0 is outside"),
            (["--workers", "0"], "workers: 0 is outside 1…256"),
            (["--ring-seconds", "100"], "ring_seconds: 100.0 is outside 0.1…60.0"),
        ])
        func badSet(_ flags: [String], _ expected: String) throws {
            let dir = TempDir(prefix: "attuned-badset")
            let child = try runAttuned(flags + ["--check-config"], dir: dir)
            #expect(child.status == 78)
            #expect(child.stderr.contains(expected), "\(child.stderr)")
        }

        /// toml++ (under TOMLKit) aborted on a `}` where an array expects a value, in release builds too: the fuzz
        /// below found `--set 'queue_records=[}source#customer"'` killing the daemon with SIGABRT (134). Text of that
        /// shape is never TOML, and is now refused as configuration, in a file and in `--set`, strings and comments
        /// with braces left alone.
        @Test("a '}' where an array expects a value is a configuration error (78), not an abort")
        func braceInArray() throws {
            let dir = TempDir(prefix: "attuned-brace")
            for (i, (toml, line)) in [("workers = 2\nx = [}\n", 2), ("x = [1,\n # c\n }\n", 3), ("[privacy]\nemotion_roles = [[}]]\n", 2)].enumerated() {
                let file = dir.file("c\(i).toml")
                try toml.write(toFile: file, atomically: true, encoding: .utf8)
                let child = try runAttuned(["--config", file, "--check-config"], dir: dir)
                #expect(child.status == 78, "\(toml): \(child.stderr)")
                #expect(child.stderr.contains("line \(line): '}' where a value is expected"), "\(toml): \(child.stderr)")
            }
            // Inside strings and comments a brace is text: the file is accepted (a node name is free text without NATS).
            let quoted = dir.file("q.toml")
            try "# [}\nnode = \"a[}\"\n".write(toFile: quoted, atomically: true, encoding: .utf8)
            let ok = try runAttuned(["--config", quoted, "--check-config"], dir: dir)
            #expect(ok.status == 0, "\(ok.stderr)")
            let set = try runAttuned(["--set=events.queue_records=[}source#customer\"", "--check-config"], dir: dir)
            #expect(set.status == 78 && set.stderr.hasPrefix("attuned: --set"), "\(set.stderr)")
        }

        /// The `--set` parser fuzzed: random keys and values (dots, quotes, brackets, `=`, control bytes, UTF-8)
        /// end in 0 or 78 with one error line, never a crash or a usage error.
        @Test("fuzzed --set flags exit 0 or 78 with one line, never crash")
        func fuzzSet() throws {
            let dir = TempDir(prefix: "attuned-fuzzset")
            let pieces = ["events", "queue_records", ".", "=", "\"", "[", "]", "{", "}", ",", "1", "-7", "0660", "true",
                          "nats", "url", "privacy", "emotion_roles", "customer", " ", "\n", "\u{1}", "é", "#", "'", "\\",
                          "max_calls", "1e400", "inf", "log_level", "metrics", "listen", "::1:0", "source"]
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<150 {
                let text = (0..<Int.random(in: 1...8, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
                // `--set=VALUE`: a value starting with `-` given as a separate argument is an option to the parser (64).
                let child = try runAttuned(["--set=\(text)", "--check-config"], dir: dir)
                #expect(child.status == 0 || child.status == 78, "--set '\(text)': exit \(child.status.map(String.init) ?? "none"): \(child.stderr)")
                if child.status == 78 {
                    #expect(child.stderr.split(separator: "\n").count == 1 && child.stderr.hasPrefix("attuned: "),
                            "--set '\(text)': \(child.stderr)")
                }
            }
        }

        /// File, then `--set` in order, then the dedicated flags: the last word wins, and what no flag names keeps
        /// the file's value.
        @Test("--set and the dedicated flags win over the file, in order; what they do not name keeps the file's value")
        func flagsOverFile() throws {
            let dir = TempDir(prefix: "attuned-set")
            let config = dir.file("attune.toml")
            try "max_calls = 5\nnode = \"from-file\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            let checked = try runAttuned(["--config", config, "--set", "node=pbx-1", "--check-config"], dir: dir)
            #expect(checked.status == 0, "\(checked.stderr)")
            #expect(checked.stdout.contains("node pbx-1,"), "\(checked.stdout)")

            let daemon = try Daemon(["--config", config, "--set", "max_calls=3", "--set", "max_calls=2", "--max-calls", "1"], dir: dir)
            try daemon.start("first", "file:\(sampleCall)")
            let refused = try daemon.command(#"{"cmd":"start","call":"second","source":"file:\#(sampleCall)"}"#)
            #expect(refused["ok"] as? Bool == false)
            #expect((refused["error"] as? String ?? "").contains("1 calls are running"), "\(refused)")
            #expect(daemon.terminate() == 0)
        }
    }
}
