import AttuneAudio
import AttuneTestSupport
import Testing

@Suite("Source URIs")
struct SourceURITests {
    @Test func alsaWithQuery() throws {
        let uri = try SourceURI(parsing: "alsa:hw:1,0?rate=16000&channels=2&period=20ms&buffer=4800&roles=agent,customer")
        guard case .alsa(let p) = uri.kind else { Issue.record("not alsa: \(uri)"); return }
        #expect(p.device == "hw:1,0")
        #expect(p.sampleRate == 16000)
        #expect(p.channelCount == 2)
        #expect(p.periodFrames == 320)
        #expect(p.bufferFrames == 4800)
        #expect(uri.roles == [.agent, .customer])
    }

    @Test func alsaDefaults() throws {
        let tap = try SourceURI(parsing: "alsa:tap")
        #expect(tap.kind == .alsa(ALSAParameters(device: "tap", sampleRate: 8000, channelCount: 1, periodFrames: 160, bufferFrames: 4000)))
        #expect(tap.roles == nil)
        #expect(try tap.roles(channelCount: 1) == [.unknown])
        // Without channels, a tap has as many channels as it names roles.
        let two = try SourceURI(parsing: "alsa:plughw:CARD=PCH,DEV=0?roles=customer,agent")
        guard case .alsa(let p) = two.kind else { Issue.record("not alsa"); return }
        #expect(p.device == "plughw:CARD=PCH,DEV=0")
        #expect(p.channelCount == 2)
        // A long period alone gets a default buffer within the 10 s limit.
        guard case .alsa(let long) = try SourceURI(parsing: "alsa:tap?period=1000ms").kind
        else { Issue.record("not alsa"); return }
        #expect(long.periodFrames == 8000)
        #expect(long.bufferFrames == 80_000)
    }

    /// Roles from beside the URI (the control socket's "roles") act as the URI's own, and never silently replace
    /// different ones.
    @Test func rolesGivenBesideTheURI() throws {
        let tap = try SourceURI(parsing: "alsa:tap", roles: [.agent, .customer])
        guard case .alsa(let p) = tap.kind else { Issue.record("not alsa"); return }
        #expect(p.channelCount == 2)
        #expect(tap.roles == [.agent, .customer])
        #expect(try SourceURI(parsing: "stdin:s16le:8000:2?roles=agent,customer", roles: [.agent, .customer]).roles
                == [.agent, .customer])
        #expect(throws: AudioError.self) { try SourceURI(parsing: "stdin:s16le:8000:2?roles=agent,customer", roles: [.customer, .agent]) }
        #expect(throws: AudioError.self) { try SourceURI(parsing: "stdin:s16le:8000:1", roles: [.customer, .agent]) }
        #expect(throws: AudioError.self) { try SourceURI(parsing: "alsa:tap", roles: []) }
    }

    @Test func fileForms() throws {
        #expect(try SourceURI(parsing: "file:/calls/a.wav").kind == .file(path: "/calls/a.wav", speed: .paced(factor: 1)))
        #expect(try SourceURI(parsing: "file:rel/a.wav?speed=4").kind == .file(path: "rel/a.wav", speed: .paced(factor: 4)))
        #expect(try SourceURI(parsing: "file:///calls/a b.wav?speed=max").kind == .file(path: "/calls/a b.wav", speed: .max))
        #expect(try SourceURI(parsing: "file:/x/what%3F%25.wav?speed=0.5").kind == .file(path: "/x/what?%.wav", speed: .paced(factor: 0.5)))
        let roles = try SourceURI(parsing: "file:/a.wav?roles=agent,customer&speed=MAX")
        #expect(roles.roles == [.agent, .customer])
        #expect(throws: AudioError.self) { try roles.roles(channelCount: 1) }
        #expect(try roles.roles(channelCount: 2) == [.agent, .customer])
    }

    @Test func stdinEncodings() throws {
        for encoding in RawFormat.Encoding.allCases {
            let uri = try SourceURI(parsing: "stdin:\(encoding.rawValue):8000:2?roles=agent,customer")
            #expect(uri.kind == .stdin(RawFormat(encoding: encoding, sampleRate: 8000, channelCount: 2)))
        }
    }

    /// Each malformed URI is a usage error (64) naming the URI, and its reason says what is wrong.
    @Test(arguments: [
        ("", "no scheme"),
        ("hw:1,0x", "unknown scheme 'hw'"),
        ("rtsp://cam", "unknown scheme 'rtsp'"),
        ("alsa:", "no device"),
        ("alsa:hw:1,0?rate=abc", "rate 'abc'"),
        ("alsa:hw:1,0?rate=4000", "sample rate 4000 Hz"),
        ("alsa:hw:1,0?channels=9", "9 channels"),
        ("alsa:hw:1,0?channels=0", "channels '0'"),
        ("alsa:tap?period=5", "period '5' is 5 frames"),
        ("alsa:tap?period=160&buffer=200", "less than two periods"),
        ("alsa:tap?period=0ms", "period '0ms'"),
        ("alsa:tap?volume=3", "unknown query key 'volume'"),
        ("alsa:tap?rate=8000&rate=16000", "given twice"),
        ("alsa:tap?rate", "not KEY=VALUE"),
        ("alsa:tap?rate=", "has no value"),
        ("alsa:tap?channels=2&roles=agent", "1 roles for 2 channels"),
        ("alsa:tap?roles=agent,boss", "unknown role 'boss'"),
        ("alsa:my tap", "white space"),
        ("file:", "no path"),
        ("file:?speed=2", "no path"),
        ("file://server/a.wav", "with a host"),
        ("file:/a.wav?speed=0", "speed '0'"),
        ("file:/a.wav?speed=-1", "speed '-1'"),
        ("file:/a.wav?speed=fast", "speed 'fast'"),
        ("file:/a.wav?speed=nan", "speed 'nan'"),
        ("file:/a.wav?channels=2", "unknown query key 'channels'"),
        ("file:/100%.wav", "'%' in the path"),
        ("stdin:s16le:8000", "after 'stdin:'"),
        ("stdin:s17le:8000:2", "unknown encoding 's17le'"),
        ("stdin:s16le:8000:2?roles=agent", "1 roles for 2 channels"),
        ("stdin:s16le:8000:2?speed=2", "unknown query key 'speed'"),
    ])
    func malformed(_ text: String, _ expected: String) {
        do {
            let uri = try SourceURI(parsing: text)
            Issue.record("'\(text)' parsed as \(uri)")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.exitCode == 64)
            #expect(error.path == (text.isEmpty ? "\"\"" : text))
            #expect(error.reason.contains(expected), "\(error)")
        }
    }

    @Test func canonicalFormParsesBack() throws {
        for text in ["alsa:hw:1,0?rate=16000&channels=2&roles=agent,customer", "alsa:tap", "file:/a/b c.wav",
                     "file:/a/x%3Fy.wav?speed=2.5&roles=unknown", "file:/x.flac?speed=max", "stdin:mulaw:8000:2",
                     "stdin:f32le:48000:1?roles=customer"] {
            let uri = try SourceURI(parsing: text)
            #expect(try SourceURI(parsing: uri.description) == uri, "\(text) → \(uri)")
        }
    }

    /// Thousands of seeded mutations of valid URIs: every one parses or throws a usage error naming it; none
    /// crashes, and what parses prints a canonical form that parses back to the same value.
    @Test func fuzzedURIsParseOrFailWithUsageErrors() {
        let seeds = ["alsa:hw:1,0?rate=8000&channels=2&period=160&buffer=1600&roles=agent,customer",
                     "alsa:tap?period=20ms&buffer=200ms", "file:/calls/c%20a.wav?speed=4&roles=agent",
                     "file:///x.flac?speed=max", "stdin:s16le:8000:2?roles=customer,unknown", "stdin:alaw:16000:1"]
        let alphabet = Array("alsfiestdn:?&=,%/.0123456789msxMAXroles=agentcustomerunknownratechannelsperiodbufferspeed \u{0}\u{7F}é🎧-_")
        var rng = SeededGenerator(seed: 0xA77E_5EED)
        var parsed = 0, refused = 0
        for i in 0..<5000 {
            var chars = Array(seeds[i % seeds.count])
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = chars.isEmpty ? 0 : Int(rng.next() % UInt64(chars.count))
                switch rng.next() % 5 {
                case 0 where !chars.isEmpty: chars.remove(at: at)
                case 1: chars.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                case 2 where !chars.isEmpty: chars[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 3 where !chars.isEmpty: chars.insert(contentsOf: chars[at...].prefix(8), at: at) // repeat a run
                default: chars = Array(chars.prefix(at))
                }
            }
            let text = String(chars)
            do {
                let uri = try SourceURI(parsing: text)
                parsed += 1
                let again = try? SourceURI(parsing: uri.description)
                #expect(again == uri, "\(text) → \(uri.description) does not parse back")
            } catch {
                refused += 1
                #expect(error.kind == .usage, "\(text): \(error)")
                #expect(!error.reason.isEmpty && !error.path.isEmpty)
            }
        }
        // Both outcomes must be exercised, or the mutations are not testing anything.
        #expect(parsed > 100)
        #expect(refused > 1000)
    }

    @Test func hugeURIIsQuotedShort() {
        let text = "alsa:tap?rate=" + String(repeating: "9", count: 100_000)
        #expect {
            try SourceURI(parsing: text)
        } throws: { error in
            guard let e = error as? AudioError else { return false }
            return e.kind == .usage && e.path.count < 300 && e.description.count < 1000
        }
    }
}
