import ArgumentParser
import AttuneBus
#if canImport(Glibc)
import Glibc
#endif

// The CLI's side of the daemon's sockets. It uses plain blocking Glibc sockets, not swift-nio: a CLI verb holds one
// connection, writes one line and reads lines until it has what it wants, so an event loop would add threads and
// futures without removing any code, and blocking calls give the exact errno each failure message names.

/// Where one of the daemon's sockets is: `--socket`/SOCKET as given, else `$ATTUNE_RUN_DIR/NAME`, else the daemon's
/// own default run directory (`/run/attune` as root, `$XDG_RUNTIME_DIR/attune` otherwise; `RunDirectory`).
struct DaemonSocketPath {
    /// The path as a NUL-terminated C string, byte for byte as given.
    let bytes: [CChar]
    /// The path for messages (escaped again when printed).
    let name: String
    /// Which of the daemon's sockets is meant (`events.sock`, `control.sock`), for hints.
    let file: String

    init(explicit: String?, file: String) {
        self.file = file
        if let explicit {
            let argument = PathArgument(explicit)
            bytes = argument.bytes
            name = argument.name
            return
        }
        let directory: String
        if let env = getenv("ATTUNE_RUN_DIR"), env.pointee != 0 {
            directory = String(cString: env)
        } else {
            directory = RunDirectory.defaultPath()
        }
        name = directory + "/" + file
        bytes = Array(name.utf8CString)
    }
}

/// Why talking to the daemon failed: the message for stderr (without the `attune VERB:` prefix) and the sysexits
/// code to exit with.
struct DaemonSocketError: Error {
    var code: Int32
    var message: String

    /// A failed system call on the socket at `path`: `what` names the step, `errno` the cause.
    static func system(_ code: Int32, _ path: String, _ what: String, errno: Int32, hint: String = "") -> DaemonSocketError {
        DaemonSocketError(code: code, message: "\(path): \(what): \(String(cString: strerror(errno))) (errno \(errno))\(hint)")
    }
}

/// A connected blocking Unix stream socket. The descriptor is closed when the value goes away.
final class DaemonConnection {
    let fd: CInt
    let path: String

    /// Connects to `socket`. Every failure to connect is 69 (unavailable), with the cause and what to do about it;
    /// a path too long for `sockaddr_un` is 64 (usage).
    init(_ socket: DaemonSocketPath) throws(DaemonSocketError) {
        path = socket.name
        let raw = socket.bytes.dropLast()  // the C string's NUL
        var address = sockaddr_un()
        guard raw.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw DaemonSocketError(code: 64, message: "\(path): socket path longer than 107 bytes")
        }
        let fd = Glibc.socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(74, path, "socket", errno: errno) }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            for (i, b) in raw.enumerated() { sunPath[i] = UInt8(bitPattern: b) }
        }
        var rc: CInt
        repeat {
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        } while rc != 0 && errno == EINTR
        guard rc == 0 else {
            let saved = errno
            Glibc.close(fd)
            // connect(2) says ECONNREFUSED for a regular file or a directory too, whose hint (a socket a stopped
            // daemon left) would send the user to restart attuned instead of to the right path.
            if let what = DaemonConnection.notASocket(socket.bytes) {
                throw DaemonSocketError(code: 69, message: "\(path): cannot connect: it is not a socket but \(what); "
                                        + "give the \(socket.file) in attuned's run directory")
            }
            throw .system(69, path, "cannot connect", errno: saved, hint: DaemonConnection.hint(errno: saved))
        }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// What `path` is when it exists and is not a socket ("a regular file", "a directory", …), else nil.
    private static func notASocket(_ path: [CChar]) -> String? {
        var st = stat()
        guard path.withUnsafeBufferPointer({ stat($0.baseAddress!, &st) }) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFSOCK: return nil
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        default: return "a device"
        }
    }

    /// What to do about a failed connect, after the errno.
    private static func hint(errno: Int32) -> String {
        switch errno {
        case ENOENT:
            return "; is attuned running? Start it with `attuned --run-dir DIR` and set ATTUNE_RUN_DIR=DIR"
        case ECONNREFUSED:
            return "; nobody listens there (an attuned that stopped left it): start attuned again"
        case EACCES, EPERM:
            return "; run as the daemon's user or a member of its socket group"
        default:
            return ""
        }
    }

    /// Writes all of `bytes`. MSG_NOSIGNAL: a daemon that went away is an error to report (74), not a SIGPIPE.
    func send(_ bytes: [UInt8]) throws(DaemonSocketError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(74, path, "write", errno: errno)
            }
            offset += n
        }
    }

    /// Gives up a `receive` that waits longer than `seconds` (SO_RCVTIMEO); it then throws 69, the daemon not
    /// answering.
    func setReceiveTimeout(seconds: Double) throws(DaemonSocketError) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1e6))
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw .system(74, path, "setsockopt SO_RCVTIMEO", errno: errno)
        }
        receiveTimeout = seconds
    }

    private var receiveTimeout: Double?

    /// Reads what has arrived (blocking until something has) onto the end of `buffer`; returns false at EOF.
    /// A line longer than `LineBuffer.maximumLineLength` is an I/O error (74): no daemon record is near it, and
    /// a peer that never sends a newline must not make the CLI grow without bound.
    func receive(into buffer: inout LineBuffer) throws(DaemonSocketError) -> Bool {
        guard buffer.pending <= LineBuffer.maximumLineLength else {
            throw DaemonSocketError(code: 74, message: "\(path): a line longer than \(LineBuffer.maximumLineLength >> 20) MiB")
        }
        while true {
            let n = buffer.appendingRead { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { return true }
            if n == 0 { return false }
            if errno == EINTR { continue }
            if errno == EAGAIN, let receiveTimeout {
                throw DaemonSocketError(code: 69, message: "\(path): no reply within \(receiveTimeout) s; is attuned stuck?")
            }
            throw .system(74, path, "read", errno: errno)
        }
    }
}

/// Bytes read from a socket, taken off the front one complete line at a time.
struct LineBuffer {
    /// The longest unfinished line `DaemonConnection.receive` reads on with.
    static let maximumLineLength = 64 << 20

    private var bytes: [UInt8] = []
    private var start = 0

    /// Bytes after the last complete line.
    var pending: Int { bytes.count - start }

    /// Calls `read` with room for 64 KiB at the end and keeps the `n > 0` bytes it reports.
    mutating func appendingRead(_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        // Drop consumed lines first, so the buffer holds at most one partial line plus one read.
        if start > 0 {
            bytes.removeFirst(start)
            start = 0
        }
        let old = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 65536))
        let n = bytes.withUnsafeMutableBytes { read(UnsafeMutableRawBufferPointer(rebasing: $0[old...])) }
        bytes.removeLast(65536 - max(n, 0))
        return n
    }

    /// The next complete line including its newline, or nil when only part of one has arrived.
    mutating func nextLine() -> ArraySlice<UInt8>? {
        guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        defer { start = newline + 1 }
        return bytes[start...newline]
    }
}

/// Buffered output to stdout for the socket verbs. A reader that goes away (`attune tail | head`) ends the program
/// quietly with 0 — it got what it wanted — instead of the 74 `FileDescriptorWriter` reports for `analyze`.
final class PipeOutput {
    private var buffer: [UInt8] = []

    init() {
        // EPIPE instead of death by signal, here and on the socket.
        signal(SIGPIPE, SIG_IGN)
    }

    func write(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }
    func write(_ text: String) { buffer.append(contentsOf: text.utf8) }

    /// Bytes written and not flushed yet.
    var buffered: Int { buffer.count }

    /// Exits 0 when the reader has gone (EPIPE), as `head` expects of a writer.
    func flush() {
        if flushUntilClosed() != nil { exit(0) }
    }

    /// Writes out what is buffered. Returns nil once it is all written, or how many of its bytes were written
    /// before the reader went away (EPIPE), for a caller with something to settle before it exits.
    func flushUntilClosed() -> Int? {
        var offset = 0
        defer { buffer.removeAll(keepingCapacity: true) }
        while offset < buffer.count {
            let n = buffer[offset...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { return offset }
                let why = String(cString: strerror(errno))
                buffer.removeAll()
                fail(74, "attune: write to stdout: \(why)")
            }
            offset += n
        }
        return nil
    }
}

/// `--color`: whether the pretty view uses ANSI colours.
enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

/// How a socket verb prints what the daemon sent: the lines as received, or the human view.
struct OutputStyle {
    /// True for the human view (stdout a terminal, or `--pretty`); false for the raw lines.
    var pretty: Bool
    /// ANSI colours in the pretty view: `--color always`, or `auto` on a terminal without `NO_COLOR`
    /// (https://no-color.org: set and non-empty) or `TERM=dumb`.
    var color: Bool

    init(json: Bool, pretty forcePretty: Bool, color: ColorChoice) {
        let terminal = isatty(1) != 0
        pretty = forcePretty || (terminal && !json)
        switch color {
        case .always: self.color = pretty
        case .never: self.color = false
        case .auto:
            let noColor = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
            let dumb = getenv("TERM").map { String(cString: $0) == "dumb" } ?? false
            self.color = pretty && terminal && !noColor && !dumb
        }
    }
}

/// The flags that choose an `OutputStyle`, shared by `tail` and `ctl`.
struct StyleOptions: ParsableArguments {
    @Flag(help: "Print the lines exactly as the daemon sent them, even on a terminal (the default on a pipe).")
    var json = false

    @Flag(help: "Print the human view even when stdout is not a terminal.")
    var pretty = false

    @Option(help: "Colours in the human view: auto (on a terminal, unless NO_COLOR is set), always or never.")
    var color: ColorChoice = .auto

    func validate() throws {
        if json && pretty { throw ValidationError("--json and --pretty exclude each other") }
    }

    var style: OutputStyle { OutputStyle(json: json, pretty: pretty, color: color) }
}
