import NIOCore

/// Splits a client's byte stream into lines, holding at most `maximumLength` bytes of an unfinished line.
///
/// A line longer than the limit is reported once, as soon as the limit is passed, and the rest of it is
/// skipped up to its newline without being stored, so a client sending 10 MB without a newline costs the
/// daemon nothing but the reading. The line after it is framed normally, so the connection stays usable.
/// A trailing `\r` is removed (clients on a terminal or `socat CRLF`); blank lines are dropped, and so are lines of
/// nothing but spaces, tabs and carriage returns: neither is a command or a filter (design.md: every *command* gets
/// one reply), and a stray Enter must not get a reply whether or not the terminal put blanks before it.
struct LineFramer {
    enum Event: Equatable {
        case line([UInt8])
        /// A line passed `maximumLength`; what follows up to its newline is discarded.
        case tooLong
    }

    let maximumLength: Int
    private var pending: [UInt8] = []
    private var skipping = false

    init(maximumLength: Int) {
        self.maximumLength = maximumLength
    }

    /// Feeds received bytes; `emit` is called for each complete line or overlong line, in order.
    mutating func feed(_ buffer: ByteBuffer, _ emit: (Event) -> Void) {
        buffer.withUnsafeReadableBytes { raw in
            var start = 0
            while start < raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[start...])
                guard let nl = rest.firstIndex(of: UInt8(ascii: "\n")) else {
                    append(UnsafeRawBufferPointer(rebasing: raw[start...]), emit)
                    return
                }
                let end = start + nl
                append(UnsafeRawBufferPointer(rebasing: raw[start..<end]), emit)
                if skipping {
                    skipping = false
                } else {
                    var line = pending
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    if !line.allSatisfy(Self.isBlank) { emit(.line(line)) }
                }
                pending.removeAll(keepingCapacity: pending.capacity <= 4096)
                start = end + 1
            }
        }
    }

    /// Space, tab and CR: JSON's whitespace other than the newline that ends the line.
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    /// The bytes of a line not yet ended; dropped (with a `.tooLong` report) once over the limit.
    private mutating func append(_ bytes: UnsafeRawBufferPointer, _ emit: (Event) -> Void) {
        guard !skipping, !bytes.isEmpty else { return }
        if pending.count + bytes.count > maximumLength {
            skipping = true
            // Give the memory of the long prefix back now, not when the next line ends.
            pending = []
            emit(.tooLong)
            return
        }
        pending.append(contentsOf: bytes)
    }
}
