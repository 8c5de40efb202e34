import AttuneEvents
import Testing

/// The live records' exact lines: field order, `type` and `v` first, optional fields left out when absent.
@Suite struct LiveRecordTests {
    func line(_ record: some NDJSONRecord) -> String {
        var line = JSONLine()
        line.begin()
        record.write(to: &line)
        line.end()
        return String(decoding: line.bytes, as: UTF8.self)
    }

    @Test func hello() {
        #expect(line(HelloRecord(version: "0.4.0", node: "node-1")) ==
            #"{"type":"hello","v":1,"version":"0.4.0","schema":1,"node":"node-1","emotions":["customer"]}"# + "\n")
    }

    @Test func callStartAndEnd() {
        #expect(line(CallStartRecord(call: "c42", source: "alsa:hw:1,0", roles: [.agent, .customer], sampleRate: 8000,
                                     channels: 2)) ==
            #"{"type":"call_start","v":1,"call":"c42","source":"alsa:hw:1,0","roles":["agent","customer"],"sample_rate":8000,"channels":2,"t":0.000}"# + "\n")
        #expect(line(CallEndRecord(call: "c42", reason: .eof, t: 61.25)) ==
            #"{"type":"call_end","v":1,"call":"c42","reason":"eof","t":61.250}"# + "\n")
        #expect(line(CallEndRecord(call: "c42", reason: .deviceLost, message: "hw:1,0: No such device", t: 3)) ==
            #"{"type":"call_end","v":1,"call":"c42","reason":"device_lost","message":"hw:1,0: No such device","t":3.000}"# + "\n")
    }

    @Test func gaps() {
        #expect(line(GapRecord.records(count: 17)) == #"{"type":"gap","v":1,"what":"records","count":17}"# + "\n")
        #expect(line(GapRecord.samples(call: "c42", channel: 1, start: 2.5, end: 2.75)) ==
            #"{"type":"gap","v":1,"what":"samples","call":"c42","channel":1,"start":2.500,"end":2.750}"# + "\n")
        #expect(line(GapRecord.samples(call: "c42", channel: nil, start: 2.5, end: 2.75)) ==
            #"{"type":"gap","v":1,"what":"samples","call":"c42","start":2.500,"end":2.750}"# + "\n")
    }
}
