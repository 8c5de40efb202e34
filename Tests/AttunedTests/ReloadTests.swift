import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DaemonSuite {
    /// SIGHUP re-reads the config file and applies its log level. What shows the level is the event bus's
    /// `debug`-level "subscriber connected" line: absent at `info`, present once the file says `debug`.
    @Suite("SIGHUP reload") struct ReloadTests {
        static let connected = "subscriber connected"

        @Test("SIGHUP applies the file's new log level; a file made invalid changes nothing and the daemon keeps serving")
        func reloadLogLevel() throws {
            let dir = TempDir(prefix: "attuned-hup")
            let config = dir.file("attune.toml")
            try "log_level = \"info\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try Daemon(["--config", config], dir: dir, logLevel: nil)

            // `subscribe` waits for the reply to its filter, which the bus sends after the connect (and its log line).
            let before = try daemon.subscribe(#"{"subscribe":{"calls":["none"]}}"#)
            #expect(daemon.loggedLines(Self.connected).isEmpty, "a debug line at info: \(daemon.process.stderr)")

            try "log_level = \"debug\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            daemon.process.signal(SIGHUP)
            #expect(daemon.logged("SIGHUP: reloaded log level"), "no reload logged: \(daemon.process.stderr)")
            #expect(daemon.loggedLines("SIGHUP: reloaded log level").first?.contains("log_level=debug") == true)
            let after = try daemon.subscribe(#"{"subscribe":{"calls":["none"]}}"#)
            #expect(daemon.logged(Self.connected), "no debug line after the reload: \(daemon.process.stderr)")

            // Invalid now: an error naming the file and the key, and the level it had (debug) stays.
            try "log_level = \"loud\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            daemon.process.signal(SIGHUP)
            #expect(daemon.logged("SIGHUP: config not reloaded"), "no error logged: \(daemon.process.stderr)")
            let error = daemon.loggedLines("SIGHUP: config not reloaded").first ?? ""
            #expect(error.contains(" error ") && error.contains(config) && error.contains("log_level: 'loud' is not a log level"),
                    "\(error)")
            #expect(try daemon.command(#"{"cmd":"list"}"#)["ok"] as? Bool == true)
            let third = try daemon.subscribe()
            #expect(daemon.logged(Self.connected, count: 2), "the level did not stay debug: \(daemon.process.stderr)")
            withExtendedLifetime((before, after, third)) {}
            #expect(daemon.process.poll() == nil, "SIGHUP ended the daemon")
            #expect(daemon.terminate() == 0)
        }

        @Test("with --set log_level, SIGHUP re-applies the flag over the reloaded file (flags win)")
        func setWins() throws {
            let dir = TempDir(prefix: "attuned-hup-set")
            let config = dir.file("attune.toml")
            try "log_level = \"info\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try Daemon(["--config", config, "--set", "log_level=notice"], dir: dir, logLevel: nil)
            try "log_level = \"debug\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            daemon.process.signal(SIGHUP)
            #expect(daemon.logged("SIGHUP: reloaded log level"), "\(daemon.process.stderr)")
            #expect(daemon.loggedLines("SIGHUP: reloaded log level").first?.contains("log_level=notice") == true)
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["none"]}}"#)
            #expect(daemon.loggedLines(Self.connected).isEmpty, "the file's debug won over --set log_level=notice")
            withExtendedLifetime(subscriber) {}
            #expect(daemon.terminate() == 0)
        }

        @Test("with --log-level, SIGHUP keeps the flag's level over the file's (flags win)")
        func flagWins() throws {
            let dir = TempDir(prefix: "attuned-hup-flag")
            let config = dir.file("attune.toml")
            try "log_level = \"debug\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try Daemon(["--config", config], dir: dir, logLevel: "info")
            daemon.process.signal(SIGHUP)
            #expect(daemon.logged("the log level stays as --log-level set it"), "\(daemon.process.stderr)")
            let subscriber = try daemon.subscribe(#"{"subscribe":{"calls":["none"]}}"#)
            #expect(daemon.loggedLines(Self.connected).isEmpty, "the file's debug won over --log-level info")
            withExtendedLifetime(subscriber) {}
            #expect(daemon.terminate() == 0)
        }
    }
}
