import AttuneEvents
import Testing

/// A frame record written with its channel's cached head must be byte for byte the record written field by field
/// (``FrameRecord/write(to:)``'s reference path), whatever the call id needs escaped and whatever was changed after.
@Suite("Frame record heads") struct FrameHeadTests {
    func bytes(_ record: FrameRecord) -> [UInt8] {
        var line = JSONLine()
        line.begin()
        record.write(to: &line)
        line.end()
        return line.bytes
    }

    static let calls = ["c1", "c123", "a-very-long-call-id-beyond-fifteen-bytes:42@host", "quote\"d", "back\\slash",
                        "tab\tnew\nline", "ctl\u{1}\u{1f}", "é-ünïcödé", "", "x"]

    @Test("same bytes as the reference encoding over calls, channels, roles and values, built or written directly")
    func sameBytes() {
        var g = SystemRandomNumberGenerator()
        for call in Self.calls {
            for channel in [0, 1, 2, 7, 123] {
                for role in Role.allCases {
                    let ref = ChannelRef(call: call, channel: channel, role: role)
                    let head = FrameHead(ref)
                    for i in 0..<20 {
                        let f0: Double? = i % 3 == 0 ? nil : Double.random(in: 50...500, using: &g)
                        let balance: Double? = i % 4 == 0 ? nil : Double.random(in: -40...40, using: &g)
                        let hnr: Double? = i % 5 == 0 ? nil : Double.random(in: -10...40, using: &g)
                        let t = Double(i) * 0.01, voicing = Double.random(in: 0...1, using: &g)
                        let energy = Double.random(in: -120...0, using: &g)
                        let fast = FrameRecord(head, t: t, f0Hz: f0, voicing: voicing, energyDb: energy, speech: i % 2 == 0,
                                               balanceDb: balance, hnrDb: hnr)
                        let reference = FrameRecord(ref, t: t, f0Hz: f0, voicing: voicing, energyDb: energy, speech: i % 2 == 0,
                                                    balanceDb: balance, hnrDb: hnr)
                        #expect(fast == reference)
                        #expect(bytes(fast) == bytes(reference), "\(call) \(channel) \(role)")
                        // The record thread's way: the same line written straight from the values.
                        var direct = JSONLine()
                        direct.begin()
                        head.writeFrame(t: t, f0Hz: f0, voicing: voicing, energyDb: energy, speech: i % 2 == 0,
                                        balanceDb: balance, hnrDb: hnr, to: &direct)
                        direct.end()
                        #expect(direct.bytes == bytes(reference), "\(call) \(channel) \(role)")
                    }
                }
            }
        }
    }

    @Test("a record changed after it was made is written as it is now, not as its head says")
    func changedFields() {
        let ref = ChannelRef(call: "c1", channel: 1, role: .customer)
        let head = FrameHead(ref)
        let original = FrameRecord(head, t: 1.49, f0Hz: nil, voicing: 0.1, energyDb: -60, speech: false)
        let changes: [(inout FrameRecord) -> Void] = [
            { $0.call = "other\"call" }, { $0.channel = 0 }, { $0.role = .agent }, { $0.type = "frame2" }, { $0.v = 99 },
        ]
        for change in changes {
            var fast = original
            change(&fast)
            var reference = FrameRecord(ref, t: 1.49, f0Hz: nil, voicing: 0.1, energyDb: -60, speech: false)
            change(&reference)
            #expect(bytes(fast) == bytes(reference))
        }
    }

    @Test("stored fields are copied with a separator unless they open the object")
    func storedFields() {
        let fields = JSONLine.Fields { $0.field("a", 1); $0.field("b", "x\"y") }
        var line = JSONLine()
        line.begin()
        fields.bytes.withUnsafeBufferPointer { line.append(fields: $0) }
        line.field("c", true)
        fields.bytes.withUnsafeBufferPointer { line.append(fields: $0) }
        JSONLine.Fields { _ in }.bytes.withUnsafeBufferPointer { line.append(fields: $0) }
        let ended = line.end { Array($0) }
        let expected = #"{"a":1,"b":"x\"y","c":true,"a":1,"b":"x\"y"}"# + "\n"
        #expect(String(decoding: ended, as: UTF8.self) == expected)
        line.begin()
        fields.bytes.withUnsafeBufferPointer { line.append(fields: $0) }
        line.end()
        #expect(String(decoding: line.bytes, as: UTF8.self) == #"{"a":1,"b":"x\"y"}"# + "\n")
    }
}
