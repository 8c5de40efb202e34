#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix

/// Why a bus socket could not be set up. `exitCode` is the sysexits code the daemon exits with.
public enum BusError: Error, Equatable, CustomStringConvertible {
    /// Another live process listens on the socket; it is never stolen. `pid`, `uid` and `command` name the
    /// holder when the kernel tells (`SO_PEERCRED` of a test connection, `/proc/PID/comm`).
    case socketHeld(path: String, pid: Int32?, uid: UInt32?, command: String?)
    /// Something that is not a socket sits at the path; it is left alone.
    case notASocket(path: String)
    /// The path is longer than a socket path may be (``RunDirectory/maximumSocketPathLength``).
    case pathTooLong(path: String)
    /// Another live process holds the run directory's lock (``RunDirectoryLock``); `pid` and `command` name it when
    /// its lock file says who it is.
    case runDirectoryHeld(path: String, pid: Int32?, command: String?)
    /// A system call failed: `call` names it, `path` what it was working on.
    case system(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .socketHeld(path, pid, uid, command):
            var holder = ""
            if let pid {
                holder = " by pid \(pid)"
                if let command { holder += " (\(command))" }
                if let uid { holder += ", uid \(uid)" }
            }
            return "\(path): socket is held\(holder); another attuned is running (stop it or use another --run-dir)"
        case let .runDirectoryHeld(path, pid, command):
            let holder = pid.map { " by pid \($0)" + (command.map { " (\($0))" } ?? "") } ?? ""
            return "\(path): held\(holder); another attuned is running in this run directory (stop it or use another --run-dir)"
        case let .notASocket(path):
            return "\(path): exists and is not a socket; not replacing it"
        case let .pathTooLong(path):
            return "\(path): socket path longer than \(RunDirectory.maximumSocketPathLength) bytes"
        case let .system(call, path, errno):
            return "\(path): \(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }

    /// The sysexits code for this error: 69 (unavailable) for a held socket or run directory, 78 (configuration) for a path that
    /// cannot be a socket, 74 (I/O error) for a failed system call.
    public var exitCode: Int32 {
        switch self {
        case .socketHeld, .runDirectoryHeld: return 69
        case .notASocket, .pathTooLong: return 78
        case .system: return 74
        }
    }
}

/// Where the daemon's sockets live.
public enum RunDirectory {
    /// `/run/attune` as root, `$XDG_RUNTIME_DIR/attune` otherwise, `/tmp/attune-UID` when that is unset.
    public static func defaultPath() -> String {
        if geteuid() == 0 { return "/run/attune" }
        if let xdg = getenv("XDG_RUNTIME_DIR"), xdg.pointee != 0 { return String(cString: xdg) + "/attune" }
        return "/tmp/attune-\(geteuid())"
    }

    /// The longest socket path the bus binds. Linux's `sun_path` holds 107 bytes and a NUL, but swift-nio's
    /// `SocketAddress` refuses paths over 103 bytes (the BSDs' `sun_path` is 104), and that is what binds here.
    public static let maximumSocketPathLength = 103

    /// How long the path of a socket bound at `path` gets while it is set up: it is bound under the temporary name
    /// `PATH.PID.new`, then renamed (``SocketFile/bind(_:path:mode:group:)``). Counted with the most digits a Linux
    /// pid can have (pid_max is at most 2^22), so a run directory that passes here passes for every process.
    public static func boundLength(ofSocket path: String) -> Int {
        SocketFile.temporaryPath(path, pid: SocketFile.largestPID).utf8.count
    }

    /// Creates `path` (and missing parents) with `mode` if it does not exist; an existing directory is kept as is.
    public static func create(_ path: String, mode: mode_t = 0o755) throws(BusError) {
        var components: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            components.append(part)
            let prefix = (path.hasPrefix("/") ? "/" : "") + components.joined(separator: "/")
            if mkdir(prefix, mode) != 0 && errno != EEXIST {
                throw .system(call: "mkdir", path: prefix, errno: errno)
            }
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw .system(call: "stat", path: path, errno: errno) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .system(call: "mkdir", path: path, errno: ENOTDIR) }
    }
}

/// One daemon per run directory: an exclusive `flock` on `DIR/attuned.lock`, taken before any socket is bound and
/// held for the life of the value (the process's, in the daemon).
///
/// The socket check alone (``SocketFile/clearStale(_:)``) cannot tell two daemons started in the same instant apart:
/// neither listens yet, both bind under temporary names and rename onto the same path, and both stay up, each
/// serving half the clients, until one exits and removes the other's sockets. The lock decides between them. The
/// kernel releases it when the process ends however it ends (SIGKILL too), so a stale lock file never blocks a new
/// daemon; the file is left in place, since removing it would let a third process lock a new file while another
/// still holds the old one.
public final class RunDirectoryLock: Sendable {
    /// The lock file.
    public let path: String
    private let fd: CInt

    /// Takes the lock, or throws ``BusError/runDirectoryHeld(path:pid:command:)`` naming the holder (its pid is in the
    /// file) when another process has it.
    public init(directory: String) throws(BusError) {
        path = directory + "/attuned.lock"
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        // Another user's lock file can still be locked (flock needs no write access); only the pid is not ours to write.
        if fd < 0 && errno == EACCES { fd = open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw .system(call: "open", path: path, errno: errno) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            guard code == EWOULDBLOCK else { throw .system(call: "flock", path: path, errno: code) }
            let pid = Self.holder(path)
            throw .runDirectoryHeld(path: path, pid: pid, command: pid.flatMap { Posix.commandName(pid: $0) })
        }
        self.fd = fd
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pwrite(fd, text, text.count, 0) }
    }

    deinit { close(fd) }

    /// The pid the holder wrote into the lock file. It writes it just after taking the lock, so a loser that looks
    /// in between finds the file empty (or a former holder's pid): it looks again for up to a second.
    private static func holder(_ path: String) -> pid_t? {
        for _ in 0..<100 {
            if let pid = readPID(path), pid > 0, kill(pid, 0) == 0 || errno == EPERM, pid != getpid() { return pid }
            usleep(10_000)
        }
        return nil
    }

    private static func readPID(_ path: String) -> pid_t? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        return pid_t(String(decoding: buf[0..<n], as: UTF8.self).trimmingTrailingNewline())
    }
}

/// Thin wrappers over the system calls the socket-file handling makes; each throws an error naming the call.
enum Posix {
    static func lstat(_ path: String) throws(BusError) -> stat? {
        var st = stat()
        if Glibc.lstat(path, &st) == 0 { return st }
        if errno == ENOENT { return nil }
        throw .system(call: "lstat", path: path, errno: errno)
    }

    static func unlink(_ path: String) throws(BusError) {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw .system(call: "unlink", path: path, errno: errno) }
    }

    static func chmod(_ path: String, _ mode: mode_t) throws(BusError) {
        if Glibc.chmod(path, mode) != 0 { throw .system(call: "chmod", path: path, errno: errno) }
    }

    static func chown(_ path: String, group: gid_t) throws(BusError) {
        if Glibc.chown(path, uid_t.max, group) != 0 { throw .system(call: "chown", path: path, errno: errno) }
    }

    static func rename(_ from: String, _ to: String) throws(BusError) {
        if Glibc.rename(from, to) != 0 { throw .system(call: "rename", path: to, errno: errno) }
    }

    /// The first line of `/proc/PID/comm`: the holder's program name, for error messages.
    static func commandName(pid: pid_t) -> String? {
        let fd = open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self).trimmingTrailingNewline()
    }

    /// Connects a plain blocking Unix stream socket to `path`. Returns the descriptor, or nil with `errno` set.
    static func connectUnix(_ path: String) -> CInt? {
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 {
            let saved = errno
            close(fd)
            errno = saved
            return nil
        }
        return fd
    }

    /// The credentials of the process at the other end of a connected Unix socket.
    static func peerCredentials(fd: CInt) -> PeerCredentials? {
        var cred = LinuxUcred()
        var len = socklen_t(MemoryLayout<LinuxUcred>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 else { return nil }
        return PeerCredentials(cred)
    }
}

/// `struct ucred` of `<sys/socket.h>`, which Glibc's Swift module hides behind `_GNU_SOURCE`: the same three
/// 32-bit fields in the same order, so `getsockopt(SO_PEERCRED)` fills it exactly.
struct LinuxUcred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Who is at the other end of a Unix socket, as the kernel recorded it when the peer connected (or listened).
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid; self.uid = uid; self.gid = gid
    }

    init(_ cred: LinuxUcred) { self.init(pid: cred.pid, uid: cred.uid, gid: cred.gid) }

    public var description: String { "pid \(pid), uid \(uid), gid \(gid)" }
}

extension String {
    fileprivate func trimmingTrailingNewline() -> String {
        var s = Substring(self)
        while s.last == "\n" { s.removeLast() }
        return String(s)
    }
}

/// A listening socket file this process created, removed on shutdown only if it is still the same file.
struct SocketFile: Sendable {
    let path: String
    let device: UInt64
    let inode: UInt64

    /// Makes `path` free for a new socket: nothing there, or a stale socket from a crashed run (nobody accepts
    /// connections on it), which is removed. A live socket is never touched: connecting succeeds, so the
    /// holder's credentials go into `BusError.socketHeld`.
    static func clearStale(_ path: String) throws(BusError) {
        guard path.utf8.count <= RunDirectory.maximumSocketPathLength else { throw .pathTooLong(path: path) }
        guard let st = try Posix.lstat(path) else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
        if let fd = Posix.connectUnix(path) {
            let cred = Posix.peerCredentials(fd: fd)
            close(fd)
            throw .socketHeld(path: path, pid: cred.map { $0.pid }, uid: cred.map { $0.uid },
                              command: cred.flatMap { Posix.commandName(pid: $0.pid) })
        }
        switch errno {
        case ECONNREFUSED:
            // Nobody listens: the file outlived its daemon.
            try Posix.unlink(path)
        case EACCES, EPERM:
            // We may not even connect, so it belongs to someone else; refusing is safer than deleting.
            throw .socketHeld(path: path, pid: nil, uid: UInt32(st.st_uid), command: nil)
        default:
            throw .system(call: "connect", path: path, errno: errno)
        }
    }

    /// Binds `bootstrap` at `path` with `mode` (and `group`), never exposing the socket with a wider mode:
    /// it is bound under a temporary name, given its mode, then renamed into place.
    static func bind(_ bootstrap: ServerBootstrap, path: String, mode: mode_t, group: gid_t?)
        async throws -> (Channel, SocketFile)
    {
        try clearStale(path)
        let temporary = temporaryPath(path, pid: getpid())
        guard temporary.utf8.count <= RunDirectory.maximumSocketPathLength else { throw BusError.pathTooLong(path: temporary) }
        try Posix.unlink(temporary)
        let channel: Channel
        do {
            channel = try await bootstrap.bind(unixDomainSocketPath: temporary).get()
        } catch let error as IOError {
            throw BusError.system(call: "bind", path: path, errno: error.errnoCode)
        }
        do {
            try Posix.chmod(temporary, mode)
            if let group { try Posix.chown(temporary, group: group) }
            // A rival that appeared between the check and now would be replaced here: the daemon holds its run
            // directory's lock (RunDirectoryLock) while it binds, so no other attuned can be that rival.
            try Posix.rename(temporary, path)
            guard let st = try Posix.lstat(path) else { throw BusError.system(call: "lstat", path: path, errno: ENOENT) }
            return (channel, SocketFile(path: path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
        } catch {
            try? await channel.close()
            try? Posix.unlink(temporary)
            throw error
        }
    }

    /// The name a socket is bound under before it is renamed to `path`: the pid keeps two processes that set up the
    /// same path at once from binding, or removing, each other's.
    static func temporaryPath(_ path: String, pid: pid_t) -> String { path + ".\(pid).new" }

    /// Linux's largest possible pid (`PID_MAX_LIMIT` - 1 on 64-bit), for the longest temporary name.
    static let largestPID: pid_t = (1 << 22) - 1

    /// Removes the socket file if it is still the one this process bound (a successor may have replaced it).
    func remove() {
        guard let st = try? Posix.lstat(path), UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { return }
        try? Posix.unlink(path)
    }
}
