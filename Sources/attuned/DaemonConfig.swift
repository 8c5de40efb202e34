import AttuneAudio
import AttuneBus
import AttuneEngine
import AttuneEvents
import AttuneFleet
import AttuneText
import Foundation
import Logging
import TOMLKit
#if canImport(Glibc)
import Glibc
#endif

/// A call the daemon starts at launch (`--source CALL=URI` or a `[[source]]` table).
struct StartupSource: Sendable, Equatable {
    var call: String
    var uri: String
    var roles: [Role]?
    /// The call's built-in recogniser (`asr = "pocketsphinx"` in its table); nil takes the file's default.
    var asr: String?
    /// Where it was given, for errors: `--source 'CALL=URI'` or `FILE: source[N].uri`.
    var origin: String
    /// The URI, checked when the source was read.
    var parsed: SourceURI
}

/// Why a configuration was refused: the file (or flag), the key and the cause. Exit 78.
struct ConfigError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Every setting of the daemon. Each comes from its default, then the config file, then a flag.
struct DaemonConfig: Sendable {
    var runDir = RunDirectory.defaultPath()
    /// Where `runDir` came from, for errors: `FILE: run_dir`, `--set: run_dir`, `--run-dir` or the default.
    var runDirOrigin = "the default run directory"
    /// The sockets in the run directory.
    var eventsSocket: String { runDir + "/events.sock" }
    var controlSocket: String { runDir + "/control.sock" }
    var node = DaemonConfig.hostName()
    var workers = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    /// Audio each call's rings hold: how far a worker may fall behind before samples are dropped.
    var ringSeconds = 2.0
    var maxCalls = 4096
    var logLevel = Logger.Level.info
    var eventsMode: mode_t = 0o660
    var eventsGroup: gid_t?
    var controlMode: mode_t = 0o600
    var controlGroup: gid_t?
    /// Per-subscriber queue bounds.
    var queueRecords = 10_000
    var queueBytes = 1 << 20
    /// `HOST:PORT` of the Prometheus endpoint; nil (the default) serves none. Port 0 lets the kernel pick one (the
    /// daemon logs which).
    var metrics: (host: String, port: Int)?
    /// `[metrics] allow_remote = true`: the operator's explicit word that the endpoint, which has no authentication,
    /// may listen beyond loopback. Only the file can say it, so a flag alone never exposes it.
    var metricsAllowRemote = false
    /// Roles whose channels get emotion events (design.md: customer only, unless an operator says otherwise).
    var emotionRoles: [Role] = [.customer]
    /// Whether emotion events reach channels other than the customer's: the operator's choice that is logged at start
    /// and named by `--check-config`.
    var emotionsBeyondCustomer: Bool { !Set(emotionRoles).isSubset(of: [.customer]) }
    /// Wall time per block of a paced `file:` replay.
    var pacedBlockMilliseconds = 20
    /// Seconds a `start` may take (the source's open, the recogniser's load) before it is refused and abandoned.
    var startTimeoutSeconds = 10.0
    var sources: [StartupSource] = []
    /// Built-in recogniser for calls that name none (`asr = "pocketsphinx"` at the top of the file); nil: text
    /// only from `asr` messages.
    var asr: String?

    /// The recognisers a call may ask for by name.
    static let recognizers: Set<String> = ["pocketsphinx"]

    /// `[nats]` settings as read (a table without a url, e.g. all commented out, leaves the fleet off).
    var nats: NatsConfig?
    /// The fleet link when a url is set (`[nats] url` or `--nats URL`); nil publishes to the Unix socket only.
    var fleet: NatsConfig? { nats.flatMap { $0.urls.isEmpty ? nil : $0 } }

    /// The default node name: the short host name (`hostname -s`), since an FQDN's dots cannot be in a subject token.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "attune" }
        return shortHostName(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// `name` up to its first dot, or `attune` when that leaves nothing.
    static func shortHostName(_ name: String) -> String {
        let short = name.prefix { $0 != "." }
        return short.isEmpty ? "attune" : String(short)
    }

    /// The keys a config file may hold, so a typo is an error rather than a silently ignored setting.
    static let topKeys: Set<String> = ["run_dir", "node", "workers", "ring_seconds", "max_calls", "log_level",
                                       "paced_block_ms", "start_timeout_s", "events", "control", "metrics", "privacy", "source", "asr", "nats"]

    /// Reads `path` over the defaults.
    mutating func load(file path: String) throws(ConfigError) {
        guard let text = String(validating: try Self.contents(of: path), as: UTF8.self) else {
            throw ConfigError("\(path): not UTF-8 text")
        }
        let table: TOMLTable
        do { table = try parseTOML(text) } catch let error as TOMLParseError {
            throw ConfigError("\(path):\(error.source.begin.line): \(error.description)")
        } catch {
            throw ConfigError("\(path): \(error)")
        }
        try apply(table, source: path)
    }

    /// The bytes of the file at `path`, read with the system calls themselves: Foundation's `contents(atPath:)`
    /// gives no reason when it fails, and on a directory left errno 0 ("cannot be read (Success)"). At most
    /// ``maxConfigBytes``: `--config /dev/zero` is refused, not read until memory runs out.
    static func contents(of path: String) throws(ConfigError) -> [UInt8] {
        func failure(_ code: Int32) -> ConfigError { ConfigError("\(path): cannot be read: \(String(cString: strerror(code)))") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(errno) }
        defer { close(fd) }
        do throws(BoundedReadFailure) { return try readWhole(fd, limit: maxConfigBytes) } catch {
            switch error {
            case .directory: throw failure(EISDIR)
            case .tooLarge(let limit): throw ConfigError("\(path): larger than \(limit >> 10) KiB; not a config file")
            case .read(let code, _): throw failure(code)
            }
        }
    }

    /// The largest config file read: a full one with comments is a few KiB.
    static let maxConfigBytes = 1 << 20

    /// Applies `--set KEY=VALUE` flags (and the dedicated flags spelt as such) over what the file gave, through
    /// the same checks as the file, so every setting has a flag and a bad one is refused the same way, naming
    /// `--set`. Later settings of a key win.
    mutating func apply(settings: [String]) throws(ConfigError) {
        guard !settings.isEmpty else { return }
        try apply(try Self.overrides(settings), source: "--set")
    }

    /// Keys a flag may not set: `metrics.allow_remote` is the operator's word in the file that an endpoint without
    /// authentication may listen beyond loopback, and startup calls have `--source`.
    static let fileOnlyKeys: Set<String> = ["metrics.allow_remote", "source"]

    /// `KEY=VALUE` flags as one TOML table. KEY is a dotted path (`events.queue_records`); VALUE is TOML (`20`,
    /// `true`, `["customer", "agent"]`, `"text"`), and anything that does not parse as TOML is taken as a string,
    /// so `node=pbx-1` and `events.mode=0660` need no shell quoting.
    static func overrides(_ settings: [String]) throws(ConfigError) -> TOMLTable {
        var lines: [String: String] = [:]
        var order: [String] = []
        for setting in settings {
            guard let eq = setting.firstIndex(of: "="), eq != setting.startIndex else {
                throw ConfigError("--set '\(setting)': expected KEY=VALUE, e.g. events.queue_records=20000")
            }
            let key = String(setting[..<eq]), value = String(setting[setting.index(after: eq)...])
            let segments = key.split(separator: ".", omittingEmptySubsequences: false)
            guard segments.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D } }) else {
                throw ConfigError("--set '\(setting)': '\(key)' is not a setting name (letters, digits, _ and -, dotted for tables)")
            }
            guard !fileOnlyKeys.contains(key), segments.first != "source" else {
                throw ConfigError("--set \(key): only the config file can set it"
                                  + (segments.first == "source" ? " (use --source CALL=URI)" : ""))
            }
            var line = "\(key) = \(value)"
            if (try? parseTOML(line)) == nil { line = "\(key) = \(quoted(value))" }
            if lines[key] == nil { order.append(key) }
            lines[key] = line
        }
        let text = order.map { lines[$0]! }.joined(separator: "\n")
        do { return try parseTOML(text) } catch let error as TOMLParseError {
            // Each key parsed alone; together they clash only when one names a table another sets inside.
            throw ConfigError("--set: \(error.description) (\(order.joined(separator: ", ")))")
        } catch {
            throw ConfigError("--set: \(error)")
        }
    }

    /// VALUE as a TOML basic string.
    private static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += String(format: "\\u%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Applies one TOML table (a file, or the `--set` flags) over the settings so far; `source` names it in errors.
    private mutating func apply(_ table: TOMLTable, source path: String) throws(ConfigError) {
        let reader = ConfigReader(path: path, table: table, prefix: "")
        try reader.allow(Self.topKeys)
        if let v = try reader.string("run_dir") { (runDir, runDirOrigin) = (v, "\(path): run_dir") }
        if let v = try reader.string("node") { node = v }
        if let v = try reader.int("workers", 1...256) { workers = v }
        if let v = try reader.double("ring_seconds", 0.1...60) { ringSeconds = v }
        if let v = try reader.int("max_calls", 1...100_000) { maxCalls = v }
        if let v = try reader.string("log_level") { logLevel = try Self.level(v, "\(path): log_level") }
        if let v = try reader.int("paced_block_ms", 1...1000) { pacedBlockMilliseconds = v }
        if let v = try reader.double("start_timeout_s", 0.1...3600) { startTimeoutSeconds = v }
        if let v = try reader.string("asr") { asr = try Self.recognizer(v, "\(path): asr") }
        if let events = try reader.table("events") {
            try events.allow(["mode", "group", "queue_records", "queue_bytes"])
            if let v = try events.string("mode") { eventsMode = try events.mode(v, "mode") }
            if let v = try events.string("group") { eventsGroup = try events.group(v, "group") }
            if let v = try events.int("queue_records", 10...10_000_000) { queueRecords = v }
            if let v = try events.int("queue_bytes", 4096...1 << 32) { queueBytes = v }
        }
        if let control = try reader.table("control") {
            try control.allow(["mode", "group"])
            if let v = try control.string("mode") { controlMode = try control.mode(v, "mode") }
            if let v = try control.string("group") { controlGroup = try control.group(v, "group") }
        }
        if let m = try reader.table("metrics") {
            try m.allow(["listen", "allow_remote"])
            if let v = try m.bool("allow_remote") { metricsAllowRemote = v }
            if let v = try m.string("listen") {
                metrics = try Self.listen(v, "\(path): metrics.listen", allowRemote: metricsAllowRemote)
            }
        }
        if let p = try reader.table("privacy") {
            try p.allow(["emotion_roles"])
            if let v = try p.strings("emotion_roles") {
                // A role named twice is the same role: the list says which channels, not how many.
                var seen = Set<Role>()
                emotionRoles = try Self.roles(v, "\(path): privacy.emotion_roles").filter { seen.insert($0).inserted }
            }
        }
        if let n = try reader.table("nats") {
            try n.allow(["url", "urls", "token", "credentials", "tls_ca", "tls_cert", "tls_key", "prefix", "stream", "frames",
                         "buffer_records", "heartbeat_s", "max_age_s", "max_bytes", "duplicate_window_s"])
            var c = nats ?? NatsConfig()
            try c.load(n)
            nats = c
        }
        for (i, s) in try reader.tables("source").enumerated() {
            try s.allow(["call", "uri", "roles", "asr"])
            guard let call = try s.string("call"), let uri = try s.string("uri") else {
                throw ConfigError("\(path): source[\(i)]: needs both call and uri")
            }
            try Self.checkCall(call, "\(path): source[\(i)].call")
            let parsed = try Self.checkSource(uri, "\(path): source[\(i)].uri: '\(uri)'")
            let roles = try s.strings("roles").map { v throws(ConfigError) in try Self.roles(v, "\(path): source[\(i)].roles") }
            let asr = try s.string("asr").map { v throws(ConfigError) in try Self.recognizer(v, "\(path): source[\(i)].asr") }
            sources.append(StartupSource(call: call, uri: uri, roles: roles, asr: asr, origin: "\(path): source[\(i)].uri",
                                         parsed: parsed))
        }
    }

    /// Refuses a run directory too long for the sockets in it, naming where it came from and how long it may be,
    /// before anything is created: the bind would fail only after the directory was made.
    func checkRunDir() throws(ConfigError) {
        // An empty path would put the sockets at /events.sock; refused as configuration, not found out at stat (74).
        guard !runDir.isEmpty else { throw ConfigError("\(runDirOrigin): the run directory is empty") }
        let limit = RunDirectory.maximumSocketPathLength
        let (socket, length) = [eventsSocket, controlSocket].map { ($0, RunDirectory.boundLength(ofSocket: $0)) }.max { $0.1 < $1.1 }!
        guard length > limit else { return }
        throw ConfigError("\(runDirOrigin): '\(runDir)' is too long for the sockets in it: \(socket) is bound as "
                          + "\(socket).PID.new (up to \(length) bytes) before it is renamed, and a socket path may have at most "
                          + "\(limit) bytes; use a run directory of at most \(limit - (length - runDir.utf8.count)) bytes")
    }

    static func level(_ text: String, _ key: String) throws(ConfigError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            throw ConfigError("\(key): '\(text)' is not a log level (trace, debug, info, notice, warning, error, critical)")
        }
        return level
    }

    static func roles(_ names: [String], _ key: String) throws(ConfigError) -> [Role] {
        var out: [Role] = []
        for n in names {
            guard let r = Role(rawValue: n) else { throw ConfigError("\(key): unknown role '\(n)' (agent, customer, unknown)") }
            out.append(r)
        }
        return out
    }

    static func recognizer(_ name: String, _ key: String) throws(ConfigError) -> String {
        guard recognizers.contains(name) else {
            throw ConfigError("\(key): unknown recogniser '\(name)' (\(recognizers.sorted().joined(separator: ", ")))")
        }
        return name
    }

    /// The hosts a metrics endpoint may listen on without `allow_remote`.
    static let loopbackHosts: Set<String> = ["127.0.0.1", "localhost", "::1", "[::1]"]

    /// `HOST:PORT` for the metrics endpoint (port 0: any free port). A host beyond loopback needs `allowRemote`.
    static func listen(_ text: String, _ key: String, allowRemote: Bool) throws(ConfigError) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigError("\(key): '\(text)' is not HOST:PORT")
        }
        var host = String(text[..<colon])
        guard allowRemote || loopbackHosts.contains(host) else {
            throw ConfigError("\(key): '\(text)': metrics are served on loopback only (127.0.0.1, ::1 or localhost) "
                              + "unless the config file's [metrics] says allow_remote = true (they have no authentication)")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// A `--source CALL=URI` flag.
    static func source(flag: String) throws(ConfigError) -> StartupSource {
        guard let eq = flag.firstIndex(of: "="), eq != flag.startIndex, flag.index(after: eq) != flag.endIndex else {
            throw ConfigError("--source '\(flag)': expected CALL=URI, e.g. c1=alsa:hw:1,0 or c1=file:call.wav")
        }
        let uri = String(flag[flag.index(after: eq)...])
        try checkCall(String(flag[..<eq]), "--source '\(flag)'")
        let parsed = try checkSource(uri, "--source '\(flag)'")
        return StartupSource(call: String(flag[..<eq]), uri: uri, roles: nil, asr: nil, origin: "--source '\(flag)'", parsed: parsed)
    }

    /// Refuses a startup source whose URI cannot be one (no scheme, a wrong one, a malformed format), as bad
    /// configuration (78) before any socket exists, from `--check-config` too. Whether the device or file opens is
    /// only known when the call starts (69, 66).
    static func checkSource(_ uri: String, _ key: String) throws(ConfigError) -> SourceURI {
        do { return try SourceURI(parsing: uri) } catch { throw ConfigError("\(key): \(error.reason)") }
    }

    /// Refuses a startup call id the engine would refuse at launch, as configuration, from `--check-config` too.
    static func checkCall(_ call: String, _ key: String) throws(ConfigError) {
        do { try LiveEngine.checkCallID(call) } catch { throw ConfigError("\(key): \(error.message)") }
    }

    /// Refuses startup sources the engine would refuse at launch: a second one on standard input (one stream; one
    /// reader of stdin per run) or a call id given twice, from the file or the flags.
    func checkSources() throws(ConfigError) {
        let readers = sources.filter { if case .stdin = $0.parsed.kind { true } else { false } }
        if readers.count > 1 {
            throw ConfigError("\(readers[1].origin): only one call can read standard input, and \(readers[0].origin) does")
        }
        var seen: [String: String] = [:]
        for s in sources {
            if let first = seen[s.call] { throw ConfigError("\(s.origin): call '\(s.call)' is also \(first)") }
            seen[s.call] = s.origin
        }
    }
}

/// Reads typed values from one TOML table, naming the file and the key in every error.
struct ConfigReader {
    let path: String
    let table: TOMLTable
    let prefix: String

    private func name(_ key: String) -> String { "\(path): \(prefix)\(key)" }

    func allow(_ keys: Set<String>) throws(ConfigError) {
        for key in table.keys where !keys.contains(key) {
            throw ConfigError("\(name(key)): unknown setting (known here: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = table[key] else { return nil }
        guard let s = v.string else { throw ConfigError("\(name(key)): expected a string") }
        return s
    }

    func int(_ key: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = table[key] else { return nil }
        guard let i = v.int else { throw ConfigError("\(name(key)): expected a whole number") }
        guard range.contains(i) else { throw ConfigError("\(name(key)): \(i) is outside \(range.lowerBound)…\(range.upperBound)") }
        return i
    }

    func double(_ key: String, _ range: ClosedRange<Double>) throws(ConfigError) -> Double? {
        guard let v = table[key] else { return nil }
        guard let d = v.double ?? v.int.map(Double.init) else { throw ConfigError("\(name(key)): expected a number") }
        guard range.contains(d) else { throw ConfigError("\(name(key)): \(d) is outside \(range.lowerBound)…\(range.upperBound)") }
        return d
    }

    func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = table[key] else { return nil }
        guard let b = v.bool else { throw ConfigError("\(name(key)): expected true or false") }
        return b
    }

    func strings(_ key: String) throws(ConfigError) -> [String]? {
        guard let v = table[key] else { return nil }
        guard let a = v.array else { throw ConfigError("\(name(key)): expected an array of strings") }
        var out: [String] = []
        for e in a {
            guard let s = e.string else { throw ConfigError("\(name(key)): expected an array of strings") }
            out.append(s)
        }
        return out
    }

    func table(_ key: String) throws(ConfigError) -> ConfigReader? {
        guard let v = table[key] else { return nil }
        guard let t = v.table else { throw ConfigError("\(name(key)): expected a table ([\(key)])") }
        return ConfigReader(path: path, table: t, prefix: "\(prefix)\(key).")
    }

    func tables(_ key: String) throws(ConfigError) -> [ConfigReader] {
        guard let v = table[key] else { return [] }
        guard let a = v.array else { throw ConfigError("\(name(key)): expected an array of tables ([[\(key)]])") }
        var out: [ConfigReader] = []
        for (i, e) in a.enumerated() {
            guard let t = e.table else { throw ConfigError("\(name(key)): expected an array of tables ([[\(key)]])") }
            out.append(ConfigReader(path: path, table: t, prefix: "\(prefix)\(key)[\(i)]."))
        }
        return out
    }

    func mode(_ text: String, _ key: String) throws(ConfigError) -> mode_t {
        guard let m = mode_t(text, radix: 8), m <= 0o777 else { throw ConfigError("\(name(key)): '\(text)' is not an octal file mode like \"0660\"") }
        return m
    }

    func group(_ text: String, _ key: String) throws(ConfigError) -> gid_t {
        if let gid = gid_t(text) { return gid }
        guard let g = getgrnam(text) else { throw ConfigError("\(name(key)): no group '\(text)' on this machine") }
        return g.pointee.gr_gid
    }
}

/// `[nats]`: where the fleet's NATS is and how this node publishes to it (design.md "Fleet").
struct NatsConfig: Sendable {
    var urls: [String] = []
    var token: String?
    var credentials: String?
    var tlsCA: String?
    var tlsCert: String?
    var tlsKey: String?
    var prefix = "attune"
    var stream = "ATTUNE"
    var frames = false
    var bufferRecords = 10_000
    var heartbeatSeconds = 5.0
    var maxAgeSeconds = 86_400.0
    var maxBytes: Int64 = 1 << 30
    var duplicateWindowSeconds = 120.0

    mutating func load(_ n: ConfigReader) throws(ConfigError) {
        if let v = try n.string("url") { urls = [v] }
        if let v = try n.strings("urls") { urls = v }
        try checkURLs("\(n.path): nats.url")
        if let v = try n.string("token") { token = v }
        if let v = try n.string("credentials") { credentials = try Self.readable(v, n, "credentials") }
        if let v = try n.string("tls_ca") { tlsCA = try Self.readable(v, n, "tls_ca") }
        if let v = try n.string("tls_cert") { tlsCert = try Self.readable(v, n, "tls_cert") }
        if let v = try n.string("tls_key") { tlsKey = try Self.readable(v, n, "tls_key") }
        if let v = try n.string("prefix") {
            if let problem = FleetSettings.tokenProblem(v) { throw ConfigError("\(n.path): nats.prefix '\(v)' \(problem)") }
            prefix = v
        }
        if let v = try n.string("stream") {
            if let problem = FleetSettings.tokenProblem(v) { throw ConfigError("\(n.path): nats.stream '\(v)' \(problem)") }
            stream = v
        }
        if let v = try n.bool("frames") { frames = v }
        if let v = try n.int("buffer_records", 16...10_000_000) { bufferRecords = v }
        if let v = try n.double("heartbeat_s", 0.1...3600) { heartbeatSeconds = v }
        if let v = try n.double("max_age_s", 1...(10 * 365 * 86_400)) { maxAgeSeconds = v }
        if let v = try n.int("max_bytes", 1 << 20...Int.max) { maxBytes = Int64(v) }
        if let v = try n.double("duplicate_window_s", 1...86_400) { duplicateWindowSeconds = v }
        if token != nil && credentials != nil {
            throw ConfigError("\(n.path): nats: token and credentials exclude each other")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ConfigError("\(n.path): nats: tls_cert and tls_key go together")
        }
    }

    /// Refuses a URL libnats could never connect to, naming it (redacted) after `key`.
    private func checkURLs(_ key: String) throws(ConfigError) {
        for url in urls {
            if let problem = NatsConnectionSettings.urlProblem(url) {
                throw ConfigError("\(key) '\(NatsConnectionSettings.redacted(url))' \(problem)")
            }
        }
    }

    private static func readable(_ path: String, _ n: ConfigReader, _ key: String) throws(ConfigError) -> String {
        guard access(path, R_OK) == 0 else {
            throw ConfigError("\(n.path): nats.\(key): \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    /// The fleet settings for node `node`, after checking that everything fits in a subject.
    func settings(node: String, version: String) throws(ConfigError) -> FleetSettings {
        guard !urls.isEmpty else { throw ConfigError("nats: no url (set [nats] url or --nats URL)") }
        // The file's were checked as it was read; `--nats` replaces them.
        try checkURLs("--nats: url")
        if let problem = FleetSettings.nodeProblem(node) {
            throw ConfigError("node '\(node)' \(problem); with NATS the node name is a subject token (set node or --node)")
        }
        var c = NatsConnectionSettings(urls: urls)
        c.token = token
        c.credentialsFile = credentials
        c.tlsCA = tlsCA
        c.tlsCertificate = tlsCert
        c.tlsKey = tlsKey
        var f = FleetSettings(connection: c, node: node)
        f.stream.name = stream
        f.stream.prefix = prefix
        f.stream.maximumAgeSeconds = maxAgeSeconds
        f.stream.maximumBytes = maxBytes
        f.stream.duplicateWindowSeconds = duplicateWindowSeconds
        f.frames = frames
        f.bufferRecords = bufferRecords
        f.heartbeatSeconds = heartbeatSeconds
        f.version = version
        return f
    }
}
