/// Who speaks on a channel of a tap. The record type `Role` lives in AttuneEvents, which this module does not
/// import; the engine maps between the two by raw value.
public enum CaptureRole: String, Sendable, CaseIterable, Equatable {
    case agent, customer, unknown
}

/// How fast a `file:` source is replayed.
public enum ReplaySpeed: Sendable, Equatable, CustomStringConvertible {
    /// `factor` × real time, paced from the monotonic clock (1 = real time).
    case paced(factor: Double)
    /// As fast as the sink takes the blocks: no pacing at all.
    case max

    /// The fastest paced replay we accept; beyond it `max` is what the user means.
    public static let maximumFactor = 1000.0

    public var description: String {
        switch self {
        case .max: "max"
        case .paced(let f): f == f.rounded() && f < 1e15 ? String(Int(f)) : String(f)
        }
    }
}

/// The capture parameters of an `alsa:` source, resolved to frames.
public struct ALSAParameters: Sendable, Equatable {
    /// The ALSA PCM name, e.g. `hw:1,0`, `plughw:CARD=PCH,DEV=0`, `tap`.
    public var device: String
    /// Requested rate (Hz); the device may grant a nearby one, which the opened source reports.
    public var sampleRate: Int
    /// Interleaved channels to capture.
    public var channelCount: Int
    /// Frames per period (one wake-up and one sink call per period).
    public var periodFrames: Int
    /// Frames the device buffers before it overruns (an xrun).
    public var bufferFrames: Int

    /// Defaults when the URI does not say: 8 kHz (telephony), 20 ms periods, 25 periods of buffer (500 ms). A
    /// capture buffer adds no latency — a period is read as soon as it is complete — only room to ride out a
    /// capture thread the scheduler kept waiting: 200 ms overran once at start-up in the tests at a load of 14
    /// on 2 cores.
    public static let defaultSampleRate = 8000
    public static let defaultPeriodMilliseconds = 20
    public static let defaultPeriodsPerBuffer = 25

    public init(device: String, sampleRate: Int = defaultSampleRate, channelCount: Int = 1,
                periodFrames: Int? = nil, bufferFrames: Int? = nil) {
        self.device = device
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        let period = periodFrames ?? max(1, sampleRate * Self.defaultPeriodMilliseconds / 1000)
        self.periodFrames = period
        // Long periods get fewer of them, so the default stays within the 10 s a URI may ask for.
        self.bufferFrames = bufferFrames ?? max(2 * period, min(period * Self.defaultPeriodsPerBuffer, sampleRate * 10))
    }
}

/// A parsed source URI, as `attuned --source`, the control socket's `start` and the config file spell it:
///
/// - `alsa:DEVICE[?rate=HZ&channels=N&period=P&buffer=B&roles=R,…]` — capture from libasound. `period` and
///   `buffer` are frames, or milliseconds with an `ms` suffix (`period=20ms`). Without `channels`, a tap has as
///   many channels as `roles` names, else 1.
/// - `file:PATH[?speed=N|max&roles=…]` — replay any file libsndfile reads at N × real time (default 1). `PATH`
///   may be `///abs/path` (the `file://` form) and may use `%XX` escapes (a literal `?` in a path is `%3F`).
/// - `stdin:ENCODING:RATE:CHANNELS[?roles=…]` — headerless PCM on standard input, any encoding `--raw` takes.
///
/// Roles are `agent`, `customer` or `unknown`, one per channel. Every malformed URI is an ``AudioError`` of kind
/// ``AudioError/Kind/usage`` (64) whose `path` is the URI and whose reason says what is wrong and what was expected.
public struct SourceURI: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case alsa(ALSAParameters)
        case file(path: String, speed: ReplaySpeed)
        case stdin(RawFormat)
    }

    public var kind: Kind
    /// One role per channel, when the URI names them. For `file:` the channel count is only known once the file
    /// is open, so ``roles(channelCount:)`` checks the count then.
    public var roles: [CaptureRole]?

    public init(kind: Kind, roles: [CaptureRole]? = nil) {
        self.kind = kind
        self.roles = roles
    }

    /// The schemes we know, for error messages.
    public static let schemes = ["alsa", "file", "stdin"]
    static let usage = "alsa:DEVICE[?rate=&channels=&period=&buffer=&roles=], file:PATH[?speed=N|max&roles=] "
        + "or stdin:ENCODING:RATE:CHANNELS[?roles=]"

    /// Parses `text`; anything malformed throws a usage error (64) naming the URI and the problem.
    ///
    /// `roles` are roles given beside the URI (the control socket's `"roles"`, a config entry): they count as if
    /// the URI said `roles=` — so `alsa:tap` with two roles is a two-channel tap — and a URI that names other
    /// roles itself is refused rather than silently overridden.
    public init(parsing text: String, roles extraRoles: [CaptureRole]? = nil) throws(AudioError) {
        // Both the URI and the reason (which may quote a value from it) are cut to a readable length.
        func fail(_ why: String) -> AudioError { AudioError(.usage, path: Self.quoted(text), Self.quoted(why, limit: 400)) }
        guard let colon = text.firstIndex(of: ":") else {
            throw fail("no scheme; expected \(Self.usage)")
        }
        let scheme = String(text[..<colon])
        var rest = Substring(text[text.index(after: colon)...])
        var query: Substring? = nil
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        let allowed: [String]
        switch scheme.lowercased() {
        case "alsa": allowed = ["rate", "channels", "period", "buffer", "roles"]
        case "file": allowed = ["speed", "roles"]
        case "stdin": allowed = ["roles"]
        default:
            throw fail("unknown scheme '\(scheme)'; expected one of \(Self.schemes.joined(separator: ", ")) (\(Self.usage))")
        }
        let params = try Self.parseQuery(query, allowed: allowed, fail: fail)
        var roles: [CaptureRole]? = nil
        if let r = params["roles"] {
            roles = try Self.parseRoles(r, fail: fail)
        }
        if let extraRoles {
            if let roles, roles != extraRoles {
                throw fail("the URI names roles \(roles.map(\.rawValue).joined(separator: ",")) but "
                           + "\(extraRoles.map(\.rawValue).joined(separator: ",")) were given beside it; name them once")
            }
            guard AudioLimits.channelCounts.contains(extraRoles.count) else {
                throw fail("\(extraRoles.count) roles; 1 to \(AudioLimits.channelCounts.upperBound) channels are supported")
            }
            roles = extraRoles
        }

        switch scheme.lowercased() {
        case "alsa":
            guard !rest.isEmpty else { throw fail("no device after 'alsa:'; expected e.g. alsa:hw:1,0 or alsa:default") }
            guard !rest.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
                throw fail("device name '\(rest)' contains white space or control characters")
            }
            let rate = try params["rate"].map { v throws(AudioError) in try Self.integer(v, "rate", fail: fail) }
                ?? ALSAParameters.defaultSampleRate
            let channels = try params["channels"].map { v throws(AudioError) in try Self.integer(v, "channels", fail: fail) }
                ?? roles?.count ?? 1
            do {
                try AudioLimits.check(sampleRate: rate, channelCount: channels, path: Self.quoted(text), kind: .usage)
            }
            if let roles, roles.count != channels {
                throw fail("\(roles.count) roles for \(channels) channels; name one role per channel")
            }
            let period = try params["period"].map { v throws(AudioError) in
                try Self.frames(v, "period", rate: rate, fail: fail)
            }
            let buffer = try params["buffer"].map { v throws(AudioError) in
                try Self.frames(v, "buffer", rate: rate, fail: fail)
            }
            let p = ALSAParameters(device: String(rest), sampleRate: rate, channelCount: channels,
                                   periodFrames: period, bufferFrames: buffer)
            guard p.bufferFrames >= 2 * p.periodFrames else {
                throw fail("buffer of \(p.bufferFrames) frames is less than two periods of \(p.periodFrames)")
            }
            guard p.bufferFrames <= p.sampleRate * 10 else {
                throw fail("buffer of \(p.bufferFrames) frames is more than 10 s of audio")
            }
            self.init(kind: .alsa(p), roles: roles)

        case "file":
            var path = rest
            // `file:///abs` is the RFC 8089 spelling of `file:/abs`; `file://host/…` names a host, which we cannot read.
            if path.hasPrefix("//") {
                path = path.dropFirst(2)
                guard path.hasPrefix("/") else {
                    throw fail("file URIs with a host are not supported; use file:/path or file:///path")
                }
            }
            let decoded = try Self.percentDecode(path, fail: fail)
            guard !decoded.isEmpty else { throw fail("no path after 'file:'; expected file:PATH") }
            guard !decoded.contains("\0") else { throw fail("the path contains a NUL byte") }
            var speed = ReplaySpeed.paced(factor: 1)
            if let s = params["speed"] {
                if s.lowercased() == "max" {
                    speed = .max
                } else if let f = Double(s), f.isFinite, f > 0, f <= ReplaySpeed.maximumFactor {
                    speed = .paced(factor: f)
                } else {
                    throw fail("speed '\(s)' is not a factor in (0, \(Int(ReplaySpeed.maximumFactor))] or 'max'")
                }
            }
            self.init(kind: .file(path: decoded, speed: speed), roles: roles)

        default: // stdin
            let format: RawFormat
            do {
                format = try RawFormat(parsing: String(rest))
            } catch {
                throw fail("after 'stdin:': " + error.reason)
            }
            if let roles, roles.count != format.channelCount {
                throw fail("\(roles.count) roles for \(format.channelCount) channels; name one role per channel")
            }
            self.init(kind: .stdin(format), roles: roles)
        }
    }

    /// The roles of the `channelCount` channels of the opened source: the URI's, or all `unknown` when it names
    /// none. A count that does not match is a usage error naming the URI.
    public func roles(channelCount: Int) throws(AudioError) -> [CaptureRole] {
        guard let roles else { return Array(repeating: .unknown, count: channelCount) }
        guard roles.count == channelCount else {
            throw AudioError(.usage, path: description,
                             "\(roles.count) roles for \(channelCount) channels; name one role per channel")
        }
        return roles
    }

    /// The canonical spelling, which parses back to an equal value.
    public var description: String {
        var query: [String] = []
        let base: String
        switch kind {
        case .alsa(let p):
            base = "alsa:\(p.device)"
            query = ["rate=\(p.sampleRate)", "channels=\(p.channelCount)", "period=\(p.periodFrames)", "buffer=\(p.bufferFrames)"]
        case .file(let path, let speed):
            base = "file:" + Self.percentEncode(path)
            if speed != .paced(factor: 1) { query.append("speed=\(speed)") }
        case .stdin(let f):
            base = "stdin:\(f)"
        }
        if let roles { query.append("roles=" + roles.map(\.rawValue).joined(separator: ",")) }
        return query.isEmpty ? base : base + "?" + query.joined(separator: "&")
    }

    // MARK: - Pieces

    /// URIs in messages are cut to a readable length (a fuzzer, or a paste gone wrong, can send megabytes).
    static func quoted(_ text: String, limit: Int = 200) -> String {
        if text.isEmpty { return "\"\"" }  // so an empty URI still shows in "PATH: reason"
        return text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }

    private static func parseQuery(_ query: Substring?, allowed: [String],
                                   fail: (String) -> AudioError) throws(AudioError) -> [String: String] {
        guard let query else { return [:] }
        var out: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
            guard let eq = pair.firstIndex(of: "=") else {
                throw fail("query item '\(pair)' is not KEY=VALUE (keys: \(allowed.joined(separator: ", ")))")
            }
            let key = pair[..<eq].lowercased()
            let value = String(pair[pair.index(after: eq)...])
            guard allowed.contains(key) else {
                throw fail("unknown query key '\(pair[..<eq])'; this scheme takes \(allowed.joined(separator: ", "))")
            }
            guard !value.isEmpty else { throw fail("query key '\(key)' has no value") }
            guard out[key] == nil else { throw fail("query key '\(key)' given twice") }
            out[key] = value
        }
        return out
    }

    private static func parseRoles(_ text: String, fail: (String) -> AudioError) throws(AudioError) -> [CaptureRole] {
        var roles: [CaptureRole] = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let r = CaptureRole(rawValue: name.lowercased()) else {
                throw fail("unknown role '\(name)'; roles are \(CaptureRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            roles.append(r)
        }
        guard AudioLimits.channelCounts.contains(roles.count) else {
            throw fail("\(roles.count) roles; at most \(AudioLimits.channelCounts.upperBound) channels are supported")
        }
        return roles
    }

    private static func integer(_ text: String, _ key: String, fail: (String) -> AudioError) throws(AudioError) -> Int {
        guard let v = Int(text), v > 0 else { throw fail("\(key) '\(text)' is not a positive whole number") }
        return v
    }

    /// `N` frames or `Nms` milliseconds at `rate`.
    private static func frames(_ text: String, _ key: String, rate: Int,
                               fail: (String) -> AudioError) throws(AudioError) -> Int {
        let lower = text.lowercased()
        let frames: Int
        if lower.hasSuffix("ms") {
            guard let ms = Int(lower.dropLast(2)), ms > 0, ms <= 10_000 else {
                throw fail("\(key) '\(text)' is not a whole number of milliseconds in 1…10000")
            }
            frames = rate * ms / 1000
        } else {
            guard let f = Int(lower), f > 0 else {
                throw fail("\(key) '\(text)' is not a positive number of frames (or milliseconds with 'ms')")
            }
            frames = f
        }
        guard frames >= 16, frames <= rate * 10 else {
            throw fail("\(key) '\(text)' is \(frames) frames; expected 16 frames to 10 s")
        }
        return frames
    }

    private static func percentDecode(_ text: Substring, fail: (String) -> AudioError) throws(AudioError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let b = utf8.next() {
            guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
            guard let h = utf8.next().flatMap(hexValue), let l = utf8.next().flatMap(hexValue) else {
                throw fail("'%' in the path is not followed by two hex digits (write a literal % as %25)")
            }
            bytes.append(h << 4 | l)
        }
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw fail("the %-escapes in the path do not decode to UTF-8")
        }
        return s
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Escapes what would not parse back: `%`, `?` and control characters.
    private static func percentEncode(_ path: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = ""
        for ch in path.unicodeScalars {
            if ch == "%" || ch == "?" || ch.value < 0x20 || ch.value == 0x7F {
                out += "%" + String(hex[Int(ch.value >> 4)]) + String(hex[Int(ch.value & 15)])
            } else {
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
