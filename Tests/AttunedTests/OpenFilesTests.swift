import AttuneTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Seconds of CPU the process `pid` has used so far (user and system, /proc/PID/stat fields 14 and 15).
private func cpuSeconds(_ pid: pid_t) throws -> Double {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
    let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
    return (Double(fields[11])! + Double(fields[12])!) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// `attuned --run-dir RUNDIR` started under the open-files limit `SOFT:HARD` (prlimit), left running.
private func attuned(openFiles: String, runDir: String, dir: TempDir) throws -> Child {
    try Child("/usr/bin/prlimit", ["--nofile=\(openFiles)", try builtBinary("attuned"), "--run-dir", runDir],
              dir: dir, tag: "attuned-nofile-\(openFiles)")
}

extension DaemonSuite {
    @Suite("Open files") struct OpenFilesTests {
        /// Every call holds about three descriptors and every subscriber one; a shell's or container's soft limit
        /// (often 1024) stopped the daemon near 330 calls while the hard limit allowed far more.
        @Test("the daemon raises its soft open-files limit to the hard one and says so")
        func raisesTheLimit() throws {
            let dir = TempDir(prefix: "attuned-nofile-raise")
            let child = try attuned(openFiles: "64:8192", runDir: dir.file("run"), dir: dir)
            defer { child.signal(SIGKILL); _ = child.wait(timeout: 10) }
            #expect(eventually(timeout: 60) { child.stderr.contains("attuned started") }, "\(child.stderr)")
            let limits = try String(contentsOfFile: "/proc/\(child.pid)/limits", encoding: .utf8)
            let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) ?? ""
            #expect(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2) == ["8192", "8192"], "\(line)")
            #expect(child.stderr.contains("open_files=8192"), "\(child.stderr)")
            child.signal(SIGTERM)
            #expect(child.wait(timeout: 30) == 0)
        }

        /// Out of descriptors (a hard limit it cannot raise) with clients waiting to be accepted: accept(2) failed
        /// with nothing in the log. Now the log says why, once, and the daemon serves again once descriptors free.
        @Test("out of descriptors, the daemon logs why it cannot accept, and serves again when they free up")
        func outOfDescriptors() throws {
            let dir = TempDir(prefix: "attuned-nofile")
            let runDir = dir.file("run")
            let child = try attuned(openFiles: "48:48", runDir: runDir, dir: dir)
            defer { child.signal(SIGKILL); _ = child.wait(timeout: 10) }
            #expect(eventually(timeout: 60) { (try? UnixClient(path: runDir + "/control.sock")) != nil }, "\(child.stderr)")
            #expect(child.stderr.contains("the open-files limit allows only about 16 calls"), "\(child.stderr)")
            // A few are accepted and hold the rest of the descriptors; the others wait in the backlog.
            var subscribers: [UnixClient] = []
            for _ in 0..<80 { subscribers.append(try UnixClient(path: runDir + "/events.sock")) }
            #expect(eventually(timeout: 20) { child.stderr.contains("cannot accept connections") }, "\(child.stderr)")
            // NIO retried the failed accept at once for as long as a client waited: a whole core, ~6,000 accept(2)
            // a second. Paused a second after each failure, the idle daemon uses next to nothing.
            let before = try cpuSeconds(child.pid)
            usleep(2_000_000)
            let used = try cpuSeconds(child.pid) - before
            #expect(used < 0.3, "\(used) s of CPU in 2 s with clients waiting to be accepted")
            #expect(child.stderr.components(separatedBy: "cannot accept connections").count - 1 == 1, "logged more than once a minute")
            subscribers.removeAll()
            let stats = eventually(timeout: 20) {
                guard let c = try? UnixClient(path: runDir + "/control.sock"), (try? c.send(#"{"cmd":"stats"}"# + "\n")) != nil,
                      let reply = try? c.readLine(timeout: 3) else { return false }
                return reply.contains(#""ok":true"#)
            }
            #expect(stats, "no stats reply once descriptors were free: \(child.stderr)")
            child.signal(SIGTERM)
            #expect(child.wait(timeout: 30) == 0)
        }
    }
}
