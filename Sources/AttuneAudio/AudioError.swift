/// Why audio could not be read, with the sysexits code a command-line tool should exit with.
/// Every error names the file (or `-` for stdin), the call that failed and the cause.
public struct AudioError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The file does not exist or cannot be opened for reading (EX_NOINPUT, 66).
        case missing
        /// The bytes are not audio we can decode: corrupt, truncated, empty, wrong format (EX_DATAERR, 65).
        case badData
        /// The request itself is malformed, e.g. an unparsable raw format (EX_USAGE, 64).
        case usage
        /// A read failed part-way for a reason outside the data (EX_IOERR, 74).
        case io
        /// A capture device is absent or busy (EX_UNAVAILABLE, 69).
        case unavailable
    }

    public var kind: Kind
    /// The file, device or `-` the error is about.
    public var path: String
    /// What went wrong, in words a user can act on; includes the failing call where there is one.
    public var reason: String

    public init(_ kind: Kind, path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    /// The sysexits(3) code for this error.
    public var exitCode: Int32 {
        switch kind {
        case .usage: 64
        case .badData: 65
        case .missing: 66
        case .unavailable: 69
        case .io: 74
        }
    }

    public var description: String { "\(path): \(reason)" }
}
